"""Upgrades: a released version of bandit, run by its own library until
there is data in every one of its tables, then updated as a user would
(the new version's files installed, the server restarted, ALTER EXTENSION
bandit UPDATE), keeps every row with the same values, keeps working, and has
exactly the catalog of a fresh install of the default version.

The release is built from its commit (RELEASES) into a scratch copy of the
PostgreSQL installation, so the suite's own installation is never touched.

The catalog is compared object by object (every member of the extension):
owners; comments on every object, column, constraint, index and policy;
function definitions with their volatility, strictness, parallel safety,
security (SECURITY DEFINER) and SET clauses; aggregates' support functions;
ACLs of functions, tables, columns, types and the schema, and the initial
privileges pg_dump compares them with; columns in order with types, defaults
and NOT NULL; composite types' attributes; constraints, indexes, triggers;
row-level security enabled and forced, and its policies with their
expressions; view definitions and options; what pg_dump dumps.  Each kind of
difference is applied on purpose to a scratch database to show that the
comparison reports it, and only there."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import mpmath
import psycopg2

from scratch_cluster import Cluster
from testlib import ok, close, report, query_helpers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The commit each released version was built from.
RELEASES = {'0.1.0': '1314568c1d18c0573838813fd6782b2060b5e47b'}

# (description, definition) of every member object, and of what hangs off it.
CATALOG = r"""
WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_catalog.pg_extension WHERE extname = 'bandit'),
members AS (
  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
  WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
  UNION  -- the schema, which CREATE EXTENSION makes without making it a member
  SELECT 'pg_catalog.pg_namespace'::regclass, e.extnamespace FROM pg_catalog.pg_extension e WHERE e.extname = 'bandit'),
-- columns of a table, view or composite type: name, type, NOT NULL, default,
-- identity, generated, comment, ACL and initial privileges
columns AS (
  SELECT a.attrelid, string_agg(format('column %s %s%s%s%s%s', a.attname,
                 pg_catalog.format_type(a.atttypid, a.atttypmod),
                 CASE WHEN a.attnotnull THEN ' not null' END,
                 ' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
                 CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text END,
                 CASE WHEN a.attgenerated <> '' THEN ' generated' END)
               || coalesce(' -- ' || pg_catalog.col_description(a.attrelid, a.attnum), '')
               || coalesce(' acl ' || a.attacl::text, '')
               || coalesce(' initprivs ' || (SELECT ip.initprivs::text FROM pg_catalog.pg_init_privs ip
                                             WHERE ip.classoid = 'pg_catalog.pg_class'::regclass
                                               AND ip.objoid = a.attrelid AND ip.objsubid = a.attnum), ''),
               E'\n' ORDER BY a.attnum) AS text
  FROM pg_catalog.pg_attribute a
  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped
  GROUP BY a.attrelid)
SELECT pg_catalog.pg_describe_object(m.classid, m.objid, 0) AS what,
       concat_ws(E'\n',
         'comment: ' || pg_catalog.obj_description(m.objid, m.classid::regclass::text),
         'initprivs: ' || (SELECT ip.privtype::text || ' ' || ip.initprivs::text FROM pg_catalog.pg_init_privs ip
                           WHERE ip.classoid = m.classid AND ip.objoid = m.objid AND ip.objsubid = 0),
         CASE m.classid
           WHEN 'pg_catalog.pg_proc'::regclass THEN (
             SELECT concat_ws(E'\n', 'owner: ' || p.proowner::regrole::text, 'acl: ' || p.proacl::text,
                      'security definer: ' || p.prosecdef::text, 'config: ' || p.proconfig::text,
                      CASE WHEN p.prokind = 'a' THEN (
                        SELECT concat_ws(' ', 'aggregate', a.aggkind, a.aggtransfn::regprocedure, a.aggfinalfn,
                                         a.aggcombinefn, a.aggserialfn, a.aggdeserialfn, a.aggmtransfn,
                                         a.aggminvtransfn, a.aggmfinalfn, a.aggfinalextra, a.aggfinalmodify,
                                         a.aggsortop, a.aggtranstype::regtype, a.aggtransspace, a.agginitval,
                                         a.aggminitval, p.proparallel, p.provolatile,
                                         pg_catalog.pg_get_function_arguments(p.oid),
                                         pg_catalog.pg_get_function_result(p.oid))
                        FROM pg_catalog.pg_aggregate a WHERE a.aggfnoid = p.oid)
                      ELSE pg_catalog.pg_get_functiondef(p.oid) END)
             FROM pg_catalog.pg_proc p WHERE p.oid = m.objid)
           WHEN 'pg_catalog.pg_class'::regclass THEN (
             SELECT concat_ws(E'\n', 'kind: ' || c.relkind::text, 'owner: ' || c.relowner::regrole::text,
                      'acl: ' || c.relacl::text,
                      'rls enabled, forced: ' || c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text,
                      'options: ' || c.reloptions::text,
                      'view: ' || CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END,
                      'dumped: ' || (SELECT coalesce(ext.extcondition[i], '') FROM ext,
                                     generate_subscripts(ext.extconfig, 1) i WHERE ext.extconfig[i] = c.oid),
                      (SELECT columns.text FROM columns WHERE columns.attrelid = c.oid),
                      (SELECT string_agg(format('constraint %s %s', co.conname, pg_catalog.pg_get_constraintdef(co.oid))
                                         || coalesce(' -- ' || pg_catalog.obj_description(co.oid, 'pg_constraint'), ''),
                                         E'\n' ORDER BY co.conname)
                       FROM pg_catalog.pg_constraint co WHERE co.conrelid = c.oid),
                      (SELECT string_agg('index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
                                         || coalesce(' -- ' || pg_catalog.obj_description(i.indexrelid, 'pg_class'), ''),
                                         E'\n' ORDER BY 1)
                       FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid),
                      (SELECT string_agg('trigger ' || pg_catalog.pg_get_triggerdef(t.oid)
                                         || coalesce(' -- ' || pg_catalog.obj_description(t.oid, 'pg_trigger'), ''),
                                         E'\n' ORDER BY 1)
                       FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
                      (SELECT string_agg(format('policy %s %s %s %s using %s check %s', po.polname, po.polcmd,
                                                po.polpermissive, po.polroles::regrole[]::text,
                                                pg_catalog.pg_get_expr(po.polqual, po.polrelid),
                                                pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid))
                                         || coalesce(' -- ' || pg_catalog.obj_description(po.oid, 'pg_policy'), ''),
                                         E'\n' ORDER BY po.polname)
                       FROM pg_catalog.pg_policy po WHERE po.polrelid = c.oid),
                      (SELECT format('sequence %s %s %s %s %s %s', s.seqtypid::regtype, s.seqstart, s.seqincrement,
                                     s.seqmax, s.seqmin, s.seqcycle)
                       FROM pg_catalog.pg_sequence s WHERE s.seqrelid = c.oid))
             FROM pg_catalog.pg_class c WHERE c.oid = m.objid)
           WHEN 'pg_catalog.pg_type'::regclass THEN (
             SELECT concat_ws(E'\n',
                      concat_ws(' ', 'type', t.typtype, t.typinput, t.typoutput, t.typreceive, t.typsend,
                                t.typlen, t.typalign, t.typstorage, t.typacl::text,
                                (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                 FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)),
                      'owner: ' || t.typowner::regrole::text,
                      (SELECT columns.text FROM columns WHERE columns.attrelid = t.typrelid))
             FROM pg_catalog.pg_type t WHERE t.oid = m.objid)
           WHEN 'pg_catalog.pg_namespace'::regclass THEN (
             SELECT concat_ws(E'\n', 'owner: ' || n.nspowner::regrole::text, 'acl: ' || n.nspacl::text)
             FROM pg_catalog.pg_namespace n WHERE n.oid = m.objid)
         END) AS definition
