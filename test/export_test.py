#!/usr/bin/env python3
"""export_policy / import_policy (issue 13): a policy carried from one database
to another as a JSON document.

For every algorithm (thompson, ucb1 with discount, epsilon_greedy with decay,
softmax, linucb with rewards pending and folded), after random learning in
database A: export there, import in database B, and compare every learned
column of every arm bit for bit (float8send of each float, the text of the
rest; LinUCB's A^-1 and b as bandit.linucb_state gives them, which is what
choose uses), the policy's configuration, and the document B exports (the same
text as A's, snapshots included).  Then both choose under the same
bandit.set_seed with the same contexts: the same arms, propensities bit for
bit, and the same states after rewarding them alike.

Extremes set by hand (subnormals, 1e308, -0, 1e-300, 17-digit values, in the
scalar columns and in a_inv/b) survive bit for bit.  A newer format_version is
22023; unknown keys are a NOTICE naming them; a bad document changes nothing;
an imported LinUCB snapshot with pending rewards cannot be restored (42704,
its decisions stayed behind); replace needs manage, keeps owner, grants and
log, and the replaced state stays restorable; a 10,000-arm policy's round
trip is timed.
Prints "N passed, N failed"."""
import json
import os
import random
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import fresh_database, ok, query_helpers, report  # noqa: E402

DB_A = 'bandit_export_a'
DB_B = 'bandit_export_b'
rng = random.Random(13)

FLOATS = ['alpha', 'beta', 'weight', 'mean_reward', 'm2', 'cost', 'latency_ms']
OTHERS = ['pulls', 'retired', 'added_at', 'last_update']


def arms_bits(cur, policy):
    """Every arm's learned columns: floats as float8send hex, the rest as text;
    LinUCB's A^-1 and b as choose uses them."""
    cur.execute(
        "SELECT a.arm, %s, %s, (SELECT algorithm FROM bandit.policy WHERE name = %%s) = 'linucb' "
        "FROM bandit.arm a WHERE a.policy = %%s ORDER BY a.arm COLLATE \"C\""
        % (', '.join("encode(float8send(a.%s), 'hex')" % c for c in FLOATS),
           ', '.join('a.%s::text' % c for c in OTHERS)), (policy, policy))
    rows = cur.fetchall()
    out = []
    for r in rows:
        state = list(r[:-1])
        if r[-1]:
            cur.execute("SELECT (SELECT string_agg(encode(float8send(e), 'hex'), ',' ORDER BY n) "
                        "        FROM unnest(s.a_inv) WITH ORDINALITY u(e, n)), "
                        "       (SELECT string_agg(encode(float8send(e), 'hex'), ',' ORDER BY n) "
                        "        FROM unnest(s.b) WITH ORDINALITY u(e, n)) "
                        "FROM bandit.linucb_state(%s, %s) s", (policy, r[0]))
            state += list(cur.fetchone())
        out.append(tuple(state))
    return out


def policy_row(cur, policy):
    cur.execute("SELECT algorithm, params::text, mode, default_arm, decisions FROM bandit.policy WHERE name = %s",
                (policy,))
    return cur.fetchone()


def export_text(cur, policy, snapshots=True):
    cur.execute('SELECT bandit.export_policy(%s, %s)::text', (policy, snapshots))
    return cur.fetchone()[0]


def context(algorithm, dim, i):
    if algorithm == 'linucb':
        return json.dumps({'features': [round(rng.uniform(-1, 2), 3) for _ in range(dim)]})
    return json.dumps({'user': i % 7})


def learn(cur, name, algorithm, dim, n):
    """n decisions with random rewards (some left unrewarded), a few direct rewards."""
    for i in range(n):
        cur.execute('SELECT decision_id, arm FROM bandit.choose(%s, %s)', (name, context(algorithm, dim, i)))
        did, arm = cur.fetchone()
        if rng.random() < 0.85:
            r = float(rng.random() < 0.3 + 0.1 * ord(arm[-1]) % 3) if algorithm == 'thompson' else rng.gauss(ord(arm[-1]) % 5, 1)
            cur.execute('SELECT bandit.reward(%s, %s::float8)', (did, r))
    if algorithm != 'linucb':
        for _ in range(5):
            cur.execute("SELECT bandit.reward(%s, 'a1', %s::float8)", (name, rng.random()))


