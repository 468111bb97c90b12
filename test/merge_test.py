"""Every aggregate finishes at a coordinator (issue 12): per-shard states,
shipped as text, merged and finished, equal one node's answer over the same
rows (counts exact, floats within 1e-12 relative); state types round-trip
through text and binary bit for bit; the t_test, ips, snips, dr and
beta_posterior forms push down through a loopback postgres_fdw server.

The routes are those of doc/reference.md, "Merging across nodes".  The
expected answers are the extension's own one-node aggregates: what is tested
is that the coordinator route reproduces them (their correctness against
scipy is tested elsewhere); the rows and the extreme values are generated
here, and the round trips are checked against Python's own parse of the bits.
"""
import io
import math
import os
import random
import struct
import sys

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ok, close, fresh_database, query_helpers, report, user_mapping_options  # noqa: E402

RTOL = 1e-12
SHARDS = 3
DB = 'bandit_merge_test'
REMOTE = 'bandit_merge_remote'


def composite(text):
    """The fields of a composite's text form as floats (None for NULL)."""
    if text is None:
        return None
    return [None if f == '' else float(f) for f in text.strip('()').split(',')]


def same_fields(what, got, want):
    """Composite answers: NULLs and infinities equal, finite fields within RTOL."""
    if got is None or want is None:
        ok(what, got is None and want is None, 'got %r, want %r' % (got, want))
        return
    ok(what + ': fields', len(got) == len(want), 'got %r, want %r' % (got, want))
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None or g is None or math.isinf(w):
            ok('%s[%d]' % (what, i), g == w, 'got %r, want %r' % (g, w))
        else:
            close('%s[%d]' % (what, i), g, w, RTOL, 1e-300)


def literal_array(texts, type_):
    """The shards' states as text literals, as a transport hands them over."""
    return 'ARRAY[%s]::%s[]' % (', '.join("'%s'" % t.replace("'", "''") for t in texts), type_)