FROM members m
UNION ALL
SELECT 'extension bandit', concat_ws(E'\n', 'comment: ' || pg_catalog.obj_description(e.oid, 'pg_extension'),
                                     'schema: ' || e.extnamespace::regnamespace::text,
                                     'relocatable: ' || e.extrelocatable::text)
FROM pg_catalog.pg_extension e WHERE e.extname = 'bandit'
ORDER BY 1
"""


def catalog(cur):
    cur.execute(CATALOG)
    return dict(cur.fetchall())


def differences(got, want):
    """The objects whose description differs, or that only one side has."""
    return {what for what in set(got) | set(want) if got.get(what) != want.get(what)}


def versions(cur):
    """The installable versions, oldest first, and the default."""
    cur.execute("SELECT version FROM pg_catalog.pg_available_extension_versions WHERE name = 'bandit'")
    found = sorted((r[0] for r in cur.fetchall()), key=lambda v: tuple(int(x) for x in v.split('.')))
    cur.execute("SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'bandit'")
    return found, cur.fetchone()[0]


def pg_config(binary, what):
    return subprocess.run([binary, '--' + what], capture_output=True, text=True, check=True).stdout.strip()


class Installation:
    """A copy of the PostgreSQL installation the suite runs (bindir, pkglibdir
    and sharedir at the same relative places, so it finds them) into which
    versions of bandit are installed."""

    def __init__(self, root):
        self.original = os.environ.get('PG_CONFIG') or shutil.which('pg_config') or \
            '/usr/lib/postgresql/15/bin/pg_config'
        self.dirs = {d: pg_config(self.original, d) for d in ('bindir', 'pkglibdir', 'sharedir')}
        for d in self.dirs.values():
            shutil.copytree(d, root + d, symlinks=True)
        self.pg_config = root + self.dirs['bindir'] + '/pg_config'
        self.lib = root + self.dirs['pkglibdir']
        self.extension = root + self.dirs['sharedir'] + '/extension'

    def install(self, library, scripts):
        """Replaces bandit's library, control file and scripts, as a package upgrade does."""
        for old in glob.glob(os.path.join(self.extension, 'bandit.control')) + \
                glob.glob(os.path.join(self.extension, 'bandit--*.sql')):
            os.remove(old)
        shutil.copy(library, os.path.join(self.lib, 'bandit.so'))
        for f in scripts:
            shutil.copy(f, self.extension)

    def current(self):
        """The library and scripts of the version under test, from the suite's installation."""
        share = os.path.join(self.dirs['sharedir'], 'extension')
        return (os.path.join(self.dirs['pkglibdir'], 'bandit.so'),
                [os.path.join(share, 'bandit.control')] + glob.glob(os.path.join(share, 'bandit--*.sql')))


