#!/usr/bin/python3
"""Oracle and simulation test of the experiments layer (API.md section 6,
src/experiment.c).  analyze against scipy / statsmodels on generated data
(chi-square with Yates or Fisher, Welch, Wilson and t intervals, Cohen's h and
d, Holm, prob_best and expected_loss by quadrature), srm_check against
scipy.stats.chisquare, the hash split, stickiness, independence and stratified
blocks of assign, mSPRT against its formula, a peeking simulation (A/A
experiments analyzed after every batch: sequential p-values keep the rate of
false positives at alpha, fixed-horizon ones do not), decide, CUPED, and bad
input (SQLSTATE, and no table changes).  Seeds are fixed, so the outcome is
deterministic.  Run inside a cluster (test/run); prints "N passed, N failed"."""
import io
import json
import math
import sys
import time
import warnings

import numpy as np
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.proportion import proportion_confint

from testlib import close, fresh_database, ok, query_helpers, report

warnings.simplefilter('ignore')
started = time.time()
SEED = 20240617
print('seed %d' % SEED)
rng = np.random.default_rng(SEED)
RTOL = 1e-8          # statistics against scipy
BLOCK = 10           # permuted block of allocation [0.5, 0.3, 0.2]: whole counts 5, 3, 2
TABLES = ['experiment', 'variant', 'assignment', 'observation', 'experiment_audit', 'sequential_look']
COLUMNS = ['variant', 'n', 'mean', 'ci_lower', 'ci_upper', 'diff', 'p_value', 'adjusted_p_value', 'effect_size',
           'prob_best', 'test', 'significant', 'diff_ci_lower', 'diff_ci_upper', 'relative_lift',
           'expected_loss', 'srm_p_value', 'warning']

admin, conn = fresh_database('bandit_experiment_test')
cur = conn.cursor()
q, q1, sqlstate = query_helpers(cur)


def create(name, variants, allocation=None, start=True, **params):
    """A new experiment, started unless start is false; salted with its name (deterministic) unless salt is given."""
    params.setdefault('salt', name)
    if params['salt'] is None:
        del params['salt']
    cur.execute('SELECT bandit.create_experiment(%s, %s::text[], %s::float8[], %s::jsonb)',
                (name, variants, allocation, json.dumps(params)))
    if start:
        cur.execute('SELECT bandit.start_experiment(%s)', (name,))


def assign(experiment, units):
    """Assigns the units in one statement; their variants, in order."""
    return [r[0] for r in q('SELECT bandit.assign(%s, u) FROM unnest(%s::text[]) WITH ORDINALITY s(u, i) ORDER BY i',
                            experiment, list(units))]


def record(experiment, metric, units, values):
    n = q1('SELECT bandit.record_metrics(%s, %s, %s::text[], %s::float8[])',
           experiment, metric, list(units), [float(v) for v in values])
    ok('record_metrics %s/%s returns the rows inserted' % (experiment, metric), n == len(units),
       'got %r, want %d' % (n, len(units)))


def analyze(experiment, metric, covariate=None):
    """analyze's rows as dicts, in the order returned."""
    if covariate is None:
        rows = q('SELECT * FROM bandit.analyze(%s, %s)', experiment, metric)
    else:
        rows = q('SELECT * FROM bandit.analyze(%s, %s, %s)', experiment, metric, covariate)
    names = [d[0] for d in cur.description]
    ok('analyze(%s, %s) columns in the order of the spec' % (experiment, metric), names[:len(COLUMNS)] == COLUMNS,
       repr(names))
    return [dict(zip(names, r)) for r in rows]


def decide(name, metric='m'):
    return q('SELECT decision, winner, reason FROM bandit.decide(%s, %s)', name, metric)[0]


def counts():
    """Rows of every table of schema bandit."""
    tables = [r[0] for r in q("SELECT relname FROM pg_class WHERE relnamespace = 'bandit'::regnamespace "
                              "AND relkind = 'r' ORDER BY relname")]
    return [(t, q1('SELECT count(*) FROM bandit.%s' % t)) for t in tables]


