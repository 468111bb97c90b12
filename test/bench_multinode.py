"""Scale-out figures for doc/scaleout.md (run by hand, after the extension is
installed with the PG_CONFIG it will use):
  /usr/bin/python3 test/bench_multinode.py [rounds] [rows per shard]
Starts a coordinator and two shards as test/multinode_test.py does (Env
MULTINODE_PORTS="p1,p2,p3" fixes the ports) and measures, interleaved so that
drift hits both sides alike:
 1. one choose + reward round of a Thompson policy through PL/Proxy (client ->
    coordinator -> shard) against the same calls sent straight to the shard,
    from the client and inside a server-side loop (no client round trip);
 2. summarize of an experiment's observations split over the two shards,
    pushed down through postgres_fdw and merged with bandit.merge at the
    coordinator, against one node holding all the rows."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch_cluster import Cluster  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ROWS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
BLOCKS = 10
SETTINGS = {'shared_buffers': "'256MB'", 'max_connections': 30}


def start(name, port, node):
    settings = dict(SETTINGS, **{'bandit.node_id': node})
    if port:
        settings['port'] = port
    c = Cluster('bench-' + name, settings)
    if port:
        c.port = port
    if not c.pg_ctl_start(60):
        raise RuntimeError('%s did not start' % name)
    conn = c.connect()
    conn.autocommit = True
    return c, conn.cursor()


def timed(cur, sql, args=None):
    t = time.perf_counter()
    cur.execute(sql, args)
    cur.fetchall()
    return time.perf_counter() - t


def client_rounds(cur, choose_sql, reward_sql, n):
    t = time.perf_counter()
    for _ in range(n):
        cur.execute(choose_sql)
        did = cur.fetchone()[0]
        cur.execute(reward_sql, (did,))
    return time.perf_counter() - t


def server_loop(schema, n):
    return """DO $$ DECLARE d bigint; BEGIN
                FOR i IN 1..%d LOOP
                  SELECT decision_id INTO d FROM %s.choose('bench');
                  PERFORM %s.reward(d, (i %% 2)::float8);
                END LOOP; END $$""" % (n, schema, schema)


def main():
    ports = os.environ.get('MULTINODE_PORTS')
    ports = [int(p) for p in ports.split(',')] if ports else [None] * 3
    clusters = []
    try:
        for name, port, node in zip(('coord', 'shard1', 'shard2'), ports, (0, 1, 2)):
            clusters.append(start(name, port, node))
        (coord_cluster, coord), (s1c, s1), (s2c, s2) = clusters
        for cur in (coord, s1, s2):
            cur.execute('CREATE EXTENSION bandit')
        coord.execute('CREATE EXTENSION plproxy')
        coord.execute('CREATE EXTENSION postgres_fdw')
        conninfo = ['host=%s port=%d dbname=postgres user=postgres' % (c.root, c.port) for c in (s1c, s2c)]
        coord.execute('CREATE SERVER shards FOREIGN DATA WRAPPER plproxy OPTIONS (p0 %s, p1 %s)', conninfo)
        coord.execute('CREATE USER MAPPING FOR PUBLIC SERVER shards')
        coord.execute('CREATE SCHEMA router')
        # the policy lives on shard 1 (partition 0); reward by policy name keeps
        # this runnable without bandit.node_of
        coord.execute("""CREATE FUNCTION router.choose(policy text, context jsonb DEFAULT NULL)
            RETURNS TABLE(decision_id bigint, arm text, propensity float8) LANGUAGE plproxy AS $$
            CLUSTER 'shards'; RUN ON 0; SELECT * FROM bandit.choose(policy, context); $$""")
        coord.execute("""CREATE FUNCTION router.reward(decision_id bigint, reward float8) RETURNS void
            LANGUAGE plproxy AS $$ CLUSTER 'shards'; RUN ON 0; SELECT bandit.reward(decision_id, reward); $$""")
        s1.execute("SELECT bandit.create_policy('bench', 'thompson', ARRAY['a', 'b', 'c', 'd'])")

        # 1. PL/Proxy per round, interleaved blocks
        per = ROUNDS // BLOCKS
        via = {'client': [], 'server': []}
        direct = {'client': [], 'server': []}
        client_rounds(coord, "SELECT * FROM router.choose('bench')", 'SELECT router.reward(%s, 1)', 50)
        for _ in range(BLOCKS):
            via['client'].append(client_rounds(coord, "SELECT * FROM router.choose('bench')",
                                               'SELECT router.reward(%s, 1)', per) / per)
            direct['client'].append(client_rounds(s1, "SELECT * FROM bandit.choose('bench')",
                                                  'SELECT bandit.reward(%s::bigint, 1)', per) / per)
            via['server'].append(timed(coord, server_loop('router', per) + ';SELECT 1') / per)
            direct['server'].append(timed(s1, server_loop('bandit', per) + ';SELECT 1') / per)
        print('choose + reward of one Thompson policy (4 arms), %d rounds per side in %d interleaved blocks'
              % (per * BLOCKS, BLOCKS))
        for where in ('client', 'server'):
            v, d = statistics.median(via[where]), statistics.median(direct[where])
            print('  %-6s  PL/Proxy %7.1f us   direct on the shard %7.1f us   overhead %+7.1f us (%.2fx)'
                  % ('from client' if where == 'client' else 'in a DO loop', v * 1e6, d * 1e6,
                     (v - d) * 1e6, v / d))

        # 2. summarize + merge at the coordinator against one node
        for cur in (s1, s2):
            cur.execute("""INSERT INTO bandit.observation (experiment, unit_id, variant, metric, value)
                           SELECT 'e', 'u' || g, (ARRAY['control', 'treatment'])[1 + g %% 2], 'revenue',
                                  (g %% 997) * 0.37 + sqrt(g)
                           FROM generate_series(1, %s) g""", (ROWS,))
            cur.execute('VACUUM ANALYZE bandit.observation')
        coord.execute("""CREATE DATABASE one TEMPLATE template0""")
        one_conn = coord_cluster.connect('one')
        one_conn.autocommit = True
        one = one_conn.cursor()
        one.execute('CREATE EXTENSION bandit')
        one.execute("""INSERT INTO bandit.observation (experiment, unit_id, variant, metric, value)
                       SELECT 'e', 'u' || g, (ARRAY['control', 'treatment'])[1 + g %% 2], 'revenue',
                              (g %% 997) * 0.37 + sqrt(g)
                       FROM generate_series(1, %s) g, generate_series(1, 2) copy""", (ROWS,))
        one.execute('VACUUM ANALYZE bandit.observation')
        for i, c in ((1, s1c), (2, s2c)):
            coord.execute("""CREATE SERVER s%d FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %%s, port %%s,
                             dbname 'postgres', extensions 'bandit', async_capable 'true')""" % i,
                          (c.root, str(c.port)))
            coord.execute("CREATE USER MAPPING FOR CURRENT_USER SERVER s%d OPTIONS (user 'postgres')" % i)
            coord.execute('CREATE SCHEMA s%d' % i)
            coord.execute('IMPORT FOREIGN SCHEMA bandit LIMIT TO (observation) FROM SERVER s%d INTO s%d' % (i, i))
        merged = """SELECT variant, bandit.merge(s) FROM (
                      SELECT variant, bandit.summarize(value) s FROM s1.observation
                       WHERE experiment = 'e' AND metric = 'revenue' GROUP BY variant
                      UNION ALL
                      SELECT variant, bandit.summarize(value) FROM s2.observation
                       WHERE experiment = 'e' AND metric = 'revenue' GROUP BY variant) x GROUP BY variant"""
        single = """SELECT variant, bandit.summarize(value) FROM bandit.observation
                    WHERE experiment = 'e' AND metric = 'revenue' GROUP BY variant"""
        timed(coord, merged)
        timed(one, single)
        tc, to = [], []
        for _ in range(7):
            tc.append(timed(coord, merged))
            to.append(timed(one, single))
        mc, mo = statistics.median(tc), statistics.median(to)
        print('summarize of %d rows (2 variants): coordinator over 2 shards (postgres_fdw, async) %.0f ms, '
              'one node %.0f ms: %.2fx faster (medians of 7, interleaved; %d cores, parallel workers per '
              'gather %s)' % (2 * ROWS, mc * 1e3, mo * 1e3, mo / mc, os.cpu_count(),
                              one.execute('SHOW max_parallel_workers_per_gather') or one.fetchone()[0]))
    finally:
        for c, _ in clusters:
            c.command(['pg_ctl', '-D', c.data, '-m', 'immediate', 'stop'])
            c.remove()


if __name__ == '__main__':
    main()