def same_choices(ca, cb, name, algorithm, dim):
    """Both choose 40 times under one seed with the same contexts and reward alike."""
    ca.execute('SELECT bandit.set_seed(20261207)')
    cb.execute('SELECT bandit.set_seed(20261207)')
    seen_a, seen_b = [], []
    for i in range(40):
        ctx = context(algorithm, dim, i)
        r = rng.random()
        for cur, seen in ((ca, seen_a), (cb, seen_b)):
            cur.execute("SELECT decision_id, arm, encode(float8send(propensity), 'hex') FROM bandit.choose(%s, %s)",
                        (name, ctx))
            did, arm, prop = cur.fetchone()
            seen.append((arm, prop))
            cur.execute('SELECT bandit.reward(%s, %s::float8)', (did, r))
    ok('%s: the same 40 choices and propensities after import' % algorithm, seen_a == seen_b,
       '%s vs %s' % (seen_a[:5], seen_b[:5]))
    ok('%s: choices vary (the comparison means something)' % algorithm, len(set(a for a, _ in seen_a)) > 1,
       seen_a)
    # last_update is the time of each database's own rewards
    ok('%s: the same state after rewarding them alike' % algorithm,
       [a[:11] + a[12:] for a in arms_bits(ca, name)] == [a[:11] + a[12:] for a in arms_bits(cb, name)])


CASES = [
    ('thompson', {}),
    ('ucb1', {'discount': 0.9, 'c': 0.5}),
    ('epsilon_greedy', {'epsilon': 0.4, 'epsilon_decay': 0.995, 'min_epsilon': 0.05}),
    ('softmax', {'temperature': 2.5}),
    ('linucb', {'dim': 4, 'alpha': 0.8}),
]