def main():
    admin, conn = fresh_database(DB)
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    rng = random.Random(12)

    cur.execute("""CREATE TABLE obs (id bigint PRIMARY KEY, x float8, y float8, g boolean, success boolean,
                                     r float8, t float8, l float8, hl float8, ht float8, arm text)""")
    rows = []
    for i in range(3000):
        x = 1e9 + rng.gauss(0, 3) if i % 7 else rng.gauss(5, 2)   # large offsets exercise the mean's low part
        rows.append((i, x, x - rng.gauss(0.1, 1), rng.random() < 0.5, rng.random() < 0.3,
                     rng.random(), rng.random(), rng.uniform(0.05, 1), rng.random(), rng.random(),
                     'arm%d' % rng.randrange(4)))
    cur.executemany('INSERT INTO obs VALUES (%s)' % ', '.join(['%s'] * 11), rows)
    cur.execute('ANALYZE obs')

    def shard_states(expr, where='true'):
        """The per-shard states of expr (an aggregate) as text, shard by id % SHARDS."""
        return [r[0] for r in q('SELECT (%s)::text FROM obs WHERE %s GROUP BY id %% %d ORDER BY id %% %d'
                                % (expr, where, SHARDS, SHARDS))]

    # -- summarize / merge: count exact, mean and variance within RTOL
    states = shard_states('bandit.summarize(x)')
    ok('3 shard summaries', len(states) == SHARDS, states)
    one = q('SELECT bandit.n(s), bandit.mean(s), bandit.variance(s) FROM (SELECT bandit.summarize(x) s FROM obs) z')[0]
    merged = q('SELECT bandit.n(s), bandit.mean(s), bandit.variance(s) FROM (SELECT bandit.merge(u) s FROM unnest(%s) u) z'
               % literal_array(states, 'bandit.summary'))[0]
    ok('summarize: merged count exact', merged[0] == one[0] == 3000, (merged, one))
    close('summarize: merged mean', merged[1], one[1], RTOL)
    close('summarize: merged variance', merged[2], one[2], RTOL)

    # -- t_test_paired: summaries of x - y, one-sample test against 0
    one = composite(q1('SELECT bandit.t_test_paired(x, y)::text FROM obs'))
    states = shard_states('bandit.summarize(x - y)')
    merged = composite(q1('SELECT bandit.t_test_one_sample(bandit.merge(u), 0)::text FROM unnest(%s) u'
                          % literal_array(states, 'bandit.summary')))
    same_fields('t_test_paired via summarize(x - y)', merged, one)

    # -- raw-row t_test, every form: one summary per group per shard
    s1 = shard_states('bandit.summarize(x) FILTER (WHERE NOT g)')
    s2 = shard_states('bandit.summarize(x) FILTER (WHERE g)')
    forms = [('', 'false', "'two-sided'", '0.95'), (', true', 'true', "'two-sided'", '0.95'),
             (", false, 'less'", 'false', "'less'", '0.95'),
             (", true, 'greater', 0.9", 'true', "'greater'", '0.9'),
             (", false, 'less'::bandit.alternative", 'false', "'less'", '0.95'),
             (", true, 'greater'::bandit.alternative, 0.8", 'true', "'greater'", '0.8')]
    for extra, eq, alt, level in forms:
        one = composite(q1('SELECT bandit.t_test(x, g%s)::text FROM obs' % extra))
        merged = composite(q1('SELECT bandit.t_test(a, b, %s, %s, %s)::text FROM (SELECT bandit.merge(u) a FROM unnest(%s) u) p, '
                              '(SELECT bandit.merge(u) b FROM unnest(%s) u) r'
                              % (eq, alt, level, literal_array(s1, 'bandit.summary'), literal_array(s2, 'bandit.summary'))))
        same_fields('t_test(x, g%s) via summaries' % extra, merged, one)
    ok('enum and text alternatives agree',
       q1("SELECT bandit.t_test(x, g, false, 'less'::bandit.alternative) = bandit.t_test(x, g, false, 'less') FROM obs"))
    ok('a bad enum alternative is 22P02',
       sqlstate("SELECT bandit.t_test(x, g, false, 'lesser'::bandit.alternative) FROM obs") == '22P02')

    # -- beta_posterior(boolean): counts per shard
    one = composite(q1('SELECT bandit.beta_posterior(success)::text FROM obs'))
    counts = q('SELECT count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success) FROM obs GROUP BY id %% %d' % SHARDS)
    merged = [1.0 + sum(c[0] for c in counts), 1.0 + sum(c[1] for c in counts)]
    ok('beta_posterior(boolean) via counts: exact', merged == one, (merged, one))

    # -- beta_posterior(reward, prior_alpha, prior_beta): sums of r and 1 - r per shard
    one = composite(q1('SELECT bandit.beta_posterior(r, 2, 3)::text FROM obs'))
    sums = q('SELECT sum(r), sum(1 - r) FROM obs GROUP BY id %% %d' % SHARDS)
    merged = [2 + math.fsum(s[0] for s in sums), 3 + math.fsum(s[1] for s in sums)]
    same_fields('beta_posterior(r, 2, 3) via sums', merged, one)

    # -- ips, dr: term summaries; snips: its state type
    for name, args, state_agg, type_ in [
            ('ips', 'r, t, l', 'bandit.ips_terms', 'bandit.summary'),
            ('dr', 'r, t, l, hl, ht', 'bandit.dr_terms', 'bandit.summary'),
            ('snips', 'r, t, l', 'bandit.snips_state', 'bandit.snips_state')]:
        one = composite(q1('SELECT bandit.%s(%s)::text FROM obs' % (name, args)))
        states = shard_states('%s(%s)' % (state_agg, args))
        merged = composite(q1('SELECT bandit.estimate(bandit.merge(u))::text FROM unnest(%s) u'
                              % literal_array(states, type_)))
        same_fields('%s via %s' % (name, state_agg), merged, one)
        ok('%s: count exact' % name, merged[4] == one[4] == 3000, (merged, one))
        local = composite(q1('SELECT bandit.estimate(%s(%s))::text FROM obs' % (state_agg, args)))
        same_fields('%s = estimate(%s) on one node' % (name, state_agg), local, one)
    ok('estimate of an empty term summary is NULL', q1("SELECT bandit.estimate('(0,0,0)'::bandit.summary) IS NULL"))
    ok('snips with zero weights: NULL estimate, count kept',
       q1("SELECT bandit.estimate(bandit.snips_state(r, 0, l))::text FROM obs WHERE id < 5") == '(,,,,5)')
    ok('snips_state checks its rows as snips does (22003)',
       sqlstate('SELECT bandit.snips_state(r, t, 0) FROM obs') == '22003')
    ok('ips_terms checks its rows as ips does (22003)',
       sqlstate('SELECT bandit.ips_terms(r, 2, l) FROM obs') == '22003')
    ok('an impossible snips_state is 22023', sqlstate("SELECT '(1,2,3,4,5,6)'::bandit.snips_state") == '22023')
    ok('a malformed snips_state is 22P02', sqlstate("SELECT '(1,2,3)'::bandit.snips_state") == '22P02')

    # -- choice aggregates: per-arm statistics merged, then the choice at the coordinator
    for name, per_arm_one, per_arm_merged in [
            ('thompson_choice',
             'SELECT arm, (p).alpha, (p).beta FROM (SELECT arm, bandit.beta_posterior(success) p FROM obs GROUP BY arm) z',
             'SELECT arm, (1 + sum(s))::float8, (1 + sum(f))::float8 FROM (SELECT arm, count(*) FILTER (WHERE success) s, '
             'count(*) FILTER (WHERE NOT success) f FROM obs GROUP BY arm, id % 3) z GROUP BY arm'),
            ('ucb1_choice',
             'SELECT arm, bandit.n(s), bandit.mean(s) FROM (SELECT arm, bandit.summarize(r) s FROM obs GROUP BY arm) z',
             'SELECT arm, bandit.n(m), bandit.mean(m) FROM (SELECT arm, bandit.merge(s) m FROM '
             '(SELECT arm, bandit.summarize(r) s FROM obs GROUP BY arm, id % 3) y GROUP BY arm) z')]:
        want = q('SELECT * FROM (%s) a ORDER BY 1' % per_arm_one)
        got = q('SELECT * FROM (%s) a ORDER BY 1' % per_arm_merged)
        ok('%s: per-arm rows, same arms' % name, [w[0] for w in want] == [g[0] for g in got], (got, want))
        for w, g in zip(want, got):
            ok('%s: %s count exact' % (name, w[0]), g[1] == w[1], (g, w))
            close('%s: %s statistic' % (name, w[0]), g[2], w[2], RTOL)
        picks = []
        for per_arm in (per_arm_one, per_arm_merged):
            q1('SELECT bandit.set_seed(7)')
            picks.append(q1('SELECT bandit.%s(a, b::%s, c ORDER BY a) FROM (%s) z(a, b, c)'
                            % (name, 'bigint' if name == 'ucb1_choice' else 'float8', per_arm)))
        ok('%s at the coordinator = on one node (same seed)' % name, picks[0] == picks[1] is not None, picks)

    # -- ensemble: tallies merged
    cur.execute('CREATE TABLE votes (id int, action text, weight float8, score float8)')
    cur.executemany('INSERT INTO votes VALUES (%s, %s, %s, %s)',
                    [(i, 'a%d' % rng.randrange(5), rng.random(), rng.uniform(-1, 1)) for i in range(600)])
    for args in ('action, weight', 'action, weight, score'):
        want = q1('SELECT bandit.ensemble_choice(%s) FROM votes' % args)
        tallies = [r[0] for r in q('SELECT bandit.ensemble_tally(%s)::text FROM votes GROUP BY id %% 3' % args)]
        got = q1('SELECT bandit.ensemble_winner(bandit.merge(u)) FROM unnest(%s) u'
                 % literal_array(tallies, 'bandit.ensemble_tally'))
        ok('ensemble_choice(%s) via merged tallies' % args, got == want is not None, (got, want))
        want_totals = q('SELECT * FROM bandit.ensemble_totals((SELECT bandit.ensemble_tally(%s) FROM votes))' % args)
        got_totals = q('SELECT * FROM bandit.ensemble_totals((SELECT bandit.merge(u) FROM unnest(%s) u))'
                       % literal_array(tallies, 'bandit.ensemble_tally'))
        ok('ensemble totals (%s): same actions' % args, [a for a, _ in got_totals] == [a for a, _ in want_totals])
        for (a, g), (_, w) in zip(got_totals, want_totals):
            close('ensemble total %s (%s)' % (a, args), g, w, RTOL, 1e-300)

    # the new state aggregates under a forced parallel plan: partial states combined = serial
    serial = q('SELECT bandit.ips_terms(r, t, l)::text, bandit.dr_terms(r, t, l, hl, ht)::text, '
               'bandit.snips_state(r, t, l)::text FROM obs')[0]
    for setting in ('parallel_setup_cost = 0', 'parallel_tuple_cost = 0', 'min_parallel_table_scan_size = 0',
                    'max_parallel_workers_per_gather = 2', 'parallel_leader_participation = off'):
        cur.execute('SET ' + setting)
    plan = '\n'.join(r[0] for r in q('EXPLAIN SELECT bandit.ips_terms(r, t, l), bandit.dr_terms(r, t, l, hl, ht), '
                                      'bandit.snips_state(r, t, l) FROM obs'))
    ok('forced parallel plan has a Partial Aggregate', 'Partial Aggregate' in plan, plan)
    parallel = q('SELECT bandit.ips_terms(r, t, l)::text, bandit.dr_terms(r, t, l, hl, ht)::text, '
                 'bandit.snips_state(r, t, l)::text FROM obs')[0]
    cur.execute('RESET ALL')
    for what, p_, s_ in zip(('ips_terms', 'dr_terms', 'snips_state'), parallel, serial):
        pf = [float(f) for f in p_.strip('()').split(',')]
        sf = [float(f) for f in s_.strip('()').split(',')]
        ok('%s parallel: count exact' % what, pf[0] == sf[0] == 3000, (p_, s_))
        for i, (a, b) in enumerate(zip(pf[1:3], sf[1:3])):
            close('%s parallel [%d]' % (what, i + 1), a, b, RTOL, 1e-300)

    round_trips(q, q1, sqlstate, cur, rng)
    push_down(admin, conn, q, q1)
    conn.close()
    if not os.environ.get('KEEP'):
        admin.cursor().execute('DROP DATABASE IF EXISTS ' + DB)
    admin.close()
    return report()


