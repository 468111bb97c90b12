#!/usr/bin/python3
"""Oracle test of src/choice.c and src/ope.c.  Selection aggregates: the
frequencies of many seeded choices against theory (chi-square goodness of
fit, p > 1e-4; the seeds are fixed, so the outcome is deterministic), UCB1
against its formula computed here, reproducibility under bandit.set_seed.
Off-policy estimates: against the formulas computed with numpy on random
logs.  Run inside a cluster (test/run); prints "N passed, N failed"."""
import math
import random
import sys
import warnings

import numpy as np
from scipy import special, stats

from testlib import close, fresh_database, ok, report

warnings.simplefilter('ignore')
Z = 1.959963984540054




admin, conn = fresh_database('bandit_choice_test')
cur = conn.cursor()
rng = random.Random(20240612)


def choices(aggregate, columns, draws, seed):
    """Counts of the arms chosen by `draws` independent calls over the rows given by columns."""
    names = ['c%d' % i for i in range(len(columns))]
    types = ['text[]'] + ['float8[]'] * (len(columns) - 1)
    cur.execute('SELECT bandit.set_seed(%s)', (seed,))
    cur.execute('SELECT choice, count(*) FROM (SELECT %s AS choice FROM unnest(%s) u(%s), '
                'generate_series(1, %%s) g GROUP BY g) s GROUP BY choice'
                % (aggregate, ', '.join('%%s::%s' % t for t in types), ', '.join(names)),
                [list(c) for c in columns] + [draws])
    return dict(cur.fetchall())


def goodness_of_fit(what, arms, counts, probabilities):
    """Chi-square test of the counts against the probabilities; an arm of probability 0 never chosen."""
    draws = sum(counts.values())
    observed, expected = [], []
    for arm, p in zip(arms, probabilities):
        if p == 0:
            ok('%s: arm %s of probability 0' % (what, arm), counts.get(arm, 0) == 0, counts)
        else:
            observed.append(counts.get(arm, 0))
            expected.append(p * draws)
    ok('%s: only the given arms' % what, set(counts) <= set(arms), counts)
    p_value = stats.chisquare(observed, expected).pvalue if len(observed) > 1 else 1.0
    ok('%s: chi-square p = %.3g' % (what, p_value), p_value > 1e-4, 'observed %r expected %r' % (observed, expected))


# Thompson sampling: P(choose i) = P(theta_i is the largest) = bandit.prob_best (quadrature)
for seed, (alpha, beta) in enumerate([([3, 4, 5], [5, 4, 3]),
                                      ([10, 12, 11, 1.5], [20, 18, 19, 3]),
                                      ([0.5, 0.5, 2], [0.5, 0.5, 2]),
                                      ([1001, 1000, 30], [1000, 1001, 30])]):
    arms = ['arm%d' % i for i in range(len(alpha))]
    cur.execute('SELECT bandit.prob_best(%s::float8[], %s::float8[])', (alpha, beta))
    probabilities = cur.fetchone()[0]
    counts = choices('bandit.thompson_choice(c0, c1, c2)', [arms, alpha, beta], 30000, seed)
    goodness_of_fit('thompson %r %r' % (alpha, beta), arms, counts, probabilities)

# epsilon-greedy: (1 - eps) [best] / ties + eps / k
for seed, (means, epsilon) in enumerate([([0.1, 0.5, 0.5, 0.2], 0.3),
                                         ([0.1, 0.5, 0.4], 0.0),
                                         ([0.7, 0.7, 0.7], 0.1),
                                         ([1.0, 2.0, 3.0, -1.0, 2.5], 1.0),
                                         ([5.0, 1.0], 0.05)]):
    arms = ['e%d' % i for i in range(len(means))]
    best = max(means)
    ties = means.count(best)
    probabilities = [epsilon / len(means) + (1 - epsilon) * (m == best) / ties for m in means]
    counts = choices('bandit.epsilon_greedy_choice(c0, c1, %r)' % epsilon, [arms, means], 20000, 100 + seed)
    goodness_of_fit('epsilon_greedy %r eps=%r' % (means, epsilon), arms, counts, probabilities)