def round_trips(ca, cb):
    for algorithm, params in CASES:
        name = 'rt_' + algorithm
        dim = params.get('dim')
        ca.execute('SELECT bandit.create_policy(%s, %s, %s, %s)',
                   (name, algorithm, ['a1', 'a2', 'a3', 'a4'], json.dumps(params)))
        ca.execute("SELECT bandit.set_arm_budget(%s, 'a2', 0.25, 120)", (name,))
        learn(ca, name, algorithm, dim, 60)
        ca.execute("SELECT bandit.snapshot(%s, 'mid')", (name,))
        learn(ca, name, algorithm, dim, 23)
        ca.execute("SELECT bandit.retire_arm(%s, 'a4')", (name,))
        ca.execute("SELECT bandit.snapshot(%s, 'late')", (name,))
        if algorithm == 'linucb':
            ca.execute("SELECT count(*) FILTER (WHERE s.pending > 0), count(*) FILTER (WHERE s.pending = 0 AND a.pulls > 0) "
                       "FROM bandit.arm a, bandit.linucb_state(a.policy, a.arm) s WHERE a.policy = %s", (name,))
            pending, folded = ca.fetchone()
            ok('linucb: arms with rewards pending before the export', pending >= 2, pending)
            ca.execute("SELECT count(*) FROM bandit.arm WHERE policy = %s AND a_inv <> bandit.identity_matrix(4)", (name,))
            ok('linucb: some arm has folded rewards into a_inv', ca.fetchone()[0] >= 1)
        before = arms_bits(ca, name), policy_row(ca, name), export_text(ca, name)
        doc = export_text(ca, name)
        ok('%s: exporting changes nothing' % algorithm,
           (arms_bits(ca, name), policy_row(ca, name), export_text(ca, name)) == before)
        cb.execute('SELECT bandit.import_policy(%s::jsonb)', (doc,))
        ok('%s: import returns the name' % algorithm, cb.fetchone()[0] == name)
        ok('%s: every learned column bit for bit' % algorithm, arms_bits(ca, name) == arms_bits(cb, name),
           '\n%s\n%s' % (arms_bits(ca, name)[:1], arms_bits(cb, name)[:1]))
        ok('%s: configuration and decisions counter' % algorithm, policy_row(ca, name) == policy_row(cb, name),
           '%s vs %s' % (policy_row(ca, name), policy_row(cb, name)))
        ok('%s: export -> import -> export is the same document' % algorithm, export_text(cb, name) == doc)
        ok('%s: the same without snapshots' % algorithm, export_text(cb, name, False) == export_text(ca, name, False))
        cb.execute("SELECT count(*) FROM bandit.decision WHERE policy = %s", (name,))
        ok('%s: the decision log stays behind' % algorithm, cb.fetchone()[0] == 0)
        cb.execute("SELECT detail->>'source', (detail->>'arms')::int, (detail->>'snapshots')::int FROM bandit.audit "
                   "WHERE policy = %s AND action = 'import'", (name,))
        ok('%s: audited as import with its source' % algorithm, cb.fetchall() == [(name, 4, 2)])
        # their lineage (bandit.policy_versions): late descends from mid and is the version in service
        lineage = ("SELECT v.label, v.status, (SELECT p.label FROM bandit.snapshot p WHERE p.id = v.parent) "
                   "FROM bandit.snapshot v WHERE v.policy = %s ORDER BY v.taken_at")
        cb.execute(lineage, (name,))
        got = cb.fetchall()
        ok('%s: snapshots imported with their lineage' % algorithm,
           got == [('mid', 'archived', None), ('late', 'active', 'mid')], got)
        if algorithm != 'linucb':
            # a snapshot of B restores to the state A had then
            cb.execute("SELECT bandit.restore(id) FROM bandit.snapshot WHERE policy = %s AND label = 'late'", (name,))
            ok('%s: an imported snapshot restores' % algorithm, arms_bits(cb, name) == arms_bits(ca, name))
        else:
            # its pending rewards name decisions that stayed in A: 42704, nothing restored (documented)
            cb.execute("SELECT id FROM bandit.snapshot WHERE policy = %s AND label = 'late' "
                       "AND arms @? '$[*].linucb_pending[*]'", (name,))
            sid = cb.fetchone()
            ok('linucb: the late snapshot has pending rewards', sid is not None)
            before_restore = arms_bits(cb, name)
            try:
                cb.execute('SELECT bandit.restore(%s)', sid)
                code = None
            except psycopg2.Error as e:
                code = e.pgcode
            ok('linucb: restoring an imported snapshot with pending rewards is 42704 and changes nothing',
               code == '42704' and arms_bits(cb, name) == before_restore, code)
        same_choices(ca, cb, name, algorithm, dim)


EXTREMES = ["'5e-324'", "'1e308'", "'-0'", "'1e-300'", "'0.30000000000000004'", "'2.2250738585072014e-308'",
            "'1.7976931348623157e308'", "'-123456789.12345678'", "'4.9406564584124654e-324'", "'-2.2250738585072009e-308'"]


