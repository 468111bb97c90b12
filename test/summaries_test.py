"""Issue 12: analyze and decide from per-node summaries.

Databases of this cluster stand for the nodes: `whole` holds every unit of
each experiment, three shards hold a third each (same definitions, same salt,
so each unit gets the same variant), and a coordinator holds the definitions
only and reads the shards' bandit.experiment_summaries through postgres_fdw
(a view on each shard, a foreign table on it at the coordinator).  The
contract: analyze_summaries / decide_summaries at the coordinator = analyze /
decide on `whole` (counts and text exact, floats within 1e-12 relative), the
sequential looks included; independent values from scipy.
"""
import os
import random
import sys

import psycopg2
import psycopg2.extras
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import close, fresh_database, ok, query_helpers, report, user_mapping_options  # noqa: E402

PREFIX = 'bandit_summ_'
SHARDS = ['s1', 's2', 's3']
RTOL = 1e-12
rng = random.Random(12)

dbs = {}
for name in ['whole', 'coord'] + SHARDS:
    admin, conn = fresh_database(PREFIX + name)
    dbs[name] = conn
cur = {k: c.cursor() for k, c in dbs.items()}


def run(where, sql, *args):
    for w in where:
        cur[w].execute(sql, args or None)


NODES = ['whole', 'coord'] + SHARDS
DATA = ['whole'] + SHARDS


def shard_of(i):
    return SHARDS[i % 3]


# The route through postgres_fdw: on each shard a view over the function
# (a function scan cannot be a foreign table; quals on experiment and metric
# ship to the shard and restrict the lateral call to one experiment and metric).
VIEW = """
CREATE VIEW public.bandit_node_summaries WITH (security_invoker = true) AS
SELECT x.name AS experiment, m.metric, s.variant, s.assigned, s.summary, s.nonbinary
FROM bandit.experiment x
CROSS JOIN LATERAL (
    SELECT o.metric FROM bandit.observation o WHERE o.experiment = x.name
    UNION
    SELECT k FROM pg_catalog.jsonb_object_keys(CASE pg_catalog.jsonb_typeof(x.params->'metrics')
                                                WHEN 'object' THEN x.params->'metrics' ELSE '{}' END) k
    UNION
    SELECT k FROM pg_catalog.jsonb_array_elements_text(CASE pg_catalog.jsonb_typeof(x.params->'metrics')
                                                        WHEN 'array' THEN x.params->'metrics' ELSE '[]' END) k
) m(metric)
CROSS JOIN LATERAL bandit.experiment_shares(x.name, m.metric) s"""
run(SHARDS, VIEW)
# the same for CUPED: every (metric, covariate) pair of the node's metrics
run(SHARDS, VIEW.replace('bandit_node_summaries', 'bandit_node_cuped')
    .replace('SELECT x.name AS experiment, m.metric, s.variant, s.assigned, s.summary, s.nonbinary',
             'SELECT x.name AS experiment, m.metric, k.covariate, s.variant, s.assigned, s.summary, s.uncovered')
    .replace(') m(metric)', ') m(metric)\nCROSS JOIN LATERAL (SELECT DISTINCT o.metric FROM bandit.observation o '
             'WHERE o.experiment = x.name) k(covariate)')
    .replace('experiment_shares(x.name, m.metric)', 'experiment_summaries(x.name, m.metric, k.covariate)'))
c = cur['coord']
c.execute('CREATE EXTENSION postgres_fdw')
for s in SHARDS:
    c.execute("CREATE SERVER %s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %%s, port %%s, dbname %%s, "
              "extensions 'bandit')" % s, (os.environ.get('PGHOST', '/tmp'), os.environ.get('PGPORT', '5432'),
                                           PREFIX + s))
    c.execute('CREATE USER MAPPING FOR CURRENT_USER SERVER %s' % s + user_mapping_options())
    c.execute("CREATE FOREIGN TABLE %s_summaries (experiment text, metric text, variant text, assigned bigint, "
              "summary bandit.summary, nonbinary bigint) SERVER %s OPTIONS (table_name 'bandit_node_summaries')"
              % (s, s))
    c.execute("CREATE FOREIGN TABLE %s_cuped (experiment text, metric text, covariate text, variant text, "
              "assigned bigint, summary bandit.covariance_summary, uncovered bandit.summary) SERVER %s "
              "OPTIONS (table_name 'bandit_node_cuped')" % (s, s))