def build_release(commit, into, pg_config):
    """Builds the release at commit with pg_config; returns its directory or None."""
    try:
        os.mkdir(into)
        archive = subprocess.run(['git', '-c', 'safe.directory=*', '-C', REPO, 'archive', commit],
                                 capture_output=True, check=True).stdout
        subprocess.run(['tar', '-x', '-C', into], input=archive, check=True)
        subprocess.run(['make', '-s', '-C', into, '-j2', 'with_llvm=no',
                        'PG_CONFIG=' + pg_config],
                       capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print('building %s: %s %s' % (commit, e, (getattr(e, 'stderr', None) or b'')[-2000:]))
        return None
    return into


def without_header(path):
    """A script's lines after its leading comment lines."""
    with open(path) as f:
        lines = f.readlines()
    while lines and lines[0].startswith('--'):
        lines.pop(0)
    return lines


# ---------------------------------------------------------------------------
# State written by the released version, through its own API only.

POLICIES = [('p_thompson', 'thompson', '{}'), ('p_ucb1', 'ucb1', '{}'),
            ('p_eps', 'epsilon_greedy', '{"epsilon": 0.2}'), ('p_softmax', 'softmax', '{"temperature": 0.5}'),
            ('p_linucb', 'linucb', '{"dim": 2, "alpha": 0.5}')]


def reward_for(arm, i):
    """A reward in [0, 1] that depends on the arm, so the policies learn something."""
    return {'a': 0.2, 'b': 0.5, 'c': 0.8, 'd': 0.4}[arm] if i % 3 else float(arm == 'c')


def context_for(algorithm, i):
    return '{"features": [%d, %g]}' % (1, (i % 5) / 4.0) if algorithm == 'linucb' else None


def write_old_state(cur):
    """Fills every table of the released version; returns what later checks compare with."""
    q, q1, _ = query_helpers(cur)
    old = {}
    q1("SELECT bandit.set_seed(7)")
    for name, algorithm, params in POLICIES:
        q1("SELECT bandit.create_policy(%s, %s, ARRAY['a', 'b', 'c'], %s::jsonb)", name, algorithm, params)
        for i in range(30):
            if name == 'p_thompson' and i == 15:
                old['snapshot'] = q1("SELECT bandit.snapshot('p_thompson', 'half way')")
                old['snapshot_arms'] = q("SELECT arm, alpha, beta, pulls, weight, mean_reward, m2 FROM bandit.arm "
                                         "WHERE policy = 'p_thompson' ORDER BY arm")
            decision, arm = q("SELECT decision_id, arm FROM bandit.choose(%s, %s::jsonb)", name,
                              context_for(algorithm, i))[0]
            if i < 27:  # the last decisions stay without reward
                q1("SELECT bandit.reward(%s::bigint, %s::float8)", decision, reward_for(arm, i))
    # the other forms of reward, and the management functions (each writes bandit.audit)
    q1("SELECT bandit.reward('p_thompson', 'a', 1.0)")
    ids = [q1("SELECT decision_id FROM bandit.choose('p_ucb1')") for _ in range(3)]
    q1("SELECT bandit.reward(%s::bigint[], ARRAY[0.25, 0.5, 0.75])", ids)
    q1("SELECT bandit.add_arm('p_eps', 'd', 1.5, 20)")
    q1("SELECT bandit.set_arm_budget('p_eps', 'a', 2.0, 30)")
    q1("SELECT bandit.retire_arm('p_eps', 'c')")
    q1("SELECT bandit.set_mode('p_softmax', 'shadow')")
    for i in range(3):
        q1("SELECT decision_id FROM bandit.choose('p_softmax')")
    q1("SELECT bandit.set_mode('p_softmax', 'active')")

    # experiments: a plain one with a binary and a continuous metric, a
    # stratified one, a sequential one with a look
    q1("""SELECT bandit.create_experiment('exp', ARRAY['control', 'treatment'], NULL,
          '{"hypothesis": "the treatment converts more", "salt": "exp",
            "metrics": {"converted": "binary", "revenue": "continuous"}}')""")
    q1("""SELECT bandit.create_experiment('strat', ARRAY['a', 'b'], ARRAY[0.25, 0.75], '{"salt": "strat"}')""")
    q1("""SELECT bandit.create_experiment('seq', ARRAY['control', 'treatment'], NULL,
          '{"sequential": true, "mixing_sd": 0.5, "salt": "seq"}')""")
    for e in ('exp', 'strat', 'seq'):
        q1("SELECT bandit.start_experiment(%s)", e)
    units, revenue = [], []
    for i in range(160):
        variant = q1("SELECT bandit.assign('exp', %s)", 'u%d' % i)
        treated = variant == 'treatment'
        q1("SELECT bandit.record_metric('exp', %s, 'converted', %s)", 'u%d' % i,
           float(i % (3 if treated else 5) == 0))
        units.append('u%d' % i)
        revenue.append(round(10 + (i % 7) * 1.5 + (2.5 if treated else 0), 2))
    q1("SELECT bandit.record_metrics('exp', 'revenue', %s, %s::float8[])", units, revenue)
    for i in range(16):
        q1("SELECT bandit.assign('strat', %s, %s)", 's%d' % i, ('north', 'south')[i % 2])
    for i in range(60):
        variant = q1("SELECT bandit.assign('seq', %s)", 'q%d' % i)
        q1("SELECT bandit.record_metric('seq', %s, 'score', %s)", 'q%d' % i,
           (i % 4) * 0.5 + (1.0 if variant == 'treatment' else 0.0))
    q("SELECT * FROM bandit.analyze('seq', 'score')")
    old['analyze'] = {m: q("SELECT * FROM bandit.analyze('exp', %s)", m) for m in ('converted', 'revenue')}
    old['decide'] = q("SELECT * FROM bandit.decide('exp', 'revenue')")
    old['report'] = q("SELECT * FROM bandit.report('exp', 'revenue')")

    # Q-learning: a learned chain of states, and the replay buffer
    for s, a, r, s2 in (('s0', 'left', 0.0, 's1'), ('s0', 'right', 1.0, 's2'), ('s1', 'left', 2.0, None),
                        ('s1', 'right', -1.0, 's0'), ('s2', 'left', 0.5, 's1')):
        q1("SELECT bandit.q_learn('agent', %s, %s, %s::float8, %s, 0.5, 0.9)", s, a, r, s2)
        q1("SELECT bandit.q_remember('agent', %s, %s, %s::float8, %s)", s, a, r, s2)
    q1("SELECT bandit.q_learn_batch('agent', ARRAY['s2', 's0'], ARRAY['right', 'left'], ARRAY[3.0, 0.25], "
       "ARRAY['s0', NULL])")

    # priors from an aggregated signal
    q1("""SELECT bandit.apply_signal('{"aggregation_round": 1, "cluster_hash": "c1", "participant_count": 3,
          "reward_signals": {"gpt": {"success_rate": 0.5, "avg_latency": 120, "quality_score": 0.9, "total_samples": 5},
                             "llama": {"success_rate": 0.25, "avg_latency": 80, "quality_score": 0.7, "total_samples": 4}}}')""")

    # tuning: two values, a rate limit, a snapshot, an adjustment after it
    q1("SELECT bandit.define_tuning_value('svc', 'lr', 0.1, 0.01, 1.0, 0.05, 10)")
    q1("SELECT bandit.define_tuning_value('svc', 'batch', 32, 1, 256, 16, 10)")
    q1("SELECT bandit.set_tuning_rate_limit('svc', 5, '1 hour')")
    old['tuning_snapshot'] = q1("SELECT bandit.snapshot_tuning('svc', 'before')")
    q1("SELECT bandit.apply_adjustment('svc', 'lr', 0.14, 'feedback was good', 20)")
    old['lr'] = q1("SELECT bandit.tuned_value('svc', 'lr')")
    return old


def tables(cur):
    """{table: its columns in order} of schema bandit, and the views."""
    cur.execute("""SELECT c.relname, c.relkind = 'v', array_agg(a.attname::text ORDER BY a.attnum)
                   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
                   WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind IN ('r', 'v')
                     AND a.attnum > 0 AND NOT a.attisdropped
                   GROUP BY c.relname, c.relkind ORDER BY 1""")
    return {name: (is_view, cols) for name, is_view, cols in cur.fetchall()}


def rows(cur, table, cols, where=''):
    """A table's rows, the given columns only, as text, ordered."""
    cur.execute('SELECT ROW(%s)::text AS r FROM bandit.%s %s ORDER BY 1'
                % (', '.join('"%s"' % c for c in cols), table, where))
    return [r[0] for r in cur.fetchall()]


# ---------------------------------------------------------------------------
# The catalog comparison reports each kind of difference.

def mutations(cur):
    """(what it changes, SQL, the object whose description must change)."""
    q, q1, _ = query_helpers(cur)
    rls, forced = q("SELECT relrowsecurity, relforcerowsecurity FROM pg_catalog.pg_class "
                    "WHERE oid = 'bandit.policy'::regclass")[0]
    secdef = q1("SELECT prosecdef FROM pg_catalog.pg_proc WHERE oid = 'bandit.choose(text, jsonb)'::regprocedure")
    view = q1("SELECT pg_catalog.pg_get_viewdef('bandit.prior_metrics'::regclass)").rstrip().rstrip(';')
    barrier = q1("SELECT 'security_barrier=true' = ANY (reloptions) FROM pg_catalog.pg_class "
                 "WHERE oid = 'bandit.prior_metrics'::regclass")
    policy = q1("SELECT min(polname) FROM pg_catalog.pg_policy WHERE polrelid = 'bandit.policy'::regclass")
    choose, policy_row = 'function bandit.choose(text,jsonb)', 'function bandit.policy_row(text)'
    found = [
        ('comment on a function', "COMMENT ON FUNCTION bandit.choose(text, jsonb) IS 'x'", choose),
        ('comment on an aggregate', "COMMENT ON AGGREGATE bandit.summarize(float8) IS 'x'",
         'function bandit.summarize(double precision)'),
        ('comment on a table', "COMMENT ON TABLE bandit.policy IS 'x'", 'table bandit.policy'),
        ('comment on a column', "COMMENT ON COLUMN bandit.policy.mode IS 'x'", 'table bandit.policy'),
        ('comment on a constraint', "COMMENT ON CONSTRAINT policy_pkey ON bandit.policy IS 'x'", 'table bandit.policy'),
        ('comment on an index', "COMMENT ON INDEX bandit.policy_pkey IS 'x'", 'table bandit.policy'),
        ('comment on a type', "COMMENT ON TYPE bandit.summary IS 'x'", 'type bandit.summary'),
        ('comment on a composite type\'s attribute', "COMMENT ON COLUMN bandit.variant_result.p_value IS 'x'",
         'type bandit.variant_result'),
        ('comment on a view', "COMMENT ON VIEW bandit.prior_metrics IS 'x'", 'view bandit.prior_metrics'),
        ('comment on a sequence', "COMMENT ON SEQUENCE bandit.decision_id_seq IS 'x'",
         'sequence bandit.decision_id_seq'),
        ('comment on the schema', "COMMENT ON SCHEMA bandit IS 'x'", 'schema bandit'),
        ('a function ACL', 'GRANT EXECUTE ON FUNCTION bandit.policy_row(text) TO pg_monitor', policy_row),
        ('a function ACL (revoke)', 'REVOKE EXECUTE ON FUNCTION bandit.beta_sample(float8, float8) FROM PUBLIC',
         'function bandit.beta_sample(double precision,double precision)'),
        ('a table ACL', 'GRANT INSERT ON bandit.policy TO pg_monitor', 'table bandit.policy'),
        ('a column ACL', 'GRANT UPDATE (mode) ON bandit.policy TO pg_monitor', 'table bandit.policy'),
        ('a type ACL', 'REVOKE USAGE ON TYPE bandit.summary FROM PUBLIC', 'type bandit.summary'),
        ('the schema ACL', 'GRANT CREATE ON SCHEMA bandit TO pg_monitor', 'schema bandit'),
        ('initial privileges',
         """DELETE FROM pg_catalog.pg_init_privs WHERE objoid = 'bandit.policy_row(text)'::regprocedure;
            INSERT INTO pg_catalog.pg_init_privs VALUES ('bandit.policy_row(text)'::regprocedure,
              'pg_catalog.pg_proc'::regclass, 0, 'e',
              ARRAY[pg_catalog.makeaclitem('pg_monitor'::regrole, current_user::regrole, 'EXECUTE', false)])""",
         policy_row),
        ('row level security enabled', 'ALTER TABLE bandit.policy %s ROW LEVEL SECURITY'
         % ('DISABLE' if rls else 'ENABLE'), 'table bandit.policy'),
        ('row level security forced', 'ALTER TABLE bandit.policy %s ROW LEVEL SECURITY'
         % ('NO FORCE' if forced else 'FORCE'), 'table bandit.policy'),
        ('a row level security policy', 'CREATE POLICY mutant ON bandit.policy USING (true)', 'table bandit.policy'),
        ('security definer', 'ALTER FUNCTION bandit.choose(text, jsonb) %s'
         % ('SECURITY INVOKER' if secdef else 'SECURITY DEFINER'), choose),
        ('a SET clause', "ALTER FUNCTION bandit.choose(text, jsonb) SET work_mem = '1MB'", choose),
        ('volatility', 'ALTER FUNCTION bandit.hash_features(jsonb, integer) VOLATILE',
         'function bandit.hash_features(jsonb,integer)'),
        ('a function\'s owner', 'ALTER FUNCTION bandit.choose(text, jsonb) OWNER TO pg_monitor', choose),
        ('a table\'s owner', 'ALTER TABLE bandit.policy OWNER TO pg_monitor', 'table bandit.policy'),
        ('a view definition', 'CREATE OR REPLACE VIEW bandit.prior_metrics AS SELECT * FROM (%s) v WHERE true' % view,
         'view bandit.prior_metrics'),
        ('view options', 'ALTER VIEW bandit.prior_metrics SET (security_barrier = %s)'
         % ('false' if barrier else 'true'), 'view bandit.prior_metrics'),
        ('a column default', "ALTER TABLE bandit.policy ALTER COLUMN mode SET DEFAULT 'off'", 'table bandit.policy'),
        ('a constraint', 'ALTER TABLE bandit.policy ADD CONSTRAINT mutant CHECK (decisions >= 0)',
         'table bandit.policy'),
        ('an index', 'CREATE INDEX mutant ON bandit.policy (mode)', 'table bandit.policy'),
        ('a member', 'ALTER EXTENSION bandit DROP FUNCTION bandit.hash_features(jsonb, integer)',
         'function bandit.hash_features(jsonb,integer)'),
    ]
    if policy is not None:
        found += [('a policy\'s expression', 'ALTER POLICY %s ON bandit.policy USING (false)' % policy,
                   'table bandit.policy'),
                  ('a policy\'s roles', 'ALTER POLICY %s ON bandit.policy TO pg_monitor' % policy,
                   'table bandit.policy')]
    return found


def check_comparison(conn, want):
    """Each deliberate difference, in a transaction rolled back, is reported
    for its object and nowhere else."""
    cur = conn.cursor()
    ok('the comparison: a second fresh install has the same catalog', differences(catalog(cur), want) == set(),
       sorted(differences(catalog(cur), want)))
    conn.autocommit = False
    n = 0
    for what, sql, member in mutations(cur):
        try:
            cur.execute(sql)
            found = differences(catalog(cur), want)
        except psycopg2.Error as e:
            found = 'error %s' % e
        conn.rollback()
        ok('the comparison reports %s (on %s) and nothing else' % (what, member), found == {member}, found)
        n += 1
    conn.autocommit = True
    print('%d deliberate differences' % n)


# ---------------------------------------------------------------------------
# After the update.

def check_old_state_works(cur, old, before):
    q, q1, sqlstate = query_helpers(cur)
    max_decision = max(int(r.strip('()').split(',')[0]) for r in before['decision'])
    for name, algorithm, _ in POLICIES:
        # the update counts each policy's arms (p_eps: 3 created, 1 added, 1 retired)
        arms = 4 if name == 'p_eps' else 3
        ok('%s: arm_count after the update is its number of arms (%d)' % (name, arms),
           q1("SELECT arms FROM bandit.arm_count WHERE policy = %s", name) == arms)
        pulls = dict(q("SELECT arm, pulls FROM bandit.arm_stats(%s)", name))
        decision, arm = q("SELECT decision_id, arm FROM bandit.choose(%s, %s::jsonb)", name,
                          context_for(algorithm, 1))[0]
        ok('%s: choose after the update logs a new decision id' % name, decision > max_decision,
           '%d after %d' % (decision, max_decision))
        ok('%s: reward after the update' % name,
           sqlstate("SELECT bandit.reward(%s::bigint, 1.0::float8)", decision) is None)
        pulls[arm] += 1
        ok('%s: the reward is learned on top of the old state' % name,
           dict(q("SELECT arm, pulls FROM bandit.arm_stats(%s)", name)) == pulls)
        ok('%s: recommend after the update' % name,
           len(q("SELECT * FROM bandit.recommend(%s, 2, %s::jsonb)", name, context_for(algorithm, 1))) == 2)
    ok('p_eps: the arm retired under the old version stays unchosen',
       'c' not in {q1("SELECT arm FROM bandit.choose('p_eps')") for _ in range(20)})
    ok('a decision of the old version, never rewarded, takes its reward',
       sqlstate("SELECT bandit.reward(id, 0.5) FROM bandit.decision WHERE policy = 'p_ucb1' AND reward IS NULL "
                "AND id <= %s ORDER BY id LIMIT 1", max_decision) is None)
    ok('a decision rewarded under the old version refuses a second reward (23505)',
       sqlstate("SELECT bandit.reward(min(id), 0.5) FROM bandit.decision WHERE policy = 'p_thompson' "
                "AND reward IS NOT NULL") == '23505')

    q1("SELECT bandit.restore(%s)", old['snapshot'])
    ok('restoring the snapshot taken under the old version gives back the arms of then',
       q("SELECT arm, alpha, beta, pulls, weight, mean_reward, m2 FROM bandit.arm "
         "WHERE policy = 'p_thompson' ORDER BY arm") == old['snapshot_arms'],
       '%r' % old['snapshot_arms'])

    for metric in ('converted', 'revenue'):
        got = q("SELECT * FROM bandit.analyze('exp', %s)", metric)
        want = old['analyze'][metric]
        ok('analyze(exp, %s) after the update: the rows of before' % metric, len(got) == len(want))
        names = [d[0] for d in cur.description]
        for g, w in zip(got, want):
            for i, value in enumerate(w):   # the columns the old version had
                what = 'analyze(exp, %s) %s %s after the update: as before' % (metric, w[0], names[i])
                if isinstance(value, float):
                    # quadratures may have been refined since
                    close(what, g[i], value, 1e-6 if names[i] in ('prob_best', 'expected_loss') else 1e-12)
                else:
                    ok(what, g[i] == value, '%r vs %r' % (g[i], value))
    # with two arms, the treatment's expected loss under the normal posteriors
    # N(mean, sd^2 / n) is E[(d)+] for d ~ N(m, s^2): s phi(m / s) + m Phi(m / s)
    (_, nc, mc, sdc), (_, nt, mt, sdt, loss) = \
        q("SELECT variant, n, mean, sd FROM bandit.analyze('exp', 'revenue') WHERE variant = 'control'")[0], \
        q("SELECT variant, n, mean, sd, expected_loss FROM bandit.analyze('exp', 'revenue') "
          "WHERE variant = 'treatment'")[0]
    m, s = mpmath.mpf(mc) - mpmath.mpf(mt), mpmath.sqrt(mpmath.mpf(sdc) ** 2 / nc + mpmath.mpf(sdt) ** 2 / nt)
    close('analyze(exp, revenue) treatment expected_loss after the update: the closed form', loss,
          float(s * mpmath.npdf(m / s) + m * mpmath.ncdf(m / s)), 1e-6)
    ok('decide(exp) after the update: the decision of before',
       q("SELECT * FROM bandit.decide('exp', 'revenue')") == old['decide'])
    ok('report(exp) after the update: the report of before',
       q("SELECT * FROM bandit.report('exp', 'revenue')") == old['report'],
       '\n%r\n%r' % (q("SELECT * FROM bandit.report('exp', 'revenue')"), old['report']))
    variant = q1("SELECT variant FROM bandit.assignment WHERE experiment = 'exp' AND unit_id = 'u7'")
    ok('an old unit keeps its variant', q1("SELECT bandit.assign('exp', 'u7')") == variant)
    variant = q1("SELECT variant FROM bandit.assignment WHERE experiment = 'strat' AND unit_id = 's3'")
    ok('an old unit of a stratified experiment keeps its variant',
       q1("SELECT bandit.assign('strat', 's3', 'south')") == variant)
    north = q1("SELECT assigned FROM bandit.stratum WHERE experiment = 'strat' AND stratum = 'north'")
    q1("SELECT bandit.assign('strat', 'late', 'north')")
    ok('a new unit counts in its old stratum',
       q1("SELECT assigned FROM bandit.stratum WHERE experiment = 'strat' AND stratum = 'north'") == north + 1)
    q1("SELECT bandit.stop_experiment('strat', 'enough')")
    q1("SELECT bandit.assign('seq', 'new-unit')")
    q1("SELECT bandit.record_metric('seq', 'new-unit', 'score', 1.0)")
    looks = q1("SELECT n FROM bandit.sequential_look WHERE experiment = 'seq'")
    q("SELECT * FROM bandit.analyze('seq', 'score')")
    ok('the sequential experiment looks again, counting the new unit',
       q1("SELECT n FROM bandit.sequential_look WHERE experiment = 'seq'") == looks + 1)
    ok('the old experiment, stopped, assigns no more (55000)',
       sqlstate("SELECT bandit.assign('strat', 'later', 'north')") == '55000')
    ok('srm_check of the old experiment', 0 <= q1("SELECT bandit.srm_check('exp')") <= 1)

    qs = {(s, a): v for s, a, v in q("SELECT state, action, q_value FROM bandit.q_table WHERE agent = 'agent'")}
    best = max(('left', 'right'), key=lambda a: qs.get(('s0', a), 0.0))
    ok('q_select on the old agent: its greedy action',
       q1("SELECT bandit.q_select('agent', 's0', ARRAY['left', 'right'], 0)") == best)
    target = 1.5 + 0.9 * max(v for (s, a), v in qs.items() if s == 's1')
    close('q_learn on the old agent: the step from its old Q',
          q1("SELECT bandit.q_learn('agent', 's0', 'left', 1.5, 's1', 0.5, 0.9)"),
          0.5 * qs[('s0', 'left')] + 0.5 * target, 1e-12)
    ok('q_replay over the old buffer', q1("SELECT bandit.q_replay('agent', 3)") == 3)

    ok('tuned_value of the old scope', q1("SELECT bandit.tuned_value('svc', 'lr')") == old['lr'])
    q1("SELECT bandit.rollback_tuning(%s)", old['tuning_snapshot'])
    ok('rollback_tuning to the old snapshot gives back the value of then',
       q1("SELECT bandit.tuned_value('svc', 'lr')") == 0.1)
    q1("""SELECT bandit.apply_signal('{"aggregation_round": 2, "cluster_hash": "c1", "participant_count": 2,
          "reward_signals": {"gpt": {"success_rate": 0.75, "avg_latency": 100, "quality_score": 0.8, "total_samples": 4}}}')""")
    ok('a new signal pools with the old priors',
       q1("SELECT sample_count FROM bandit.prior WHERE key = 'gpt'") == 9)


def check_access(cur):
    """Old objects belong to the extension's owner; a new role sees nothing
    of them until granted read on one, then exactly that one's rows."""
    q, q1, sqlstate = query_helpers(cur)
    owner = q1("SELECT extowner::regrole::text FROM pg_catalog.pg_extension WHERE extname = 'bandit'")
    want = {('policy', p, owner) for p, _, _ in POLICIES} | \
        {('experiment', e, owner) for e in ('exp', 'strat', 'seq')} | \
        {('agent', 'agent', owner), ('scope', 'svc', owner), ('priors', '*', owner)}
    got = set(q("SELECT kind, name, owner::text FROM bandit.object"))
    ok('every old object is owned by the extension\'s owner', got == want, '%r' % (got ^ want))
    cur.execute('DROP ROLE IF EXISTS upgrade_reader')
    cur.execute('CREATE ROLE upgrade_reader')
    cur.execute('GRANT USAGE ON SCHEMA bandit TO upgrade_reader')  # as a DBA does; PUBLIC has none
    names = tables(cur)
    cur.execute('SET ROLE upgrade_reader')
    seen = {t: q1('SELECT count(*) FROM bandit.%s' % t) for t, (is_view, _) in names.items() if not is_view}
    cur.execute('RESET ROLE')
    ok('a new role sees no row of any bandit table', set(seen.values()) == {0}, '%r' % seen)
    cur.execute('SET ROLE upgrade_reader')
    ok('a new role may not choose (42501)', sqlstate("SELECT * FROM bandit.choose('p_thompson')") == '42501')
    cur.execute('RESET ROLE')
    q1("SELECT bandit.grant('policy', 'p_thompson', 'upgrade_reader', 'read')")
    # what the superuser sees of p_thompson, table by table
    mine = {'policy': "WHERE name = 'p_thompson'", 'object': "WHERE kind = 'policy' AND name = 'p_thompson'",
            'permission': "WHERE kind = 'policy' AND name = 'p_thompson'"}
    want = {}
    for t, (is_view, cols) in names.items():
        if is_view:
            continue
        where = mine.get(t, "WHERE policy = 'p_thompson'" if 'policy' in cols else 'WHERE false')
        want[t] = rows(cur, t, cols, where)
    cur.execute('SET ROLE upgrade_reader')
    got = {t: rows(cur, t, names[t][1]) for t in want}
    ok('granted read on p_thompson, the role sees that grant in bandit.privileges',
       q("SELECT kind, name, grantee::text, privilege FROM bandit.privileges")
       == [('policy', 'p_thompson', 'upgrade_reader', 'read')])
    ok('granted read on p_thompson, the role reads its arm_stats',
       sqlstate("SELECT * FROM bandit.arm_stats('p_thompson')") is None)
    ok('granted read on p_thompson, the role still may not choose (42501)',
       sqlstate("SELECT * FROM bandit.choose('p_thompson')") == '42501')
    ok('granted read on p_thompson, the role may not read p_ucb1 (42501)',
       sqlstate("SELECT * FROM bandit.arm_stats('p_ucb1')") == '42501')
    cur.execute('RESET ROLE')
    print('granted read on p_thompson, a new role sees: %s' % ', '.join(
        '%s %d' % (t, len(got[t])) for t in sorted(got) if got[t]))
    for t in sorted(want):
        ok('granted read on p_thompson, the role sees exactly its rows of %s (%d)' % (t, len(want[t])),
           got[t] == want[t], '%d rows, want %d' % (len(got[t]), len(want[t])))
    cur.execute('DROP OWNED BY upgrade_reader')


def check_guards(database):
    """What roles could plant with 0.1.0's hand-made grants (a function in the
    schema, a trigger on a table, a foreign key to one) would run as the
    extension's owner from 0.2.0: the update refuses until it is gone.  And
    CREATE EXTENSION refuses a schema bandit that another role owns or that
    already holds objects."""
    conn = database('bandit_planted')
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    cur.execute("CREATE EXTENSION bandit VERSION '0.1.0'")
    cur.execute('DROP ROLE IF EXISTS upgrade_planter')
    cur.execute('CREATE ROLE upgrade_planter')
    cur.execute('GRANT USAGE, CREATE ON SCHEMA bandit TO upgrade_planter')
    cur.execute('GRANT TRIGGER, REFERENCES ON bandit.decision, bandit.policy TO upgrade_planter')
    cur.execute('GRANT CREATE ON SCHEMA public TO upgrade_planter')
    cur.execute('SET ROLE upgrade_planter')
    cur.execute("""CREATE FUNCTION bandit.format(f text, a text) RETURNS text LANGUAGE sql AS 'SELECT f'""")
    cur.execute("""CREATE FUNCTION public.planted() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'""")
    cur.execute('CREATE TRIGGER planted AFTER INSERT ON bandit.decision FOR EACH ROW EXECUTE FUNCTION public.planted()')
    cur.execute('CREATE TABLE public.planted_fk (p text REFERENCES bandit.policy (name))')
    cur.execute('RESET ROLE')
    try:
        cur.execute('ALTER EXTENSION bandit UPDATE')
        got = None
    except psycopg2.Error as e:
        got = (e.pgcode, e.diag.message_primary)
    want = ('55000', 'schema bandit holds what bandit did not make: foreign key planted_fk_p_fkey on public.planted_fk, '
                     'function bandit.format(text,text), trigger planted on bandit.decision')
    ok('the update refuses what 0.1.0\'s grants let a role plant, naming each', got == want, '%r' % (got,))
    ok('... and changes nothing', q1("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'bandit'") == '0.1.0')
    cur.execute('DROP FUNCTION bandit.format(text, text)')
    cur.execute('DROP TRIGGER planted ON bandit.decision')
    cur.execute('DROP TABLE public.planted_fk')
    ok('once they are gone, the update runs', sqlstate('ALTER EXTENSION bandit UPDATE') is None)
    cur.execute('DROP EXTENSION bandit')
    cur.execute('DROP SCHEMA bandit')
    # a schema bandit made beforehand by another role, or holding anything
    cur.execute('CREATE SCHEMA bandit AUTHORIZATION upgrade_planter')
    ok('CREATE EXTENSION refuses a schema bandit that another role owns (42501)',
       sqlstate('CREATE EXTENSION bandit') == '42501')
    cur.execute('ALTER SCHEMA bandit OWNER TO CURRENT_USER')
    cur.execute('CREATE TABLE bandit.policy (name text)')
    ok('CREATE EXTENSION refuses a schema bandit that already holds objects (42P06)',
       sqlstate('CREATE EXTENSION bandit') == '42P06')
    cur.execute('DROP SCHEMA bandit CASCADE')
    ok('CREATE EXTENSION makes the schema itself', sqlstate('CREATE EXTENSION bandit') is None)
    # default privileges of the installing role reach nothing of bandit's, fresh or updated
    cur.execute('DROP EXTENSION bandit')
    cur.execute('DROP SCHEMA bandit')
    defaults = ('TABLES', 'SEQUENCES', 'FUNCTIONS', 'SCHEMAS')
    for what in defaults:
        cur.execute('ALTER DEFAULT PRIVILEGES GRANT ALL ON %s TO upgrade_planter, PUBLIC' % what)
    for how, statements in (('a fresh install', ['CREATE EXTENSION bandit']),
                            ('an update', ["CREATE EXTENSION bandit VERSION '0.1.0'", 'ALTER EXTENSION bandit UPDATE'])):
        for statement in statements:
            cur.execute(statement)
        held = q("""SELECT c.relname || ' ' || p FROM pg_catalog.pg_class c,
                        unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) p,
                        unnest(ARRAY['upgrade_planter', 'public']) r
                    WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind IN ('r', 'v')
                      AND pg_catalog.has_table_privilege(r, c.oid, p)
                    UNION ALL
                    SELECT c.relname || ' ' || p FROM pg_catalog.pg_class c, unnest(ARRAY['USAGE', 'UPDATE']) p
                    WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'S'
                      AND pg_catalog.has_sequence_privilege('upgrade_planter', c.oid, p)
                    UNION ALL
                    SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p
                    WHERE p.pronamespace = 'bandit'::regnamespace
                      AND pg_catalog.has_function_privilege('upgrade_planter', p.oid, 'EXECUTE')
                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(coalesce(p.proacl,
                                                        pg_catalog.acldefault('f', p.proowner))) a
                                      WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
                    UNION ALL
                    SELECT 'schema CREATE' WHERE pg_catalog.has_schema_privilege('upgrade_planter', 'bandit', 'CREATE')""")
        ok('with ALTER DEFAULT PRIVILEGES GRANT ALL to a role and PUBLIC, %s gives them nothing to write '
           'bandit\'s tables, no function PUBLIC may not run, no CREATE on the schema' % how, held == [], '%r' % held[:8])
        cur.execute('DROP EXTENSION bandit')
        cur.execute('DROP SCHEMA bandit')
    for what in defaults:
        cur.execute('ALTER DEFAULT PRIVILEGES REVOKE ALL ON %s FROM upgrade_planter, PUBLIC' % what)
    cur.execute('DROP OWNED BY upgrade_planter')
    cur.execute('DROP ROLE upgrade_planter')
    conn.close()


def main():
    suite = psycopg2.connect(dbname='postgres')
    found, default = versions(suite.cursor())
    suite.close()
    print('versions %s, default %s' % (' '.join(found), default))
    ok('the default version is the newest', found[-1] == default, str(found))
    ok('every older version is a release this test builds', set(found[:-1]) <= set(RELEASES), str(found))

    work = tempfile.mkdtemp(prefix='bandit-upgrade-')
    os.chmod(work, 0o755)
    cluster = None
    saved = os.environ.get('PG_CONFIG')
    try:
        install = Installation(os.path.join(work, 'install'))
        os.environ['PG_CONFIG'] = install.pg_config
        cluster = Cluster('upgrade')
        if saved is None:
            del os.environ['PG_CONFIG']
        else:
            os.environ['PG_CONFIG'] = saved
        ok('the scratch cluster starts', cluster.start())

        def database(name):
            admin = cluster.connect()
            admin.autocommit = True
            admin.cursor().execute('CREATE DATABASE ' + name)
            admin.close()
            conn = cluster.connect(name)
            conn.autocommit = True
            return conn

        upgraded = {}
        for version in found[:-1]:
            release = build_release(RELEASES[version], os.path.join(work, 'release-' + version),
                                    install.original)
            ok('release %s builds from %s' % (version, RELEASES[version]), release is not None,
               'the test builds it from the repository\'s git history (a clone, not an export)')
            if release is None:
                continue
            ok('the frozen bandit--%s.sql is the released script' % version,
               without_header(os.path.join(release, 'bandit--%s.sql' % version))
               == without_header(os.path.join(REPO, 'bandit--%s.sql' % version)))

            # the release, run by its own library
            cluster.stop()
            install.install(os.path.join(release, 'bandit.so'),
                            [os.path.join(release, 'bandit.control'), os.path.join(release, 'bandit--%s.sql' % version)])
            cluster.start()
            db = 'bandit_' + version.replace('.', '_')
            conn = database(db)
            cur = conn.cursor()
            q, q1, sqlstate = query_helpers(cur)
            cur.execute('CREATE EXTENSION bandit')
            ok('release %s installed' % version,
               q1("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'bandit'") == version)
            old = write_old_state(cur)
            names = tables(cur)
            empty = [t for t, (is_view, cols) in names.items() if not is_view and not rows(cur, t, cols)]
            ok('%s: every table has rows before the update (%d tables)' % (version, len(names) - 1), empty == [],
               'empty: %s' % empty)
            # what a DBA granted by hand to make 0.1.0 work for an ordinary role
            cur.execute('DROP ROLE IF EXISTS upgrade_writer')
            cur.execute('CREATE ROLE upgrade_writer')
            cur.execute('GRANT USAGE, CREATE ON SCHEMA bandit TO upgrade_writer, PUBLIC')
            cur.execute('GRANT ALL ON ALL TABLES IN SCHEMA bandit TO upgrade_writer, PUBLIC')
            cur.execute('GRANT ALL ON ALL SEQUENCES IN SCHEMA bandit TO upgrade_writer')
            cur.execute('GRANT UPDATE (alpha) ON bandit.arm TO upgrade_writer')
            before = {t: rows(cur, t, cols) for t, (_, cols) in names.items()}
            print('%s: %d rows in %d tables and views: %s' % (
                version, sum(map(len, before.values())), len(before),
                ', '.join('%s %d' % (t, len(r)) for t, r in sorted(before.items()))))
            conn.close()

            # the new version's files, as a package upgrade installs them, and a restart
            cluster.stop()
            install.install(*install.current())
            cluster.start()
            conn = cluster.connect(db)
            conn.autocommit = True
            cur = conn.cursor()
            q, q1, sqlstate = query_helpers(cur)
            for call in ("SELECT * FROM bandit.choose('p_thompson')", "SELECT bandit.assign('exp', 'unit-1')"):
                ok('%s: before the update, %s: 55000' % (version, call), sqlstate(call) == '55000')
            path = q1("SELECT path FROM pg_catalog.pg_extension_update_paths('bandit') "
                      "WHERE source = %s AND target = %s", version, default)
            ok('an update path from %s to %s' % (version, default), path is not None)
            cur.execute('ALTER EXTENSION bandit UPDATE')
            ok('%s updates to %s' % (version, default),
               q1("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'bandit'") == default)

            for t, (_, cols) in sorted(names.items()):
                after = rows(cur, t, cols)
                ok('%s -> %s: the %d rows of %s are unchanged' % (version, default, len(before[t]), t),
                   after == before[t], '\n  before: %r\n  after:  %r' % (before[t][:3], after[:3]))
            held = q("SELECT c.relname, p FROM pg_catalog.pg_class c, "
                     "unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) p "
                     "WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'r' "
                     "AND pg_catalog.has_table_privilege('upgrade_writer', c.oid, p)")
            ok('%s -> %s: privileges granted by hand to write bandit\'s tables are gone' % (version, default),
               held == [], '%r' % held[:5])
            ok('%s -> %s: no role but the owner may create in schema bandit' % (version, default),
               not q1("SELECT pg_catalog.has_schema_privilege('upgrade_writer', 'bandit', 'CREATE')"))
            upgraded[version] = catalog(cur)
            check_old_state_works(cur, old, before)
            check_access(cur)
            conn.close()

        fresh = database('bandit_fresh')
        fresh.cursor().execute('CREATE EXTENSION bandit')
        want = catalog(fresh.cursor())
        ok('a fresh install has members', len(want) > 100, '%d members' % len(want))
        # a release that did not build failed once above
        for version in [v for v in found[:-1] if v in upgraded]:
            got = upgraded[version]
            for what in sorted(set(want) | set(got)):
                ok('%s -> %s: %s' % (version, default, what), got.get(what) == want.get(what),
                   '\n  updated: %r\n  fresh:   %r' % (got.get(what), want.get(what)))
        fresh.close()

        check_guards(database)

        mutant = database('bandit_mutant')
        mutant.cursor().execute('CREATE EXTENSION bandit')
        check_comparison(mutant, want)
        mutant.close()
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        if cluster is not None:
            cluster.remove()
    return report()


if __name__ == '__main__':
    sys.exit(main())
