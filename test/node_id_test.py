#!/usr/bin/python3
"""Node-unique ids (issue 12, API.md section 11): bandit.node_id and node_of.

Three databases of this cluster play three nodes, node ids 0, 1 and 2 given
by ALTER DATABASE ... SET (the setting is PGC_SUSET).  Each node runs the
same workload through the API: decisions, rewards, snapshots and restores
(audit rows), an experiment's observations and audit rows, Q-learning
transitions, tuning snapshots and adjustments.  Then:

- the GUC: 0 by default, 0 to 1023, superuser only, a misspelt bandit.*
  setting refused;
- every generated id of node k is k * 2^53 + a value of its table's sequence
  (computed here in Python), increasing in the order the rows were made;
  node 0's ids are the plain sequence values; the nodes' ids are disjoint;
- node_of(id) = id >> 53 on every id and at the edges (0, 2^53 - 1, 2^53,
  2^63 - 1); a negative id is 22003 with the value shown; NULL gives NULL;
- node 1023 reaches 2^63 - 1 exactly; a sequence at 2^53 - 1 stops with 2200H
  and logs nothing; new_id refuses a sequence past 2^53 - 1 (2200H) and is
  internal (42501 for a plain role);
- pg_dump -Fc of node 1, pg_restore into a new database with node id 1: the
  same rows and sequence positions, and the next ids continue above every
  restored one without collision; a restored decision takes its reward;
- a router that sends reward(decision_id, r) to the database node_of names
  credits every decision of both nodes once, and the same reward sent to the
  other node finds no decision there (42704), where 0.1.0's ids would have
  credited another decision;
- TRUNCATE ... RESTART IDENTITY restarts the local part;
- an update from 0.1.0's SQL keeps the old ids (node 0), goes on from their
  sequences, and leaves no stale entry in pg_extension.extconfig.
Prints "N passed, N failed"."""
import os
import random
import shutil
import subprocess
import sys
import tempfile

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import fresh_database, ok, report, query_helpers  # noqa: E402

PREFIX = 'bandit_node_test_'
LOCAL_BITS = 53
# table -> its id sequence
ID_TABLES = ['decision', 'snapshot', 'audit', 'observation', 'experiment_audit',
             'tuning_snapshot', 'tuning_adjustment', 'transition']
ROLE = 'bandit_node_test_plain'


def bindir():
    pg_config = os.environ.get('PG_CONFIG')
    if pg_config:
        return subprocess.run([pg_config, '--bindir'], capture_output=True, text=True, check=True).stdout.strip()
    return os.path.dirname(shutil.which('pg_dump'))


def node_database(admin, name, node):
    """A fresh database with the extension whose sessions run as node `node`."""
    admin.cursor().execute('DROP DATABASE IF EXISTS %s' % name)
    _, conn = fresh_database(name)
    conn.close()
    if node is not None:
        admin.cursor().execute('ALTER DATABASE %s SET bandit.node_id = %d' % (name, node))
    conn = psycopg2.connect(dbname=name)
    conn.autocommit = True
    return conn


def workload(cur, tag):
    """Makes rows in every table with a generated id, through the API only;
    returns the ids the calls returned, in the order they were made."""
    q, q1, _ = query_helpers(cur)
    made = {'decision': [], 'snapshot': []}
    q1("SELECT bandit.set_seed(11)")
    q1("SELECT bandit.create_policy('p', 'thompson', ARRAY['a', 'b', 'c'])")
    for i in range(40):
        decision, arm = q("SELECT decision_id, arm FROM bandit.choose('p')")[0]
        made['decision'].append(decision)
        if i % 4 == 0:
            q1("SELECT bandit.reward(%s::bigint, %s::float8)", decision, float(arm == 'b'))
        if i in (10, 30):
            made['snapshot'].append(q1("SELECT bandit.snapshot('p', %s)", '%s-%d' % (tag, i)))
    q1("SELECT bandit.restore(%s)", made['snapshot'][0])
    q1("SELECT bandit.create_policy('l', 'linucb', ARRAY['x', 'y'], '{\"dim\": 2}')")
    for i in range(6):
        made['decision'].append(q1("SELECT decision_id FROM bandit.choose('l', %s::jsonb)",
                                   '{"features": [1, %d]}' % i))
    q1("SELECT bandit.create_experiment('e', ARRAY['control', 'treatment'], NULL, '{\"salt\": \"e\"}')")
    q1("SELECT bandit.start_experiment('e')")
    for i in range(30):
        q1("SELECT bandit.assign('e', %s)", 'u%d' % i)
        q1("SELECT bandit.record_metric('e', %s, 'score', %s::float8)", 'u%d' % i, float(i % 3))
    q1("SELECT bandit.stop_experiment('e', 'enough')")
    made['transition'] = [q1("SELECT bandit.q_remember('agent', %s, 'go', 1.0, NULL)", 's%d' % i)
                          for i in range(12)]
    q1("SELECT bandit.define_tuning_value('svc', 'lr', 0.1, 0.01, 1.0, 0.05, 0)")
    made['tuning_snapshot'] = [q1("SELECT bandit.snapshot_tuning('svc', 'before')")]
    made['tuning_adjustment'] = [q1("SELECT bandit.apply_adjustment('svc', 'lr', %s::float8, 'step', 10)", 0.1 + 0.01 * k)
                                 for k in range(1, 4)]
    return made