c.execute('CREATE VIEW node_cuped AS ' + ' UNION ALL '.join('SELECT * FROM %s_cuped' % s for s in SHARDS))
c.execute('CREATE VIEW node_summaries AS ' + ' UNION ALL '.join('SELECT * FROM %s_summaries' % s for s in SHARDS))

# the coordinator's query: sum and merge per variant, then analyze
MERGED = """
    SELECT array_agg(variant ORDER BY variant) v, array_agg(a ORDER BY variant) a,
           array_agg(s ORDER BY variant) s, array_agg(b ORDER BY variant) b
    FROM (SELECT variant, sum(assigned)::bigint a, bandit.merge(summary) s, sum(nonbinary)::bigint b
          FROM node_summaries WHERE experiment = %(e)s AND metric = %(m)s GROUP BY variant) t"""


def from_summaries(fn, e, m, with_nonbinary=True):
    c.execute('SELECT r.* FROM (%s) x, bandit.%s_summaries(%%(e)s, %%(m)s, x.v, x.a, x.s%s) r'
              % (MERGED, fn, ', x.b' if with_nonbinary else ''), {'e': e, 'm': m})
    return c.fetchall()


def whole(fn, e, m):
    cur['whole'].execute('SELECT * FROM bandit.%s(%%s, %%s)' % fn, (e, m))
    return cur['whole'].fetchall()


worst = [0, 0, 0.0]     # floats that differ, that are equal, the largest relative difference


def same_rows(what, got, want):
    ok(what + ': row count', len(got) == len(want), '%d vs %d' % (len(got), len(want)))
    for g, w in zip(got, want):
        for i, (x, y) in enumerate(zip(g, w)):
            if isinstance(y, float) and isinstance(x, float):
                worst[1 if x == y else 0] += 1
                if x != y and y != 0 and x == x:
                    worst[2] = max(worst[2], abs(x - y) / abs(y))
                if x != y:
                    close('%s: %s column %d' % (what, w[0], i), x, y, RTOL, 1e-300)
            else:
                ok('%s: %s column %d' % (what, w[0], i), x == y, '%r vs %r' % (x, y))


def create(e, variants, params, allocation=None):
    params = dict(params, salt='salt-' + e)
    for w in NODES:
        cur[w].execute('SELECT bandit.create_experiment(%s, %s, %s, %s::jsonb)',
                       (e, variants, allocation, psycopg2.extras.Json(params)))
        cur[w].execute('SELECT bandit.start_experiment(%s)', (e,))


def add_units(e, first, last, values):
    """Assigns units first..last on whole and their shard; records metric m = values(variant)."""
    for i in range(first, last + 1):
        u = 'u%d' % i
        cur['whole'].execute('SELECT bandit.assign(%s, %s)', (e, u))
        v = cur['whole'].fetchone()[0]
        cur[shard_of(i)].execute('SELECT bandit.assign(%s, %s)', (e, u))
        ok('%s: same variant on the shard' % e, cur[shard_of(i)].fetchone()[0] == v)
        x = values(v)
        if x is not None:
            for w in ('whole', shard_of(i)):
                cur[w].execute("SELECT bandit.record_metric(%s, %s, 'm', %s)", (e, u, x))
    return


raw = {}


def observed(e):
    cur['whole'].execute("SELECT variant, array_agg(value) FROM bandit.observation WHERE experiment = %s "
                         "AND metric = 'm' GROUP BY variant", (e,))
    return dict(cur['whole'].fetchall())


