#!/usr/bin/python3
"""Oracle test of eligible arms per request (context keys "arms" and
"exclude" of choose) and of arm_stats's converged (src/policy.c,
src/policy.sql).  Propensities logged by choose among the eligible arms
against an independent computation: Thompson's P(best) over the eligible
subset by mpmath quadrature (40 digits), epsilon-greedy's and softmax's
exact formulas; choose frequencies by chi-square (p > 1e-4, fixed seeds);
converged against mpmath P(best) of the leader and the pull counts.
Run inside a cluster; prints "N passed, N failed"."""
import json
import random
import sys
import warnings

import mpmath
from scipy import stats

from testlib import close, fresh_database, ok, query_helpers, report

warnings.simplefilter('ignore')
mpmath.mp.dps = 40
admin, conn = fresh_database('bandit_eligible_test')
cur = conn.cursor()
q, q1, sqlstate = query_helpers(cur)
rng = random.Random(14014)


def mp_prob_best(params):
    """P(theta_i is the largest), theta_j ~ Beta(a_j, b_j) independent: the integral over x of
    pdf_i(x) prod_{j != i} cdf_j(x)."""
    result = []
    for i, (a, b) in enumerate(params):
        others = [p for j, p in enumerate(params) if j != i]

        def integrand(x, a=a, b=b, others=others):
            value = x ** (a - 1) * (1 - x) ** (b - 1) / mpmath.beta(a, b)
            for c, d in others:
                value *= mpmath.betainc(c, d, 0, x, regularized=True)
            return value
        # split where the densities concentrate so that quad sees their peaks
        points = sorted({mpmath.mpf(0), mpmath.mpf(1)} |
                        {mpmath.mpf(c) / (c + d) for c, d in params})
        result.append(float(mpmath.quad(integrand, points)))
    return result


def goodness_of_fit(what, arms, counts, probabilities):
    draws = sum(counts.values())
    ok('%s: only eligible arms' % what, set(counts) <= set(arms), counts)
    observed = [counts.get(a, 0) for a, p in zip(arms, probabilities) if p > 0]
    expected = [p * draws for p in probabilities if p > 0]
    for a, p in zip(arms, probabilities):
        if p == 0:
            ok('%s: arm %s of probability 0 never chosen' % (what, a), counts.get(a, 0) == 0, counts)
    p_value = stats.chisquare(observed, expected).pvalue if len(observed) > 1 else 1.0
    ok('%s: chi-square p = %.3g' % (what, p_value), p_value > 1e-4, 'observed %r expected %r' % (observed, expected))


def choose_many(policy, context, draws, seed):
    """Counts and the logged propensity of each arm over `draws` chooses (the state does not move)."""
    q('SELECT bandit.set_seed(%s)', seed)
    # choose in the select list runs once a row (OFFSET 0 keeps it from being expanded per column)
    rows = q('SELECT (c).arm, count(*), min((c).propensity), max((c).propensity) '
             'FROM (SELECT bandit.choose(%s, %s::jsonb) c FROM generate_series(1, %s) g OFFSET 0) s GROUP BY (c).arm',
             policy, json.dumps(context), draws)
    return {r[0]: r[1] for r in rows}, {r[0]: (r[2], r[3]) for r in rows}


def eligible_of(arms, context):
    if 'arms' in context:
        return [a for a in arms if a in context['arms']]
    return [a for a in arms if a not in context['exclude']]


