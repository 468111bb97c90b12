#!/usr/bin/python3
"""Access control (issue 10, ACCESS.md) over the whole catalog.  Every function of
schema bandit is called by each of five roles with valid arguments on the objects
P (policy pt_p, experiment pt_e, agent pt_a, scope pt_s, the priors):

  owner      a plain role that created P and Q (a DBA granted it EXECUTE on the
             creating functions); manage on the priors
  app        use on P          analyst    read on P
  other_app  use on Q          nobody     nothing

Each function's COMMENT says what it needs: "Privilege: <use|read|manage> on the
<kind>." (and that matches ACCESS.md's mapping), "Privilege: EXECUTE, granted by a
DBA; ..." (creating functions), or nothing: a pure function every role may call
(answering as it does for a superuser), unless PUBLIC may not execute it (an
internal helper: every role gets 42501 "permission denied for function").  A call
the role may make must work; any other is 42501 with the design's message and
HINT, and changes nothing: every bandit table's rows and every sequence, read by a
superuser, are the same before and after.  Every call runs in a transaction that
is rolled back, so every role meets the same state.

Then the catalog: SECURITY DEFINER functions pin search_path and belong to the
extension's owner, no grant on a table beyond SELECT to PUBLIC, none on a
sequence, row-level security on every table, a Privilege sentence on every
function PUBLIC may run that touches a table.  Last, pg_dump -Fc of a database with
objects of three owners and grants, pg_restore into a new one: the same objects,
owners, grants and privileges view, and app still chooses, analyst still reads.
Prints "N passed, N failed"."""
import contextlib
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
with contextlib.redirect_stdout(io.StringIO()):   # it prints its seed
    import fuzz_test  # noqa: E402  (valid argument pools of every pure function)
from fuzz_lib import Types, load_catalog  # noqa: E402
from testlib import fresh_database, ok, report  # noqa: E402

DB = 'bandit_privilege_test'
DB_RESTORED = 'bandit_privilege_restored'
ROLES = ['owner', 'app', 'analyst', 'other_app', 'nobody']
PREFIX = 'bandit_pt_'


def role(who):
    return PREFIX + who


# ACCESS.md: the privilege each function needs, on which kind of object
DESIGN = {}
for _kind, _levels in {
        'policy': {'use': 'choose reward recommend', 'read': 'arm_stats linucb_state canary_status policy_versions export_policy',
                   'manage': 'add_arm retire_arm set_mode set_arm_budget snapshot restore '
                             'start_canary promote_canary stop_canary learn_pending'},
        'experiment': {'use': 'assign record_metric record_metrics', 'read': 'analyze decide report srm_check experiment_summaries experiment_shares analyze_summaries decide_summaries',
                       'manage': 'start_experiment stop_experiment drop_experiment'},
        'agent': {'use': 'q_select q_learn q_learn_batch q_remember q_replay q_greedy', 'read': 'q_export',
                  'manage': 'q_import q_forget'},
        'priors': {'use': 'apply_signal prior_adjusted_score', 'manage': 'cleanup_priors'},
        'scope': {'use': 'tuned_value', 'read': 'tuning_history',
                  'manage': 'validate_adjustment propose_value propose_adjustment apply_adjustment apply_proposal '
                            'snapshot_tuning rollback_tuning'}}.items():
    for _level, _names in _levels.items():
        for _n in _names.split():
            DESIGN[_n] = (_level, _kind)
CREATING = {'create_policy': 'policy', 'import_policy': 'policy', 'create_experiment': 'experiment', 'define_tuning_value': 'scope',
            'set_tuning_rate_limit': 'scope'}
# functions answering for the caller, by design: checked against what each role may do
READABLE = {'owner': ['pt_c', 'pt_l', 'pt_p', 'pt_q'], 'app': [], 'analyst': ['pt_c', 'pt_l', 'pt_p'], 'other_app': ['pt_x'], 'nobody': []}
CALLER_DEPENDENT = {
    'caller': lambda who: ('SELECT bandit.caller()::text', [(role(who),)]),
    'holds': lambda who: ("SELECT bandit.holds('bandit_pt_owner'), bandit.holds('bandit_pt_app')",
                          [(who == 'owner', who == 'app')]),
    'readable': lambda who: ("SELECT name FROM bandit.readable('policy') name WHERE name LIKE 'pt\\_%' ORDER BY 1",
                             [(n,) for n in READABLE[who]]),
}
# what each role holds on the P objects (and other_app on Q only)
HOLDS = {'owner': {'use', 'read', 'manage'}, 'app': {'use'}, 'analyst': {'read'}, 'other_app': set(), 'nobody': set()}
P = {'policy': 'pt_p', 'experiment': 'pt_e', 'agent': 'pt_a', 'scope': 'pt_s', 'priors': '*'}

SIGNAL = ('{"aggregation_round": %d, "cluster_hash": "pt", "participant_count": 3, "reward_signals": '
          '{"pt_key": {"success_rate": 0.5, "avg_latency": 120, "quality_score": 0.9, "total_samples": 5}}}')