def check(e, label=None, inferred=True):
    label = label or e
    want = whole('analyze', e, 'm')
    same_rows(label + ' analyze_summaries = analyze', from_summaries('analyze', e, 'm'), want)
    if inferred:
        # 5 arguments, binary or not inferred from the summaries: the sequential
        # looks would be recorded twice, so only for fixed-horizon experiments
        same_rows(label + ' analyze_summaries (5 arguments) = analyze',
                  from_summaries('analyze', e, 'm', False), want)
    d = whole('decide', e, 'm')
    same_rows(label + ' decide_summaries = decide', from_summaries('decide', e, 'm'), d)
    return want, d


# 1. continuous, three variants: Welch against scipy
create('cont', ['a', 'b', 'c'], {'min_sample_size': 50})
mu = {'a': 10.0, 'b': 10.6, 'c': 9.9}
add_units('cont', 1, 450, lambda v: rng.gauss(mu[v], 2.0))
rows, d = check('cont')
obs = observed('cont')
for r in rows[1:]:
    t = stats.ttest_ind(obs[r[0]], obs['a'], equal_var=False)
    close('cont: Welch p of %s = scipy' % r[0], r[6], t.pvalue, 1e-9)
    ok('cont: test welch', r[10] == 'welch', r[10])
ok('cont: a decision', d[0][0] in ('continue', 'stop_success'), d)
cur['whole'].execute("SELECT count(*) FILTER (WHERE variant = 'a'), count(*) FILTER (WHERE variant = 'b'), "
                     "count(*) FILTER (WHERE variant = 'c') FROM bandit.assignment WHERE experiment = 'cont'")
counts = list(cur['whole'].fetchone())
close('cont: srm p = scipy chisquare', rows[0][16], stats.chisquare(counts).pvalue, 1e-9)

# 2. binary with small counts: Fisher's exact test against scipy
create('fish', ['ctl', 'trt'], {'min_sample_size': 10})
add_units('fish', 1, 60, lambda v: float(rng.random() < (0.04 if v == 'ctl' else 0.25)))
rows, d = check('fish')
obs = observed('fish')
st, nt, sc, nc = sum(obs['trt']), len(obs['trt']), sum(obs['ctl']), len(obs['ctl'])
ok('fish: test fisher', rows[1][10] == 'fisher', rows[1][10])
close('fish: Fisher p = scipy', rows[1][6],
      stats.fisher_exact([[st, nt - st], [sc, nc - sc]]).pvalue, 1e-9)

# 3. binary with large counts: chi-square with Yates' correction against scipy
create('chi', ['ctl', 'trt'], {})
add_units('chi', 1, 600, lambda v: float(rng.random() < (0.3 if v == 'ctl' else 0.4)))
rows, d = check('chi')
obs = observed('chi')
st, nt, sc, nc = sum(obs['trt']), len(obs['trt']), sum(obs['ctl']), len(obs['ctl'])
ok('chi: test chi-square', rows[1][10] == 'chi-square', rows[1][10])
close('chi: chi-square p = scipy', rows[1][6],
      stats.chi2_contingency([[st, nt - st], [sc, nc - sc]], correction=True)[1], 1e-9)

# 4. a broken split: 150 more units in one variant, spread over the shards
create('srm', ['ctl', 'trt'], {'min_sample_size': 10})
add_units('srm', 1, 300, lambda v: rng.gauss(1.0 if v == 'ctl' else 1.5, 1.0))
for i in range(1001, 1151):
    u = 'u%d' % i
    for w in ('whole', shard_of(i)):
        cur[w].execute("INSERT INTO bandit.assignment (experiment, unit_id, variant) VALUES ('srm', %s, 'trt')", (u,))
        cur[w].execute("INSERT INTO bandit.observation (experiment, unit_id, variant, metric, value) "
                       "VALUES ('srm', %s, 'trt', 'm', 3)", (u,))
rows, d = check('srm')
cur['whole'].execute("SELECT count(*) FILTER (WHERE variant = 'ctl'), count(*) FILTER (WHERE variant = 'trt') "
                     "FROM bandit.assignment WHERE experiment = 'srm'")