# softmax: P proportional to exp(mean / temperature); means far from 0 test the stable form
for seed, (means, temperature) in enumerate([([0.1, 0.2, 0.3], 0.1),
                                             ([1000.0, 1000.5, 999.0, 1001.0], 0.5),
                                             ([-5e5, -5e5 + 1, -5e5 + 0.5], 1.0),
                                             ([0.2, 0.2, 0.1], 0.05),
                                             ([1.0, 2.0, 3.0], 100.0)]):
    arms = ['s%d' % i for i in range(len(means))]
    probabilities = special.softmax(np.array(means) / temperature)
    counts = choices('bandit.softmax_choice(c0, c1, %r)' % temperature, [arms, means], 20000, 200 + seed)
    goodness_of_fit('softmax %r T=%r' % (means, temperature), arms, counts, probabilities)


# UCB1: the formula, exactly; ties (equal scores, or several unpulled arms) split evenly
def ucb1_best(pulls, means, c):
    unpulled = [i for i, n in enumerate(pulls) if n == 0]
    if unpulled:
        return unpulled
    total = sum(pulls)
    scores = [m + c * math.sqrt(2 * math.log(total) / n) for n, m in zip(pulls, means)]
    return [i for i, s in enumerate(scores) if s == max(scores)]


def ucb1_call(arms, pulls, means, c):
    if c == 1 and rng.random() < 0.5:
        call = 'bandit.ucb1_choice(arm, pulls, mean)'
    else:
        call = 'bandit.ucb1_choice(arm, pulls, mean, %r)' % c
    cur.execute('SELECT %s FROM unnest(%%s::text[], %%s::bigint[], %%s::float8[]) u(arm, pulls, mean)' % call,
                (arms, pulls, means))
    return cur.fetchone()[0]


for case in range(300):
    k = rng.randint(1, 8)
    arms = ['u%d' % i for i in range(k)]
    pulls = [rng.choice([rng.randint(1, 20), rng.randint(1, 10 ** 6)]) for _ in range(k)]
    if rng.random() < 0.1:
        pulls[rng.randrange(k)] = 0
    means = [rng.choice([rng.random(), rng.uniform(-100, 100), round(rng.random(), 1)]) for _ in range(k)]
    c = rng.choice([1, 1, 0, 0.1, 2.5, rng.uniform(0, 10)])
    want = ucb1_best(pulls, means, c)
    got = ucb1_call(arms, pulls, means, c)
    ok('ucb1 %r %r c=%r' % (pulls, means, c), got in [arms[i] for i in want], 'got %r, want one of %r' % (got, want))

for seed, (pulls, means, c) in enumerate([([5, 5, 10, 5], [0.5, 0.5, 0.6, 0.5], 1.0),  # three equal scores
                                          ([3, 0, 7, 0, 0], [0.9, 0.0, 0.2, 0.1, 0.5], 1.0),  # unpulled first
                                          ([4, 4], [0.25, 0.25], 0.0)]):
    arms = ['t%d' % i for i in range(len(pulls))]
    want = ucb1_best(pulls, means, c)
    ok('ucb1 tie case %d has ties' % seed, len(want) > 1, want)
    cur.execute('SELECT bandit.set_seed(%s)', (300 + seed,))
    cur.execute('SELECT choice, count(*) FROM (SELECT bandit.ucb1_choice(arm, pulls, mean, %s) AS choice '
                'FROM unnest(%s::text[], %s::bigint[], %s::float8[]) u(arm, pulls, mean), '
                'generate_series(1, 12000) g GROUP BY g) s GROUP BY choice', (c, arms, pulls, means))
    counts = dict(cur.fetchall())
    goodness_of_fit('ucb1 ties %r %r' % (pulls, means), arms, counts,
                    [1 / len(want) if i in want else 0 for i in range(len(arms))])

# reproducibility: the same seed gives the same sequence of choices, another seed another one
SEQUENCE = ('SELECT array_agg(choice ORDER BY g) FROM (SELECT g, bandit.%s AS choice FROM unnest(%%s::text[], %%s::float8[]) '
            'u(arm, x), generate_series(1, 500) g GROUP BY g) s')
for call in ('thompson_choice(arm, x, 2)', 'softmax_choice(arm, x, 1)', 'epsilon_greedy_choice(arm, x, 0.5)',
             'ucb1_choice(arm, 1, 0)'):
    sequences = []
    for seed in (7, 7, 8):
        cur.execute('SELECT bandit.set_seed(%s)', (seed,))
        cur.execute(SEQUENCE % call, (['a', 'b', 'c'], [1.0, 1.5, 2.0]))
        sequences.append(cur.fetchone()[0])
    ok('%s: same seed, same sequence' % call, sequences[0] == sequences[1])
    ok('%s: other seed, other sequence' % call, sequences[0] != sequences[2])