SETUP_OWNER = [
    # reward_wait: expire_decisions takes only a policy that has one
    "SELECT bandit.create_policy('pt_p', 'thompson', '{a,b}', '{\"reward_wait\": \"1 hour\", \"default_reward\": 0}')",
    "SELECT bandit.create_policy('pt_q', 'thompson', '{a,b}')",
    "SELECT bandit.create_policy('pt_l', 'linucb', '{a,b}', '{\"dim\": 2}')",
    "SELECT bandit.create_policy('pt_c', 'epsilon_greedy', '{a,b}')",
    "SELECT bandit.create_experiment('pt_e', '{control,treat}')",
    "SELECT bandit.start_experiment('pt_e')",
    "SELECT bandit.create_experiment('pt_ed', '{x,y}')",
    "SELECT bandit.create_experiment('pt_eq', '{control,treat}')",
    "SELECT bandit.start_experiment('pt_eq')",
    "SELECT count(bandit.assign('pt_e', 'u' || i)) FROM generate_series(1, 20) i",
    "SELECT count(bandit.record_metric('pt_e', 'u' || i, 'conv', (i % 2)::float8)) FROM generate_series(1, 20) i",
    "SELECT count(bandit.record_metric('pt_e', 'u' || i, 'rev', i * 1.5)) FROM generate_series(1, 20) i",
    "SELECT bandit.q_learn('pt_a', 's0', 'a0', 1, 's1')",
    "SELECT bandit.q_remember('pt_a', 's0', 'a1', 0, 's1')",
    "SELECT bandit.q_learn('pt_aq', 's0', 'a0', 1, 's1')",
    "SELECT bandit.define_tuning_value('pt_s', 'v', 500, 100, 2000, 50, 0)",
    "SELECT bandit.define_tuning_value('pt_sq', 'v', 500, 100, 2000, 50, 0)",
    "SELECT bandit.grant(k, p, 'bandit_pt_app', 'use'), bandit.grant(k, p, 'bandit_pt_analyst', 'read'), "
    "bandit.grant(k, q, 'bandit_pt_other_app', 'use') FROM (VALUES ('policy', 'pt_p', 'pt_q'), "
    "('experiment', 'pt_e', 'pt_eq'), ('agent', 'pt_a', 'pt_aq'), ('scope', 'pt_s', 'pt_sq')) v(k, p, q)",
    "SELECT bandit.grant('policy', 'pt_l', 'bandit_pt_app', 'use'), "
    "bandit.grant('policy', 'pt_l', 'bandit_pt_analyst', 'read')",
    "SELECT bandit.grant('policy', 'pt_c', 'bandit_pt_analyst', 'read')",
    "SELECT bandit.grant('experiment', 'pt_ed', 'bandit_pt_app', 'use'), "
    "bandit.grant('experiment', 'pt_ed', 'bandit_pt_analyst', 'read')",
]
SETUP_SUPERUSER = [
    "SELECT bandit.grant('priors', '*', 'bandit_pt_owner', 'manage'), bandit.grant('priors', '*', 'bandit_pt_app', 'use'), "
    "bandit.grant('priors', '*', 'bandit_pt_analyst', 'read')",
    "SELECT bandit.apply_signal('%s')" % (SIGNAL % 1),
    # another owner's objects, for the dump
    "SELECT bandit.create_policy('pt_x', 'ucb1', '{a,b}')",
    "SELECT bandit.grant('policy', 'pt_x', 'bandit_pt_other_app', 'read')",
    # a canary (after the app's decision fx['dp'] was made by pt_p itself), whose candidate
    # the analyst may read too (canary_status needs read on both) and the app may not use
    "SELECT bandit.start_canary('pt_p', 'pt_c', 0.5)",
]


