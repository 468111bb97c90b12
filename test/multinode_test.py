"""Scale-out for real (issue 12, doc/scaleout.md): a coordinator and two shard
clusters on this machine, each initdb'd in a temporary directory from the
binaries the suite uses (test/scratch_cluster.py).  The coordinator reaches
the shards through postgres_fdw (statistics: per-shard summarize merged with
bandit.merge) and PL/Proxy (policies, experiments and agents routed to their
shard).  Every answer is compared with a single node that holds the same data
(database "ref" on the coordinator's cluster, fed the same calls).  Then one
shard is killed mid-call: the coordinator's error is clean and nothing is
half-applied.  Parts that need functions of the scale-out branches not yet
present (bandit.node_of, bandit.experiment_summaries, analyze_summaries,
decide_summaries, an exact text form of bandit.summary) are skipped with a SKIP line naming what is missing; no
pass is counted for them.  Without PL/Proxy installed the PL/Proxy parts are
skipped the same way.  Env MULTINODE_PORTS="p1,p2,p3" fixes the three ports
(default: random)."""
import os
import random
import sys
import threading
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch_cluster import Cluster  # noqa: E402
from testlib import ok, report  # noqa: E402

RTOL = 1e-12
EXPERIMENT = 'mn_exp'
METRICS = ('revenue', 'converted')
UNITS = 600
ROUNDS = 150


def skip(what, missing, instead='', absent='not in this build'):
    print('SKIP %s: needs %s, %s%s' % (what, missing, absent, '; ' + instead if instead else ''))


def has_function(cur, signature):
    cur.execute('SELECT to_regprocedure(%s) IS NOT NULL', (signature,))
    return cur.fetchone()[0]


def function_exists(cur, name):
    """Whether bandit.<name> exists, in whatever form (the contract's signature
    may have gained trailing arguments with defaults)."""
    cur.execute("SELECT count(*) > 0 FROM pg_proc WHERE pronamespace = 'bandit'::regnamespace "
                "AND proname = %s", (name,))
    return cur.fetchone()[0]


def plproxy_available(cur):
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'plproxy'")
    return cur.fetchone() is not None


def connect(cluster, dbname='postgres'):
    conn = cluster.connect(dbname)
    conn.autocommit = True
    return conn


def rows(cur, sql, *args):
    """Every row; the arguments are positional, or one dict of named ones."""
    if len(args) == 1 and isinstance(args[0], dict):
        args = args[0]
    cur.execute(sql, args or None)
    return cur.fetchall()


def same_row(what, got, want):
    """Columns equal: floats within RTOL relative, everything else exactly."""
    good = len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, float) and isinstance(g, float):
            good = good and abs(g - w) <= RTOL * abs(w)
        else:
            good = good and g == w
    ok(what, good, 'got %r, want %r' % (got, want))


def same_rows(what, got, want):
    ok(what + ' (row count)', len(got) == len(want), 'got %d rows, want %d' % (len(got), len(want)))
    for i, (g, w) in enumerate(zip(got, want)):
        same_row('%s row %d' % (what, i), g, w)


def start_clusters():
    ports = os.environ.get('MULTINODE_PORTS')
    ports = [int(p) for p in ports.split(',')] if ports else [None] * 3
    clusters = []
    for name, port, node in zip(('coord', 'shard1', 'shard2'), ports, (0, 1, 2)):
        # node ids are harmless placeholders where bandit.node_id does not exist yet
        settings = {'bandit.node_id': node, 'max_connections': 30}
        if port:
            settings['port'] = port
        c = Cluster('mn-' + name, settings)
        if port:
            c.port = port
        clusters.append(c)
        if not c.pg_ctl_start(60):
            raise RuntimeError('%s did not start: %s' % (name, c.server_log()[-2000:]))
    return clusters


def connstring(cluster):
    return 'host=%s port=%d dbname=postgres user=postgres' % (cluster.root, cluster.port)


def setup_experiment(cur):
    cur.execute("""SELECT bandit.create_experiment(%s, ARRAY['control', 'treatment', 'bold'], NULL,
                   '{"salt": "multinode", "min_sample_size": 50, "metrics": ["revenue", "converted"]}')""",
                (EXPERIMENT,))
    cur.execute('SELECT bandit.start_experiment(%s)', (EXPERIMENT,))