counts = list(cur['whole'].fetchone())
close('srm: srm p = scipy chisquare', rows[0][16], stats.chisquare(counts).pvalue, 1e-9)
ok('srm: flagged (p < 0.001)', rows[0][16] < 0.001, rows[0][16])
ok('srm: not significant despite a large effect', rows[1][11] is False and rows[1][6] < 1e-6, rows[1])
ok('srm: decide continues on the mismatch', d[0][0] == 'continue' and 'sample ratio mismatch' in d[0][2], d)
# a shard's counts left out: the coordinator's SRM sees the mismatch of what it is given
c.execute("SELECT srm_p_value FROM (%s) x, bandit.analyze_summaries('srm', 'm', x.v, x.a, x.s) r LIMIT 1"
          % MERGED.replace('FROM node_summaries', 'FROM s1_summaries'), {'e': 'srm', 'm': 'm'})
ok('srm: one shard alone also flagged', c.fetchone()[0] < 0.001)

# 5. sequential: the looks are recorded at the coordinator and follow whole's
create('seq', ['ctl', 'trt'], {'sequential': True, 'min_sample_size': 20})
for look, (first, last) in enumerate([(1, 60), (61, 140), (141, 260)]):
    add_units('seq', first, last, lambda v: rng.gauss(5.0 if v == 'ctl' else 5.4, 1.0))
    rows, d = check('seq', 'seq look %d' % (look + 1), inferred=False)
    ok('seq look %d: test msprt' % (look + 1), rows[1][10] == 'msprt', rows[1][10])
c.execute("SELECT variant, n, p_value, ci_lower, ci_upper FROM bandit.sequential_look WHERE experiment = 'seq'")
coord_looks = c.fetchall()
cur['whole'].execute("SELECT variant, n, p_value, ci_lower, ci_upper FROM bandit.sequential_look "
                     "WHERE experiment = 'seq'")
same_rows('seq: coordinator sequential_look = whole', coord_looks, cur['whole'].fetchall())
for s in SHARDS:
    cur[s].execute("SELECT count(*) FROM bandit.sequential_look")
    ok('seq: nothing recorded on shard %s' % s, cur[s].fetchone()[0] == 0)

# 5b. CUPED: the covariance summaries merged, then analyze_summaries with the covariate
import numpy as np  # noqa: E402
create('cup', ['A', 'B'], {})
pre = {}
for i in range(1, 801):
    u = 'u%d' % i
    cur['whole'].execute('SELECT bandit.assign(%s, %s)', ('cup', u))
    v = cur['whole'].fetchone()[0]
    cur[shard_of(i)].execute('SELECT bandit.assign(%s, %s)', ('cup', u))
    x = rng.gauss(50, 10)
    ys = [0.8 * x + rng.gauss(0, 5) + (1.0 if v == 'B' else 0.0) for _ in range(2 if i % 25 == 0 else 1)]
    for w in ('whole', shard_of(i)):
        for y in ys:
            cur[w].execute("SELECT bandit.record_metric('cup', %s, 'm', %s)", (u, y))
        if i % 10 != 0:
            cur[w].execute("SELECT bandit.record_metric('cup', %s, 'pre', %s)", (u, x))
    pre[u] = (v, sum(ys) / len(ys), x if i % 10 != 0 else None)
cur['whole'].execute("SELECT * FROM bandit.analyze('cup', 'm', 'pre')")
want = cur['whole'].fetchall()
c.execute("""SELECT r.* FROM (
    SELECT array_agg(variant) v, array_agg(a) a, array_agg(s) s, array_agg(y) y
    FROM (SELECT variant, sum(assigned)::bigint a, bandit.merge(summary) s, bandit.merge(uncovered) y
          FROM node_cuped WHERE experiment = 'cup' AND metric = 'm' AND covariate = 'pre' GROUP BY variant) t) x,
    bandit.analyze_summaries('cup', 'm', 'pre', x.v, x.a, x.s, x.y) r""")
