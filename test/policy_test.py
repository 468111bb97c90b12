#!/usr/bin/python3
"""Oracle and simulation test of the policy layer (src/policy.c, src/policy.sql).
Choice frequencies of seeded chooses against theory (chi-square goodness of
fit, p > 1e-4; seeds are fixed, so the outcome is deterministic), logged
propensities against exact probabilities (prob_best checked by scipy
quadrature here), UCB1 against its formula, regret of Thompson sampling on a
Bernoulli bandit, LinUCB learning and its A^-1 and b against numpy, shadow /
off modes, budgets, snapshot / restore, discounting.  Run inside a cluster
(test/run); prints "N passed, N failed"."""
import json
import math
import sys
import time
import warnings

import numpy as np
from scipy import integrate, stats

from testlib import close, fresh_database, ok, query_helpers, report

warnings.simplefilter('ignore')
started = time.time()




admin, conn = fresh_database('bandit_policy_test')
cur = conn.cursor()
cur.execute('SELECT bandit.set_seed(20240613)')
cur.execute('SELECT setseed(0.25)')


q, q1, sqlstate = query_helpers(cur)


def create(name, algorithm, arms, params=None):
    cur.execute('SELECT bandit.create_policy(%s, %s, %s, %s)', (name, algorithm, arms, json.dumps(params or {})))


def set_arm(policy, arm, **columns):
    cur.execute('UPDATE bandit.arm SET %s WHERE policy = %%s AND arm = %%s'
                % ', '.join('%s = %%s' % c for c in columns), list(columns.values()) + [policy, arm])


def choose_many(policy, n, context=None):
    """n chooses in one statement; the decisions (arm, propensity, policy_arm, policy_propensity, mode) in order."""
    ids = q1('SELECT array_agg(c.decision_id) FROM generate_series(1, %s) g, '
             'LATERAL bandit.choose(CASE WHEN g > 0 THEN %s END, %s) c',
             n, policy, None if context is None else json.dumps(context))
    # a second statement: the first one's snapshot does not see the rows its calls inserted
    rows = q('SELECT arm, propensity, policy_arm, policy_propensity, mode FROM bandit.decision '
             'WHERE id = ANY (%s) ORDER BY id', ids)
    ok('%d chooses of %s logged %d distinct decisions' % (n, policy, len(rows)), len(rows) == n)
    return rows


def goodness_of_fit(what, arms, served, probabilities):
    """Chi-square test of the served arms against the probabilities (an arm of probability 0 never served)."""
    counts = {a: 0 for a in arms}
    for a in served:
        counts[a] = counts.get(a, 0) + 1
    ok('%s: only known arms' % what, set(counts) == set(arms), repr(counts))
    live = [a for a in arms if probabilities[a] > 0]
    ok('%s: probability 0 never served' % what, all(counts[a] == 0 for a in arms if probabilities[a] == 0),
       repr(counts))
    total = sum(counts[a] for a in live)
    p = stats.chisquare([counts[a] for a in live], [total * probabilities[a] / sum(probabilities[b] for b in live)
                                                   for a in live]).pvalue
    ok('%s: chi-square p = %.3g' % (what, p), p > 1e-4, repr(counts))


def prob_best_scipy(alpha, beta):
    """P(theta_i is the largest) by adaptive quadrature of f_i(x) prod_{j != i} F_j(x)."""
    out = []
    for i in range(len(alpha)):
        def f(x, i=i):
            v = stats.beta.pdf(x, alpha[i], beta[i])
            for j in range(len(alpha)):
                if j != i:
                    v *= stats.beta.cdf(x, alpha[j], beta[j])
            return v
        out.append(integrate.quad(f, 0, 1, epsabs=1e-13, epsrel=1e-12, limit=200)[0])
    return out


# (a) Thompson: choice frequencies follow P(best); the logged propensity is P(best) of the served arm
arms = ['a', 'b', 'c', 'd']
params = {'a': (3, 5), 'b': (4, 4), 'c': (10, 12), 'd': (2, 3)}
create('thompson', 'thompson', arms)
for a, (al, be) in params.items():
    set_arm('thompson', a, alpha=al, beta=be)