def setup_coordinator(cur, shards, plproxy):
    cur.execute('CREATE EXTENSION bandit')
    cur.execute('CREATE EXTENSION postgres_fdw')
    for i, s in enumerate(shards, 1):
        cur.execute("""CREATE SERVER s%d FOREIGN DATA WRAPPER postgres_fdw
                       OPTIONS (host %%s, port %%s, dbname 'postgres', extensions 'bandit',
                                async_capable 'true', fetch_size '10000')""" % i,
                    (s.root, str(s.port)))
        cur.execute("CREATE USER MAPPING FOR CURRENT_USER SERVER s%d OPTIONS (user 'postgres')" % i)
        cur.execute('CREATE SCHEMA s%d' % i)
        cur.execute('IMPORT FOREIGN SCHEMA bandit LIMIT TO (observation, assignment, decision, q_table) '
                    'FROM SERVER s%d INTO s%d' % (i, i))
    # the experiment's parameters live at the coordinator too (analyze_summaries reads them)
    setup_experiment(cur)
    if not plproxy:
        return
    cur.execute('CREATE EXTENSION plproxy')
    cur.execute("CREATE SERVER shards FOREIGN DATA WRAPPER plproxy OPTIONS (p0 %s, p1 %s)",
                tuple(connstring(s) for s in shards))
    cur.execute('CREATE USER MAPPING FOR PUBLIC SERVER shards')
    # the router: the API's signatures, each call run on the shard that owns its key
    cur.execute('CREATE SCHEMA router')
    proxies = [
        ('create_policy(name text, algorithm text, arms text[], params jsonb) RETURNS void',
         'hashtext(name)', 'SELECT bandit.create_policy(name, algorithm, arms, params)'),
        ('set_seed(policy text, seed bigint) RETURNS void',
         'hashtext(policy)', 'SELECT bandit.set_seed(seed)'),
        ('choose(policy text, context jsonb DEFAULT NULL) '
         'RETURNS TABLE(decision_id bigint, arm text, propensity float8)',
         'hashtext(policy)', 'SELECT * FROM bandit.choose(policy, context)'),
        # reward without node_of: the caller names the policy to route by
        ('reward(policy text, decision_id bigint, reward float8) RETURNS void',
         'hashtext(policy)', 'SELECT bandit.reward(decision_id, reward)'),
        ('arm_stats(policy text) RETURNS TABLE(arm text, pulls bigint, mean_reward float8, '
         'alpha float8, beta float8, prob_best float8, variance float8)',
         'hashtext(policy)', 'SELECT arm, pulls, mean_reward, alpha, beta, prob_best, variance '
                             'FROM bandit.arm_stats(policy)'),
        ('policy_decisions(policy text) RETURNS bigint',
         'hashtext(policy)', 'SELECT count(*) FROM bandit.decision d WHERE d.policy = policy'),
        # a shard's summaries in binary (PL/Proxy), tagged with its node for a fixed merge order
        ('shard_summaries(experiment text, metric text) '
         'RETURNS TABLE(node integer, variant text, summary bandit.summary)',
         'ALL', "SELECT current_setting('bandit.node_id')::integer node, o.variant, bandit.summarize(o.value) summary "
                'FROM bandit.observation o WHERE o.experiment = experiment AND o.metric = metric '
                'GROUP BY o.variant'),
        ('assign(experiment text, unit_id text) RETURNS text',
         'hashtext(unit_id)', 'SELECT bandit.assign(experiment, unit_id)'),
        ('record_metric(experiment text, unit_id text, metric text, value float8) RETURNS void',
         'hashtext(unit_id)', 'SELECT bandit.record_metric(experiment, unit_id, metric, value)'),
        ('q_learn(agent text, state text, action text, reward float8, next_state text, '
         'alpha float8 DEFAULT 0.1, gamma float8 DEFAULT 0.9) RETURNS float8',
         'hashtext(agent)', 'SELECT bandit.q_learn(agent, state, action, reward, next_state, alpha, gamma)'),
        # for the crash: a write, then time for the shard to be killed before it commits
        ('record_then_sleep(experiment text, unit_id text, metric text, value float8, secs float8) '
         'RETURNS void',
         'hashtext(unit_id)', 'SELECT pg_sleep(secs) FROM (SELECT bandit.record_metric(experiment, '
                              'unit_id, metric, value) OFFSET 0) w'),
    ]
    if has_function(cur, 'bandit.node_of(bigint)'):
        # shard k has node id k and is partition k - 1; RUN ON takes a bare function call
        cur.execute('CREATE FUNCTION router.partition_of(id bigint) RETURNS integer LANGUAGE sql IMMUTABLE '
                    'RETURN bandit.node_of(id) - 1')
        proxies.append(('reward(decision_id bigint, reward float8) RETURNS void',
                        'router.partition_of(decision_id)', 'SELECT bandit.reward(decision_id, reward)'))
    if function_exists(cur, 'experiment_shares'):
        # experiment_summaries with the count of values neither 0 nor 1: the binary test made exact
        proxies.append(('experiment_shares(experiment text, metric text) RETURNS TABLE(variant text, '
                        'assigned bigint, summary bandit.summary, nonbinary bigint)',
                        'ALL', 'SELECT * FROM bandit.experiment_shares(experiment, metric)'))
    for signature, run_on, select in proxies:
        cur.execute("CREATE FUNCTION router.%s LANGUAGE plproxy AS $$ CLUSTER 'shards'; RUN ON %s; %s; $$"
                    % (signature, run_on, select))