def holm(ps):
    """Holm's step-down adjusted p-values, by hand."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out = [0.0] * len(ps)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def quad(f, lo, hi, points):
    return integrate.quad(f, lo, hi, points=points, epsabs=1e-14, epsrel=1e-12, limit=500)[0]


def bayes(pdfs, cdfs, locs, scales, lo, hi):
    """P(i best) and E[max - theta_i] of independent posteriors by quadrature."""
    a = max(lo, min(locs) - 12 * max(scales))
    b = min(hi, max(locs) + 12 * max(scales))
    pts = sorted(set(m + k * s for m, s in zip(locs, scales) for k in (-2, 0, 2) if a < m + k * s < b))
    pb, emax = [], 0.0
    for i in range(len(pdfs)):
        def dens(x, i=i):
            v = pdfs[i](x)
            for j in range(len(pdfs)):
                if j != i:
                    v *= cdfs[j](x)
            return v
        pb.append(quad(dens, a, b, pts))
        emax += quad(lambda x: x * dens(x), a, b, pts)
    return pb, [emax - m for m in locs]


def expected_rows(groups, binary, alpha, assigned, allocation):
    """The analyze rows per the spec, from scipy/statsmodels; groups = [(variant, values)] control first."""
    rows = []
    c = np.asarray(groups[0][1], dtype=float)
    for name, vals in groups:
        x = np.asarray(vals, dtype=float)
        n, m = len(x), float(x.mean())
        r = {'variant': name, 'n': n, 'mean': m}
        if binary:
            s = int(x.sum())
            r['ci_lower'], r['ci_upper'] = proportion_confint(s, n, alpha, method='wilson')
        else:
            r['ci_lower'], r['ci_upper'] = stats.t.interval(1 - alpha, n - 1, m, x.std(ddof=1) / math.sqrt(n))
        if name != groups[0][0]:
            nc, mc = len(c), float(c.mean())
            r['diff'] = m - mc
            r['relative_lift'] = (m - mc) / mc if mc != 0 else None
            if binary:
                sc = int(c.sum())
                table = [[s, n - s], [sc, nc - sc]]
                if stats.contingency.expected_freq(table).min() < 5:
                    r['test'], r['p_value'] = 'fisher', stats.fisher_exact(table)[1]
                else:
                    r['test'], r['p_value'] = 'chi-square', stats.chi2_contingency(table, correction=True)[1]
                se = math.sqrt(m * (1 - m) / n + mc * (1 - mc) / nc)
                z = stats.norm.ppf(1 - alpha / 2)
                r['diff_ci_lower'], r['diff_ci_upper'] = r['diff'] - z * se, r['diff'] + z * se
                r['effect_size'] = 2 * math.asin(math.sqrt(m)) - 2 * math.asin(math.sqrt(mc))
            else:
                r['test'], r['p_value'] = 'welch', stats.ttest_ind(x, c, equal_var=False).pvalue
                v1, v2 = x.var(ddof=1) / n, c.var(ddof=1) / nc
                df = (v1 + v2) ** 2 / (v1 ** 2 / (n - 1) + v2 ** 2 / (nc - 1))
                half = stats.t.ppf(1 - alpha / 2, df) * math.sqrt(v1 + v2)
                r['diff_ci_lower'], r['diff_ci_upper'] = r['diff'] - half, r['diff'] + half
                pooled = math.sqrt(((n - 1) * x.var(ddof=1) + (nc - 1) * c.var(ddof=1)) / (n + nc - 2))
                r['effect_size'] = r['diff'] / pooled
        rows.append(r)
    ps = [r['p_value'] for r in rows[1:]]
    adj = holm(ps)
    sm = multipletests(ps, method='holm')[1]
    ok('hand Holm = statsmodels multipletests(holm)', np.allclose(adj, sm, rtol=1e-14, atol=0), '%r %r' % (adj, sm))
    srm = stats.chisquare(assigned, [sum(assigned) * a for a in allocation]).pvalue
    for r, a in zip(rows[1:], adj):
        r['adjusted_p_value'] = a
        r['significant'] = a < alpha and srm >= 0.001
    if binary:
        post = [(1 + int(np.sum(v)), 1 + len(v) - int(np.sum(v))) for _, v in groups]
        dists = [stats.beta(a, b) for a, b in post]
        lo, hi = 0.0, 1.0
    else:
        dists = [stats.norm(np.mean(v), np.std(v, ddof=1) / math.sqrt(len(v))) for _, v in groups]
        lo, hi = -math.inf, math.inf
    pb, loss = bayes([d.pdf for d in dists], [d.cdf for d in dists], [d.mean() for d in dists],
                     [d.std() for d in dists], lo, hi)
    for r, p, el in zip(rows, pb, loss):
        r['prob_best'], r['expected_loss'], r['srm_p_value'] = p, el, srm
    return rows


def compare(what, got, want, alpha):
    ok('%s: variants in position order' % what, [g['variant'] for g in got] == [w['variant'] for w in want],
       '%r' % [g['variant'] for g in got])
    if len(got) != len(want):
        return
    ok('%s: prob_best sums to 1' % what, abs(sum(g['prob_best'] or 0 for g in got) - 1) < 1e-9,
       repr([g['prob_best'] for g in got]))
    for g, w in zip(got, want):
        tag = '%s %s' % (what, w['variant'])
        ok('%s n' % tag, g['n'] == w['n'], 'got %r, want %r' % (g['n'], w['n']))
        for col in ('mean', 'ci_lower', 'ci_upper', 'srm_p_value'):
            close('%s %s' % (tag, col), g[col], w[col], RTOL, 1e-300)
        scale = max(abs(w['mean']), 1e-3)
        close('%s prob_best (quadrature)' % tag, g['prob_best'], w['prob_best'], 0, 1e-7)
        close('%s expected_loss (quadrature)' % tag, g['expected_loss'], w['expected_loss'], 0, 1e-7 * scale)
        ok('%s no warning' % tag, g['warning'] is None, repr(g['warning']))
        if 'diff' not in w:
            ok('%s control row: test columns NULL' % tag,
               all(g[c] is None for c in ('diff', 'p_value', 'adjusted_p_value', 'effect_size', 'significant',
                                          'diff_ci_lower', 'diff_ci_upper', 'relative_lift')), repr(g))
            continue
        ok('%s test = %s' % (tag, w['test']), g['test'] == w['test'], repr(g['test']))
        for col in ('p_value', 'adjusted_p_value', 'effect_size', 'diff', 'relative_lift'):
            if w[col] is None:
                ok('%s %s NULL' % (tag, col), g[col] is None, repr(g[col]))
            else:
                close('%s %s' % (tag, col), g[col], w[col], RTOL, 1e-300)
        # the difference's interval: relative to its width (the ends may lie near 0)
        width = w['diff_ci_upper'] - w['diff_ci_lower']
        for col in ('diff_ci_lower', 'diff_ci_upper'):
            close('%s %s' % (tag, col), g[col], w[col], 0, RTOL * width)
        ok('%s significant = adjusted p < alpha' % tag, g['significant'] == w['significant'],
           'got %r, want %r (adjusted p %r)' % (g['significant'], w['significant'], w['adjusted_p_value']))


def group(units, variants, values, names):
    """[(variant, values of its units)] in the order of names."""
    return [(v, [x for u, x in zip(variants, values) if u == v]) for v in names]


# --- mSPRT against its formula (spec: Johari, Pekelis, Walsh 2017, normal mixture)
def msprt(n1, m1, s1, n2, m2, s2, tau, alpha):
    v = s1 ** 2 / n1 + s2 ** 2 / n2
    d = m1 - m2
    t2 = tau ** 2
    log_lambda = 0.5 * math.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))
    half = math.sqrt(v * (v + t2) / t2 * (math.log((v + t2) / v) - 2 * math.log(alpha)))
    return min(1.0, math.exp(-log_lambda)), d - half, d + half


for case in range(60):
    n1, n2 = (float(x) for x in rng.integers(2, 100000, 2))
    m1, m2 = rng.normal(0, 1, 2)
    s1, s2 = rng.uniform(0.1, 5, 2)
    tau = float(rng.uniform(0.01, 2))
    alpha = float(rng.choice([0.01, 0.05, 0.1]))
    got = q('SELECT p_value, ci_lower, ci_upper FROM bandit.msprt(%s::float8, %s::float8, %s::float8, %s::float8, '
            '%s::float8, %s::float8, %s::float8, %s::float8)',
            n1, float(m1), float(s1), n2, float(m2), float(s2), tau, alpha)[0]
    want = msprt(n1, m1, s1, n2, m2, s2, tau, alpha)
    for col, g, w in zip(('p_value', 'ci_lower', 'ci_upper'), got, want):
        close('msprt case %d %s' % (case, col), g, w, 1e-10, 1e-300)

# --- lifecycle: draft -> running -> completed, audit, stored variants
create('life', ['ctl', 'x', 'y'], None, start=False, hypothesis='y beats ctl', min_sample_size=10)
ok('a new experiment is a draft', q1("SELECT status FROM bandit.experiment WHERE name = 'life'") == 'draft')
ok('params.hypothesis lands in the hypothesis column',
   q1("SELECT hypothesis FROM bandit.experiment WHERE name = 'life'") == 'y beats ctl')
rows = q("SELECT variant, position, allocation, is_control FROM bandit.variant WHERE experiment = 'life' ORDER BY position")
ok('variants stored in position order, control first, equal allocation by default',
   [r[0] for r in rows] == ['ctl', 'x', 'y'] and [r[1] for r in rows] == [1, 2, 3]
   and all(abs(r[2] - 1 / 3) < 1e-15 for r in rows) and [r[3] for r in rows] == [True, False, False], repr(rows))
cur.execute("SELECT bandit.start_experiment('life')")
ok('started: running, started_at set',
   q("SELECT status, started_at IS NOT NULL FROM bandit.experiment WHERE name = 'life'")[0] == ('running', True))
cur.execute("SELECT bandit.stop_experiment('life', 'enough')")
ok('stopped: completed, ended_at and stop_reason set',
   q("SELECT status, ended_at IS NOT NULL, stop_reason FROM bandit.experiment WHERE name = 'life'")[0]
   == ('completed', True, 'enough'))
audit = [r[0] for r in q("SELECT attname FROM pg_attribute WHERE attrelid = 'bandit.experiment_audit'::regclass "
                         "AND attname IN ('event', 'action')")]
if audit != ['event']:
    print('note: bandit.experiment_audit names its event column %r (the spec: event)' % audit)
ok('audit: created, started, stopped', [r[0] for r in q(
    "SELECT %s FROM bandit.experiment_audit WHERE experiment = 'life' ORDER BY id" % audit[0])]
   == ['created', 'started', 'stopped'])
missing = [r[0] for r in q("SELECT c.relname FROM pg_class c, pg_extension x WHERE x.extname = 'bandit' "
                           "AND c.relnamespace = 'bandit'::regnamespace AND c.relname = ANY (%s) "
                           "AND c.oid <> ALL (x.extconfig)", TABLES)]
ok('experiment tables registered with pg_extension_config_dump', not missing, repr(missing))

# --- assignment: the split, srm_check, stickiness, independence, same salt, strata
units = ['u%d' % i for i in range(20000)]
alloc = [0.5, 0.3, 0.2]
create('split', ['a', 'b', 'c'], alloc)
first = assign('split', units)
cnt = [first.count(v) for v in 'abc']
gof = stats.chisquare(cnt, [20000 * a for a in alloc]).pvalue
ok('20000 units split %r as [0.5, 0.3, 0.2]: chi-square p = %.3g > 0.001' % (cnt, gof), gof > 0.001)
close('srm_check = scipy.stats.chisquare', q1("SELECT bandit.srm_check('split')"), gof, RTOL)
stored = dict(q("SELECT unit_id, variant FROM bandit.assignment WHERE experiment = 'split'"))
ok('assignments stored as returned', all(stored.get(u) == v for u, v in zip(units, first)) and len(stored) == 20000)
assign('split', ['late%d' % i for i in range(5000)])
again = assign('split', units)
ok('sticky: re-assigning 20000 units after 5000 more returns the same variants', again == first)
ok('sticky: a single call returns the stored variant', q1("SELECT bandit.assign('split', 'u17')") == first[17])
ok('sticky: no duplicate rows', q1("SELECT count(*) FROM bandit.assignment WHERE experiment = 'split'") == 25000)
cnt_all = [q1("SELECT count(*) FROM bandit.assignment WHERE experiment = 'split' AND variant = %s", v) for v in 'abc']
close('srm_check after 25000 units', q1("SELECT bandit.srm_check('split')"),
      stats.chisquare(cnt_all, [25000 * a for a in alloc]).pvalue, RTOL)

create('split2', ['a', 'b', 'c'])
second = assign('split2', units)
table = [[sum(1 for x, y in zip(first, second) if x == a and y == b) for b in 'abc'] for a in 'abc']
ind = stats.chi2_contingency(table)[1]
ok('two running experiments assign independently: chi-square p = %.3g > 0.001 %r' % (ind, table), ind > 0.001)
eq = stats.chisquare([second.count(v) for v in 'abc']).pvalue
ok('allocation NULL splits equally: chi-square p = %.3g > 0.001' % eq, eq > 0.001)

create('unsalted1', ['a', 'b'], None, salt=None)
create('unsalted2', ['a', 'b'], None, salt=None)
salts = [r[0] for r in q("SELECT salt FROM bandit.experiment WHERE name LIKE 'unsalted_'")]
ok('default salts are random: two differ', len(salts) == 2 and salts[0] != salts[1] and all(salts), repr(salts))
create('salted1', ['a', 'b'], None, salt='pepper')
create('salted2', ['a', 'b'], None, salt='pepper')
ok('the same salt gives the same assignment (u = hash(salt, unit_id))',
   assign('salted1', units[:2000]) == assign('salted2', units[:2000]))

create('strat', ['a', 'b', 'c'], alloc)
sizes = {'s1': 1000, 's2': 333, 's3': 7}
arrivals = np.repeat(list(sizes), list(sizes.values()))
rng.shuffle(arrivals)
seen = {s: {v: 0 for v in 'abc'} for s in sizes}
worst = 0.0
strat_units = []
for i, s in enumerate(arrivals):
    v = q1('SELECT bandit.assign(%s, %s, %s)', 'strat', 'p%d' % i, str(s))
    strat_units.append(('p%d' % i, str(s), v))
    seen[s][v] += 1
    k = sum(seen[s].values())
    worst = max(worst, max(abs(seen[s][x] - k * a) for x, a in zip('abc', alloc)))
ok('stratified: every stratum follows the allocation within one block (%d) at every arrival; worst %.1f'
   % (BLOCK, worst), worst <= BLOCK)
ok('stratified: stratum stored', all(q1("SELECT stratum = %s AND variant = %s FROM bandit.assignment "
                                        "WHERE experiment = 'strat' AND unit_id = %s", s, v, u)
                                     for u, s, v in strat_units[:50]))
ok('stratified: sticky', all(q1('SELECT bandit.assign(%s, %s, %s)', 'strat', u, s) == v for u, s, v in strat_units[:200]))
print('assignment done %.1f s' % (time.time() - started))

# --- analyze against scipy: 4 variants, binary and continuous, alpha 0.1
names = ['control', 'b', 'c', 'd']
alloc4 = [0.4, 0.2, 0.2, 0.2]
create('oracle', names, alloc4, alpha=0.1, metrics={'click': 'binary', 'revenue': 'continuous'})
ounits = ['o%d' % i for i in range(3000)]
ovar = assign('oracle', ounits)
idx = np.array([names.index(v) for v in ovar])
clicks = (rng.random(3000) < np.array([0.10, 0.13, 0.10, 0.16])[idx]).astype(float)
record('oracle', 'click', ounits, clicks)
revenue = rng.normal(np.array([10.0, 10.4, 10.0, 11.0])[idx], np.array([3.0, 3.0, 4.0, 2.0])[idx])
# a quarter of the units buy twice: each observation row is one sample
twice = [i for i in range(3000) if i % 4 == 0]
extra = rng.normal(np.array([10.0, 10.4, 10.0, 11.0])[idx[twice]], 3.0)
record('oracle', 'revenue', ounits + [ounits[i] for i in twice], list(revenue) + list(extra))
assigned4 = [ovar.count(v) for v in names]
compare('oracle click', analyze('oracle', 'click'),
        expected_rows(group(ovar, ovar, clicks, names), True, 0.1, assigned4, alloc4), 0.1)
compare('oracle revenue', analyze('oracle', 'revenue'),
        expected_rows(group(ovar + [ovar[i] for i in twice], ovar + [ovar[i] for i in twice],
                            list(revenue) + list(extra), names), False, 0.1, assigned4, alloc4), 0.1)

# rare events: Fisher where an expected count is below 5, chi-square elsewhere; a zero-mean control
create('rare', ['c', 't1', 't2'])
runits = ['r%d' % i for i in range(900)]
rvar = assign('rare', runits)
want_s = {'c': 3, 't1': 4, 't2': 20}
taken = {v: 0 for v in want_s}
events = []
for v in rvar:
    events.append(1.0 if taken[v] < want_s[v] else 0.0)
    taken[v] += 1
record('rare', 'signup', runits, events)
rows = analyze('rare', 'signup')
want = expected_rows(group(rvar, rvar, events, ['c', 't1', 't2']), True, 0.05,
                     [rvar.count(v) for v in ['c', 't1', 't2']], [1 / 3] * 3)
ok('rare: t1 tested by fisher, t2 by chi-square (the precondition)', [w.get('test') for w in want] == [None, 'fisher', 'chi-square'])
compare('rare signup', rows, want, 0.05)

# a group with one observation: its test columns NULL
create('lonely', ['a', 'b', 'c'])
lunits = ['l%d' % i for i in range(400)]
lvar = assign('lonely', lunits)
keep = [i for i, v in enumerate(lvar) if v != 'c'] + [next(i for i, v in enumerate(lvar) if v == 'c')]
lvals = rng.normal(5, 1, len(keep))
record('lonely', 'm', [lunits[i] for i in keep], lvals)
rows = {r['variant']: r for r in analyze('lonely', 'm')}
ok('a variant with 1 observation: n = 1, test columns NULL', rows['c']['n'] == 1 and all(
    rows['c'][k] is None for k in ('p_value', 'adjusted_p_value', 'significant', 'diff_ci_lower', 'diff_ci_upper')),
    repr(rows['c']))
lg = group([lvar[i] for i in keep], [lvar[i] for i in keep], lvals, ['a', 'b'])
close('lonely: b against a = scipy Welch', rows['b']['p_value'], stats.ttest_ind(lg[1][1], lg[0][1], equal_var=False).pvalue, RTOL)
ok('lonely: no NaN anywhere', all(not (isinstance(x, float) and math.isnan(x)) for r in rows.values() for x in r.values()))

# edge cases: a control without successes (relative lift NULL, Fisher), no data, constant and huge values
create('edge', ['c', 't'])
eunits = ['e%d' % i for i in range(60)]
evar = assign('edge', eunits)
eclick = [1.0 if v == 't' and i % 3 == 0 else 0.0 for i, v in enumerate(evar)]
record('edge', 'click', eunits, eclick)
compare('edge click', analyze('edge', 'click'), expected_rows(group(evar, evar, eclick, ['c', 't']), True, 0.05,
                                                               [evar.count(v) for v in 'ct'], [0.5, 0.5]), 0.05)
rows = analyze('edge', 'nothing')
ok('analyze of a metric without data: a row per variant, n = 0, no test', [(r['variant'], r['n'], r['p_value'])
                                                                          for r in rows] == [('c', 0, None), ('t', 0, None)],
   repr(rows))
record('edge', 'flat', eunits, [7.0] * 60)
rows = analyze('edge', 'flat')
ok('a constant metric: no test, no NaN', rows[1]['p_value'] is None and all(
    not (isinstance(x, float) and math.isnan(x)) for r in rows for x in r.values()), repr(rows))
record('edge', 'huge', eunits, [1e200 * (1 if i % 2 else -1) for i in range(60)])
code = sqlstate("SELECT * FROM bandit.analyze('edge', 'huge')")
rows = [] if code else [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
ok('values near 1e200 (variance overflows): an error 22003 or finite/NULL numbers, never NaN (%r)' % code,
   code == '22003' or (code is None and all(not (isinstance(x, float) and math.isnan(x))
                                            for r in rows for x in r.values())), repr(rows))
ok('decide before min_sample_size of data -> continue', decide('edge', 'nothing')[0] == 'continue')
print('analyze oracle done %.1f s' % (time.time() - started))

# --- SRM: a broken split (assignments imported with 1000 A, 800 B) is never significant
create('srm', ['A', 'B'])
cur.execute("INSERT INTO bandit.assignment (experiment, unit_id, variant, assigned_at) "
            "SELECT 'srm', 's' || i, CASE WHEN i <= 1000 THEN 'A' ELSE 'B' END, now() FROM generate_series(1, 1800) i")
record('srm', 'm', ['s%d' % i for i in range(1, 1801)],
       list(rng.normal(0, 1, 1000)) + list(rng.normal(1, 1, 800)))
want_srm = stats.chisquare([1000, 800], [900, 900]).pvalue
close('srm_check of a 1000/800 split = scipy.stats.chisquare', q1("SELECT bandit.srm_check('srm')"), want_srm, RTOL)
rows = analyze('srm', 'm')
create('zero', ['A', 'B', 'C'])
cur.execute("INSERT INTO bandit.assignment (experiment, unit_id, variant) "
            "SELECT 'zero', 'z' || i, CASE WHEN i <= 50 THEN 'A' ELSE 'B' END FROM generate_series(1, 100) i")
close('srm_check: a variant without assignments counts 0', q1("SELECT bandit.srm_check('zero')"),
      stats.chisquare([50, 50, 0]).pvalue, RTOL)
ok('srm p = %.3g < 0.001 (the precondition)' % want_srm, want_srm < 0.001)
ok('SRM: significant = false and a warning, despite p = %r' % rows[1]['p_value'],
   rows[1]['significant'] is False and rows[1]['warning'] and rows[1]['p_value'] < 1e-10, repr(rows[1]))
close('SRM: analyze srm_p_value', rows[1]['srm_p_value'], want_srm, RTOL)
dec = q("SELECT * FROM bandit.decide('srm', 'm')")[0]
ok('SRM: decide continues, the reason names the mismatch', dec[0] == 'continue' and dec[1] is None and dec[2] and any(
    w in dec[2].lower() for w in ('mismatch', 'srm', 'sample ratio')), repr(dec))

# --- sequential: bandit's p is the running minimum of the formula, the CS the running intersection
create('seq', ['A', 'B'], None, sequential=True, mixing_sd=0.3, alpha=0.1)
sunits = ['q%d' % i for i in range(1000)]
svar = assign('seq', sunits)
svals = rng.normal(np.where(np.array(svar) == 'B', 0.12, 0.0), 1.0)
pmin, lo, hi = 1.0, -math.inf, math.inf
for look in range(5):
    part = slice(200 * look, 200 * look + 200)
    record('seq', 'm', sunits[part], svals[part])
    a = np.array([x for x, v in zip(svals[:200 * look + 200], svar) if v == 'A'])
    b = np.array([x for x, v in zip(svals[:200 * look + 200], svar) if v == 'B'])
    p, l, h = msprt(len(b), b.mean(), b.std(ddof=1), len(a), a.mean(), a.std(ddof=1), 0.3, 0.1)
    pmin, lo, hi = min(pmin, p), max(lo, l), min(hi, h)
    row = analyze('seq', 'm')[1]
    ok('seq look %d: test = msprt' % look, row['test'] == 'msprt', repr(row['test']))
    close('seq look %d: p = running min of the mSPRT formula' % look, row['p_value'], pmin, RTOL)
    close('seq look %d: CS lower = running max' % look, row['diff_ci_lower'], lo, 0, RTOL * (hi - lo))
    close('seq look %d: CS upper = running min' % look, row['diff_ci_upper'], hi, 0, RTOL * (hi - lo))
print('srm, msprt done %.1f s' % (time.time() - started))

# --- peeking: A/A experiments analyzed after each of LOOKS batches
PAIRS, AB, LOOKS, BATCH, ALPHA = 200, 50, 20, 40, 0.05
cur.execute('SELECT bandit.create_experiment(e, ARRAY[\'A\', \'B\'], NULL, p) FROM ('
            "SELECT 'aa_seq_' || i e, jsonb_build_object('sequential', true, 'salt', 'aa' || i) p FROM generate_series(1, %s) i "
            "UNION ALL SELECT 'aa_fix_' || i, jsonb_build_object('sequential', false, 'salt', 'aa' || i) FROM generate_series(1, %s) i "
            "UNION ALL SELECT 'ab_seq_' || i, jsonb_build_object('sequential', true, 'salt', 'ab' || i) FROM generate_series(1, %s) i) s",
            (PAIRS, PAIRS, AB))
cur.execute("SELECT bandit.start_experiment(name) FROM bandit.experiment WHERE name ~ '^a[ab]_'")
# per unit its outcome under A (c0, y0) and under B (c1, y1): A/A the same, A/B shifted
buf = io.StringIO()
sim = {}
for kind, count in (('aa', PAIRS), ('ab', AB)):
    for i in range(1, count + 1):
        n = LOOKS * BATCH
        c0 = (rng.random(n) < 0.5).astype(int)
        y0 = rng.normal(0, 1, n)
        c1, y1 = (c0, y0) if kind == 'aa' else ((rng.random(n) < 0.75).astype(int), rng.normal(0.6, 1, n))
        sim[(kind, i)] = (c0, c1, y0, y1)
        for e in (['aa_seq_%d' % i, 'aa_fix_%d' % i] if kind == 'aa' else ['ab_seq_%d' % i]):
            for j in range(n):
                buf.write('%s\tv%d\t%d\t%d\t%d\t%r\t%r\n' % (e, j, j // BATCH + 1, c0[j], c1[j], y0[j], y1[j]))
cur.execute('CREATE TEMP TABLE staging (experiment text, unit_id text, batch int, c0 float8, c1 float8, '
            'y0 float8, y1 float8)')
buf.seek(0)
cur.copy_from(buf, 'staging')
cur.execute('CREATE INDEX ON staging (batch)')
cur.execute('ANALYZE staging')
looks = {}   # (experiment, metric) -> [(p_value, significant, test)] per look
for k in range(1, LOOKS + 1):
    cur.execute('SELECT count(bandit.assign(experiment, unit_id)) FROM staging WHERE batch = %s', (k,))
    for metric, a_col, b_col in (('conv', 'c0', 'c1'), ('rev', 'y0', 'y1')):
        got = q1('SELECT sum(bandit.record_metrics(experiment, %%s, ids, vals)) FROM ('
                 'SELECT s.experiment, array_agg(s.unit_id) ids, '
                 "array_agg(CASE a.variant WHEN 'A' THEN %s ELSE %s END) vals "
                 'FROM staging s JOIN bandit.assignment a USING (experiment, unit_id) '
                 'WHERE s.batch = %%s GROUP BY s.experiment) g' % (a_col, b_col), metric, k)
        if got != (2 * PAIRS + AB) * BATCH:
            ok('peeking look %d %s: all rows recorded' % (k, metric), False, 'got %r' % got)
        for e, p, sig, test in q('SELECT e.name, a.p_value, a.significant, a.test FROM bandit.experiment e, '
                                 "LATERAL bandit.analyze(e.name, %s) a WHERE e.name ~ '^a[ab]_' AND a.variant = 'B'",
                                 metric):
            looks.setdefault((e, metric), []).append((p, sig, test))
print('peeking simulation loaded and analyzed %.1f s' % (time.time() - started))

var_of = {}
for e, u, v in q("SELECT experiment, unit_id, variant FROM bandit.assignment WHERE experiment ~ '^a[ab]_'"):
    var_of[(e, int(u[1:]))] = v
ok('every peeking look answered', all(len(looks.get((e, m), [])) == LOOKS for m in ('conv', 'rev')
                                      for e in ['aa_seq_%d' % i for i in range(1, PAIRS + 1)]
                                      + ['aa_fix_%d' % i for i in range(1, PAIRS + 1)]
                                      + ['ab_seq_%d' % i for i in range(1, AB + 1)]))
se = math.sqrt(ALPHA * (1 - ALPHA) / PAIRS)
for metric, label in (('conv', 'binary'), ('rev', 'continuous')):
    seq_rate = np.mean([any(s for _, s, _ in looks[('aa_seq_%d' % i, metric)]) for i in range(1, PAIRS + 1)])
    fix_rate = np.mean([any(s for _, s, _ in looks[('aa_fix_%d' % i, metric)]) for i in range(1, PAIRS + 1)])
    power = np.mean([any(s for _, s, _ in looks[('ab_seq_%d' % i, metric)]) for i in range(1, AB + 1)])
    print('peeking %s: %d A/A experiments x %d looks: ever significant, sequential %.3f, fixed horizon %.3f '
          '(alpha %.2f, Monte Carlo se %.3f); A/B power of the sequential test %.2f'
          % (label, PAIRS, LOOKS, seq_rate, fix_rate, ALPHA, se, power))
    ok('peeking %s: sequential false-positive rate %.3f <= alpha + 3 se' % (label, seq_rate), seq_rate <= ALPHA + 3 * se)
    ok('peeking %s: fixed-horizon peeking rate %.3f > alpha + 3 se' % (label, fix_rate), fix_rate > ALPHA + 3 * se)
    ok('peeking %s: sequential power %.2f >= 0.9 (p 0.5 -> 0.75; mean +0.6 sd)' % (label, power), power >= 0.9)
    mono = [e for (e, m), ls in looks.items() if m == metric and e.startswith(('aa_seq', 'ab_seq'))
            and any(b[0] > a[0] for a, b in zip(ls, ls[1:]))]
    ok('peeking %s: sequential p-values never increase across looks' % label, not mono, repr(mono[:3]))
    ok('peeking %s: test msprt / fixed test named' % label,
       all(t == 'msprt' for (e, m), ls in looks.items() if m == metric and 'seq' in e for _, _, t in ls)
       and all(t in (('chi-square', 'fisher') if metric == 'conv' else ('welch',))
               for (e, m), ls in looks.items() if m == metric and 'fix' in e for _, _, t in ls))
    # the fixed-horizon p of every look against scipy on the same data
    worst, where = 0.0, None
    for i in range(1, PAIRS + 1):
        c0, _, y0, _ = sim[('aa', i)]
        vals = c0 if metric == 'conv' else y0
        isb = np.array([var_of[('aa_fix_%d' % i, j)] == 'B' for j in range(LOOKS * BATCH)])
        ok_same = all(var_of[('aa_seq_%d' % i, j)] == var_of[('aa_fix_%d' % i, j)] for j in range(0, LOOKS * BATCH, 37))
        if not ok_same:
            ok('pair %d: same salt, same assignment' % i, False)
        for k in range(1, LOOKS + 1):
            x, b = vals[:k * BATCH], isb[:k * BATCH]
            if metric == 'conv':
                t = [[int(x[b].sum()), int(b.sum() - x[b].sum())], [int(x[~b].sum()), int((~b).sum() - x[~b].sum())]]
                if stats.contingency.expected_freq(t).min() < 5:
                    want = stats.fisher_exact(t)[1]
                else:
                    want = stats.chi2_contingency(t, correction=True)[1]
            else:
                want = stats.ttest_ind(x[b], x[~b], equal_var=False).pvalue
            got = looks[('aa_fix_%d' % i, metric)][k - 1][0]
            err = math.inf if got is None else abs(got - want) / want
            if err > worst:
                worst, where = err, (i, k, got, want)
    ok('peeking %s: every fixed-horizon p = scipy (%d looks, 1e-8)' % (label, PAIRS * LOOKS), worst <= RTOL,
       'worst %g at (pair, look, got, want) %r' % (worst, where))
print('peeking checked %.1f s' % (time.time() - started))


# --- decide
d = decide('ab_seq_1', 'rev')
ok('decide, sequential: a clear effect -> stop_success on the always-valid p', d[:2] == ('stop_success', 'B'), repr(d))
d = decide('aa_seq_1', 'rev')
ok('decide, sequential A/A -> continue', d[:2] == ('continue', None), repr(d))


def load_normal(name, variants, means, n, salt, exact=False, **params):
    """n units of N(mean of their variant, 1); exact: each group's sample mean is exactly its mean."""
    create(name, variants, None, salt=salt, **params)
    us = ['%s%d' % (salt, i) for i in range(n)]
    vs = np.array(assign(name, us))
    vals = rng.normal(0, 1, n)
    for v, m in zip(variants, means):
        vals[vs == v] += m - (vals[vs == v].mean() if exact else 0)
    record(name, 'm', us, vals)
    return vals, vs