def calls(fx):
    """sig -> (SQL of a valid call on P, the object it names): one per stateful function."""
    sig = SIGNAL % 2
    c = {
        'bandit.choose(text,jsonb)': ("SELECT * FROM bandit.choose('pt_p', '{}')", 'policy'),
        'bandit.reward(bigint,double precision)': ('SELECT bandit.reward(%s::bigint, 1::float8)' % fx['dp'], 'policy'),
        'bandit.reward(text,text,double precision)': ("SELECT bandit.reward('pt_p', 'a', 1::float8)", 'policy'),
        'bandit.reward(bigint,double precision,double precision,double precision)':
            ('SELECT bandit.reward(%s::bigint, 1::float8, 2::float8, 30::float8)' % fx['dp'], 'policy'),
        'bandit.learn_pending(text,integer)': ("SELECT bandit.learn_pending('pt_p', 10)", 'policy'),
        'bandit.expire_decisions(text)': ("SELECT bandit.expire_decisions('pt_p')", 'policy'),
        'bandit.refresh_metrics(text)': ("SELECT bandit.refresh_metrics('pt_p')", 'policy'),
        'bandit.reward(bigint[],double precision[])': ('SELECT bandit.reward(ARRAY[%s]::bigint[], ARRAY[1]::float8[])' % fx['dp'], 'policy'),
        'bandit.recommend(text,integer,jsonb)': ("SELECT * FROM bandit.recommend('pt_p', 2, NULL)", 'policy'),
        'bandit.arm_stats(text)': ("SELECT * FROM bandit.arm_stats('pt_p')", 'policy'),
        'bandit.linucb_state(text,text)': ("SELECT pending FROM bandit.linucb_state('pt_l', 'a')", 'policy:pt_l'),
        'bandit.add_arm(text,text,double precision,double precision)': ("SELECT bandit.add_arm('pt_p', 'c', NULL, NULL)", 'policy'),
        'bandit.retire_arm(text,text)': ("SELECT bandit.retire_arm('pt_p', 'b')", 'policy'),
        'bandit.set_mode(text,text)': ("SELECT bandit.set_mode('pt_p', 'shadow')", 'policy'),
        'bandit.set_arm_budget(text,text,double precision,double precision)': ("SELECT bandit.set_arm_budget('pt_p', 'a', 1, 100)", 'policy'),
        'bandit.snapshot(text,text)': ("SELECT bandit.snapshot('pt_p', 'x')", 'policy'),
        'bandit.restore(bigint)': ('SELECT bandit.restore(%s)' % fx['snap'], 'policy'),
        'bandit.start_canary(text,text,double precision,jsonb)': ("SELECT bandit.start_canary('pt_q', 'pt_p', 0.1, '{}')", 'policy:pt_q'),
        'bandit.canary_status(text)': ("SELECT recommendation FROM bandit.canary_status('pt_p')", 'policy'),
        'bandit.promote_canary(text)': ("SELECT bandit.promote_canary('pt_p')", 'policy'),
        'bandit.stop_canary(text)': ("SELECT bandit.stop_canary('pt_p')", 'policy'),
        'bandit.policy_versions(text)': ("SELECT * FROM bandit.policy_versions('pt_p')", 'policy'),
        'bandit.create_policy(text,text,text[],jsonb)': ("SELECT bandit.create_policy('pt_new', 'thompson', '{a,b}', '{}')", 'policy'),
        'bandit.export_policy(text)': ("SELECT bandit.export_policy('pt_p')", 'policy'),
        'bandit.export_policy(text,boolean)': ("SELECT bandit.export_policy('pt_p', true)", 'policy'),
        'bandit.import_policy(jsonb,text,boolean)': ("SELECT bandit.import_policy(%s, 'pt_imported')" % lit(fx['pdoc']), 'policy'),
        'bandit.assign(text,text)': ("SELECT bandit.assign('pt_e', 'n1')", 'experiment'),
        'bandit.assign(text,text,text)': ("SELECT bandit.assign('pt_e', 'n1', 's1')", 'experiment'),
        'bandit.record_metric(text,text,text,double precision)': ("SELECT bandit.record_metric('pt_e', 'u1', 'conv', 1)", 'experiment'),
        'bandit.record_metrics(text,text,text[],double precision[])': ("SELECT bandit.record_metrics('pt_e', 'conv', '{u1,u2}', '{1,0}')", 'experiment'),
        'bandit."analyze"(text,text)': ("SELECT * FROM bandit.analyze('pt_e', 'conv')", 'experiment'),
        'bandit."analyze"(text,text,text)': ("SELECT * FROM bandit.analyze('pt_e', 'conv', 'rev')", 'experiment'),
        'bandit.decide(text,text)': ("SELECT * FROM bandit.decide('pt_e', 'conv')", 'experiment'),
        'bandit.report(text,text)': ("SELECT * FROM bandit.report('pt_e', 'conv')", 'experiment'),
        'bandit.srm_check(text)': ("SELECT bandit.srm_check('pt_e')", 'experiment'),
        'bandit.experiment_summaries(text,text)': ("SELECT * FROM bandit.experiment_summaries('pt_e', 'conv')", 'experiment'),
        'bandit.experiment_shares(text,text)': ("SELECT * FROM bandit.experiment_shares('pt_e', 'conv')", 'experiment'),
        'bandit.analyze_summaries(text,text,text[],bigint[],bandit.summary[])':
            ("SELECT * FROM bandit.analyze_summaries('pt_e', 'conv', '{control,treat}', '{10,10}', "
             "'{\"(10,0.5,2.5)\",\"(10,0.5,2.5)\"}')", 'experiment'),
        'bandit.decide_summaries(text,text,text[],bigint[],bandit.summary[])':
            ("SELECT * FROM bandit.decide_summaries('pt_e', 'conv', '{control,treat}', '{10,10}', "
             "'{\"(10,0.5,2.5)\",\"(10,0.5,2.5)\"}')", 'experiment'),
        'bandit.experiment_summaries(text,text,text)': ("SELECT * FROM bandit.experiment_summaries('pt_e', 'rev', 'conv')", 'experiment'),
        'bandit.analyze_summaries(text,text,text,text[],bigint[],bandit.covariance_summary[],bandit.summary[])':
            ("SELECT * FROM bandit.analyze_summaries('pt_e', 'rev', 'conv', '{control,treat}', '{10,10}', "
             "'{\"(10,1,2,9,9,3)\",\"(10,1,3,9,9,3)\"}', '{NULL,NULL}')", 'experiment'),
        'bandit.analyze_summaries(text,text,text[],bigint[],bandit.summary[],bigint[])':
            ("SELECT * FROM bandit.analyze_summaries('pt_e', 'conv', '{control,treat}', '{10,10}', "
             "'{\"(10,0.5,2.5)\",\"(10,0.5,2.5)\"}', NULL)", 'experiment'),
        'bandit.decide_summaries(text,text,text[],bigint[],bandit.summary[],bigint[])':
            ("SELECT * FROM bandit.decide_summaries('pt_e', 'conv', '{control,treat}', '{10,10}', "
             "'{\"(10,0.5,2.5)\",\"(10,0.5,2.5)\"}', NULL)", 'experiment'),
        'bandit.start_experiment(text)': ("SELECT bandit.start_experiment('pt_ed')", 'experiment:pt_ed'),
        'bandit.stop_experiment(text,text)': ("SELECT bandit.stop_experiment('pt_e', 'done')", 'experiment'),
        'bandit.drop_experiment(text)': ("SELECT bandit.drop_experiment('pt_e')", 'experiment'),
        'bandit.create_experiment(text,text[],double precision[],jsonb)': ("SELECT bandit.create_experiment('pt_enew', '{a,b}', NULL, '{}')", 'experiment'),
        'bandit.q_select(text,text,text[],double precision)': ("SELECT bandit.q_select('pt_a', 's0', '{a0,a1}', 0)", 'agent'),
        'bandit.q_learn(text,text,text,double precision,text,double precision,double precision)':
            ("SELECT bandit.q_learn('pt_a', 's0', 'a0', 1, 's1', 0.1, 0.9)", 'agent'),
        'bandit.q_learn_batch(text,text[],text[],double precision[],text[],double precision,double precision)':
            ("SELECT bandit.q_learn_batch('pt_a', '{s0}', '{a0}', '{1}', '{s1}', 0.1, 0.9)", 'agent'),
        'bandit.q_remember(text,text,text,double precision,text,integer)': ("SELECT bandit.q_remember('pt_a', 's0', 'a0', 1, 's1', NULL)", 'agent'),
        'bandit.q_replay(text,integer,double precision,double precision)': ("SELECT bandit.q_replay('pt_a', 1, 0.1, 0.9)", 'agent'),
        'bandit.q_greedy(text)': ("SELECT * FROM bandit.q_greedy('pt_a')", 'agent'),
        'bandit.q_export(text)': ("SELECT bandit.q_export('pt_a')", 'agent'),
        'bandit.q_import(text,jsonb,boolean)': ("SELECT bandit.q_import('pt_a', %s, true)" % lit(fx['qdoc']), 'agent'),
        'bandit.q_forget(text)': ("SELECT bandit.q_forget('pt_a')", 'agent'),
        'bandit.tuned_value(text,text)': ("SELECT bandit.tuned_value('pt_s', 'v')", 'scope'),
        'bandit.tuning_history(text,integer)': ("SELECT * FROM bandit.tuning_history('pt_s', 30)", 'scope'),
        'bandit.validate_adjustment(text,text,double precision,integer)': ("SELECT bandit.validate_adjustment('pt_s', 'v', 520, 30)", 'scope'),
        'bandit.propose_value(text,text,double precision,integer,double precision)': ("SELECT bandit.propose_value('pt_s', 'v', 600, 30, 10)", 'scope'),
        'bandit.propose_adjustment(text,text,double precision,integer,double precision,double precision,double precision)':
            ("SELECT bandit.propose_adjustment('pt_s', 'v', 0.4, 30, 0.5, 1, 10)", 'scope'),
        'bandit.apply_adjustment(text,text,double precision,text,integer,double precision,double precision)':
            ("SELECT bandit.apply_adjustment('pt_s', 'v', 520, 'why', 30, NULL, NULL)", 'scope'),
        'bandit.apply_proposal(bandit.tuning_proposal)': ('SELECT bandit.apply_proposal(%s::bandit.tuning_proposal)' % lit(fx['prop']), 'scope'),
        'bandit.snapshot_tuning(text,text)': ("SELECT bandit.snapshot_tuning('pt_s', 'x')", 'scope'),
        'bandit.rollback_tuning(bigint)': ('SELECT bandit.rollback_tuning(%s)' % fx['tsnap'], 'scope'),
        'bandit.set_tuning_rate_limit(text,integer,interval)': ("SELECT bandit.set_tuning_rate_limit('pt_s', 100, '1 hour')", 'scope'),
        'bandit.define_tuning_value(text,text,double precision,double precision,double precision,double precision,integer)':
            ("SELECT bandit.define_tuning_value('pt_s', 'w', 1, 0, 2, 1, 0)", 'scope'),
        'bandit.apply_signal(jsonb)': ('SELECT bandit.apply_signal(%s)' % lit(sig), 'priors'),
        'bandit.prior_adjusted_score(text,double precision,double precision,double precision,double precision,jsonb)':
            ("SELECT bandit.prior_adjusted_score('pt_key', 0.5, 250, 0.8, 2, NULL)", 'priors'),
        'bandit.cleanup_priors(interval)': ("SELECT bandit.cleanup_priors('7 days')", 'priors'),
    }
    return c