alphas = [params[a][0] for a in arms]
betas = [params[a][1] for a in arms]
exact = prob_best_scipy(alphas, betas)
bandit_pb = q1('SELECT bandit.prob_best(%s::float8[], %s::float8[])', alphas, betas)
for a, want, got in zip(arms, exact, bandit_pb):
    close('thompson prob_best(%s) against scipy quadrature' % a, got, want, 0, 1e-6)
prob = dict(zip(arms, bandit_pb))
rows = choose_many('thompson', 20000)
goodness_of_fit('thompson frequencies', arms, [r[0] for r in rows], prob)
worst = max(abs(r[1] - prob[r[0]]) for r in rows)
ok('thompson propensity = prob_best of the served arm (1e-9)', worst <= 1e-9, 'max error %g' % worst)
ok('thompson active decisions log policy_arm = arm', all(r[2] == r[0] and r[3] == r[1] and r[4] == 'active'
                                                         for r in rows))
stats_rows = q('SELECT arm, prob_best FROM bandit.arm_stats(%s) ORDER BY arm', 'thompson')
for (a, pb) in stats_rows:
    close('arm_stats prob_best(%s)' % a, pb, prob[a], 0, 1e-12)

# a retired arm is never chosen; propensities are P(best) among the others
cur.execute("SELECT bandit.retire_arm('thompson', 'c')")
live = ['a', 'b', 'd']
pb_live = dict(zip(live, prob_best_scipy([params[a][0] for a in live], [params[a][1] for a in live])))
rows = choose_many('thompson', 5000)
goodness_of_fit('thompson with arm c retired', arms, [r[0] for r in rows], dict(pb_live, c=0))
worst = max(abs(r[1] - pb_live[r[0]]) for r in rows)
ok('thompson propensity with a retired arm (1e-6 of scipy)', worst <= 1e-6, 'max error %g' % worst)

# (b) epsilon-greedy: epsilon/n + (1 - epsilon)/ties on the greedy arms, epsilon/n elsewhere
create('eps', 'epsilon_greedy', ['a', 'b', 'c'], {'epsilon': 0.2})
for a, m in (('a', 0.1), ('b', 0.5), ('c', 0.3)):
    set_arm('eps', a, pulls=10, weight=10, mean_reward=m)
theory = {'a': 0.2 / 3, 'b': 0.2 / 3 + 0.8, 'c': 0.2 / 3}
rows = choose_many('eps', 20000)
goodness_of_fit('epsilon-greedy frequencies', ['a', 'b', 'c'], [r[0] for r in rows], theory)
worst = max(abs(r[1] - theory[r[0]]) for r in rows)
ok('epsilon-greedy propensity exact (1e-12)', worst <= 1e-12, 'max error %g' % worst)
# a tie for the best mean splits the greedy share
set_arm('eps', 'c', mean_reward=0.5)
theory = {'a': 0.2 / 3, 'b': 0.2 / 3 + 0.4, 'c': 0.2 / 3 + 0.4}
rows = choose_many('eps', 20000)
goodness_of_fit('epsilon-greedy frequencies with a tie', ['a', 'b', 'c'], [r[0] for r in rows], theory)
worst = max(abs(r[1] - theory[r[0]]) for r in rows)
ok('epsilon-greedy propensity with a tie (1e-12)', worst <= 1e-12, 'max error %g' % worst)

# epsilon_decay is multiplicative per decision (API.md section 5), floored at min_epsilon
create('decay', 'epsilon_greedy', ['a', 'b'], {'epsilon': 0.5, 'epsilon_decay': 0.9, 'min_epsilon': 0.1})
set_arm('decay', 'b', pulls=1, weight=1, mean_reward=1)
rows = choose_many('decay', 30)
want = [max(0.1, 0.5 * 0.9 ** k) for k in range(30)]
got_eps = [2 * r[1] if r[0] == 'a' else 2 * (1 - r[1]) for r in rows]  # a: eps/2; b: eps/2 + 1 - eps
worst = max(abs(g - w) for g, w in zip(got_eps, want))
ok('epsilon decays by epsilon_decay per decision, floored at min_epsilon', worst <= 1e-12,
   'max error %g; epsilon per decision %r' % (worst, [round(g, 4) for g in got_eps[:6]]))

# softmax: P(arm) = exp(mean / T) / sum
create('soft', 'softmax', ['a', 'b', 'c', 'd'], {'temperature': 0.1})
means = {'a': 0.1, 'b': 0.2, 'c': 0.3, 'd': 0.25}
for a, m in means.items():
    set_arm('soft', a, pulls=5, weight=5, mean_reward=m)