def observations(rng):
    """(unit, metric, value) in arrival order: every unit assigned first."""
    data = []
    for u in range(UNITS):
        unit = 'u%04d' % u
        data.append((unit, 'revenue', round(rng.gauss(20 + (u % 7), 5), 3) + rng.random() * 1e-9))
        data.append((unit, 'converted', float(rng.random() < 0.3)))
    return data


def shard_of(cur, key):
    cur.execute("SELECT hashtext(%s) & 1", (key,))
    return cur.fetchone()[0]


def test_experiment(coord, ref, shard_curs, plproxy, rng):
    """Units split across shards by unit id; statistics merged at the coordinator."""
    data = observations(rng)
    units = sorted({u for u, _, _ in data})
    if plproxy:
        got = {u: rows(coord, 'SELECT router.assign(%s, %s)', EXPERIMENT, u)[0][0] for u in units}
        for u, m, v in data:
            coord.execute('SELECT router.record_metric(%s, %s, %s, %s)', (EXPERIMENT, u, m, v))
    else:
        # the same split by hand: each unit's calls on the shard its id hashes to
        got = {}
        for u in units:
            got[u] = rows(shard_curs[shard_of(coord, u)], 'SELECT bandit.assign(%s, %s)', EXPERIMENT, u)[0][0]
        for u, m, v in data:
            shard_curs[shard_of(coord, u)].execute('SELECT bandit.record_metric(%s, %s, %s, %s)',
                                                   (EXPERIMENT, u, m, v))
    want = {u: rows(ref, 'SELECT bandit.assign(%s, %s)', EXPERIMENT, u)[0][0] for u in units}
    for u, m, v in data:
        ref.execute('SELECT bandit.record_metric(%s, %s, %s, %s)', (EXPERIMENT, u, m, v))
    ok('assign through the router = one node', got == want,
       '%d of %d units differ' % (sum(got[u] != want[u] for u in units), len(units)))
    per_shard = [rows(c, 'SELECT count(*) FROM bandit.assignment WHERE experiment = %s', EXPERIMENT)[0][0]
                 for c in shard_curs]
    ok('units split across both shards', min(per_shard) > UNITS / 4 and sum(per_shard) == UNITS,
       'per shard %r' % per_shard)

    for metric in METRICS:
        merged_sql = """
            SELECT variant, bandit.n(s), bandit.mean(s), bandit.variance(s)
            FROM (SELECT variant, bandit.merge(s) s FROM (
                SELECT variant, bandit.summarize(value) s FROM s1.observation
                 WHERE experiment = %(e)s AND metric = %(m)s GROUP BY variant
                UNION ALL
                SELECT variant, bandit.summarize(value) s FROM s2.observation
                 WHERE experiment = %(e)s AND metric = %(m)s GROUP BY variant) per_shard
                GROUP BY variant) merged ORDER BY variant"""
        args = {'e': EXPERIMENT, 'm': metric}
        coord.execute('EXPLAIN (VERBOSE) ' + merged_sql, args)
        plan = '\n'.join(r[0] for r in coord.fetchall())
        ok('summarize pushed down to both shards (%s)' % metric,
           plan.count('Remote SQL: SELECT variant, bandit.summarize(value)') == 2 and 'Async Foreign Scan' in plan,
           plan)
        got = rows(coord, merged_sql, args)
        want = rows(ref, """SELECT variant, bandit.n(s), bandit.mean(s), bandit.variance(s)
                            FROM (SELECT variant, bandit.summarize(value) s FROM bandit.observation
                                  WHERE experiment = %(e)s AND metric = %(m)s GROUP BY variant) x
                            ORDER BY variant""", args)
        same_rows('per-shard summaries merged = one node (%s)' % metric, got, want)

    if plproxy:
        test_transports(coord)
    if not function_exists(coord, 'analyze_summaries'):
        skip('analyze_summaries over the shards = analyze on one node',
             'bandit.analyze_summaries(text, text, text[], bigint[], bandit.summary[]) (branch h-summaries)')
        return
    if not function_exists(shard_curs[0], 'experiment_shares') or not plproxy:
        skip('analyze_summaries over the shards', 'bandit.experiment_shares(text, text) on the shards'
             if plproxy else 'PL/Proxy')
        return
    for metric in METRICS:
        # assigned and nonbinary (values neither 0 nor 1) summed, the summaries merged
        parts = """SELECT array_agg(variant ORDER BY variant) v, array_agg(a ORDER BY variant) a,
                          array_agg(s ORDER BY variant) s, array_agg(nb ORDER BY variant) nb
                   FROM (SELECT variant, sum(assigned)::bigint a, bandit.merge(summary) s, sum(nonbinary)::bigint nb
                         FROM router.experiment_shares(%(e)s, %(m)s) GROUP BY variant) x"""
        extra = ', p.nb'
        args = {'e': EXPERIMENT, 'm': metric}
        got = rows(coord, 'SELECT r.* FROM (%s) p, bandit.analyze_summaries(%%(e)s, %%(m)s, p.v, p.a, p.s%s) r '
                   'ORDER BY r.variant' % (parts, extra), args)
        want = rows(ref, 'SELECT * FROM bandit.analyze(%(e)s, %(m)s) ORDER BY variant', args)
        same_rows('analyze_summaries over the shards = analyze on one node (%s)' % metric, got, want)
        if not function_exists(coord, 'decide_summaries'):
            skip('decide_summaries over the shards = decide on one node',
                 'bandit.decide_summaries(text, text, text[], bigint[], bandit.summary[]) (branch h-summaries)')
            continue
        got = rows(coord, 'SELECT r.* FROM (%s) p, bandit.decide_summaries(%%(e)s, %%(m)s, p.v, p.a, p.s%s) r'
                   % (parts, extra), args)
        want = rows(ref, 'SELECT * FROM bandit.decide(%(e)s, %(m)s)', args)
        same_rows('decide_summaries over the shards = decide on one node (%s)' % metric, got, want)
    # a broken split (the shards' assignment counts withheld) is an error, never a NULL SRM
    err = None
    try:
        coord.execute('SELECT r.* FROM (%s) p, bandit.analyze_summaries(%%(e)s, %%(m)s, p.v, NULL, p.s) r'
                      % parts, {'e': EXPERIMENT, 'm': 'revenue'})
    except psycopg2.Error as e:
        err = e
    ok('analyze_summaries without assignment counts: 22004', err is not None and err.pgcode == '22004',
       repr(err))