# Thompson: the propensity is P(best) among the eligible arms only
for case in range(4):
    k = rng.choice([5, 8, 12])
    arms = ['t%02d' % i for i in range(k)]
    q("SELECT bandit.create_policy(%s, 'thompson', %s)", 'th%d' % case, arms)
    for arm in arms:
        for _ in range(rng.randrange(0, 25)):
            q('SELECT bandit.reward(%s, %s, %s)', 'th%d' % case, arm, float(rng.random() < rng.random()))
    state = {r[0]: (r[1], r[2]) for r in q('SELECT arm, alpha, beta FROM bandit.arm_stats(%s)', 'th%d' % case)}
    subset = rng.sample(arms, rng.randrange(2, k))
    context = {'arms': subset} if case % 2 == 0 else {'exclude': subset}
    eligible = eligible_of(arms, context)
    want = mp_prob_best([state[a] for a in eligible])
    counts, propensities = choose_many('th%d' % case, context, 6000, 700 + case)
    for arm, (lo, hi) in propensities.items():
        ok('thompson %d: arm %s eligible' % (case, arm), arm in eligible, context)
        if arm in eligible:
            close('thompson %d: propensity of %s' % (case, arm), lo, want[eligible.index(arm)], 0, 1e-6)
            close('thompson %d: propensity of %s' % (case, arm), hi, want[eligible.index(arm)], 0, 1e-6)
    goodness_of_fit('thompson %d %r' % (case, context), eligible, counts, want)
    # recommend's scores are the same P(best), ranked among the eligible arms only
    got = {r[0]: r[1] for r in q('SELECT arm, score FROM bandit.recommend(%s, 100, %s::jsonb)',
                                 'th%d' % case, json.dumps(context))}
    ok('thompson %d: recommend ranks the eligible arms' % case, sorted(got) == sorted(eligible), got)
    for arm in eligible:
        close('thompson %d: recommend score of %s' % (case, arm), got.get(arm), want[eligible.index(arm)], 0, 1e-6)

# epsilon-greedy: epsilon / k + (1 - epsilon) [greedy among the eligible] / ties
for case, epsilon in enumerate([0.3, 0.1, 1.0]):
    arms = ['e%d' % i for i in range(7)]
    name = 'eg%d' % case
    q("SELECT bandit.create_policy(%s, 'epsilon_greedy', %s, %s::jsonb)", name, arms,
      json.dumps({'epsilon': epsilon}))
    means = {}
    for arm in arms:
        rewards = [rng.uniform(-1, 2) for _ in range(rng.randrange(1, 6))]
        for r in rewards:
            q('SELECT bandit.reward(%s, %s, %s)', name, arm, r)
        means[arm] = q1('SELECT mean_reward FROM bandit.arm_stats(%s) WHERE arm = %s', name, arm)
        close('epsilon %d: mean of %s' % (case, arm), means[arm], sum(rewards) / len(rewards), 1e-12)
    best_overall = max(arms, key=lambda a: means[a])
    # the overall best is excluded: the greedy arm is the best of the rest
    context = {'exclude': [best_overall, arms[(arms.index(best_overall) + 1) % 7]]}
    eligible = eligible_of(arms, context)
    top = max(means[a] for a in eligible)
    ties = sum(means[a] == top for a in eligible)
    want = [epsilon / len(eligible) + (1 - epsilon) * (means[a] == top) / ties for a in eligible]
    counts, propensities = choose_many(name, context, 8000, 800 + case)
    for arm, (lo, hi) in propensities.items():
        close('epsilon %d: propensity of %s' % (case, arm), lo, want[eligible.index(arm)], 1e-12)
        close('epsilon %d: propensity of %s' % (case, arm), hi, want[eligible.index(arm)], 1e-12)
    goodness_of_fit('epsilon %d %r' % (case, context), eligible, counts, want)

# softmax: exp(mean / T) normalised over the eligible arms
for case, temperature in enumerate([0.5, 2.0]):
    arms = ['s%d' % i for i in range(6)]
    name = 'sm%d' % case
    q("SELECT bandit.create_policy(%s, 'softmax', %s, %s::jsonb)", name, arms,
      json.dumps({'temperature': temperature}))
    means = {}
    for arm in arms:
        r = rng.uniform(0, 2)
        q('SELECT bandit.reward(%s, %s, %s)', name, arm, r)
        means[arm] = r
    context = {'arms': rng.sample(arms, 4)}
    eligible = eligible_of(arms, context)
    weights = [mpmath.exp(mpmath.mpf(means[a]) / temperature) for a in eligible]
    want = [float(w / sum(weights)) for w in weights]
    counts, propensities = choose_many(name, context, 8000, 900 + case)
    for arm, (lo, hi) in propensities.items():
        close('softmax %d: propensity of %s' % (case, arm), lo, want[eligible.index(arm)], 1e-9)
        close('softmax %d: propensity of %s' % (case, arm), hi, want[eligible.index(arm)], 1e-9)
    goodness_of_fit('softmax %d %r' % (case, context), eligible, counts, want)