same_rows('cup analyze_summaries with a covariate = analyze with it', c.fetchall(), want)
ok('cup: test welch (cuped)', want[1][10] == 'welch (cuped)', want[1][10])
# independent: numpy's theta and scipy's Welch on the adjusted values
units = list(pre.values())
xs = np.array([x for _, _, x in units if x is not None])
xu = np.array([x if x is not None else xs.mean() for _, _, x in units])
yu = np.array([y for _, y, _ in units])
theta = np.cov(xu, yu)[0, 1] / np.var(xu, ddof=1)
adj = yu - theta * (xu - xu.mean())
vs = np.array([v for v, _, _ in units])
close('cup: p = scipy Welch on Y - theta (X - mean X)', want[1][6],
      stats.ttest_ind(adj[vs == 'B'], adj[vs == 'A'], equal_var=False).pvalue, 1e-9)
# the merged covariance summary = one node's, counts exact
cur['whole'].execute("SELECT variant, (summary).* FROM bandit.experiment_summaries('cup', 'm', 'pre') ORDER BY 1")
one = cur['whole'].fetchall()
c.execute("SELECT variant, (bandit.merge(summary)).* FROM node_cuped WHERE experiment = 'cup' AND metric = 'm' "
          "AND covariate = 'pre' GROUP BY variant ORDER BY 1")
same_rows('cup: merged covariance summaries = one node', c.fetchall(), one)
c.execute("SELECT s::text::bandit.covariance_summary = s, s::text FROM (SELECT bandit.merge(summary) s FROM node_cuped "
          "WHERE experiment = 'cup' AND metric = 'm' AND covariate = 'pre') t")
r = c.fetchone()
ok('covariance summary: text round trip exact', r[0] is True, r[1])
for bad in ["ROW(-1, 0, 0, 0, 0, 0)", "ROW(2, 'NaN', 0, 1, 1, 0)", "ROW(2, 0, 0, 1, 1, 5)", "ROW(1, 0, 0, 1, 0, 0)"]:
    got = query_helpers(c)[2]("SELECT bandit.merge(s) FROM (VALUES (%s::bandit.covariance_summary)) v(s)" % bad)
    ok('covariance summary %s rejected: 22023' % bad, got == '22023', got)

# 6. binary inferred from the summaries alone (no nonbinary, nothing declared)
c.execute("SELECT bandit.summaries_binary(ARRAY[bandit.make_summary(10, 0.3, sqrt(0.3 * 0.7 * 10 / 9))])")
ok('summaries_binary: 3 of 10', c.fetchone()[0] is True)
c.execute("SELECT bandit.summaries_binary(ARRAY[bandit.make_summary(10, 0.3, 0.2)])")
ok('summaries_binary: continuous', c.fetchone()[0] is False)
c.execute("SELECT bandit.summaries_binary(ARRAY[(SELECT bandit.summarize(0.25 + (i % 2) * 0.5) "
          "FROM generate_series(1, 10) i)])")
ok('summaries_binary: 0.25 and 0.75', c.fetchone()[0] is False)

# 7. the route: quals ship to the shards
c.execute("EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM s1_summaries WHERE experiment = 'cont' AND metric = 'm'")
plan = '\n'.join(r[0] for r in c.fetchall())
ok('postgres_fdw ships the experiment and metric quals',
   "WHERE ((experiment = 'cont')) AND ((metric = 'm'))" in plan and 'Filter' not in plan, plan)
c.execute("EXPLAIN (VERBOSE, COSTS OFF) SELECT variant, sum(assigned), bandit.merge(summary) FROM s1_summaries "
          "WHERE experiment = 'cont' AND metric = 'm' GROUP BY variant")
plan = '\n'.join(r[0] for r in c.fetchall())
ok('postgres_fdw ships the per-shard merge (extensions bandit)', 'bandit.merge(summary)' in plan
   and 'GROUP BY' in plan, plan)
cur['s1'].execute("EXPLAIN (COSTS OFF) SELECT * FROM bandit_node_summaries WHERE experiment = 'cont' AND metric = 'm'")
plan = '\n'.join(r[0] for r in cur['s1'].fetchall())
ok('on the shard one experiment is looked up by key', 'experiment_pkey' in plan, plan)