def lit(s):
    return "'" + s.replace("'", "''") + "'"


PRIV_RE = re.compile(r'Privilege: (use|read|manage) on the (policy|experiment|agent|scope|priors)\.')
EXEC_RE = re.compile(r'Privilege: EXECUTE, granted by a DBA[^;.]*; creates (?:an?|the) (policy|experiment|agent|scope) owned by the caller')
GRANT_RE = re.compile(r'Privilege: manage on the object')
OWNER_RE = re.compile(r'Privilege: ownership of the object')
NONE_RE = re.compile(r'Privilege: none\b')


def denial(kind, name, who, priv):
    """ACCESS.md's message and HINT; the implementation names a scope 'tuning scope "s"' and the
    priors 'the priors'."""
    what = {'priors': 'the priors', 'scope': 'tuning scope "%s"' % name}.get(kind, '%s "%s"' % (kind, name))
    return ('permission denied for %s: role "%s" lacks %s' % (what, role(who), priv),
            "A role with manage on it can run: SELECT bandit.grant('%s', '%s', '%s', '%s');" % (kind, name, role(who), priv))


class Caller:
    """Runs a statement as a role (SET LOCAL ROLE) in a transaction it rolls back."""

    def __init__(self, dbname):
        self.conn = psycopg2.connect(dbname=dbname)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.cur.execute("SET statement_timeout = '20s'")
        self.cur.execute('SET client_min_messages = error')

    def run(self, who, sql):
        """(None, rows) when it works, else (sqlstate, (message, hint))."""
        cur = self.cur
        cur.execute('BEGIN')
        try:
            if who is not None:
                cur.execute('SET LOCAL ROLE %s' % role(who))
            cur.execute(sql)
            rows = cur.fetchall() if cur.description else []
            return None, rows
        except psycopg2.Error as e:
            return e.pgcode, (e.diag.message_primary, e.diag.message_hint)
        finally:
            cur.execute('ROLLBACK')


