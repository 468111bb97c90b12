#!/usr/bin/python3
"""Oracle test of src/power.c: bandit's noncentral t, power and sample size
against scipy.stats.nct and statsmodels on random cases.  Run inside a
cluster (test/run); prints "N passed, N failed"."""
import math
import random
import warnings

import psycopg2
from scipy import optimize, stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

warnings.simplefilter('ignore')
SM_ALT = {'two-sided': 'two-sided', 'less': 'smaller', 'greater': 'larger'}
passed = failed = 0


def check(what, got, want, rtol):
    global passed, failed
    if abs(got - want) <= rtol * abs(want):  # False for NaN
        passed += 1
    else:
        failed += 1
        print('FAIL %s: got %r, want %r (rel %.3g)' % (what, got, want, abs(got - want) / abs(want)))


def exact_root(f, lo, hi):
    """statsmodels' own power equation solved tightly (its solve_power stops at xtol=1e-5)."""
    while f(lo) > 0:
        lo = 1 + (lo - 1) / 2
    while f(hi) < 0:
        hi *= 2
    return optimize.brentq(f, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)


admin = psycopg2.connect(dbname='postgres')
admin.autocommit = True
admin.cursor().execute('DROP DATABASE IF EXISTS bandit_power_test')
admin.cursor().execute('CREATE DATABASE bandit_power_test')
conn = psycopg2.connect(dbname='bandit_power_test')
conn.autocommit = True
cur = conn.cursor()
cur.execute('CREATE EXTENSION bandit')
rng = random.Random(20240611)


def q(sql, *args):
    try:
        cur.execute(sql, args)
        return cur.fetchone()[0]
    except psycopg2.Error as e:
        conn.rollback()
        print('ERROR %s %r: %s' % (sql, args, e.pgerror.strip()))
        return math.nan


# noncentral t where scipy (Boost) is itself accurate: the bulk of the distribution
for _ in range(300):
    df = 10 ** rng.uniform(0, 7)
    nc = rng.uniform(-40, 40)
    x = nc + rng.uniform(-3, 3)
    for fn, ref in (('nct_cdf', stats.nct.cdf), ('nct_sf', stats.nct.sf)):
        want = float(ref(x, df, nc))
        if want > 1e-3:
            check('%s(%r, %r, %r)' % (fn, x, df, nc), q('SELECT bandit.%s(%%s, %%s, %%s)' % fn, x, df, nc), want, 1e-9)

# power and sample size of the t-test
tt = TTestIndPower()
for _ in range(300):
    d = 10 ** rng.uniform(-2, math.log10(3))
    n = 10 ** rng.uniform(math.log10(2), 6)
    alpha = rng.choice([0.01, 0.05, 0.1])
    alt = rng.choice(['two-sided', 'less', 'greater'])
    es = -d if alt == 'less' else d
    want = float(tt.power(es, n, alpha, ratio=1, alternative=SM_ALT[alt]))
    check('power_t_test(%r, %r, %r, %r)' % (es, n, alpha, alt),
          q('SELECT bandit.power_t_test(%s, %s, %s, %s)', es, n, alpha, alt), want, 1e-8)
for _ in range(150):
    d = 10 ** rng.uniform(-2, math.log10(3))
    power = rng.uniform(0.5, 0.99)
    alpha = rng.choice([0.01, 0.05, 0.1])
    alt = rng.choice(['two-sided', 'less', 'greater'])
    es = -d if alt == 'less' else d

    def gap(n):
        return tt.power(es, n, alpha, ratio=1, alternative=SM_ALT[alt]) - power
    want = exact_root(gap, 2.0, 50.0)
    got = q('SELECT bandit.sample_size_t_test(%s, %s, %s, %s)', es, power, alpha, alt)
    check('sample_size_t_test(%r, %r, %r, %r)' % (es, power, alpha, alt), got, want, 1e-8)
    if want < 2:
        continue  # solve_power searches from n = 2 up and falls back to fsolve from 10
    sm = tt.solve_power(es, None, alpha, power, ratio=1, alternative=SM_ALT[alt])
    check('sample_size_t_test vs solve_power (xtol 1e-5)', got, float(sm), 1e-5)

# two proportions
nip = NormalIndPower()
for _ in range(300):
    p1, p2 = rng.uniform(0.001, 0.999), rng.uniform(0.001, 0.999)
    h = proportion_effectsize(p1, p2)
    n = 10 ** rng.uniform(0, 6)
    alpha = rng.choice([0.01, 0.05, 0.1])
    check('power_proportions(%r, %r, %r, %r)' % (p1, p2, n, alpha),
          q('SELECT bandit.power_proportions(%s, %s, %s, %s)', p1, p2, n, alpha),
          float(nip.power(h, n, alpha, ratio=1)), 1e-10)
    power = rng.uniform(alpha + 0.01, 0.99)
    got = q('SELECT bandit.sample_size_proportions(%s, %s, %s, %s)', p1, p2, power, alpha)
    want = optimize.brentq(lambda m: nip.power(h, m, alpha, ratio=1) - power,
                           1e-12, 1e12, xtol=1e-300, rtol=1e-15, maxiter=500)
    check('sample_size_proportions(%r, %r, %r, %r)' % (p1, p2, power, alpha), got, want, 1e-8)

conn.close()
admin.cursor().execute('DROP DATABASE bandit_power_test')
print('%d passed, %d failed' % (passed, failed))