def bits(x):
    return struct.pack('>d', x)


def random_double(rng, lo_exp=-1074, hi_exp=1023):
    """A random finite double: random bits, or an extreme."""
    while True:
        x = struct.unpack('>d', struct.pack('>Q', rng.getrandbits(64)))[0]
        if math.isfinite(x):
            return x


EXTREMES = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1e308,
            -1e308, 1.7976931348623157e308, 0.1, 1 / 3, 1e9 + 0.1, -123456.789e-300]


def round_trips(q, q1, sqlstate, cur, rng):
    """input(output(x)) bit for bit, binary = text, for every state type."""
    cases = []
    for k in range(400):
        n = rng.choice([0, 1, 2, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 1, 2 ** 63 - 1, rng.randrange(2, 2 ** 63)])
        if n == 0:
            mean, m2, low = rng.choice([0.0, -0.0]), 0.0, rng.choice([0.0, -0.0])
        else:
            mean = rng.choice(EXTREMES) if k % 3 == 0 else random_double(rng)
            m2 = 0.0 if n == 1 else abs(rng.choice(EXTREMES) if k % 5 == 0 else random_double(rng))
            # the low part of a double-double mean: at most |mean| eps
            low = rng.choice([0.0, -0.0, mean * 2.0 ** -53, -mean * 2.0 ** -60, math.ulp(mean) / 2 if mean else 0.0])
        cases.append((n, mean, m2, low))
    bad = 0
    for n, mean, m2, low in cases:
        text_in = '(%d,%r,%r,%r)' % (n, mean, m2, low)
        out = q1('SELECT %s::bandit.summary::text', text_in)
        fields = out.strip('()').split(',')
        parsed = (int(fields[0]), float(fields[1]), float(fields[2]), float(fields[3]) if len(fields) == 4 else 0.0)
        sent = bytes(q1('SELECT bandit.summary_send(%s::bandit.summary)', text_in))
        again = bytes(q1('SELECT bandit.summary_send(%s::text::bandit.summary)', out))
        if not (parsed[0] == n and all(bits(a) == bits(b) for a, b in zip(parsed[1:], (mean, m2, low)))
                and sent == struct.pack('>qddd', n, mean, m2, low) and again == sent):
            bad += 1
            if bad < 4:
                ok('summary round trip %s' % text_in, False, 'out %s' % out)
    ok('summary: %d random and extreme values round-trip text -> text and text = binary bit for bit' % len(cases),
       bad == 0, '%d failed' % bad)
    ok('summary: a mean low part beyond |mean| eps is 22023',
       sqlstate("SELECT '(2,1,0,1e-15)'::bandit.summary") == '22023')
    ok('summary: the 3-field form still reads', q1("SELECT '(3,2,2)'::bandit.summary::text") == '(3,2,2)')

    # states the aggregates make, with a mean low part, through text and through COPY BINARY
    cur.execute('CREATE TABLE st (k int, s bandit.summary, n bandit.snips_state, e bandit.ensemble_tally)')
    cur.execute("""INSERT INTO st SELECT k, bandit.summarize(1e9 + x * k), bandit.snips_state(x, y, 0.5 + y / 2),
                                         bandit.ensemble_tally('a' || (x * 5)::int, x * 1e-3 + k)
                   FROM (SELECT i % 50 k, random() x, random() y FROM generate_series(1, 5000) i) z GROUP BY k""")
    with_low = q1("SELECT count(*) FROM st WHERE s::text ~ '^\\([^,]*,[^,]*,[^,]*,'")
    ok('aggregated summaries carry a mean low part (%d of 50)' % with_low, with_low > 10, with_low)
    for col, send in (('s', 'bandit.summary_send'), ('n', 'bandit.snips_state_send'), ('e', 'bandit.ensemble_tally_send')):
        ok('%s: input(output(x)) bit for bit on 50 aggregated states' % col,
           q1('SELECT bool_and(%s(%s) = %s(%s::text::%s)) FROM st'
              % (send, col, send, col, q1("SELECT pg_typeof(%s)::text FROM st LIMIT 1" % col))))
    buf = io.BytesIO()
    cur.copy_expert('COPY st TO STDOUT (FORMAT binary)', buf)
    buf.seek(0)
    cur.execute('CREATE TABLE st2 (LIKE st)')
    cur.copy_expert('COPY st2 FROM STDIN (FORMAT binary)', buf)
    ok('COPY BINARY (send/recv) gives the text of the states back',
       q1('SELECT count(*) FROM st JOIN st2 USING (k) WHERE st.s::text = st2.s::text AND st.n::text = st2.n::text '
          'AND st.e::text = st2.e::text') == 50)
    # snips_state from random bits: the text of a valid state round-trips
    bad = 0
    for _ in range(200):
        w = abs(random_double(rng)) if rng.random() < 0.5 else rng.random()
        w2 = abs(random_double(rng)) if rng.random() < 0.5 else rng.random()
        state = (float(rng.randrange(2, 2 ** 53)), w, random_double(rng), w2, random_double(rng), abs(random_double(rng)))
        text_in = '(%s)' % ','.join(repr(v) for v in state)
        out = q1('SELECT %s::bandit.snips_state::text', text_in)
        sent = bytes(q1('SELECT bandit.snips_state_send(%s::bandit.snips_state)', text_in))
        again = bytes(q1('SELECT bandit.snips_state_send(%s::text::bandit.snips_state)', out))
        parsed = [float(f) for f in out.strip('()').split(',')]
        if not (sent == struct.pack('>6d', *state) and again == sent and [bits(p) for p in parsed] == [bits(s) for s in state]):
            bad += 1
    ok('snips_state: 200 random values round-trip bit for bit', bad == 0, '%d failed' % bad)