def digest_sql(cur):
    cur.execute("""SELECT c.relname, c.relkind FROM pg_class c WHERE c.relnamespace = 'bandit'::regnamespace
                   AND c.relkind IN ('r', 'S') ORDER BY 1""")
    parts = []
    for rel, kind in cur.fetchall():
        if kind == 'S':
            parts.append("SELECT '%s:' || last_value || ',' || is_called FROM bandit.%s" % (rel, rel))
        else:
            parts.append("SELECT '%s:' || count(*) || ':' || coalesce(md5(string_agg(t::text, ';' ORDER BY t::text)), '') "
                         "FROM bandit.%s t" % (rel, rel))
    return 'SELECT string_agg(x, \' \' ORDER BY x) FROM (%s) s(x)' % ' UNION ALL '.join(parts)


def drop_roles(admin):
    cur = admin.cursor()
    for db in (DB, DB_RESTORED):
        cur.execute('DROP DATABASE IF EXISTS ' + db)
    for who in ROLES:
        cur.execute('DROP ROLE IF EXISTS ' + role(who))


def build(conn):
    """The fixture: P and Q of every kind owned by owner, the grants, a decision, snapshots."""
    cur = conn.cursor()
    cur.execute('GRANT EXECUTE ON FUNCTION bandit.create_policy(text, text, text[], jsonb), '
                'bandit.import_policy(jsonb, text, boolean), '
                'bandit.create_experiment(text, text[], float8[], jsonb), '
                'bandit.define_tuning_value(text, text, float8, float8, float8, float8, integer), '
                'bandit.set_tuning_rate_limit(text, integer, interval) TO ' + role('owner'))
    cur.execute('SET ROLE ' + role('owner'))
    for sql in SETUP_OWNER:
        cur.execute(sql)
    fx = {}
    cur.execute("SELECT bandit.snapshot('pt_p', 'fixture')")
    fx['snap'] = cur.fetchone()[0]
    cur.execute("SELECT bandit.snapshot_tuning('pt_s', 'fixture')")
    fx['tsnap'] = cur.fetchone()[0]
    cur.execute("SELECT bandit.export_policy('pt_p', true)::text")
    fx['pdoc'] = cur.fetchone()[0]
    cur.execute("SELECT bandit.q_export('pt_a')::text")
    fx['qdoc'] = cur.fetchone()[0]
    cur.execute("SELECT bandit.propose_value('pt_s', 'v', 600, 30)::text")
    fx['prop'] = cur.fetchone()[0]
    cur.execute('SET ROLE ' + role('app'))
    cur.execute("SELECT decision_id FROM bandit.choose('pt_p')")
    fx['dp'] = cur.fetchone()[0]
    cur.execute('RESET ROLE')
    for sql in SETUP_SUPERUSER:
        cur.execute(sql)
    return fx