def table_ids(cur, table):
    cur.execute('SELECT id FROM bandit.%s ORDER BY id' % table)
    return [r[0] for r in cur.fetchall()]


def sequence_position(cur, table):
    cur.execute('SELECT last_value, is_called FROM bandit.%s_id_seq' % table)
    return cur.fetchone()


def check_ids(cur, node, made, what):
    """Every id of every table is node * 2^53 + a distinct value of its
    sequence, at most the sequence's position; the ids the calls returned
    increase in call order."""
    ids = {}
    for table in ID_TABLES:
        got = table_ids(cur, table)
        ids[table] = got
        last, called = sequence_position(cur, table)
        ok('%s: %s has rows' % (what, table), len(got) > 0)
        base = node << LOCAL_BITS
        local = [i - base for i in got]
        ok('%s: %s ids are node %d * 2^53 + a sequence value' % (what, table, node),
           all(1 <= v <= last for v in local) and called and len(set(local)) == len(local),
           'ids %s, sequence at %s' % (got[:5], last))
        if table in made:
            returned = made[table]
            ok('%s: %s ids increase in the order they were made' % (what, table),
               all(a < b for a, b in zip(returned, returned[1:])), returned[:10])
            ok('%s: every %s id a call returned is in the table' % (what, table), set(returned) <= set(got))
        if node == 0:
            ok('%s: node 0 keeps the plain sequence values (%s)' % (what, table),
               got == list(range(1, len(got) + 1)) and last == len(got), 'ids %s, sequence at %s' % (got, last))
    cur.execute('SELECT bandit.node_of(id) FROM unnest(%s::bigint[]) id',
                ([i for t in ID_TABLES for i in ids[t]],))
    ok('%s: node_of gives %d for every id' % (what, node), {r[0] for r in cur.fetchall()} == {node})
    return ids


def check_guc(admin, cur, plain):
    q, q1, sqlstate = query_helpers(cur)
    q1('SELECT bandit.node_of(0)')   # defined when the library loads
    ok('bandit.node_id is 0 by default', q1('SHOW bandit.node_id') == '0')
    ok('bandit.node_id is PGC_SUSET, 0 to 1023',
       q("SELECT context, vartype, min_val, max_val, boot_val FROM pg_settings WHERE name = 'bandit.node_id'")
       == [('superuser', 'integer', '0', '1023', '0')])
    ok('bandit.node_id = 1024 is 22023', sqlstate('SET bandit.node_id = 1024') == '22023')
    ok('bandit.node_id = -1 is 22023', sqlstate('SET bandit.node_id = -1') == '22023')
    ok('a misspelt bandit.* setting is refused (42602)', sqlstate('SET bandit.nodeid = 1') == '42602')
    pcur = plain.cursor()
    pq, pq1, psqlstate = query_helpers(pcur)
    pq1("SELECT bandit.node_of(1)")   # loads the library: the variable is defined, not a placeholder
    ok('a plain role cannot set bandit.node_id (42501)', psqlstate('SET bandit.node_id = 5') == '42501')
    ok('a plain role cannot run new_id (42501)',
       psqlstate("SELECT bandit.new_id('bandit.decision_id_seq')") == '42501')
    ok('a plain role cannot run new_id, even with NULL (42501)',
       psqlstate("SELECT bandit.new_id(NULL)") == '42501')