load_normal('dec_success', ['A', 'B', 'C'], [0.0, 0.6, 1.0], 900, 'ds', min_sample_size=100)
d = decide('dec_success')
ok('decide: clear effects after min_sample_size -> stop_success, winner the largest diff', d[:2] == ('stop_success', 'C'),
   repr(d))
load_normal('dec_early', ['A', 'B', 'C'], [0.0, 0.6, 1.0], 900, 'ds', min_sample_size=1000)
d = decide('dec_early')
ok('decide: the same data below min_sample_size -> continue', d[0] == 'continue' and d[1] is None, repr(d))
load_normal('dec_failure', ['A', 'B', 'C'], [1.0, 0.0, 0.2], 900, 'df', min_sample_size=100)
d = decide('dec_failure')
ok('decide: control clearly best -> stop_failure (no treatment wins)', d[0] == 'stop_failure' and d[1] in (None, 'A'),
   repr(d))
load_normal('dec_minfx', ['A', 'B'], [0.0, 0.5], 600, 'dm', min_sample_size=100, min_effect=2.0)
d = decide('dec_minfx')
ok('decide: significant but below min_effect, no max_sample_size -> continue', d[0] == 'continue', repr(d))
vals, vs = load_normal('dec_futile', ['A', 'B'], [0.0, 0.01], 300, 'dt', True, min_sample_size=100, max_sample_size=200)
a, b = vals[vs == 'A'], vals[vs == 'B']
pooled = math.sqrt(((len(a) - 1) * np.var(a, ddof=1) + (len(b) - 1) * np.var(b, ddof=1)) / (len(a) + len(b) - 2))
fut_power = TTestIndPower().power(abs(np.mean(b) - np.mean(a)) / pooled, 200, 0.05)
ok('futility precondition: power at 200 per variant %.3f < 0.2, n >= 100 per variant' % fut_power,
   fut_power < 0.2 and min(len(a), len(b)) >= 100)