def test_transports(coord):
    """The same per-shard summaries shipped as text (postgres_fdw) and in binary
    (PL/Proxy), merged in the same order: equal bit for bit once the text form
    round-trips exactly."""
    # the binary form holds the whole state (a mean's low part too)
    coord.execute("SELECT bool_and(bandit.summary_send(s) = bandit.summary_send(s::text::bandit.summary)) "
                  "FROM (SELECT k, bandit.summarize(k * 1000 + x / 7.0) s "
                  "      FROM generate_series(1, 50) k, generate_series(1, 37) x GROUP BY k) q")
    exact_text = coord.fetchone()[0]
    if not exact_text:
        skip('text (postgres_fdw) and binary (PL/Proxy) transport of summaries agree bit for bit',
             'an exact text form of bandit.summary (branch h-aggregates)', 'compared within 1e-12 instead')
    for metric in METRICS:
        args = {'e': EXPERIMENT, 'm': metric}
        text_route = rows(coord, """
            SELECT variant, bandit.n(s), bandit.mean(s), bandit.variance(s)
            FROM (SELECT variant, bandit.merge(s ORDER BY node) s FROM (
                SELECT 1 node, variant, bandit.summarize(value) s FROM s1.observation
                 WHERE experiment = %(e)s AND metric = %(m)s GROUP BY variant
                UNION ALL
                SELECT 2, variant, bandit.summarize(value) FROM s2.observation
                 WHERE experiment = %(e)s AND metric = %(m)s GROUP BY variant) x
                GROUP BY variant) y ORDER BY variant""", args)
        binary_route = rows(coord, """
            SELECT variant, bandit.n(s), bandit.mean(s), bandit.variance(s)
            FROM (SELECT variant, bandit.merge(summary ORDER BY node) s
                  FROM router.shard_summaries(%(e)s, %(m)s) GROUP BY variant) y ORDER BY variant""", args)
        if exact_text:
            ok('postgres_fdw (text) and PL/Proxy (binary) summaries merge to the same bits (%s)' % metric,
               text_route == binary_route and len(text_route) == 3, 'text %r, binary %r' % (text_route, binary_route))
        else:
            same_rows('postgres_fdw (text) and PL/Proxy (binary) summaries (%s)' % metric, text_route, binary_route)