# 8. errors
q, q1, sqlstate = query_helpers(c)
A = "ARRAY['a','b','c'], ARRAY[1,2,3]::bigint[], ARRAY[NULL,NULL,NULL]::bandit.summary[]"
ok('fine arguments run', sqlstate("SELECT * FROM bandit.analyze_summaries('cont', 'm', %s)" % A) is None)
for what, sql, code in [
        ('NULL assigned element', "'cont', 'm', ARRAY['a','b','c'], ARRAY[1,NULL,3]::bigint[], ARRAY[NULL,NULL,NULL]::bandit.summary[]", '22004'),
        ('missing variant', "'cont', 'm', ARRAY['a','b'], ARRAY[1,2]::bigint[], ARRAY[NULL,NULL]::bandit.summary[]", '22004'),
        ('NULL assigned', "'cont', 'm', ARRAY['a','b','c'], NULL, ARRAY[NULL,NULL,NULL]::bandit.summary[]", '22004'),
        ('NULL metric', "'cont', NULL, " + A, '22004'),
        ('NULL variant', "'cont', 'm', ARRAY['a',NULL,'c'], ARRAY[1,2,3]::bigint[], ARRAY[NULL,NULL,NULL]::bandit.summary[]", '22004'),
        ('lengths', "'cont', 'm', ARRAY['a','b','c'], ARRAY[1,2]::bigint[], ARRAY[NULL,NULL,NULL]::bandit.summary[]", '2202E'),
        ('nonbinary length', "'cont', 'm', " + A + ", ARRAY[0]::bigint[]", '2202E'),
        ('2-D', "'cont', 'm', ARRAY[['a','b'],['c','d']], ARRAY[[1,2],[3,4]]::bigint[], ARRAY[[NULL,NULL],[NULL,NULL]]::bandit.summary[]", '2202E'),
        # elements are paired by position: an array from index 0 or 5 would shift them
        ('variants from index 0', "'cont', 'm', '[0:2]={a,b,c}'::text[], ARRAY[1,2,3]::bigint[], ARRAY[NULL,NULL,NULL]::bandit.summary[]", '2202E'),
        ('assigned from index 0', "'cont', 'm', ARRAY['a','b','c'], '[0:2]={1,2,3}'::bigint[], ARRAY[NULL,NULL,NULL]::bandit.summary[]", '2202E'),
        ('summaries from index 5', "'cont', 'm', ARRAY['a','b','c'], ARRAY[1,2,3]::bigint[], '[5:7]={NULL,NULL,NULL}'::bandit.summary[]", '2202E'),
        ('nonbinary from index 0', "'cont', 'm', " + A + ", '[0:2]={0,0,0}'::bigint[]", '2202E'),
        ('unknown variant', "'cont', 'm', ARRAY['a','b','x'], ARRAY[1,2,3]::bigint[], ARRAY[NULL,NULL,NULL]::bandit.summary[]", '22023'),
        ('duplicate variant', "'cont', 'm', ARRAY['a','b','b','c'], ARRAY[1,2,3,4]::bigint[], ARRAY[NULL,NULL,NULL,NULL]::bandit.summary[]", '22023'),
        ('negative count', "'cont', 'm', ARRAY['a','b','c'], ARRAY[1,-2,3]::bigint[], ARRAY[NULL,NULL,NULL]::bandit.summary[]", '22003'),
        ('unknown experiment', "'nope', 'm', " + A, '42704')]:
    for fn in ('analyze', 'decide'):
        got = sqlstate('SELECT * FROM bandit.%s_summaries(%s)' % (fn, sql))
        ok('%s_summaries %s: %s' % (fn, what, code), got == code, got)
try:
    c.execute("SELECT * FROM bandit.analyze_summaries('cont', 'm', ARRAY['a','b','c'], ARRAY[1,NULL,3]::bigint[], "
              "ARRAY[NULL,NULL,NULL]::bandit.summary[])")
    ok('NULL count message', False)