d = decide('dec_futile')
ok('decide: tiny effect, max_sample_size 200 -> stop_futility', d[0] == 'stop_futility', repr(d))
ok('decide: a reason always given', all(q1('SELECT reason FROM bandit.decide(%s, %s)', e, 'm')
                                        for e in ('dec_success', 'dec_early', 'dec_failure', 'dec_futile')))

# --- CUPED: Y' = Y - theta (X - mean X) per unit, then Welch
create('cuped', ['A', 'B'])
cu = ['k%d' % i for i in range(2000)]
cv = np.array(assign('cuped', cu))
x = rng.normal(50, 10, 2000)
y = 0.8 * x + rng.normal(0, 5, 2000) + np.where(cv == 'B', 1.0, 0.0)
has_x = rng.random(2000) >= 0.1
second = [i for i in range(2000) if i % 20 == 0]
y2 = 0.8 * x[second] + rng.normal(0, 5, len(second)) + np.where(cv[second] == 'B', 1.0, 0.0)
record('cuped', 'rev', cu + [cu[i] for i in second], list(y) + list(y2))
record('cuped', 'pre', [u for u, h in zip(cu, has_x) if h], x[has_x])
ybar = y.copy()
for j, i in enumerate(second):
    ybar[i] = (y[i] + y2[j]) / 2