def main():
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    drop_roles(admin)
    for who in ROLES:
        admin.cursor().execute('CREATE ROLE ' + role(who))
    _, conn = fresh_database(DB)
    cur = conn.cursor()
    try:
        fx = build(conn)
    except psycopg2.Error as e:
        ok('fixture', False, '%s %s' % (e.pgcode, e.pgerror))
        return report()

    types = Types(cur)
    funcs = load_catalog(cur)
    cur.execute("""SELECT p.oid, coalesce(obj_description(p.oid, 'pg_proc'), ''), p.prosecdef, p.proconfig,
                          p.proowner = (SELECT extowner FROM pg_extension WHERE extname = 'bandit'),
                          p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                                                      WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'),
                          l.lanname, p.prosrc
                   FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                   WHERE p.pronamespace = 'bandit'::regnamespace""")
    meta = {r[0]: r[1:] for r in cur.fetchall()}
    cur.execute("SELECT relname FROM pg_class WHERE relnamespace = 'bandit'::regnamespace AND relkind IN ('r', 'v')")
    tables = [r[0] for r in cur.fetchall()]
    table_re = re.compile(r'\bbandit\.(%s)\b' % '|'.join(tables))
    call_of = calls(fx)
    digest = digest_sql(cur)
    caller = Caller(DB)
    fuzz_test.rng = random.Random(5)

    class NoFixture:
        created = {'policy': [], 'experiment': []}
        qdoc = '{}'

        def decision(self):
            return str(fx['dp'])

        def snapshot(self):
            return str(fx['snap'])

        def tsnapshot(self):
            return str(fx['tsnap'])
    fuzz_test.fx = NoFixture()
    gen = fuzz_test.Gen(types)

    def state():
        cur.execute(digest)
        return cur.fetchone()[0]

    def check_denied(what, who, sql, want_msg, want_hint=None, want_code='42501'):
        before = state()
        code, out = caller.run(who, sql)
        after = state()
        if code is None:
            ok(what, False, 'worked; want %s %s' % (want_code, want_msg))
            return
        msg, hint = out
        ok(what, code == want_code and msg == want_msg and (want_hint is None or hint == want_hint),
           'got %s %s (HINT %s); want %s %s (HINT %s)' % (code, msg, hint, want_code, want_msg, want_hint))
        ok(what + ': changes nothing', before == after, 'state before %s\nafter %s' % (before, after))

    def check_works(what, who, sql):
        code, out = caller.run(who, sql)
        ok(what, code is None, 'got %s %s' % (code, out))

    seen_design = set()
    n_pure = n_internal = n_stateful = 0
    for f in funcs:
        comment, secdef, config, ext_owned, public, lang, src = meta[f.oid]
        name = f.name
        prv = PRIV_RE.search(comment)
        exe = EXEC_RE.search(comment)
        argtypes = [types.name(t) for t in f.argtypes]
        if secdef:
            ok('%s SECURITY DEFINER pins search_path' % f.sig,
               config is not None and 'search_path=pg_catalog, pg_temp' in config, 'proconfig %s' % config)
            ok('%s SECURITY DEFINER is the extension owner\'s' % f.sig, ext_owned)
        touches = lang in ('sql', 'plpgsql') and table_re.search(src or '') is not None
        if name in CALLER_DEPENDENT:
            n_pure += 1
            for who in ROLES:
                sql, want = CALLER_DEPENDENT[name](who)
                code, out = caller.run(who, sql)
                ok('%s by %s answers for the caller' % (f.sig, who), code is None and out == want,
                   'got %s %s, want %s' % (code, out, want))
            continue
        if public and (touches or secdef):
            ok('%s: PUBLIC may run it and it touches tables, so it has a Privilege sentence' % f.sig,
               prv or exe or GRANT_RE.search(comment) or OWNER_RE.search(comment) or NONE_RE.search(comment),
               'COMMENT: %s' % comment[-200:])
        if OWNER_RE.search(comment):
            # set_owner: the owner may give an object to a role it may act as (here itself)
            n_stateful += 1
            for kind, obj in P.items():
                sql = "SELECT bandit.set_owner('%s', '%s', 'bandit_pt_owner')" % (kind, obj)
                what = {'scope': 'tuning scope "%s"' % obj, 'priors': 'the priors'}.get(kind, '%s "%s"' % (kind, obj))
                for who in ROLES:
                    if kind == 'priors':
                        # CREATE EXTENSION makes the priors' row: pg_dump could not carry another owner
                        check_denied('%s on %s %s by %s' % (name, kind, obj, who), who, sql,
                                     "the priors always belong to the extension's owner", want_code='0A000')
                    elif who == 'owner':
                        check_works('%s on %s %s by %s' % (name, kind, obj, who), who, sql)
                    else:
                        check_denied('%s on %s %s by %s' % (name, kind, obj, who), who, sql,
                                     'permission denied for %s: only its owner can change its owner' % what)
            continue
        if name in ('grant', 'revoke'):
            n_stateful += 1
            ok('%s needs manage: its COMMENT says so' % f.sig, 'manage' in comment, comment[-200:])
            for kind, obj in P.items():
                sql = ("SELECT bandit.%s('%s', '%s', 'bandit_pt_nobody', 'use')" % (name, kind, obj)
                       if name == 'grant' else
                       "SELECT bandit.%s('%s', '%s', 'bandit_pt_app', 'use')" % (name, kind, obj))
                for who in ROLES:
                    what = '%s on %s %s by %s' % (name, kind, obj, who)
                    if who == 'owner':
                        check_works(what, who, sql)
                    else:
                        check_denied(what, who, sql, *denial(kind, obj, who, 'manage'))
            continue
        if name in DESIGN or name in CREATING:
            seen_design.add(name)
            if name in DESIGN:
                ok('%s COMMENT: Privilege: %s on the %s (ACCESS.md)' % (f.sig, DESIGN[name][0], DESIGN[name][1]),
                   prv is not None and prv.groups() == DESIGN[name], 'COMMENT ends: %s' % comment[-160:])
            else:
                ok('%s COMMENT: Privilege: EXECUTE, granted by a DBA (ACCESS.md)' % f.sig,
                   exe is not None and exe.group(1) == CREATING[name], 'COMMENT ends: %s' % comment[-160:])
                ok('%s not executable by PUBLIC' % f.sig, not public)
        if prv or exe:
            n_stateful += 1
            if f.sig not in call_of:
                ok('a valid call of %s in privilege_test.py' % f.sig, False, 'add one to calls()')
                continue
            sql, target = call_of[f.sig]
            kind, obj = (target.split(':') + [None])[:2]
            obj = obj or P[kind]
            for who in ROLES:
                what = '%s by %s' % (f.sig, who)
                if exe:
                    if who == 'owner':
                        check_works(what, who, sql)
                    else:
                        check_denied(what, who, sql, 'permission denied for function %s' % name)
                    continue
                level, pkind = prv.groups()
                ok('%s: the call names a %s' % (f.sig, pkind), kind == pkind, 'names a %s' % kind)
                if level in HOLDS[who] or 'manage' in HOLDS[who]:
                    check_works(what, who, sql)
                else:
                    check_denied(what, who, sql, *denial(kind, obj, who, level))
            continue
        # no Privilege sentence: a pure function, or an internal helper PUBLIC may not run
        if 'internal' in argtypes:
            # no SQL value of type internal: a transition function (test/fuzz_test.py checks that PUBLIC
            # may not run those) or a binary receive function
            continue
        args = [gen.valid(f, n, t).sql for n, t in zip(f.argnames, f.argtypes)]
        sql = 'SELECT %s(%s)' % (f.qname, ', '.join(args))
        if not public:
            n_internal += 1
            for who in ROLES:
                check_denied('%s (internal helper) by %s' % (f.sig, who), who, sql,
                             'permission denied for function %s' % name)
            continue
        n_pure += 1
        ref_code, ref = caller.run(None, sql)
        for who in ROLES:
            code, out = caller.run(who, sql)
            same = code == ref_code and (code is not None or f.volatile == 'v' or out == ref)
            ok('%s (pure) by %s as by a superuser' % (f.sig, who), same,
               '%s: got %s %s, superuser %s %s' % (sql[:200], code, str(out)[:200], ref_code, str(ref)[:200]))
    ok('every function of ACCESS.md\'s mapping exists', seen_design == set(DESIGN) | set(CREATING),
       'missing: %s' % ', '.join(sorted(set(DESIGN) | set(CREATING) - seen_design)))
    print('%d functions: %d with a privilege, %d pure, %d internal helpers'
          % (len(funcs), n_stateful, n_pure, n_internal))

    # the catalog
    cur.execute("""SELECT c.relname, c.relkind, a.grantee::regrole::text, a.privilege_type
                   FROM pg_class c, aclexplode(c.relacl) a
                   WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'p', 'm')
                     AND a.grantee <> c.relowner
                     AND NOT (c.relkind IN ('r', 'v') AND a.grantee = 0 AND a.privilege_type = 'SELECT')""")
    extra = cur.fetchall()
    ok('no grant on a bandit table beyond SELECT to PUBLIC, none on a sequence', not extra, str(extra))
    cur.execute("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'r'
                     AND NOT (c.relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))""")
    ok('row-level security, with a policy, on every bandit table', not cur.fetchall())
    cur.execute("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind IN ('r', 'v')
                     AND NOT has_table_privilege('public', c.oid, 'SELECT')""")
    ok('every bandit table and view readable by PUBLIC (filtered by RLS)', not cur.fetchall())
    cur.execute("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'v'
                     AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)
                     AND c.relname <> 'privileges'""")
    ok('views are security_invoker (filtered as their tables)', not cur.fetchall())
    # a function any role may run, running as its caller, cannot call a helper PUBLIC may not run
    cur.execute(r"""WITH f AS (SELECT p.oid, p.proname, p.prosrc, p.prosecdef, l.lanname,
                                      p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                                                                  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public
                               FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                               WHERE p.pronamespace = 'bandit'::regnamespace)
                    SELECT a.oid::regprocedure::text || ' calls ' || string_agg(DISTINCT b.proname, ', ')
                    FROM f a JOIN f b ON NOT b.public AND a.prosrc ~ ('\mbandit\.' || b.proname || '\s*\(')
                    WHERE a.public AND NOT a.prosecdef AND a.lanname IN ('sql', 'plpgsql') GROUP BY a.oid""")
    calls_hidden = [r[0] for r in cur.fetchall()]
    ok('no function PUBLIC may run (as its caller) calls one PUBLIC may not', not calls_hidden, '; '.join(calls_hidden))
    cur.execute("SELECT has_schema_privilege('public', 'bandit', 'USAGE')")
    ok('PUBLIC may use schema bandit', cur.fetchone()[0])

    dump_restore(admin, conn, fx)
    many_objects(conn)
    caller.conn.close()
    conn.close()
    drop_roles(admin)
    return report()


def many_objects(conn):
    """Row-level security costs one pass over the objects per query, not one per row: with 2000
    agents an analyst counts bandit.object and bandit.privileges in well under a second (a filter
    evaluated per row, each pass over all objects, took 3 s for the first)."""
    cur = conn.cursor()
    cur.execute("INSERT INTO bandit.object (kind, name, owner) SELECT 'agent', 'pt_many' || i, 'bandit_pt_owner' "
                "FROM generate_series(1, 2000) i")
    cur.execute("INSERT INTO bandit.permission (kind, name, grantee, privilege, granted_by) "
                "SELECT 'agent', 'pt_many' || i, 'bandit_pt_analyst', 'read', 'bandit_pt_owner' FROM generate_series(1, 2000, 2) i")
    cur.execute("SET statement_timeout = '20s'")
    for what, sql, want in (('bandit.object', "SELECT count(*) FROM bandit.object WHERE name LIKE 'pt\\_many%'", 1000),
                            ('bandit.privileges', "SELECT count(*) FROM bandit.privileges WHERE name LIKE 'pt\\_many%'", 1000),
                            ('bandit.q_table', "SELECT count(*) FROM bandit.q_table WHERE agent = 'pt_a'", 1)):
        cur.execute('SET ROLE ' + role('analyst'))
        t0 = time.time()
        try:
            cur.execute(sql)
            got = cur.fetchone()[0]
        except psycopg2.Error as e:
            got = '%s %s' % (e.pgcode, e.pgerror)
        secs = time.time() - t0
        cur.execute('RESET ROLE')
        ok('2000 objects: analyst reads %s in %.2f s (< 1 s)' % (what, secs), got == want and secs < 1.0,
           'got %s, want %s' % (got, want))
    cur.execute("DELETE FROM bandit.object WHERE name LIKE 'pt\\_many%'")


def bindir():
    pg_config = os.environ.get('PG_CONFIG') or shutil.which('pg_config')
    if pg_config:
        return subprocess.run([pg_config, '--bindir'], capture_output=True, text=True, check=True).stdout.strip()
    return os.path.dirname(shutil.which('pg_dump'))


def dump_restore(admin, conn, fx):
    """pg_dump -Fc, pg_restore into a new database: owners, grants and their effect survive."""
    cur = conn.cursor()
    # objects of three owners: owner's, the superuser's, nobody's first agent
    cur.execute('SET ROLE ' + role('nobody'))
    cur.execute("SELECT bandit.q_learn('pt_nobodys', 's0', 'a0', 1, 's1')")
    cur.execute("SELECT bandit.grant('agent', 'pt_nobodys', 'bandit_pt_analyst', 'read')")
    cur.execute('RESET ROLE')
    queries = {
        # the priors' row is made by CREATE EXTENSION, so it is as old as the restore
        'objects': "SELECT kind, name, owner::text, CASE WHEN kind <> 'priors' THEN created_at END "
                   "FROM bandit.object ORDER BY 1, 2",
        'grants': 'SELECT kind, name, grantee::text, privilege, granted_by::text, granted_at FROM bandit.permission ORDER BY 1, 2, 3, 4',
        # changed_xid stamps the transaction that wrote a row: the restore's own
        'arms': "SELECT to_jsonb(a) - 'changed_xid' FROM bandit.arm a ORDER BY policy, arm",
    }
    for who in ROLES:
        queries['privileges seen by ' + who] = (
            'SET ROLE %s; SELECT kind, name, grantee::text, privilege, granted_by::text, granted_at '
            'FROM bandit.privileges ORDER BY 1, 2, 3, 4' % role(who))

    def snapshot(c):
        out = {}
        k = c.cursor()
        for what, q in queries.items():
            k.execute(q)
            out[what] = k.fetchall()
            k.execute('RESET ROLE')
        return out
    before = snapshot(conn)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'dump')
        b = bindir()
        d = subprocess.run([os.path.join(b, 'pg_dump'), '-Fc', '-f', path, DB], capture_output=True, text=True)
        ok('pg_dump', d.returncode == 0, d.stderr[-2000:])
        admin.cursor().execute('CREATE DATABASE ' + DB_RESTORED)
        r = subprocess.run([os.path.join(b, 'pg_restore'), '-d', DB_RESTORED, path], capture_output=True, text=True)
        ok('pg_restore without errors', r.returncode == 0 and 'error' not in r.stderr.lower(), r.stderr[-3000:])
    rconn = psycopg2.connect(dbname=DB_RESTORED)
    rconn.autocommit = True
    after = snapshot(rconn)
    for what in queries:
        ok('restored: the same %s' % what, before[what] == after[what],
           'before %s\nafter %s' % (before[what][:20], after[what][:20]))
    ok('restored: objects of three owners', len({r[2] for r in after['objects']}) >= 3, str(after['objects']))
    rc = Caller(DB_RESTORED)
    code, out = rc.run('app', "SELECT * FROM bandit.choose('pt_p')")
    ok('restored: app chooses on P', code is None, str(out))
    code, out = rc.run('app', "SELECT bandit.reward(%s, 1)" % fx['dp'])
    ok('restored: app rewards its decision', code is None, str(out))
    code, out = rc.run('app', "SELECT bandit.add_arm('pt_p', 'z')")
    ok('restored: app may not add an arm', code == '42501', '%s %s' % (code, out))
    code, out = rc.run('analyst', 'SELECT DISTINCT policy FROM bandit.arm ORDER BY 1')
    ok('restored: analyst reads P\'s arms, and only P\'s (and pt_c\'s and pt_l\'s, also granted)',
       code is None and out == [('pt_c',), ('pt_l',), ('pt_p',)], '%s %s' % (code, out))
    code, out = rc.run('analyst', 'SELECT policy, candidate, share FROM bandit.canary')
    ok('restored: the canary survives the dump', code is None and out == [('pt_p', 'pt_c', 0.5)], '%s %s' % (code, out))
    code, out = rc.run('analyst', "SELECT count(*) FROM bandit.arm_stats('pt_p')")
    ok('restored: analyst runs arm_stats on P', code is None and out == [(2,)], '%s %s' % (code, out))
    code, out = rc.run('other_app', "SELECT * FROM bandit.choose('pt_p')")
    ok('restored: other_app still may not choose on P', code == '42501', '%s %s' % (code, out))
    code, out = rc.run('owner', "SELECT bandit.create_policy('pt_after', 'thompson', '{a,b}')")
    ok('restored: owner still holds EXECUTE on create_policy', code is None, '%s %s' % (code, out))
    code, out = rc.run('app', "SELECT bandit.create_policy('pt_after', 'thompson', '{a,b}')")
    ok('restored: app still does not', code == '42501', '%s %s' % (code, out))
    rcur = rconn.cursor()
    rcur.execute("SELECT count(*) FROM bandit.object WHERE kind = 'priors'")
    ok('restored: one priors object', rcur.fetchone()[0] == 1)
    rc.conn.close()
    rconn.close()


if __name__ == '__main__':
    sys.exit(main())