# UCB1: the largest bound mean + c sqrt(2 ln N / n) with N summed over the eligible arms
arms = ['u%d' % i for i in range(6)]
q("SELECT bandit.create_policy('ucb', 'ucb1', %s)", arms)
pulls = {}
for arm in arms:
    pulls[arm] = [rng.random() for _ in range(rng.randrange(1, 8))]
    for r in pulls[arm]:
        q("SELECT bandit.reward('ucb', %s, %s)", arm, r)
for trial in range(5):
    context = {'arms': rng.sample(arms, 3)}
    eligible = eligible_of(arms, context)
    total = sum(len(pulls[a]) for a in eligible)
    bound = {a: sum(pulls[a]) / len(pulls[a]) + (2 * mpmath.log(total) / len(pulls[a])) ** 0.5 for a in eligible}
    got = q("SELECT arm, propensity FROM bandit.choose('ucb', %s::jsonb)", json.dumps(context))[0]
    ok('ucb1 %d: the largest bound among %r' % (trial, eligible), got == (max(eligible, key=bound.get), 1.0), got)

# converged: the leader's P(best) (mpmath) >= stop_at and every active arm pulled min_pulls times
for case in range(10):
    k = rng.choice([2, 3, 5])
    arms = ['b%d' % i for i in range(k)]
    name = 'bai%d' % case
    counts = {a: (rng.randrange(0, 40), rng.randrange(0, 40)) for a in arms}
    params = [(1 + s, 1 + f) for s, f in counts.values()]
    p_best = mp_prob_best(params)
    leader = max(range(k), key=lambda i: p_best[i])
    min_pulls = rng.randrange(0, 30)
    # stop_at just under or just over the leader's P(best), or anywhere
    stop_at = [p_best[leader] - 1e-4, p_best[leader] + 1e-4, rng.uniform(0.5, 1)][case % 3]
    stop_at = min(1.0, max(0.5, stop_at))
    q("SELECT bandit.create_policy(%s, 'thompson', %s, %s::jsonb)", name, arms,
      json.dumps({'stop_at': stop_at, 'min_pulls': min_pulls}))
    for arm, (s, f) in counts.items():
        q('SELECT count(bandit.reward(%s, %s, r)) FROM unnest(%s::float8[]) r', name, arm, [1.0] * s + [0.0] * f)
    want_converged = p_best[leader] >= stop_at and all(s + f >= min_pulls for s, f in counts.values())
    got = dict(q('SELECT arm, converged FROM bandit.arm_stats(%s)', name))
    want = {a: want_converged and i == leader for i, a in enumerate(arms)}
    ok('converged %d: P(best) %.6f stop_at %.6f min_pulls %d' % (case, p_best[leader], stop_at, min_pulls),
       got == want, 'got %r want %r' % (got, want))

# default stop_at 0.95 and min_pulls 10: one arm of 10 successes against one of 10 failures
q("SELECT bandit.create_policy('bai_default', 'thompson', '{x,y}')")
q("SELECT count(bandit.reward('bai_default', 'x', 1)) FROM generate_series(1, 9)")
q("SELECT count(bandit.reward('bai_default', 'y', 0)) FROM generate_series(1, 10)")
ok('default min_pulls 10: 9 pulls not converged', not q1("SELECT bool_or(converged) FROM bandit.arm_stats('bai_default')"))
q("SELECT bandit.reward('bai_default', 'x', 1)")
p = mp_prob_best([(11, 1), (1, 11)])[0]
ok('default stop_at: P(best) %.6f >= 0.95 converged' % p,
   q1("SELECT converged FROM bandit.arm_stats('bai_default') WHERE arm = 'x'") == (p >= 0.95))

conn.close()
admin.cursor().execute('DROP DATABASE bandit_eligible_test')
sys.exit(report())