xu = np.where(has_x, x, x[has_x].mean())
theta = np.cov(xu, ybar)[0, 1] / np.var(xu, ddof=1)
adj = ybar - theta * (xu - xu.mean())
yb, ya = adj[cv == 'B'], adj[cv == 'A']
want_p = stats.ttest_ind(yb, ya, equal_var=False).pvalue
va, vb = ya.var(ddof=1) / len(ya), yb.var(ddof=1) / len(yb)
dfw = (va + vb) ** 2 / (va ** 2 / (len(ya) - 1) + vb ** 2 / (len(yb) - 1))
half = stats.t.ppf(0.975, dfw) * math.sqrt(va + vb)
diff = yb.mean() - ya.mean()
row = analyze('cuped', 'rev', 'pre')[1]
plain = analyze('cuped', 'rev')[1]
ok('cuped: test = welch (cuped)', row['test'] == 'welch (cuped)', repr(row['test']))
close('cuped: p = Welch on Y - theta (X - mean X)', row['p_value'], want_p, RTOL)
close('cuped: diff', row['diff'], diff, RTOL)
close('cuped: diff CI lower', row['diff_ci_lower'], diff - half, 0, RTOL * half)
close('cuped: diff CI upper', row['diff_ci_upper'], diff + half, 0, RTOL * half)
ok('cuped: CI narrower than without the covariate (%.3f vs %.3f)'
   % (row['diff_ci_upper'] - row['diff_ci_lower'], plain['diff_ci_upper'] - plain['diff_ci_lower']),
   row['diff_ci_upper'] - row['diff_ci_lower'] < 0.7 * (plain['diff_ci_upper'] - plain['diff_ci_lower']))