def policy_names(coord):
    """Two policy names that hash to different shards, and an agent for each."""
    names = {}
    for i in range(100):
        names.setdefault(shard_of(coord, 'policy_%d' % i), 'policy_%d' % i)
    agents = {}
    for i in range(100):
        agents.setdefault(shard_of(coord, 'agent_%d' % i), 'agent_%d' % i)
    return [names[0], names[1]], [agents[0], agents[1]]


POLICIES = [('thompson', '{}'), ('epsilon_greedy', '{"epsilon": 0.2}')]
ARMS = ['a', 'b', 'c', 'd']


def test_policies(coordinator, coord, ref_conn, shard_curs, rng):
    """Two policies, one per shard, and two Q-learning agents, through the router."""
    policies, agents = policy_names(coord)
    node_of = has_function(coord, 'bandit.node_of(bigint)')
    if not node_of:
        skip('reward routed by node_of(decision_id), ids unique across shards',
             'bandit.node_of(bigint) and GUC bandit.node_id (branch h-nodeid)', 'reward routed by policy instead')
    refs = []
    for p, (algorithm, params) in zip(policies, POLICIES):
        coord.execute('SELECT router.create_policy(%s, %s, %s, %s)', (p, algorithm, ARMS, params))
        coord.execute('SELECT router.set_seed(%s, 42)', (p,))
        # one session per policy on the single node: a shard's session sees only its policy's calls
        r = ref_conn().cursor()
        r.execute('SELECT bandit.create_policy(%s, %s, %s, %s)', (p, algorithm, ARMS, params))
        r.execute('SELECT bandit.set_seed(42)')
        refs.append(r)
    truth = {'a': 0.2, 'b': 0.5, 'c': 0.4, 'd': 0.1}
    same = True
    detail = ''
    ids = {0: [], 1: []}
    for i in range(ROUNDS):
        for k, (p, r) in enumerate(zip(policies, refs)):
            did, arm, prop = rows(coord, 'SELECT * FROM router.choose(%s, %s)', p, '{"round": %d}' % i)[0]
            rid, rarm, rprop = rows(r, 'SELECT * FROM bandit.choose(%s, %s)', p, '{"round": %d}' % i)[0]
            if (arm, prop) != (rarm, rprop) and same:
                same = False
                detail = 'round %d policy %s: got (%s, %r), want (%s, %r)' % (i, p, arm, prop, rarm, rprop)
            ids[k].append(did)
            reward = float(rng.random() < truth[rarm])
            if node_of:
                coord.execute('SELECT router.reward(%s::bigint, %s::float8)', (did, reward))
            else:
                coord.execute('SELECT router.reward(%s, %s::bigint, %s::float8)', (p, did, reward))
            r.execute('SELECT bandit.reward(%s::bigint, %s::float8)', (rid, reward))
    ok('choose through the router = one node, %d rounds x 2 policies (seeded)' % ROUNDS, same, detail)
    for p, r in zip(policies, refs):
        got = rows(coord, 'SELECT * FROM router.arm_stats(%s) ORDER BY arm', p)
        want = rows(r, 'SELECT arm, pulls, mean_reward, alpha, beta, prob_best, variance '
                       'FROM bandit.arm_stats(%s) ORDER BY arm', p)
        same_rows('arm_stats after routed rewards = one node (%s)' % p, got, want)
    for k, p in enumerate(policies):
        n = rows(shard_curs[k], 'SELECT count(*), count(reward) FROM bandit.decision WHERE policy = %s', p)[0]
        other = rows(shard_curs[1 - k], 'SELECT count(*) FROM bandit.decision WHERE policy = %s', p)[0][0]
        ok('%s lives on shard %d only, every decision rewarded' % (p, k + 1),
           n == (ROUNDS, ROUNDS) and other == 0, 'shard %d: %r, other shard: %d' % (k + 1, n, other))
    if node_of:
        nodes = [rows(coord, 'SELECT DISTINCT bandit.node_of(id) FROM unnest(%s::bigint[]) id', ids[k])
                 for k in (0, 1)]
        ok('node_of(decision_id) names the shard that logged it', nodes == [[(1,)], [(2,)]], repr(nodes))
        ok('decision ids unique across the shards', not set(ids[0]) & set(ids[1]))

    # Q-learning: each agent on its shard; q_learn is deterministic
    ref = refs[0]
    same = True
    detail = ''
    states = ['s%d' % i for i in range(5)]
    for i in range(200):
        agent = agents[i % 2]
        s, a, s2 = rng.choice(states), rng.choice(['left', 'right']), rng.choice(states + [None])
        reward = round(rng.uniform(-1, 1), 6)
        got = rows(coord, 'SELECT router.q_learn(%s, %s, %s, %s, %s, 0.3, 0.8)', agent, s, a, reward, s2)[0][0]
        want = rows(ref, 'SELECT bandit.q_learn(%s, %s, %s, %s, %s, 0.3, 0.8)', agent, s, a, reward, s2)[0][0]
        if got != want and same:
            same = False
            detail = 'update %d: got %r, want %r' % (i, got, want)
    ok('q_learn through the router = one node, bit for bit (200 updates, 2 agents)', same, detail)
    for k, agent in enumerate(agents):
        got = rows(shard_curs[k], 'SELECT state, action, q_value, update_count FROM bandit.q_table '
                   'WHERE agent = %s ORDER BY 1, 2', agent)
        want = rows(ref, 'SELECT state, action, q_value, update_count FROM bandit.q_table '
                    'WHERE agent = %s ORDER BY 1, 2', agent)
        ok('q_table of %s on shard %d = one node' % (agent, k + 1), got == want and len(got) > 0,
           'got %r, want %r' % (got[:3], want[:3]))

    # the caveat of doc/scaleout.md: a proxied call commits on its shard by itself
    before = rows(coord, 'SELECT router.policy_decisions(%s)', policies[0])[0][0]
    coordinator.autocommit = False
    c = coordinator.cursor()
    c.execute('SELECT * FROM router.choose(%s)', (policies[0],))
    coordinator.rollback()
    coordinator.autocommit = True
    after = rows(coord, 'SELECT router.policy_decisions(%s)', policies[0])[0][0]
    ok("a proxied choose survives the caller's ROLLBACK (documented caveat)", after == before + 1,
       'decisions %d -> %d' % (before, after))
    return policies