# off-policy estimates against numpy
def ope_oracle(r, t, l, rl, rt):
    w = t / l
    n = len(r)
    x = w * r
    v = np.sum(w * r) / np.sum(w)
    d = rt + w * (r - rl)
    return {'ips': (x.mean(), x.std(ddof=1) / math.sqrt(n) if n >= 2 else None),
            'snips': (v, math.sqrt(np.sum(w ** 2 * (r - v) ** 2)) / np.sum(w) if n >= 2 else None),
            'dr': (d.mean(), d.std(ddof=1) / math.sqrt(n) if n >= 2 else None)}


def ope_check(what, source, args, want, want_n, rtol):
    cur.execute('SELECT (bandit.ips(r, t, l)).*, (bandit.snips(r, t, l)).*, (bandit.dr(r, t, l, rl, rt)).* FROM ' + source, args)
    row = cur.fetchone()
    for i, name in enumerate(('ips', 'snips', 'dr')):
        estimate, se, lower, upper, n = row[5 * i:5 * i + 5]
        west, wse = want[name]
        scale = abs(west) + (wse or 0)   # CI bounds near 0: relative to the estimate's size
        close('%s %s estimate' % (what, name), estimate, west, rtol, rtol * scale)
        ok('%s %s n' % (what, name), n == want_n, n)
        if wse is None:
            ok('%s %s no se' % (what, name), se is None and lower is None and upper is None, (se, lower, upper))
        else:
            close('%s %s se' % (what, name), se, wse, rtol, rtol * scale)
            close('%s %s ci_lower' % (what, name), lower, west - Z * wse, rtol, rtol * scale)
            close('%s %s ci_upper' % (what, name), upper, west + Z * wse, rtol, rtol * scale)


UNNEST = 'unnest(%s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[]) u(r, t, l, rl, rt)'
nprng = np.random.default_rng(20240612)
for case in range(150):
    n = int(rng.choice([1, 2, 3, 10, 100, 1000, 5000]))
    k = rng.randint(2, 5)
    logging = nprng.dirichlet(np.ones(k) * rng.choice([0.3, 1, 5]))
    logging = np.maximum(logging, 1e-3)
    logging /= logging.sum()
    target = nprng.dirichlet(np.ones(k))
    if rng.random() < 0.3:
        target = np.eye(k)[rng.randrange(k)]     # a deterministic target policy: many w = 0
    action = nprng.choice(k, size=n, p=logging)
    if rng.random() < 0.5:
        r = (nprng.random(n) < nprng.random(k)[action]).astype(float)
    else:
        r = nprng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 10), n)
    model = nprng.random(k)
    t, l = target[action], logging[action]
    rl = model[action]
    rt = np.full(n, float(np.dot(target, model)))
    if np.sum(t / l) == 0:
        continue
    ope_check('ope case %d (n=%d)' % (case, n), UNNEST, [list(map(float, a)) for a in (r, t, l, rl, rt)],
              ope_oracle(r, t, l, rl, rt), n, 1e-10)

# at scale, with rewards offset far from 0, in a forced parallel plan
n = 200000
action = nprng.integers(0, 3, n)
logging = np.array([0.5, 0.3, 0.2])
target = np.array([0.2, 0.3, 0.5])
r = 1e4 + nprng.normal(0, 1, n) + action
t, l = target[action], logging[action]
rl = 1e4 + action + 0.1
rt = np.full(n, 1e4 + np.dot(target, [0.1, 1.1, 2.1]))
cur.execute('CREATE TABLE big AS SELECT * FROM ' + UNNEST, [list(map(float, a)) for a in (r, t, l, rl, rt)])
cur.execute('ANALYZE big')
for setting in ('parallel_setup_cost = 0', 'parallel_tuple_cost = 0', 'min_parallel_table_scan_size = 0',
                'max_parallel_workers_per_gather = 2', 'parallel_leader_participation = off'):
    cur.execute('SET ' + setting)
cur.execute('EXPLAIN SELECT bandit.snips(r, t, l) FROM big')
ok('parallel plan', any('Partial Aggregate' in line for (line,) in cur.fetchall()))
# the offset 1e4 limits any algorithm to ~ulp(1e4) / sd = 2e-12 relative in the deviations
ope_check('big parallel', 'big', None, ope_oracle(r, t, l, rl, rt), n, 1e-10)
cur.execute('RESET ALL')

conn.close()
admin.cursor().execute('DROP DATABASE bandit_choice_test')
sys.exit(report())