# --- report: a line per variant on one axis
lines = [r[0] for r in q("SELECT * FROM bandit.report('oracle', 'revenue')")]
ok('report: every variant named, bars drawn', all(any(v in l for l in lines) for v in names)
   and any('\u2500' <= ch <= '\u25ff' for l in lines for ch in l), '\n'.join(lines))
print('decide, cuped, report done %.1f s' % (time.time() - started))

# --- bad input: the SQLSTATE, and no row of any bandit table changed
create('drafty', ['A', 'B'], None, start=False)
create('done', ['A', 'B'])
cur.execute("SELECT bandit.assign('done', 'z1')")
cur.execute("SELECT bandit.stop_experiment('done')")
create('bin', ['A', 'B'], None, metrics={'ok': 'binary'})
cur.execute("SELECT bandit.assign('bin', 'w' || i) FROM generate_series(1, 5) i")
BAD = [
    ('allocation sums to 0.9', "SELECT bandit.create_experiment('x', ARRAY['a','b'], ARRAY[0.5, 0.4])", '22023'),
    ('allocation of 3 for 2 variants', "SELECT bandit.create_experiment('x', ARRAY['a','b'], ARRAY[0.5, 0.3, 0.2])", '2202E'),
    ('allocation entry 0', "SELECT bandit.create_experiment('x', ARRAY['a','b'], ARRAY[1, 0])", '22003'),
    ('allocation entry NaN', "SELECT bandit.create_experiment('x', ARRAY['a','b'], ARRAY['NaN', 0.5]::float8[])", '22003'),
    ('duplicate experiment', "SELECT bandit.create_experiment('oracle', ARRAY['a','b'])", '23505'),
    ('unknown param key', "SELECT bandit.create_experiment('x', ARRAY['a','b'], NULL, '{\"alpah\": 0.1}')", '22023'),
    ('start unknown', "SELECT bandit.start_experiment('nope')", '42704'),
    ('stop unknown', "SELECT bandit.stop_experiment('nope')", '42704'),
    ('assign unknown', "SELECT bandit.assign('nope', 'u1')", '42704'),
    ('record unknown', "SELECT bandit.record_metric('nope', 'u1', 'm', 1)", '42704'),
    ('analyze unknown', "SELECT * FROM bandit.analyze('nope', 'm')", '42704'),
    ('srm_check unknown', "SELECT bandit.srm_check('nope')", '42704'),
    ('decide unknown', "SELECT * FROM bandit.decide('nope', 'm')", '42704'),
    ('start a running experiment', "SELECT bandit.start_experiment('split')", '55000'),
    ('stop a draft', "SELECT bandit.stop_experiment('drafty')", '55000'),
    ('assign in a draft', "SELECT bandit.assign('drafty', 'u1')", '55000'),
    ('assign in a completed experiment', "SELECT bandit.assign('done', 'u2')", '55000'),
    ('stratified assign in a draft', "SELECT bandit.assign('drafty', 'u1', 's')", '55000'),
    ('record for an unassigned unit', "SELECT bandit.record_metric('split', 'nobody', 'm', 1)", '22023'),
    ('record NaN', "SELECT bandit.record_metric('split', 'u1', 'm', 'NaN')", '22003'),
    ('record infinity', "SELECT bandit.record_metric('split', 'u1', 'm', '-Infinity')", '22003'),
    ('assign NULL unit', "SELECT bandit.assign('split', NULL)", '22004'),
    ('assign NULL experiment', "SELECT bandit.assign(NULL, 'u1')", '22004'),
    ('record NULL unit', "SELECT bandit.record_metric('split', NULL, 'm', 1)", '22004'),
    ('record_metrics with a NULL unit', "SELECT bandit.record_metrics('split', 'm', ARRAY['u1', NULL], ARRAY[1, 2]::float8[])",
     '22004'),
    ('allocation with a NULL', "SELECT bandit.create_experiment('x', ARRAY['a','b'], ARRAY[0.5, NULL]::float8[])", '22004'),
    ('record_metrics lengths 3 and 2',
     "SELECT bandit.record_metrics('split', 'm', ARRAY['u1','u2','u3'], ARRAY[1, 2]::float8[])", '2202E'),
    ('record_metrics with one unassigned unit among 1000',
     "SELECT bandit.record_metrics('split', 'm', array_agg(CASE WHEN i = 500 THEN 'nobody' ELSE 'u' || i END), "
     "array_agg(i::float8)) FROM generate_series(1, 1000) i", '22023'),
    ('record_metrics with a NaN among 1000',
     "SELECT bandit.record_metrics('split', 'm', array_agg('u' || i), "
     "array_agg(CASE WHEN i = 700 THEN 'NaN'::float8 ELSE i END)) FROM generate_series(1, 1000) i", '22003'),
    ('undeclared metric', "SELECT bandit.record_metric('oracle', 'o1', 'visits', 1)", '22023'),
    ('0.5 for a binary metric', "SELECT bandit.record_metric('bin', 'w1', 'ok', 0.5)", '22023'),
    ('binary metric, record_metrics with a 2', "SELECT bandit.record_metrics('bin', 'ok', ARRAY['w1','w2'], ARRAY[1, 2]::float8[])", '22023'),
    ('record in a draft', "SELECT bandit.record_metric('drafty', 'u1', 'm', 1)", '55000'),
]
for what, sql, code in BAD:
    before = counts()
    got = sqlstate(sql)
    after = counts()
    ok('bad input, %s: SQLSTATE %s' % (what, code), got == code, 'got %r' % got)
    ok('bad input, %s: no table changed' % what, before == after, '%r -> %r' % (before, after))