z = sum(math.exp(m / 0.1) for m in means.values())
theory = {a: math.exp(m / 0.1) / z for a, m in means.items()}
rows = choose_many('soft', 20000)
goodness_of_fit('softmax frequencies', list(means), [r[0] for r in rows], theory)
worst = max(abs(r[1] - theory[r[0]]) / theory[r[0]] for r in rows)
ok('softmax propensity exact (1e-12 relative)', worst <= 1e-12, 'max error %g' % worst)
# extreme temperature: no overflow, the best arm nearly always
cur.execute("UPDATE bandit.policy SET params = jsonb_set(params, '{temperature}', '1e-6') WHERE name = 'soft'")
rows = choose_many('soft', 200)
ok('softmax with temperature 1e-6 serves the best arm with propensity 1',
   all(r[0] == 'c' and r[1] == 1.0 for r in rows), repr(rows[:3]))

# (c) UCB1: exactly the arm of mean + c sqrt(2 ln N / n), untried arms first, ties at random
rng = np.random.default_rng(7)
for case in range(40):
    k = int(rng.integers(2, 7))
    c = float(rng.choice([1.0, 0.5, 2.0]))
    names = ['arm%d' % i for i in range(k)]
    name = 'ucb%d' % case
    create(name, 'ucb1', names, {'c': c})
    pulls = [int(rng.integers(0 if case % 4 == 0 else 1, 50)) for _ in names]
    meanv = [float(rng.uniform(0, 1)) for _ in names]
    for a, n, m in zip(names, pulls, meanv):
        set_arm(name, a, pulls=n, weight=n, mean_reward=m if n > 0 else 0)
    total = sum(pulls)
    score = [math.inf if n == 0 else m + c * math.sqrt(2 * math.log(total) / n) for n, m in zip(pulls, meanv)]
    best = max(score)
    winners = {a for a, s in zip(names, score) if s == best}
    rows = choose_many(name, 20 if len(winners) > 1 else 1)
    ok('ucb1 case %d chooses by the formula' % case, all(r[0] in winners for r in rows),
       'got %r, want one of %r (scores %r)' % (rows[0][0], winners, score))
    ok('ucb1 case %d propensity 1/ties' % case, all(r[1] == 1.0 / len(winners) for r in rows),
       'got %r, want %r' % (rows[0][1], 1.0 / len(winners)))
    if len(winners) > 1:
        ok('ucb1 case %d ties broken at random' % case, len({r[0] for r in rows}) > 1, repr(rows))

# a whole UCB1 run, choose and reward, against the algorithm replayed here
create('ucbrun', 'ucb1', ['a', 'b', 'c'])
true_reward = {'a': 0.2, 'b': 0.5, 'c': 0.45}
n = {a: 0 for a in true_reward}
s = {a: 0.0 for a in true_reward}
mismatch = None
for t in range(200):
    decision, arm, propensity = q('SELECT * FROM bandit.choose(%s)', 'ucbrun')[0]
    total = sum(n.values())
    score = {a: math.inf if n[a] == 0 else s[a] / n[a] + math.sqrt(2 * math.log(total) / n[a]) for a in n}
    best = max(score.values())
    winners = [a for a in score if score[a] == best or (math.isfinite(best) and abs(score[a] - best) <= 1e-12 * best)]
    if mismatch is None and (arm not in winners or abs(propensity - 1 / len(winners)) > 1e-12):
        mismatch = (t, arm, propensity, score)
    r = true_reward[arm]
    cur.execute('SELECT bandit.reward(%s, %s)', (decision, r))
    n[arm] += 1
    s[arm] += r
ok('ucb1 run of 200 rounds follows the formula', mismatch is None, repr(mismatch))
got = dict((a, (p, m)) for a, p, m in q("SELECT arm, pulls, mean_reward FROM bandit.arm_stats('ucbrun')"))
ok('ucb1 run pulls', all(got[a][0] == n[a] for a in n), repr(got))

# (d) Bernoulli bandit: Thompson's regret against uniform play, and its growth
mu = [0.1, 0.2, 0.3, 0.4, 0.5]
runs, horizon = 8, 2000
for r in range(runs):
    create('bern%d' % r, 'thompson', ['a0', 'a1', 'a2', 'a3', 'a4'])