except psycopg2.Error as e:
    ok('NULL count message names the variant', 'variant "b"' in e.pgerror and 'assigned[2]' in e.pgerror, e.pgerror)
cur['whole'].execute("SELECT pg_get_function_result('bandit.experiment_summaries(text, text)'::regprocedure)")
ok('experiment_summaries(text, text) returns exactly the contract\'s columns',
   cur['whole'].fetchone()[0] == 'TABLE(variant text, assigned bigint, summary bandit.summary)')
for signature in ('analyze_summaries', 'decide_summaries'):
    cur['whole'].execute("SELECT to_regprocedure('bandit.%s(text, text, text[], bigint[], bandit.summary[])') "
                         "IS NOT NULL" % signature)
    ok('%s has the contract\'s five-argument signature' % signature, cur['whole'].fetchone()[0])
for sql, code in [("SELECT * FROM bandit.experiment_summaries('cont', NULL)", '22004'),
                  ("SELECT * FROM bandit.experiment_summaries('nope', 'm')", '42704')]:
    got = sqlstate(sql)
    ok('experiment_summaries %s' % sql, got == code, got)
ok('a failed call records no look', q1("SELECT count(*) FROM bandit.sequential_look WHERE experiment = 'cont'") == 0)

for what, sql, code in [
        ('NULL covariate', ("NULL", "'{A,B}'", "'{1,1}'", "'{NULL,NULL}'", "'{NULL,NULL}'"), '22004'),
        ('uncovered length', ("'pre'", "'{A,B}'", "'{1,1}'", "'{NULL,NULL}'", "'{NULL}'"), '2202E'),
        ('NULL count', ("'pre'", "'{A,B}'", "'{1,NULL}'", "'{NULL,NULL}'", "'{NULL,NULL}'"), '22004'),
        ('missing count', ("'pre'", "'{A}'", "'{1}'", "'{NULL}'", "'{NULL}'"), '22004')]:
    got = sqlstate("SELECT * FROM bandit.analyze_summaries('cup', 'm', %s::text, %s::text[], %s::bigint[], "
                   "%s::bandit.covariance_summary[], %s::bandit.summary[])" % sql)
    ok('analyze_summaries with a covariate, %s: %s' % (what, code), got == code, got)

# 9. privilege: read on the experiment
w = cur['s1']
w.execute('DROP ROLE IF EXISTS bandit_summ_reader')
w.execute('CREATE ROLE bandit_summ_reader')
w.execute('SET ROLE bandit_summ_reader')
_, _, wstate = query_helpers(w)
ok('experiment_summaries without read: 42501', wstate("SELECT * FROM bandit.experiment_summaries('cont', 'm')") == '42501')
w.execute('RESET ROLE')
w.execute("SELECT bandit.grant('experiment', 'cont', 'bandit_summ_reader', 'read')")
w.execute('SET ROLE bandit_summ_reader')
ok('experiment_summaries with read', wstate("SELECT * FROM bandit.experiment_summaries('cont', 'm')") is None)
w.execute('RESET ROLE')
w.execute("SELECT bandit.revoke('experiment', 'cont', 'bandit_summ_reader', 'read')")
w.execute('DROP ROLE bandit_summ_reader')
c.execute('DROP ROLE IF EXISTS bandit_summ_reader')
c.execute('CREATE ROLE bandit_summ_reader')
c.execute('SET ROLE bandit_summ_reader')
for fn in ('analyze', 'decide'):
    ok('%s_summaries without read: 42501' % fn,
       sqlstate("SELECT * FROM bandit.%s_summaries('cont', 'm', %s)" % (fn, A)) == '42501')
c.execute('RESET ROLE')
c.execute('DROP ROLE bandit_summ_reader')

print('floats compared: %d equal, %d within rounding (largest relative difference %.2g)' % (worst[1], worst[0], worst[2]))
for conn in dbs.values():
    conn.close()
admin = psycopg2.connect(dbname='postgres')
admin.autocommit = True
for name in NODES:
    admin.cursor().execute('DROP DATABASE IF EXISTS %s%s' % (PREFIX, name))
sys.exit(report())