def push_down(admin, conn, q, q1):
    """Each form's aggregate is in the Remote SQL of a loopback postgres_fdw
    server, and the two-level query (states from two foreign tables, merged
    here) equals the local answer."""
    if not q1("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgres_fdw'"):
        print('SKIP push-down: postgres_fdw is not installed')
        return
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + REMOTE)
    admin.cursor().execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" % REMOTE)
    remote = psycopg2.connect(dbname=REMOTE)
    remote.autocommit = True
    rc = remote.cursor()
    rc.execute('CREATE EXTENSION bandit')
    rc.execute("""CREATE TABLE obs (id bigint PRIMARY KEY, x float8, y float8, g boolean, success boolean,
                                    r float8, t float8, l float8, hl float8, ht float8, arm text)""")
    cur = conn.cursor()
    cur.execute('SELECT * FROM obs')
    rc.executemany('INSERT INTO obs VALUES (%s)' % ', '.join(['%s'] * 11), cur.fetchall())
    rc.execute('ANALYZE obs')
    remote.close()
    cur.execute('CREATE EXTENSION postgres_fdw')
    opts = ["dbname '%s'" % REMOTE, "extensions 'bandit'"]
    for env, opt in (('PGHOST', 'host'), ('PGPORT', 'port')):
        if os.environ.get(env):
            opts.append("%s '%s'" % (opt, os.environ[env]))
    cur.execute('CREATE SERVER loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (%s)' % ', '.join(opts))
    cur.execute('CREATE USER MAPPING FOR CURRENT_USER SERVER loop' + user_mapping_options())
    cur.execute("""CREATE FOREIGN TABLE fobs (id bigint, x float8, y float8, g boolean, success boolean, r float8,
                   t float8, l float8, hl float8, ht float8, arm text) SERVER loop OPTIONS (table_name 'obs')""")

    def remote_sql(sql):
        plan = q1('EXPLAIN (VERBOSE, FORMAT JSON) ' + sql)
        found = []

        def walk(node):
            if 'Remote SQL' in node:
                found.append(node['Remote SQL'])
            for child in node.get('Plans', []):
                walk(child)
        walk(plan[0]['Plan'])
        return found

    pushed = [('t_test', 'x, g'), ('t_test', 'x, g, true'),
              ('t_test', "x, g, false, 'less'::bandit.alternative"),
              # the case: a text literal, which resolves to the enum overload
              ('t_test', "x, g, false, 'less'"), ('t_test', "x, g, true, 'greater', 0.9"),
              ('t_test', "x, g, true, 'greater'::bandit.alternative, 0.9"),
              ('t_test_paired', 'x, y'), ('ips', 'r, t, l'), ('snips', 'r, t, l'), ('dr', 'r, t, l, hl, ht'),
              ('beta_posterior', 'success'), ('beta_posterior', 'r, 1, 1'), ('beta_posterior', 'r, 0.5, 2.5'),
              ('summarize', 'x'), ('ips_terms', 'r, t, l'), ('dr_terms', 'r, t, l, hl, ht'),
              ('snips_state', 'r, t, l'), ('ensemble_tally', 'arm, r'), ('ensemble_choice', 'arm, r, t'),
              # the functions finishing pushed-down summaries, given an enum alternative
              ('t_test', "bandit.summarize(x) FILTER (WHERE NOT g), bandit.summarize(x) FILTER (WHERE g), "
                         "false, 'less'::bandit.alternative"),
              ('t_test_one_sample', "bandit.summarize(x - y), 0, 'greater'::bandit.alternative, 0.9")]
    for name, args in pushed:
        sql = 'SELECT bandit.%s(%s) FROM fobs' % (name, args)
        rs = remote_sql(sql)
        ok('%s(%s) pushes down' % (name, args), len(rs) == 1 and ('bandit.%s(' % name) in rs[0], rs)
        ok('%s(%s) through postgres_fdw = local' % (name, args),
           q1('SELECT (%s)::text' % sql) == q1('SELECT (SELECT bandit.%s(%s) FROM obs)::text' % (name, args)))
    # a text-typed alternative still works, through the implicit cast, run here (postgres_fdw
    # ships no cast through text input): the same answer
    sql = "SELECT bandit.t_test(x, g, false, 'less'::text) FROM fobs"
    ok('a text-typed alternative casts to bandit.alternative: the same answer',
       q1('SELECT (%s)::text' % sql) == q1("SELECT bandit.t_test(x, g, false, 'less')::text FROM obs"))
    # a finishing function given a text constant runs at the coordinator, over pushed-down summaries
    # (postgres_fdw ships no call whose input collation is not a foreign column's)
    sql = "SELECT bandit.t_test_one_sample(bandit.summarize(x - y), 0, 'less') FROM fobs"
    rs = remote_sql(sql)
    ok('t_test_one_sample with a text constant: the summary is pushed down, the test runs here',
       len(rs) == 1 and 'bandit.summarize(' in rs[0] and 'bandit.t_test' not in rs[0], rs)

    # the coordinator route: each shard's state pushed down, merged and finished here
    cur.execute("CREATE FOREIGN TABLE fobs_even (id bigint, r float8, t float8, l float8, x float8, g boolean) "
                "SERVER loop OPTIONS (table_name 'obs')")
    for name, state_agg in (('snips', 'snips_state'), ('ips', 'ips_terms')):
        sql = ('SELECT bandit.estimate(bandit.merge(s))::text FROM ('
               'SELECT bandit.%s(r, t, l) s FROM fobs_even WHERE id %% 2 = 0 UNION ALL '
               'SELECT bandit.%s(r, t, l) FROM fobs_even WHERE id %% 2 = 1) z' % (state_agg, state_agg))
        rs = remote_sql(sql)
        ok('%s route: both shards\' states are pushed down' % name,
           len(rs) == 2 and all(('bandit.%s(' % state_agg) in r for r in rs), rs)
        same_fields('%s route through postgres_fdw = one node' % name, composite(q1(sql)),
                    composite(q1('SELECT bandit.%s(r, t, l)::text FROM obs' % name)))
    sql = ("SELECT bandit.t_test(bandit.merge(a), bandit.merge(b), false, 'less')::text FROM ("
           "SELECT bandit.summarize(x) FILTER (WHERE NOT g) a, bandit.summarize(x) FILTER (WHERE g) b FROM fobs_even WHERE id % 2 = 0 "
           "UNION ALL SELECT bandit.summarize(x) FILTER (WHERE NOT g), bandit.summarize(x) FILTER (WHERE g) FROM fobs_even WHERE id % 2 = 1) z")
    rs = remote_sql(sql)
    ok('t_test route: both shards\' summaries are pushed down', len(rs) == 2 and all('bandit.summarize(' in r for r in rs), rs)
    same_fields("t_test(x, g, false, 'less') route through postgres_fdw = one node", composite(q1(sql)),
                composite(q1("SELECT bandit.t_test(x, g, false, 'less')::text FROM obs")))
    if os.environ.get('KEEP'):
        return
    cur.execute('DROP SERVER loop CASCADE')
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + REMOTE)


if __name__ == '__main__':
    sys.exit(main())