# completed experiments still take metrics (late conversions); the backend is alive
cur.execute("SELECT bandit.record_metric('done', 'z1', 'm', 1)")
ok('a completed experiment records metrics of its units', q1("SELECT count(*) FROM bandit.observation WHERE experiment = 'done'") == 1)

# 8 clients assign units drawn from a small pool, so that many race for the
# same new unit, in three strata and by hash: every stratum's counter equals
# its assignments, and each unit has one variant (0.1.0: counters ~10 % ahead)
import random
import threading

import psycopg2

q("SELECT bandit.create_experiment('race', ARRAY['a','b','c'], params => '{\"salt\": \"race\"}')")
q("SELECT bandit.start_experiment('race')")
race_started = time.time()
answers = []
failures = []


def race_client(seed):
    client = psycopg2.connect(dbname='bandit_experiment_test')
    client.autocommit = True
    c = client.cursor()
    r = random.Random(seed)
    try:
        for _ in range(250):
            unit = 'r%d' % r.randrange(300)
            if r.random() < 0.2:
                c.execute("SELECT bandit.assign('race', %s)", (unit,))
            else:
                c.execute("SELECT bandit.assign('race', %s, %s)", (unit, r.choice(['n', 's', 'e'])))
            answers.append((unit, c.fetchone()[0]))
    except psycopg2.Error as e:
        failures.append(e.pgcode)
    client.close()


threads = [threading.Thread(target=race_client, args=(SEED + i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
stored = dict(q("SELECT unit_id, variant FROM bandit.assignment WHERE experiment = 'race'"))
ok('8 racing clients: no errors', not failures, repr(failures[:5]))
ok('8 racing clients: every answer is the stored variant', all(stored.get(u) == v for u, v in answers),
   '%d of %d differ' % (sum(stored.get(u) != v for u, v in answers), len(answers)))
off = q("SELECT s.stratum, s.assigned, count(a.unit_id) FROM bandit.stratum s "
        "LEFT JOIN bandit.assignment a ON a.experiment = s.experiment AND a.stratum = s.stratum "
        "WHERE s.experiment = 'race' GROUP BY 1, 2 HAVING s.assigned <> count(a.unit_id)")
ok('8 racing clients: stratum counters equal assignments', not off, repr(off))
print('race of 8 clients: %d assigns, %d units, %.1f s' % (len(answers), len(stored), time.time() - race_started))

elapsed = time.time() - started
print('elapsed %.1f s' % elapsed)
ok('whole test under 180 s', elapsed < 180, '%.1f s' % elapsed)
conn.close()
admin.cursor().execute('DROP DATABASE bandit_experiment_test')
sys.exit(report())