def extremes(ca, cb):
    ca.execute("SELECT bandit.create_policy('ex_t', 'ucb1', '{a,b,c}')")
    ca.execute("UPDATE bandit.arm SET alpha = '5e-324', beta = '1e308', weight = '1.7976931348623157e308', "
               "mean_reward = '-0', m2 = '1e-300', cost = '-0', latency_ms = '2.2250738585072014e-308', "
               "retired = true WHERE policy = 'ex_t' AND arm = 'a'")   # the default arm, retired by hand: exported, so imported
    ca.execute("UPDATE bandit.arm SET alpha = '2.2250738585072009e-308', beta = '0.30000000000000004', weight = '4.9406564584124654e-324', "
               "mean_reward = '-123456789.12345678', m2 = '1e-300', cost = '1e308', latency_ms = '0.1' "
               "WHERE policy = 'ex_t' AND arm = 'b'")
    ca.execute("SELECT bandit.create_policy('ex_l', 'linucb', '{a,b}', '{\"dim\": 4}')")
    values = 'ARRAY[%s]::float8[]' % ', '.join(EXTREMES + ["'-0'"] * 6)
    ca.execute("UPDATE bandit.arm SET a_inv = %s, b = ARRAY['-0', '5e-324', '1e308', '-1e-300']::float8[] "
               "WHERE policy = 'ex_l' AND arm = 'a'" % values)
    for name in ('ex_t', 'ex_l'):
        doc = export_text(ca, name)
        cb.execute('SELECT bandit.import_policy(%s::jsonb)', (doc,))
        ok('%s: extremes bit for bit' % name, arms_bits(ca, name) == arms_bits(cb, name),
           '\n%s\n%s' % (arms_bits(ca, name), arms_bits(cb, name)))
        ok('%s: extremes: the same document again' % name, export_text(cb, name) == doc)
    cb.execute("SELECT encode(float8send(mean_reward), 'hex'), encode(float8send(a_inv[3]), 'hex') FROM bandit.arm "
               "WHERE policy IN ('ex_t', 'ex_l') AND arm = 'a' ORDER BY policy")
    got = cb.fetchall()
    ok('-0 stays -0 (sign bit set)', got[0][1] == '8000000000000000' and got[1][0] == '8000000000000000', got)
    doc = json.loads(export_text(ca, 'ex_t'))
    ok('-0 is written as the string "-0"', doc['arms'][0]['mean_reward'] == '-0', doc['arms'][0])


def documents(ca, cb):
    q, q1, sqlstate = query_helpers(cb)
    same = export_text(ca, 'rt_linucb')
    ca.execute("SET extra_float_digits = -15; SET TimeZone = 'Asia/Kolkata'")
    ok("the document whatever the session's extra_float_digits and TimeZone", export_text(ca, 'rt_linucb') == same)
    ca.execute('RESET extra_float_digits; RESET TimeZone')
    doc = json.loads(export_text(ca, 'rt_ucb1', False))
    newer = dict(doc, format_version=2)
    ok('a newer format_version is 22023', sqlstate("SELECT bandit.import_policy(%s::jsonb, 'nv')", json.dumps(newer)) == '22023')
    cb.connection.notices.clear()
    extra = dict(doc, colour='blue', arms=[dict(a, note=1) for a in doc['arms']])
    q1("SELECT bandit.import_policy(%s::jsonb, 'uk')", json.dumps(extra))
    ok('unknown keys: a NOTICE naming them', any('unknown keys: colour, arms[].note' in n for n in cb.connection.notices),
       cb.connection.notices)
    ok('unknown keys: imported all the same', arms_bits(cb, 'uk') == arms_bits(ca, 'rt_ucb1'))
    digest = ("SELECT md5(string_agg(t::text, ';' ORDER BY t::text)) FROM (SELECT policy::text t FROM bandit.policy UNION ALL "
              "SELECT a::text FROM bandit.arm a UNION ALL SELECT s::text FROM bandit.snapshot s UNION ALL "
              "SELECT o::text FROM bandit.object o UNION ALL SELECT c::text FROM bandit.arm_count c UNION ALL "
              "SELECT au::text FROM bandit.audit au) x")
    before = q1(digest)
    bad_last = dict(doc, arms=doc['arms'][:-1] + [dict(doc['arms'][-1], alpha=-1)])
    ok('a bad last arm: 22023', sqlstate("SELECT bandit.import_policy(%s::jsonb, 'half')", json.dumps(bad_last)) == '22023')
    ok('a bad last arm: replacing: 22023',
       sqlstate("SELECT bandit.import_policy(%s::jsonb, 'uk', true)", json.dumps(bad_last)) == '22023')
    bad_snap = dict(json.loads(export_text(ca, 'rt_ucb1')))
    bad_snap['snapshots'][-1]['arms'][0]['alpha'] = 'x'
    ok('a bad snapshot: 22023', sqlstate("SELECT bandit.import_policy(%s::jsonb, 'half')", json.dumps(bad_snap)) == '22023')
    ok('a failed import changes nothing', q1(digest) == before)