def merge_over_shards(coord):
    coord.execute('SELECT bandit.n(bandit.merge(s)) FROM (SELECT bandit.summarize(value) s FROM s1.observation '
                  'UNION ALL SELECT bandit.summarize(value) FROM s2.observation) x')
    return coord.fetchone()[0]


def test_kill_shard(clusters, coord, shard_curs, policies, plproxy):
    """Shard 2 killed (with PL/Proxy: while a proxied write on it sleeps before
    committing), then the run goes on against the survivor, then shard 2 back."""
    coordinator_cluster, _, shard2 = clusters
    count_sql = 'SELECT count(*) FROM bandit.observation WHERE experiment = %s'
    late_sql = "SELECT unit_id FROM bandit.observation WHERE experiment = %s AND unit_id LIKE 'after\\_%%'"
    # units of both shards with a metric recorded while shard 2 is down
    late = ['after_%d' % i for i in range(40)]
    unit = next('late_%d' % i for i in range(100) if shard_of(coord, 'late_%d' % i) == 1)
    if plproxy:
        for u in late + [unit]:
            coord.execute('SELECT router.assign(%s, %s)', (EXPERIMENT, u))
    observations_before = merge_over_shards(coord)
    survivor_before = rows(shard_curs[0], count_sql, EXPERIMENT)[0][0]
    victim_before = rows(shard_curs[1], count_sql, EXPERIMENT)[0][0]
    outcome = {}

    def in_flight():
        conn = connect(coordinator_cluster)
        try:
            conn.cursor().execute('SELECT router.record_then_sleep(%s, %s, %s, 1.0, 30)',
                                  (EXPERIMENT, unit, 'revenue'))
            outcome['error'] = None
        except psycopg2.Error as e:
            outcome['error'] = e
        finally:
            conn.close()
    if plproxy:
        t = threading.Thread(target=in_flight)
        t.start()
        # until the proxied write waits on shard 2
        deadline = time.time() + 20
        while time.time() < deadline and not rows(shard_curs[1], "SELECT count(*) FROM pg_stat_activity "
                                                  "WHERE wait_event = 'PgSleep'")[0][0]:
            time.sleep(0.05)
    stop = shard2.command(['pg_ctl', '-D', shard2.data, '-m', 'immediate', '-w', 'stop'])
    ok('shard 2 killed mid-run (pg_ctl stop -m immediate)', stop.returncode == 0, stop.stderr)
    if plproxy:
        t.join(30)
        e = outcome.get('error')
        ok('the in-flight proxied call fails with an ERROR', isinstance(e, psycopg2.Error), repr(outcome))
        if isinstance(e, psycopg2.Error):
            print('in-flight call: %s: %s' % (e.pgcode, str(e).strip().splitlines()[0]))
            ok('... whose message names PL/Proxy and the lost connection',
               'PL/Proxy' in str(e) and ('connection' in str(e) or 'terminat' in str(e)), str(e))
        # a call for the dead shard fails cleanly, the survivor still serves.  PL/Proxy
        # reports every remote failure as XX000 (its choice, not bandit's): the first
        # call finds its pooled connection dead, the next cannot connect
        for attempt in ('first', 'second'):
            try:
                coord.execute('SELECT * FROM router.choose(%s)', (policies[1],))
                ok('%s choose on the dead shard fails' % attempt, False, 'it succeeded')
            except psycopg2.Error as err:
                print('%s choose on the dead shard: %s: %s' % (attempt, err.pgcode,
                                                               str(err).strip().splitlines()[0]))
                ok('%s choose on the dead shard: an ERROR naming PL/Proxy, the function and the connection'
                   % attempt, 'PL/Proxy function router.choose' in str(err) and 'connect' in str(err),
                   '%s %s' % (err.pgcode, err))
        ok('choose on the surviving shard still works',
           len(rows(coord, 'SELECT * FROM router.choose(%s)', policies[0])) == 1)
    try:
        merge_over_shards(coord)
        ok('merge over a dead shard fails', False, 'it succeeded')
    except psycopg2.Error as err:
        print('merge over the dead shard: %s: %s' % (err.pgcode, str(err).strip().splitlines()[0]))
        ok('merge over a dead shard: connection ERROR (08xxx) naming server s2',
           (err.pgcode or '').startswith('08') and 's2' in str(err), '%s %s' % (err.pgcode, err))
    ok('the coordinator did not crash', 'terminated by signal' not in coordinator_cluster.server_log()
       and rows(coord, 'SELECT 1') == [(1,)])
    ok('nothing written on the surviving shard',
       rows(shard_curs[0], count_sql, EXPERIMENT)[0][0] == survivor_before)
    if plproxy:
        # the run goes on: each call lands whole on its shard or fails whole
        succeeded = set()
        for u in late:
            try:
                coord.execute("SELECT router.record_metric(%s, %s, 'revenue', 1)", (EXPERIMENT, u))
                succeeded.add(u)
            except psycopg2.Error as e:
                if shard_of(coord, u) == 0:
                    print('late %s: %s' % (u, e))
        on_survivor = {u for u in late if shard_of(coord, u) == 0}
        recorded_rows = [u for (u,) in rows(shard_curs[0], late_sql, EXPERIMENT)]
        recorded = set(recorded_rows)
        ok("with shard 2 down, exactly the surviving shard's calls succeed, each recorded once",
           succeeded == on_survivor == recorded and len(on_survivor) > 5
           and len(recorded_rows) == len(recorded),
           'succeeded %d, on the surviving shard %d, recorded %d'
           % (len(succeeded), len(on_survivor), len(recorded)))
    # back up: recovery drops the killed call's uncommitted write; both routes reconnect
    ok('shard 2 restarts', shard2.pg_ctl_start(60))
    s2 = connect(shard2).cursor()
    ok("the killed call's write is not on shard 2 after recovery, nor any failed call's",
       rows(s2, count_sql, EXPERIMENT)[0][0] == victim_before and rows(s2, late_sql, EXPERIMENT) == [])
    ok('postgres_fdw reaches shard 2 again after its restart',
       merge_over_shards(coord) == observations_before + (len(on_survivor) if plproxy else 0))
    if plproxy:
        coord.execute('SELECT router.record_metric(%s, %s, %s, 2.5)', (EXPERIMENT, unit, 'revenue'))
        ok('the router reaches shard 2 again after its restart',
           rows(s2, count_sql, EXPERIMENT)[0][0] == victim_before + 1)