def check_node_of(cur):
    q, q1, sqlstate = query_helpers(cur)
    edges = [0, 1, 2 ** 53 - 1, 2 ** 53, 2 ** 54 + 7, 5 * 2 ** 53 + 123456789, 2 ** 63 - 1]
    cur.execute('SELECT bandit.node_of(x) FROM unnest(%s::bigint[]) x', (edges,))
    ok('node_of at the edges', [r[0] for r in cur.fetchall()] == [e >> LOCAL_BITS for e in edges])
    ok('node_of(NULL) is NULL', q1('SELECT bandit.node_of(NULL)') is None)
    try:
        cur.execute('SELECT bandit.node_of(-5)')
        ok('node_of(-5) is an error', False)
    except psycopg2.Error as e:
        ok('node_of(-5) is 22003 showing the value', e.pgcode == '22003' and
           e.diag.message_primary == 'id must not be negative, got -5', '%s %s' % (e.pgcode, e.diag.message_primary))
    ok('node_of(-2^63) is 22003', sqlstate('SELECT bandit.node_of(-9223372036854775808)') == '22003')
    ok('node_of is IMMUTABLE, STRICT, PARALLEL SAFE, returns integer',
       q("SELECT provolatile, proisstrict, proparallel, prorettype::regtype::text FROM pg_proc "
         "WHERE oid = 'bandit.node_of(bigint)'::regprocedure") == [('i', True, 's', 'integer')])


def check_limits(cur):
    """Node 1023 reaches 2^63 - 1; a full sequence stops with 2200H, logging nothing."""
    q, q1, sqlstate = query_helpers(cur)
    q1("SELECT bandit.create_policy('edge', 'thompson', ARRAY['a'])")
    cur.execute("SET bandit.node_id = 1023")
    q1("SELECT setval('bandit.decision_id_seq', %s)", 2 ** 53 - 2)
    top = q1("SELECT decision_id FROM bandit.choose('edge')")
    ok('node 1023 with the last local value gives 2^63 - 1', top == 2 ** 63 - 1, top)
    ok('node_of(2^63 - 1) is 1023', q1('SELECT bandit.node_of(%s::bigint)', top) == 1023)
    n = q1("SELECT count(*) FROM bandit.decision")
    ok('a full sequence stops choose with 2200H', sqlstate("SELECT bandit.choose('edge')") == '2200H')
    ok('... and logs nothing', q1("SELECT count(*) FROM bandit.decision") == n)
    cur.execute("RESET bandit.node_id")
    cur.execute("CREATE SEQUENCE pg_temp.past START %s MAXVALUE %s" % (2 ** 53, 2 ** 62))
    try:
        cur.execute("SELECT bandit.new_id('pg_temp.past')")
        ok('new_id refuses a sequence past 2^53 - 1', False)
    except psycopg2.Error as e:
        ok('new_id refuses a sequence past 2^53 - 1 (2200H, value shown)',
           e.pgcode == '2200H' and str(2 ** 53) in e.diag.message_primary,
           '%s %s' % (e.pgcode, e.diag.message_primary))
    ok('new_id(NULL) is 22004', sqlstate('SELECT bandit.new_id(NULL)') == '22004')
    ok('pg_get_serial_sequence finds the id sequence',
       q1("SELECT pg_get_serial_sequence('bandit.decision', 'id')") == 'bandit.decision_id_seq')


def rows_text(cur, table):
    cur.execute('SELECT t::text FROM bandit.%s t ORDER BY id' % table)
    return [r[0] for r in cur.fetchall()]


def check_dump_restore(admin, conn1, tmp):
    """pg_dump -Fc of node 1, pg_restore into a new database set to node 1."""
    cur1 = conn1.cursor()
    name, restored_name = conn1.info.dbname, PREFIX + 'restored'
    path = os.path.join(tmp, 'node1.dump')
    b = bindir()
    d = subprocess.run([os.path.join(b, 'pg_dump'), '-Fc', '-f', path, name], capture_output=True, text=True)
    ok('pg_dump', d.returncode == 0, d.stderr[-2000:])
    admin.cursor().execute('DROP DATABASE IF EXISTS %s' % restored_name)
    admin.cursor().execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
                           % restored_name)
    admin.cursor().execute('ALTER DATABASE %s SET bandit.node_id = 1' % restored_name)
    r = subprocess.run([os.path.join(b, 'pg_restore'), '--exit-on-error', '-d', restored_name, path],
                       capture_output=True, text=True)
    ok('pg_restore', r.returncode == 0, r.stderr[-2000:])
    conn = psycopg2.connect(dbname=restored_name)
    conn.autocommit = True
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    for table in ID_TABLES:
        ok('restored: %s has the same rows, ids included' % table, rows_text(cur, table) == rows_text(cur1, table))
        ok('restored: %s_id_seq at the same position' % table,
           sequence_position(cur, table) == sequence_position(cur1, table))
    before = max(table_ids(cur, 'decision'))
    new = [q1("SELECT decision_id FROM bandit.choose('p')") for _ in range(5)]
    ok('restored: the next decision ids are node 1 and continue above every restored one',
       new == [before + k for k in range(1, 6)] and all(i >> LOCAL_BITS == 1 for i in new), (before, new))
    audit_before = max(table_ids(cur, 'audit'))
    snap = q1("SELECT bandit.snapshot('p', 'after restore')")
    ok('restored: a snapshot and its audit row get new ids',
       snap > max(table_ids(cur1, 'snapshot')) and max(table_ids(cur, 'audit')) == audit_before + 1)
    old = q1("SELECT min(id) FROM bandit.decision WHERE reward IS NULL")
    q1("SELECT bandit.reward(%s::bigint, 1.0)", old)
    ok('restored: a restored decision takes its reward',
       q1("SELECT reward FROM bandit.decision WHERE id = %s", old) == 1.0)
    conn.close()
    admin.cursor().execute('DROP DATABASE %s' % restored_name)