cur.execute('SELECT setseed(0.5)')
cur.execute('''
DO $$
DECLARE
    mu constant float8[] := '{0.1, 0.2, 0.3, 0.4, 0.5}';
    c record;
BEGIN
    FOR t IN 1..%d LOOP
        FOR r IN 0..%d LOOP
            SELECT * INTO c FROM bandit.choose('bern' || r);
            PERFORM bandit.reward(c.decision_id,
                                  (random() < mu[substr(c.arm, 2)::int + 1])::int::float8);
        END LOOP;
    END LOOP;
END $$''' % (horizon, runs - 1))
regret = q('''SELECT sum(0.5 - (substr(arm, 2)::int + 1) / 10.0) FILTER (WHERE rn <= %s),
                     sum(0.5 - (substr(arm, 2)::int + 1) / 10.0)
              FROM (SELECT arm, row_number() OVER (PARTITION BY policy ORDER BY id) rn
                    FROM bandit.decision WHERE policy LIKE 'bern%%') d''', horizon // 4)[0]
early, full = float(regret[0]) / runs, float(regret[1]) / runs
uniform = horizon * (max(mu) - sum(mu) / len(mu))
print('Bernoulli bandit, %d runs of T = %d: mean regret %.1f at T/4, %.1f at T (uniform play %.0f)'
      % (runs, horizon, early, full, uniform))
ok('thompson regret < 0.25 x uniform play', full < 0.25 * uniform, '%.1f vs %.1f' % (full, uniform))
# Lai-Robbins: regret ~ sum (mu* - mu_i) / KL(mu_i, mu*) log T, about 70 at T = 2000 here
ok('thompson regret near the logarithmic rate (< 120)', full < 120, '%.1f' % full)
ok('thompson regret grows sublinearly: R(T) < 2.5 R(T/4)', full < 2.5 * early, '%.1f vs %.1f' % (full, early))
pulls_ok = q1('''SELECT bool_and(a.pulls = d.n AND a.alpha = 1 + d.s AND a.beta = 1 + d.n - d.s)
                 FROM bandit.arm a JOIN (SELECT policy, arm, count(*) n, sum(reward) s FROM bandit.decision
                                         WHERE policy LIKE 'bern%' GROUP BY 1, 2) d USING (policy, arm)''')
ok('bernoulli runs: alpha, beta and pulls equal the decision log', pulls_ok)

# (e) LinUCB learns a linear reward; A^-1 and b against numpy
dim = 5
theta = {'a': np.array([0.5, 2, 0, 0, 0.0]), 'b': np.array([0.5, 0, 2, 0, 0.0]), 'c': np.array([0.5, 0, 0, 2, 0.0])}
create('lin', 'linucb', ['a', 'b', 'c'], {'dim': dim, 'alpha': 0.5})
rng = np.random.default_rng(11)
contexts = {a: [] for a in theta}
rewards = {a: [] for a in theta}
hits = 0
rounds = 1500
for t in range(rounds):
    x = np.concatenate([[1.0], rng.uniform(0, 1, dim - 1)])
    decision, arm, propensity = q('SELECT * FROM bandit.choose(%s, %s)', 'lin',
                                  json.dumps({'features': [float(v) for v in x]}))[0]
    expected = {a: float(x @ th) for a, th in theta.items()}
    if t >= rounds - 300:
        hits += arm == max(expected, key=expected.get)
    r = expected[arm] + float(rng.normal(0, 0.1))
    cur.execute('SELECT bandit.reward(%s, %s)', (decision, r))
    contexts[arm].append(x)
    rewards[arm].append(r)
ok('linucb picks the best arm in > 80%% of the last 300 rounds', hits > 240, '%d of 300' % hits)
for a in theta:
    a_inv, b = q('SELECT a_inv, b FROM bandit.linucb_state(%s, %s)', 'lin', a)[0]
    X = np.array(contexts[a]).reshape(-1, dim)
    want_inv = np.linalg.inv(np.eye(dim) + X.T @ X)
    want_b = X.T @ np.array(rewards[a]) if len(rewards[a]) else np.zeros(dim)
    err = np.max(np.abs(np.array(a_inv).reshape(dim, dim) - want_inv)) / np.max(np.abs(want_inv))
    ok('linucb a_inv of arm %s = inv(I + sum x x\') (1e-9)' % a, err <= 1e-9, 'relative error %g' % err)
    err = np.max(np.abs(np.array(b) - want_b)) / max(np.max(np.abs(want_b)), 1e-300)
    ok('linucb b of arm %s = sum r x (1e-9)' % a, err <= 1e-9, 'relative error %g' % err)
    theta_hat = np.array(a_inv).reshape(dim, dim) @ np.array(b)
    ok('linucb theta of arm %s near the truth' % a, np.max(np.abs(theta_hat - theta[a])[:4]) < 0.3,
       repr(theta_hat))

# the LinUCB score itself: theta.x + alpha sqrt(x' A^-1 x), recomputed here for one context
x = np.array([1.0, 0.3, 0.35, 0.32, 0.9])
score = {}
for a in theta:
    a_inv, b = q('SELECT a_inv, b FROM bandit.linucb_state(%s, %s)', 'lin', a)[0]
    A = np.array(a_inv).reshape(dim, dim)
    score[a] = x @ A @ np.array(b) + 0.5 * math.sqrt(x @ A @ x)
got = q('SELECT arm, score FROM bandit.recommend(%s, 3, %s) ORDER BY rank', 'lin',
        json.dumps({'features': list(x)}))
ok('linucb recommend ranks by the upper confidence bound', [g[0] for g in got] == sorted(score, key=score.get,
                                                                                         reverse=True), repr(got))
for a, s_ in got:
    close('linucb recommend score of %s' % a, s_, score[a], 1e-9)
arm = q('SELECT arm FROM bandit.choose(%s, %s)', 'lin', json.dumps({'features': list(x)}))[0][0]
ok('linucb choose = argmax of the score', arm == max(score, key=score.get), '%s vs %r' % (arm, score))

# hashed contexts: other keys go through bandit.hash_features, and learning uses those features
create('linhash', 'linucb', ['a', 'b'], {'dim': 8})
ctx = {'country': 'fr', 'age': 0.5, 'mobile': True, 'max_cost': 10}
hashed = q1('SELECT bandit.hash_features(%s, 8)', json.dumps({'country': 'fr', 'age': 0.5, 'mobile': True}))
decision, arm, _ = q('SELECT * FROM bandit.choose(%s, %s)', 'linhash', json.dumps(ctx))[0]
cur.execute('SELECT bandit.reward(%s, 1)', (decision,))
a_inv = q1('SELECT a_inv FROM bandit.linucb_state(%s, %s)', 'linhash', arm)
xh = np.array(hashed)
err = np.max(np.abs(np.array(a_inv).reshape(8, 8) - np.linalg.inv(np.eye(8) + np.outer(xh, xh))))
ok('linucb learns from hashed features (budget keys left out)', err <= 1e-12, 'error %g' % err)

# discounting LinUCB decays its identity prior too, which alone would blow A^-1 up in
# directions never observed (NaN after ~1000 rewards): each fold restores the prior, so
# A >= I/2 and A^-1 <= 2 I however long one direction alone is rewarded (issue 14)
state = sqlstate("""SELECT bandit.create_policy('lindisc', 'linucb', '{a}', '{"dim": 2, "discount": 0.5}')""")
ok('linucb with discount < 1 is created', state is None, 'SQLSTATE %s' % state)
q("""INSERT INTO bandit.decision (id, policy, arm, propensity, mode, context)
     SELECT 7700000 + g, 'lindisc', 'a', 1, 'active', '{"features": [1, 0]}' FROM generate_series(1, 300) g RETURNING 1""")
q("SELECT bandit.reward(7700000 + g, 1) FROM generate_series(1, 300) g")
a_inv = q1("SELECT a_inv FROM bandit.linucb_state('lindisc', 'a')")
ok('discounted linucb after 300 rewards along one direction (without the prior restored: A^-1_22 = 2^300): A^-1 finite and <= 2 I',
   all(math.isfinite(v) for v in a_inv) and max(a_inv) <= 2 + 1e-12 and min(a_inv) >= -1e-12, str(a_inv))

# (f) shadow mode serves the default arm and logs the policy's own choice; off mode logs none
create('shadow', 'thompson', ['a', 'b', 'c'], {'mode': 'shadow'})
set_arm('shadow', 'a', alpha=1, beta=30)
set_arm('shadow', 'b', alpha=30, beta=1)
set_arm('shadow', 'c', alpha=5, beta=5)
pb = dict(zip('abc', q1("SELECT bandit.prob_best('{1,30,5}', '{30,1,5}')")))
rows = choose_many('shadow', 3000)
ok('shadow serves the default arm with propensity 1', all(r[0] == 'a' and r[1] == 1 and r[4] == 'shadow'
                                                         for r in rows), repr(rows[:3]))
goodness_of_fit('shadow policy_arm frequencies', ['a', 'b', 'c'], [r[2] for r in rows], pb)
worst = max(abs(r[3] - pb[r[2]]) for r in rows)
ok('shadow policy_propensity = prob_best of policy_arm', worst <= 1e-9, 'max error %g' % worst)
cur.execute("SELECT bandit.set_mode('shadow', 'off')")
rows = choose_many('shadow', 100)
ok('off serves the default arm and logs no policy_arm',
   all(r[0] == 'a' and r[1] == 1 and r[2] is None and r[3] is None and r[4] == 'off' for r in rows),
   repr(rows[:3]))
cur.execute("SELECT bandit.set_mode('shadow', 'active')")
rows = choose_many('shadow', 300)
ok('active again serves the policy\'s choice', sum(r[0] == 'b' for r in rows) > 200 and all(r[4] == 'active'
                                                                                          for r in rows))

# budgets: never an arm over max_cost / max_latency_ms (unknown estimates fit); default when none fits
create('budget', 'thompson', ['a'])
cur.execute("SELECT bandit.set_arm_budget('budget', 'a', 1, 10)")
cur.execute("SELECT bandit.add_arm('budget', 'b', 5, 50)")
cur.execute("SELECT bandit.add_arm('budget', 'c', 2, NULL)")
cur.execute("SELECT bandit.add_arm('budget', 'd', NULL, 30)")
for a, al, be in (('a', 2, 8), ('b', 9, 1), ('c', 5, 5), ('d', 6, 4)):
    set_arm('budget', a, alpha=al, beta=be)
ab = {'a': (2, 8), 'b': (9, 1), 'c': (5, 5), 'd': (6, 4)}
for ctx, fits in (({'max_cost': 3}, 'acd'), ({'max_latency_ms': 20}, 'ac'), ({'max_cost': 2, 'max_latency_ms': 40}, 'acd'),
                  ({'max_cost': 100}, 'abcd'), ({'other': 1}, 'abcd')):
    rows = choose_many('budget', 3000, ctx)
    pbf = dict(zip(fits, q1('SELECT bandit.prob_best(%s::float8[], %s::float8[])',
                            [ab[a][0] for a in fits], [ab[a][1] for a in fits])))
    goodness_of_fit('budget %s' % json.dumps(ctx), list('abcd'), [r[0] for r in rows],
                    {a: pbf.get(a, 0) for a in 'abcd'})
    worst = max(abs(r[1] - pbf[r[0]]) for r in rows)
    ok('budget %s propensity = prob_best among the arms that fit' % json.dumps(ctx), worst <= 1e-9,
       'max error %g' % worst)
rows = choose_many('budget', 50, {'max_cost': 0.5, 'max_latency_ms': 5})
ok('budget: none fits, the default arm is served', all(r[0] == 'a' and r[1] == 1 for r in rows), repr(rows[:2]))
rec = q('SELECT arm FROM bandit.recommend(%s, 10, %s)', 'budget', json.dumps({'max_cost': 3}))
ok('recommend honours the budget', sorted(r[0] for r in rec) == ['a', 'c', 'd'], repr(rec))
ok('budget: bad max_cost is 22023', sqlstate("SELECT * FROM bandit.choose('budget', '{\"max_cost\": \"x\"}')")
   == '22023')

# (g) snapshot / restore put back every arm row exactly
create('snap', 'thompson', ['a', 'b', 'c'], {'discount': 0.9})
cur.execute("SELECT bandit.reward('snap', 'a', 0.1) FROM generate_series(1, 7)")
cur.execute("SELECT bandit.reward('snap', 'b', r) FROM (VALUES (0.3), (1.0/3), (0.7)) v(r)")
set_arm('snap', 'c', alpha=1e-300, beta=0.1 + 0.2, cost=1 / 3.0, latency_ms=5e-324)
cur.execute("SELECT bandit.retire_arm('snap', 'c')")
create('snaplin', 'linucb', ['x', 'y'], {'dim': 3})
cur.execute('''SELECT bandit.reward(c.decision_id, 0.3) FROM generate_series(1, 5) g,
               LATERAL bandit.choose(CASE WHEN g > 0 THEN 'snaplin' END, '{"features": [0.1, 0.7, 1e-5]}') c''')
for name in ('snap', 'snaplin'):
    # state_stamp, changed_xid and arms_stamp are not learned state: restore renews them (they key the caches);
    # rewarded and reward_sum count the log for policy_metrics: restore keeps them (checked below)
    before_arms = q1("SELECT jsonb_agg(to_jsonb(a) - 'state_stamp' - 'changed_xid' - 'rewarded' - 'reward_sum' ORDER BY arm) FROM bandit.arm a WHERE policy = %s", name)
    before_counts = q1("SELECT sum(rewarded) FROM bandit.arm WHERE policy = %s", name)
    before_policy = q1("SELECT to_jsonb(p) - 'updated_at' - 'arms_stamp' FROM bandit.policy p WHERE name = %s", name)
    snapshot = q1('SELECT bandit.snapshot(%s, %s)', name, 'before')
    if name == 'snap':
        cur.execute("SELECT bandit.reward('snap', 'a', 1) FROM generate_series(1, 3)")
        cur.execute("SELECT bandit.add_arm('snap', 'e')")
        cur.execute("SELECT bandit.set_mode('snap', 'shadow')")
    else:
        cur.execute('''SELECT bandit.reward(c.decision_id, 1) FROM generate_series(1, 5) g,
                       LATERAL bandit.choose(CASE WHEN g > 0 THEN 'snaplin' END, '{"features": [0.3, 0.2, 0.1]}') c''')
    cur.execute('SELECT bandit.restore(%s)', (snapshot,))
    after_arms = q1("SELECT jsonb_agg(to_jsonb(a) - 'state_stamp' - 'changed_xid' - 'rewarded' - 'reward_sum' ORDER BY arm) FROM bandit.arm a WHERE policy = %s", name)
    # snap's rewards after the snapshot credit arms directly (no decision); snaplin's 5 are decisions
    ok('restore keeps the log counters of %s' % name,
       q1("SELECT sum(rewarded) FROM bandit.arm WHERE policy = %s", name) == before_counts + (0 if name == 'snap' else 5))
    after_policy = q1("SELECT to_jsonb(p) - 'updated_at' - 'arms_stamp' FROM bandit.policy p WHERE name = %s", name)
    ok('restore puts back every arm row of %s exactly' % name, after_arms == before_arms,
       '\n  before %r\n  after  %r' % (before_arms, after_arms))
    ok('restore puts back the policy row of %s' % name, after_policy == before_policy,
       '\n  before %r\n  after  %r' % (before_policy, after_policy))
    exact_floats = q1('''SELECT bool_and(a.alpha = s.alpha AND a.beta = s.beta AND a.mean_reward = s.mean_reward
                                         AND a.m2 = s.m2 AND a.weight = s.weight
                                         AND a.cost IS NOT DISTINCT FROM s.cost
                                         AND a.latency_ms IS NOT DISTINCT FROM s.latency_ms
                                         AND a.a_inv IS NOT DISTINCT FROM s.a_inv AND a.b IS NOT DISTINCT FROM s.b)
                         FROM bandit.arm a JOIN jsonb_populate_recordset(NULL::bandit.arm, %s) s USING (policy, arm)''',
                      json.dumps(before_arms))
    ok('restore of %s: float columns bit for bit' % name, exact_floats)
ok('restore of an unknown snapshot is 42704', sqlstate('SELECT bandit.restore(-1)') == '42704')
ok('restore is audited', q1("SELECT count(*) FROM bandit.audit WHERE policy = 'snap' AND action = 'restore'") == 1)

# (h) discount 0.5: alpha = prior + 0.5 (alpha - prior) + r exactly; weighted mean and m2
create('disc', 'thompson', ['a'], {'discount': 0.5, 'prior_alpha': 2, 'prior_beta': 3})
seq = [0.3, 1, 0, 0.25, 0.8, 1, 1, 0.1, 0, 0.6, 0.45, 1]
al, be = 2.0, 3.0
exact_ok = True
for i, r in enumerate(seq):
    cur.execute("SELECT bandit.reward('disc', 'a', %s)", (r,))
    al = 2 + 0.5 * (al - 2) + r
    be = 3 + 0.5 * (be - 3) + (1 - r)
    got_al, got_be = q("SELECT alpha, beta FROM bandit.arm WHERE policy = 'disc'")[0]
    if (got_al, got_be) != (al, be):
        exact_ok = False
        print('  after reward %d: alpha %r beta %r, want %r %r' % (i + 1, got_al, got_be, al, be))
ok('discount 0.5: alpha and beta follow prior + 0.5 (x - prior) + r exactly', exact_ok)
w = np.array([0.5 ** (len(seq) - 1 - i) for i in range(len(seq))])
x = np.array(seq)
wmean = (w * x).sum() / w.sum()
pulls, weight, mean_reward, m2 = q("SELECT pulls, weight, mean_reward, m2 FROM bandit.arm WHERE policy = 'disc'")[0]
ok('discount: pulls counts every reward', pulls == len(seq))
close('discount: weight = sum 0.5^k', weight, w.sum(), 1e-14)
close('discount: mean_reward = discounted weighted mean', mean_reward, wmean, 1e-12)
close('discount: m2 = sum w (x - mean)^2', m2, (w * (x - wmean) ** 2).sum(), 1e-10)

# rewards: bad input changes nothing
before = q1("SELECT to_jsonb(a) FROM bandit.arm a WHERE policy = 'disc'")
ok('thompson reward 1.5 is 22003', sqlstate("SELECT bandit.reward('disc', 'a', 1.5)") == '22003')
ok('reward NaN is 22003', sqlstate("SELECT bandit.reward('disc', 'a', 'NaN')") == '22003')
ok('reward of an unknown arm is 42704', sqlstate("SELECT bandit.reward('disc', 'zz', 1)") == '42704')
ok('reward of an unknown policy is 42704', sqlstate("SELECT bandit.reward('nope', 'a', 1)") == '42704')
ok('reward of an unknown decision is 42704', sqlstate('SELECT bandit.reward(-5::bigint, 1)') == '42704')
ok('failed rewards change nothing', q1("SELECT to_jsonb(a) FROM bandit.arm a WHERE policy = 'disc'") == before)

# batch reward: all or nothing; a duplicate id in the batch is 23505
ids = [r[0] for r in q("SELECT decision_id FROM generate_series(1, 4) g, LATERAL bandit.choose(CASE WHEN g > 0 THEN 'disc' END)")]
ok('batch with a duplicate is 23505', sqlstate('SELECT bandit.reward(%s::bigint[], %s::float8[])',
                                               [ids[0], ids[1], ids[0]], [1, 1, 1]) == '23505')
ok('batch with a bad reward is 22003', sqlstate('SELECT bandit.reward(%s::bigint[], %s::float8[])',
                                                ids, [1, 1, 1, 2]) == '22003')
ok('batch of mismatched lengths is 2202E', sqlstate('SELECT bandit.reward(%s::bigint[], %s::float8[])',
                                                    ids, [1, 1]) == '2202E')
ok('failed batches change nothing', q1("SELECT to_jsonb(a) FROM bandit.arm a WHERE policy = 'disc'") == before
   and q1('SELECT count(*) FROM bandit.decision WHERE id = ANY(%s) AND reward IS NOT NULL', ids) == 0)
ok('batch credits all', q1('SELECT bandit.reward(%s::bigint[], %s::float8[])', ids, [1, 0, 1, 0]) == 4
   and q1("SELECT pulls FROM bandit.arm WHERE policy = 'disc'") == len(seq) + 4)

# same seed, same choices
def seeded(seed):
    cur.execute('SELECT bandit.set_seed(%s)', (seed,))
    return [r[0] for r in q("SELECT c.arm FROM generate_series(1, 50) g, LATERAL bandit.choose(CASE WHEN g > 0 THEN 'thompson' END) c")]


ok('set_seed makes choose reproducible', seeded(99) == seeded(99))

print('elapsed %.1f s' % (time.time() - started))
conn.close()
admin.cursor().execute('DROP DATABASE bandit_policy_test')
sys.exit(report())