def replacing(admin, ca, cb):
    q, q1, sqlstate = query_helpers(cb)
    for r in ('bandit_ex_owner', 'bandit_ex_manager', 'bandit_ex_user'):
        admin.cursor().execute('DROP ROLE IF EXISTS ' + r)
        admin.cursor().execute('CREATE ROLE ' + r)
    cb.execute('GRANT EXECUTE ON FUNCTION bandit.import_policy(jsonb, text, boolean), '
               'bandit.create_policy(text, text, text[], jsonb) TO bandit_ex_owner, bandit_ex_manager, bandit_ex_user')
    cb.execute('SET ROLE bandit_ex_owner')
    cb.execute("SELECT bandit.create_policy('rp', 'epsilon_greedy', '{x,y}')")
    cb.execute("SELECT bandit.grant('policy', 'rp', 'bandit_ex_manager', 'manage'), "
               "bandit.grant('policy', 'rp', 'bandit_ex_user', 'use')")
    cb.execute("SELECT decision_id FROM bandit.choose('rp')")
    cb.execute("SELECT bandit.reward(%s, 1::float8)", (cb.fetchone()[0],))
    old = export_text(cb, 'rp', False)
    doc = export_text(ca, 'rt_softmax', False)
    ok('an existing name without replace: 23505', sqlstate("SELECT bandit.import_policy(%s::jsonb, 'rp')", doc) == '23505')
    cb.execute('SET ROLE bandit_ex_user')
    ok('replace with use only: 42501', sqlstate("SELECT bandit.import_policy(%s::jsonb, 'rp', true)", doc) == '42501')
    cb.execute('SET ROLE bandit_ex_manager')
    ok('replace with manage works', q1("SELECT bandit.import_policy(%s::jsonb, 'rp', true)", doc) == 'rp')
    cb.execute('RESET ROLE')
    ok('replaced: the document\'s state', arms_bits(cb, 'rp') == arms_bits(ca, 'rt_softmax'))
    ok('replaced: the owner stays', q1("SELECT owner::text FROM bandit.object WHERE kind = 'policy' AND name = 'rp'") == 'bandit_ex_owner')
    ok('replaced: grants stay', q1("SELECT count(*) FROM bandit.permission WHERE name = 'rp'") == 2)
    ok('replaced: the log stays', q1("SELECT count(*) FROM bandit.decision WHERE policy = 'rp'") == 1)
    ok('replaced: the log counters of a kept arm stay... (x and y are gone)',
       q1("SELECT count(*) FROM bandit.arm WHERE policy = 'rp' AND arm IN ('x', 'y')") == 0)
    ok('replaced: audited', q1("SELECT detail->>'replaced' FROM bandit.audit WHERE policy = 'rp' AND action = 'import'") == 'true')
    cb.execute("SELECT label, status FROM bandit.snapshot WHERE policy = 'rp' ORDER BY taken_at, id")
    got = cb.fetchall()
    ok('replaced: the replaced state snapshotted and archived', got == [('before import_policy', 'archived')], got)
    cb.execute("SELECT bandit.restore(id) FROM bandit.snapshot WHERE policy = 'rp' AND label = 'before import_policy'")
    ok('the replaced state is restorable', export_text(cb, 'rp', False) == old)
    cb.execute('SET ROLE bandit_ex_user')
    ok('a role without EXECUTE on import_policy... has it here; without create it still needs manage',
       sqlstate("SELECT bandit.import_policy(%s::jsonb, 'rp_new')", doc) is None)
    ok('...and owns what it imported', q1("SELECT owner::text FROM bandit.object WHERE name = 'rp_new'") == 'bandit_ex_user')
    cb.execute('RESET ROLE')
    cb.execute('REVOKE EXECUTE ON FUNCTION bandit.import_policy(jsonb, text, boolean) FROM bandit_ex_user')
    cb.execute('SET ROLE bandit_ex_user')
    ok('without EXECUTE: 42501', sqlstate("SELECT bandit.import_policy(%s::jsonb, 'rp_x')", doc) == '42501')
    cb.execute('RESET ROLE')
    cb.execute("SELECT bandit.import_policy(%s::jsonb, 'rp_same', true)", (export_text(ca, 'rt_thompson', False),))
    before = q1("SELECT rewarded FROM bandit.arm WHERE policy = 'rp_same' AND arm = 'a1'")
    cb.execute("UPDATE bandit.arm SET rewarded = 7, reward_sum = 3.5 WHERE policy = 'rp_same' AND arm = 'a1'")
    cb.execute("SELECT bandit.import_policy(%s::jsonb, 'rp_same', true)", (export_text(ca, 'rt_thompson', False),))
    ok('replace keeps the log counters of arms it keeps (as restore does)',
       q("SELECT rewarded, reward_sum FROM bandit.arm WHERE policy = 'rp_same' AND arm = 'a1'") == [(7, 3.5)] and before == 0)
    cb.execute("SELECT bandit.import_policy(%s::jsonb, 'rp_same', true)", (export_text(ca, 'rt_ucb1'),))
    ok('replace by a document with snapshots: its active one is the only version in service',
       q("SELECT label FROM bandit.snapshot WHERE policy = 'rp_same' AND status = 'active'") == [('late',)])
    cb.execute('DROP OWNED BY bandit_ex_owner, bandit_ex_manager, bandit_ex_user')