def check_routing(conns, rng):
    """A router: reward(decision_id, r) goes to the node node_of names."""
    pending = []
    for node in (1, 2):
        cur = conns[node].cursor()
        for _ in range(25):
            cur.execute("SELECT decision_id FROM bandit.choose('p')")
            pending.append(cur.fetchone()[0])
    rng.shuffle(pending)
    want = {i: round(rng.random(), 6) for i in pending}
    router = conns[0].cursor()   # any node answers node_of: it reads no table
    failures = []
    for decision in pending:
        router.execute('SELECT bandit.node_of(%s::bigint)', (decision,))
        node = router.fetchone()[0]
        try:
            conns[node].cursor().execute('SELECT bandit.reward(%s::bigint, %s::float8)', (decision, want[decision]))
        except (psycopg2.Error, KeyError) as e:
            failures.append((decision, node, str(e).strip()))
    ok('routing: every reward reached its decision', not failures, failures[:3])
    for node in (1, 2):
        cur = conns[node].cursor()
        cur.execute('SELECT id, reward FROM bandit.decision WHERE id = ANY (%s::bigint[])', (pending,))
        got = dict(cur.fetchall())
        mine = [i for i in pending if i >> LOCAL_BITS == node]
        ok('routing: node %d credited exactly its own decisions' % node,
           set(got) == set(mine) and len(mine) == 25 and all(got[i] == want[i] for i in mine))
    # what broke in 0.1.0: the same reward sent to the wrong node
    for node, other in ((1, 2), (2, 1)):
        decision = next(i for i in pending if i >> LOCAL_BITS == node)
        try:
            conns[other].cursor().execute('SELECT bandit.reward(%s::bigint, 0.5)', (decision,))
            ok('routing: a node %d decision sent to node %d finds nothing' % (node, other), False)
        except psycopg2.Error as e:
            ok('routing: a node %d decision sent to node %d finds nothing (42704)' % (node, other),
               e.pgcode == '42704', e.pgcode)


def check_truncate(cur, node):
    q, q1, _ = query_helpers(cur)
    cur.execute("TRUNCATE bandit.policy, bandit.arm, bandit.arm_count, bandit.decision, bandit.snapshot, bandit.audit "
       "RESTART IDENTITY")
    q1("SELECT bandit.create_policy('t', 'thompson', ARRAY['a'])")
    first = q1("SELECT decision_id FROM bandit.choose('t')")
    ok('TRUNCATE ... RESTART IDENTITY restarts the local part', first == (node << LOCAL_BITS) + 1, first)