def main():
    started = time.time()
    clusters = []
    try:
        clusters = start_clusters()
        coordinator = connect(clusters[0])
        coord = coordinator.cursor()
        coord.execute("CREATE DATABASE ref TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
        plproxy = plproxy_available(coord)
        if not plproxy:
            skip('every PL/Proxy part (routing, caveat, calls while a shard is down)',
                 'the plproxy extension (Debian package postgresql-15-plproxy)', absent='not installed')
        shard_curs = []
        for s in clusters[1:]:
            c = connect(s).cursor()
            c.execute('CREATE EXTENSION bandit')
            setup_experiment(c)
            shard_curs.append(c)
        setup_coordinator(coord, clusters[1:], plproxy)

        def ref_conn():
            return connect(clusters[0], 'ref')
        ref = ref_conn().cursor()
        ref.execute('CREATE EXTENSION bandit')
        setup_experiment(ref)

        rng = random.Random(12)
        test_experiment(coord, ref, shard_curs, plproxy, rng)
        policies = test_policies(coordinator, coord, ref_conn, shard_curs, rng) if plproxy else None
        test_kill_shard(clusters, coord, shard_curs, policies, plproxy)
    except Exception as e:  # noqa: BLE001 - counted and shown, then the clusters go
        ok('the multi-node run completes', False, '%s: %s' % (type(e).__name__, e))
        import traceback
        traceback.print_exc()
    finally:
        for c in clusters:
            c.command(['pg_ctl', '-D', c.data, '-m', 'immediate', 'stop'])
            c.remove()
    print('%.1f s' % (time.time() - started))
    return report()


if __name__ == '__main__':
    sys.exit(main())