def big(ca, cb):
    ca.execute("SELECT bandit.create_policy('big', 'thompson', (SELECT array_agg('arm' || i) FROM generate_series(1, 10000) i))")
    ca.execute("SELECT count(bandit.reward('big', 'arm' || (i % 10000 + 1), (i % 3 = 0)::int::float8)) "
               "FROM generate_series(1, 20000) i")
    t0 = time.time()
    doc = export_text(ca, 'big', False)
    t_export = time.time() - t0
    t0 = time.time()
    cb.execute('SELECT bandit.import_policy(%s::jsonb)', (doc,))
    t_import = time.time() - t0
    ok('10,000 arms: bit for bit', arms_bits(ca, 'big') == arms_bits(cb, 'big'))
    ok('10,000 arms: the same document', export_text(cb, 'big', False) == doc)
    print('10,000-arm thompson policy: document %.1f MB, export %.2f s, import %.2f s'
          % (len(doc) / 1e6, t_export, t_import))
    ok('10,000 arms: export and import within 30 s each', t_export < 30 and t_import < 30)
    ca.execute("SELECT bandit.create_policy('bigl', 'linucb', (SELECT array_agg('arm' || i) FROM generate_series(1, 1000) i), "
               "'{\"dim\": 16}')")
    ca.execute("SELECT count(bandit.reward(c.decision_id, 1)) FROM generate_series(1, 600) i, "
               "LATERAL bandit.choose('bigl', jsonb_build_object('k' || (i % 20), i % 7)) c")
    t0 = time.time()
    doc = export_text(ca, 'bigl', False)
    t_export = time.time() - t0
    t0 = time.time()
    cb.execute('SELECT bandit.import_policy(%s::jsonb)', (doc,))
    t_import = time.time() - t0
    ok('1,000 LinUCB arms at dim 16: bit for bit', arms_bits(ca, 'bigl') == arms_bits(cb, 'bigl'))
    print('1,000-arm linucb policy at dim 16: document %.1f MB, export %.2f s, import %.2f s'
          % (len(doc) / 1e6, t_export, t_import))


def main():
    admin, ca_conn = fresh_database(DB_A)
    _, cb_conn = fresh_database(DB_B)
    ca, cb = ca_conn.cursor(), cb_conn.cursor()
    round_trips(ca, cb)
    extremes(ca, cb)
    documents(ca, cb)
    replacing(admin, ca, cb)
    big(ca, cb)
    ca_conn.close()
    cb_conn.close()
    for db in (DB_A, DB_B):
        admin.cursor().execute('DROP DATABASE ' + db)
    for r in ('bandit_ex_owner', 'bandit_ex_manager', 'bandit_ex_user'):
        admin.cursor().execute('DROP ROLE IF EXISTS ' + r)
    return report()


if __name__ == '__main__':
    sys.exit(main())