def check_update(admin):
    """0.1.0's SQL, rows made by its defaults, then ALTER EXTENSION UPDATE."""
    name = PREFIX + 'update'
    admin.cursor().execute('DROP DATABASE IF EXISTS %s' % name)
    admin.cursor().execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" % name)
    conn = psycopg2.connect(dbname=name)
    conn.autocommit = True
    cur = conn.cursor()
    q, q1, _ = query_helpers(cur)
    cur.execute("CREATE EXTENSION bandit VERSION '0.1.0'")
    inserts = {
        'decision': "INSERT INTO bandit.decision (policy, arm, propensity, mode) VALUES ('p', 'a', 1, 'active')",
        'snapshot': "INSERT INTO bandit.snapshot (policy, policy_row, arms) VALUES ('p', '{}', '[]')",
        'audit': "INSERT INTO bandit.audit (policy, action) VALUES ('p', 'create')",
        'observation': "INSERT INTO bandit.observation (experiment, unit_id, variant, metric, value) "
                       "VALUES ('e', 'u', 'v', 'm', 1)",
        'experiment_audit': "INSERT INTO bandit.experiment_audit (experiment, action) VALUES ('e', 'created')",
        'tuning_snapshot': "INSERT INTO bandit.tuning_snapshot (scope, saved_values) VALUES ('s', '{}')",
        'tuning_adjustment': "INSERT INTO bandit.tuning_adjustment (scope, name, kind, new_value) "
                             "VALUES ('s', 'n', 'define', 1)",
        'transition': "INSERT INTO bandit.transition (agent, state, action, reward) VALUES ('a', 's', 'x', 1)",
    }
    q1("INSERT INTO bandit.tuning_scope (scope) VALUES ('s') RETURNING scope")
    counts = {}
    for i, table in enumerate(ID_TABLES):
        counts[table] = i + 2
        for _ in range(counts[table]):
            cur.execute(inserts[table])
    cur.execute("ALTER EXTENSION bandit UPDATE TO '0.2.0'")
    ok('update: no stale entry in extconfig',
       q1("SELECT count(*) FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'bandit' "
          "AND NOT EXISTS (SELECT FROM pg_class r WHERE r.oid = c)") == 0)
    for table in ID_TABLES:
        ok('update: %s keeps its ids (node 0)' % table,
           table_ids(cur, table) == list(range(1, counts[table] + 1)))
        ok('update: %s_id_seq is dumped' % table,
           q1("SELECT 'bandit.%s_id_seq'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'bandit'"
              % table))
        ok('update: %s_id_seq stops at 2^53 - 1' % table,
           q1("SELECT max_value FROM pg_sequences WHERE schemaname = 'bandit' AND sequencename = %s",
              table + '_id_seq') == 2 ** 53 - 1)
        cur.execute(inserts[table] + ' RETURNING id')
        ok('update: the next %s id follows the old ones' % table, cur.fetchone()[0] == counts[table] + 1)
    cur.execute("SET bandit.node_id = 7")
    cur.execute(inserts['decision'] + ' RETURNING id')
    ok('update: node 7 after the update', cur.fetchone()[0] == (7 << LOCAL_BITS) + counts['decision'] + 2)
    conn.close()
    admin.cursor().execute('DROP DATABASE %s' % name)


def main():
    rng = random.Random(12)
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    acur = admin.cursor()
    acur.execute("DROP ROLE IF EXISTS %s" % ROLE)
    # a password: pg_virtualenv (CI) asks for one over TCP
    acur.execute("CREATE ROLE %s LOGIN PASSWORD 'node-test'" % ROLE)
    conns = {node: node_database(admin, PREFIX + str(node), node if node else None) for node in (0, 1, 2)}
    tmp = tempfile.mkdtemp(prefix='bandit-node-')
    try:
        cur0 = conns[0].cursor()
        plain = psycopg2.connect(dbname=PREFIX + '0', user=ROLE, password='node-test')
        plain.autocommit = True
        try:
            check_guc(admin, cur0, plain)
        finally:
            plain.close()
        for node in (1, 2):
            # the database's setting, in a session that has not loaded the library yet
            cur = conns[node].cursor()
            cur.execute('SHOW bandit.node_id')
            ok('node %d: the database setting reaches the session' % node, cur.fetchone()[0] == str(node))
        ids = {}
        for node in (0, 1, 2):
            made = workload(conns[node].cursor(), 'n%d' % node)
            ids[node] = check_ids(conns[node].cursor(), node, made, 'node %d' % node)
        for table in ID_TABLES:
            sets = [set(ids[n][table]) for n in (0, 1, 2)]
            ok('%s ids of the three nodes are disjoint' % table,
               not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]))
        ok('without node ids the nodes would collide: node 1 and 2 made the same local values',
           [i & (2 ** LOCAL_BITS - 1) for i in ids[1]['decision']] ==
           [i & (2 ** LOCAL_BITS - 1) for i in ids[2]['decision']])
        check_node_of(cur0)
        check_dump_restore(admin, conns[1], tmp)
        check_routing(conns, rng)
        check_limits(conns[0].cursor())
        check_truncate(conns[2].cursor(), 2)
        check_update(admin)
    finally:
        for conn in conns.values():
            conn.close()
        for node in (0, 1, 2):
            acur.execute('DROP DATABASE IF EXISTS %s' % (PREFIX + str(node)))
        acur.execute("DROP ROLE IF EXISTS %s" % ROLE)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(report())


if __name__ == '__main__':
    main()
