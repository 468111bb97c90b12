#!/usr/bin/env python3
"""LinTS and forgetting for linear policies (issue 14).

- The posterior choose and recommend use (bandit.linucb_state: mean A^-1 b,
  covariance v^2 A^-1) against numpy's exact inverse of A after every
  reward, with and without discount: A <- gamma A + x x', and every fold
  (every min(2 dim, floor(ln 2 / -ln gamma)) rewards of an arm, at least 1)
  adds (1 - gamma^k) I back; read in the rewarding session and in another
  one (which applies the pending rows itself).
- LinTS's logged propensity against an independent Monte Carlo in numpy
  (theta drawn whole from the multivariate normal, M draws, within 5
  binomial standard errors), against Phi in closed form for two arms, and
  against the frequencies of its own choices.
- A linear-Gaussian simulation: LinTS's regret grows sublinearly and stays
  comparable to LinUCB's.
- Coefficients that change halfway: a discounted policy (linucb and lints)
  recovers, the undiscounted one does not.
"""
import json
import math
import os
import sys

import numpy as np
import psycopg2
from scipy.stats import norm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import close, fresh_database, ok, query_helpers, report  # noqa: E402

DB = 'bandit_lints_test'
rng = np.random.default_rng(20261208)


def fold_every(dim, gamma):
    if gamma >= 1:
        return 2 * dim
    return max(1, min(2 * dim, math.floor(math.log(2) / -math.log(gamma))))


class Exact:
    """numpy's A and b per arm, built directly (no Sherman-Morrison), inverted exactly."""

    def __init__(self, arms, dim, gamma):
        self.dim, self.gamma, self.every = dim, gamma, fold_every(dim, gamma)
        self.a = {a: np.eye(dim) for a in arms}
        self.b = {a: np.zeros(dim) for a in arms}
        self.since = {a: 0 for a in arms}

    def add(self, arm, x, r):
        self.a[arm] = self.gamma * self.a[arm] + np.outer(x, x)
        self.b[arm] = self.gamma * self.b[arm] + r * x
        self.since[arm] += 1
        if self.since[arm] == self.every:
            self.a[arm] += (1 - self.gamma ** self.every) * np.eye(self.dim)
            self.since[arm] = 0

    def a_inv(self, arm):
        return np.linalg.inv(self.a[arm])


def state(cur, policy, arm, dim):
    cur.execute('SELECT a_inv, b FROM bandit.linucb_state(%s, %s)', (policy, arm))
    a_inv, b = cur.fetchone()
    return np.array(a_inv).reshape(dim, dim), np.array(b)


def rel_err(got, want):
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def ctx(x):
    return json.dumps({'features': [float(v) for v in x]})


def choose(cur, policy, x):
    cur.execute('SELECT decision_id, arm, propensity FROM bandit.choose(%s, %s)', (policy, ctx(x)))
    return cur.fetchone()


def check_exact_states(cur, other, algorithm, gamma, dim=4, arms=('a', 'b'), rewards=40):
    """A^-1 and b after every reward vs numpy, in this session and another."""
    name = '%s_%s' % (algorithm, str(gamma).replace('.', '_'))
    cur.execute('SELECT bandit.create_policy(%s, %s, %s, %s)',
                (name, algorithm, list(arms), json.dumps({'dim': dim, 'discount': gamma})))
    ref = Exact(arms, dim, gamma)
    worst = worst_other = 0.0
    for _ in range(rewards):
        x = rng.normal(size=dim) * rng.choice([0.3, 1, 3])
        decision, arm, _ = choose(cur, name, x)
        r = float(rng.normal())
        cur.execute('SELECT bandit.reward(%s, %s)', (decision, r))
        ref.add(arm, x, r)
        for a in arms:
            a_inv, b = state(cur, name, a, dim)
            worst = max(worst, rel_err(a_inv, ref.a_inv(a)), rel_err(b, ref.b[a]))
            a_inv2, b2 = state(other, name, a, dim)
            worst_other = max(worst_other, rel_err(a_inv2, ref.a_inv(a)), rel_err(b2, ref.b[a]))
    ok('%s discount %s: A^-1 and b after each of %d rewards = numpy exact inverse (fold every %d)'
       % (algorithm, gamma, rewards, ref.every), worst < 1e-9, 'worst %.3g' % worst)
    ok('%s discount %s: another session applies the pending rows alike' % (algorithm, gamma),
       worst_other < 1e-9, 'worst %.3g' % worst_other)
    # the floor: A >= I/2 (A^-1 <= 2 I) whatever the features
    floor = min(np.linalg.eigvalsh(ref.a[a]).min() for a in arms)
    ok('%s discount %s: A >= I/2 (smallest eigenvalue %.3g)' % (algorithm, gamma, floor), floor >= 0.5 - 1e-12)
    # the posterior mean, as recommend ranks lints (posterior mean) / linucb with alpha
    if algorithm == 'lints':
        x = rng.normal(size=dim)
        cur.execute('SELECT arm, score FROM bandit.recommend(%s, 10, %s)', (name, ctx(x)))
        worst = max(abs(s - x @ np.linalg.solve(ref.a[a], ref.b[a])) for a, s in cur.fetchall())
        ok('lints discount %s: recommend scores = x . A^-1 b (numpy solve)' % gamma, worst < 1e-9, 'worst %.3g' % worst)
    return name


def propensity_checks(cur):
    dim, v = 3, 0.7
    arms = ['a', 'b', 'c', 'd']
    cur.execute("SELECT bandit.create_policy('lt_prop', 'lints', %s, %s)",
                (arms, json.dumps({'dim': dim, 'v': v})))
    truth = {a: rng.normal(size=dim) * 0.5 for a in arms}
    for _ in range(60):
        x = rng.normal(size=dim)
        decision, arm, _ = choose(cur, 'lt_prop', x)
        cur.execute('SELECT bandit.reward(%s, %s)', (decision, float(x @ truth[arm] + rng.normal() * 0.5)))
    post = {a: state(cur, 'lt_prop', a, dim) for a in arms}
    x = np.array([0.4, -0.3, 0.8])
    # our propensities: the same state, every arm's from the choices it logged
    cur.execute('SELECT bandit.set_seed(7)')
    n = 3000
    cur.execute('SELECT c.arm, c.propensity FROM generate_series(1, %s) g, '
                "LATERAL bandit.choose('lt_prop', jsonb_build_object('features', ARRAY[%s, %s, %s + 0 * g])) c",
                (n, *x))
    rows = cur.fetchall()
    ours = {}
    counts = {a: 0 for a in arms}
    for arm, p in rows:
        counts[arm] += 1
        ours.setdefault(arm, set()).add(p)
    ok('lints: one propensity per arm while the state holds', all(len(s) == 1 for s in ours.values()), str(ours))
    ours = {a: min(s) for a, s in ours.items()}
    # numpy: theta drawn whole, theta_i ~ N(A_i^-1 b_i, v^2 A_i^-1); P(x . theta_i is the largest)
    m = 1_000_000
    draws = np.empty((m, len(arms)))
    for i, a in enumerate(arms):
        a_inv, b = post[a]
        theta = rng.multivariate_normal(a_inv @ b, v * v * a_inv, size=m, method='cholesky')
        draws[:, i] = theta @ x
    winner = draws.argmax(axis=1)
    worst_z = 0.0
    for i, a in enumerate(arms):
        p_mc = float(np.mean(winner == i))
        se = math.sqrt(max(p_mc * (1 - p_mc), 1e-12) / m)
        if a in ours:
            z = abs(ours[a] - p_mc) / se
            worst_z = max(worst_z, z)
            ok('lints propensity of %s = Monte Carlo of theta (M = %d) within 5 SE' % (a, m), z < 5,
               'ours %.6f, MC %.6f, SE %.2g' % (ours[a], p_mc, se))
        # choices made follow the propensities (the draws' covariance is v^2 A^-1)
        p = ours.get(a, p_mc)
        se_n = math.sqrt(max(p * (1 - p), 1e-12) / n)
        ok('lints: arm %s chosen %d of %d times, propensity %.4f (within 5 SE)' % (a, counts[a], n, p),
           abs(counts[a] / n - p) < 5 * se_n + 1e-9)
    print('propensity vs Monte Carlo (M = %d): worst |z| %.2f' % (m, worst_z))
    # two arms: exact, Phi of the difference of two independent normal scores
    cur.execute("SELECT bandit.create_policy('lt_two', 'lints', '{a,b}', %s)", (json.dumps({'dim': dim, 'v': v}),))
    for _ in range(12):
        x2 = rng.normal(size=dim)
        decision, arm, _ = choose(cur, 'lt_two', x2)
        cur.execute('SELECT bandit.reward(%s, %s)', (decision, float(rng.normal() + (arm == 'a'))))
    worst = 0.0
    for _ in range(20):
        x2 = rng.normal(size=dim)
        mean, var = {}, {}
        for a in 'ab':
            a_inv, b = state(cur, 'lt_two', a, dim)
            mean[a], var[a] = x2 @ a_inv @ b, v * v * (x2 @ a_inv @ x2)
        p_a = norm.cdf((mean['a'] - mean['b']) / math.sqrt(var['a'] + var['b']))
        _, arm, p = choose(cur, 'lt_two', x2)
        worst = max(worst, abs(p - (p_a if arm == 'a' else 1 - p_a)))
    ok('lints two arms: propensity = Phi((m_a - m_b) / sqrt(s_a^2 + s_b^2)) within 1e-9', worst < 1e-9,
       'worst %.3g' % worst)


def simulate(cur, name, truth, xs, noise, change=None):
    """Rounds of choose and reward; per round regret; truth swaps at round `change`."""
    regret = []
    arms = sorted(truth)
    for t, x in enumerate(xs):
        th = truth if change is None or t < change else {a: truth[arms[(i + 1) % len(arms)]]
                                                          for i, a in enumerate(arms)}
        decision, arm, _ = choose(cur, name, x)
        best = max(x @ th[a] for a in arms)
        regret.append(best - x @ th[arm])
        cur.execute('SELECT bandit.reward(%s, %s)', (decision, float(x @ th[arm] + rng.normal() * noise)))
    return np.array(regret)


def simulation(cur):
    dim, narms, rounds = 5, 5, 1500
    arms = ['a%d' % i for i in range(narms)]
    truth = {a: rng.normal(size=dim) / math.sqrt(dim) for a in arms}
    xs = rng.normal(size=(rounds, dim))
    cur.execute('SELECT bandit.set_seed(11)')
    cur.execute("SELECT bandit.create_policy('sim_ts', 'lints', %s, %s)", (arms, json.dumps({'dim': dim, 'v': 0.5})))
    cur.execute("SELECT bandit.create_policy('sim_ucb', 'linucb', %s, %s)", (arms, json.dumps({'dim': dim, 'alpha': 1})))
    ts = simulate(cur, 'sim_ts', truth, xs, 0.5)
    ucb = simulate(cur, 'sim_ucb', truth, xs, 0.5)
    uniform = float(np.mean([max(x @ truth[a] for a in arms) - np.mean([x @ truth[a] for a in arms]) for x in xs]))
    third = rounds // 3
    print('simulation dim %d, %d arms, %d rounds: regret LinTS %.1f (first third %.1f, last %.1f), LinUCB %.1f, '
          'uniform %.1f' % (dim, narms, rounds, ts.sum(), ts[:third].sum(), ts[-third:].sum(), ucb.sum(),
                            uniform * rounds))
    ok('LinTS regret is sublinear: the last third < half the first', ts[-third:].sum() < 0.5 * ts[:third].sum())
    ok('LinTS regret comparable to LinUCB (< 2x + 10)', ts.sum() < 2 * ucb.sum() + 10)
    ok('LinTS regret far below uniform choice (< 1/4)', ts.sum() < 0.25 * uniform * rounds)


def forgetting(cur):
    dim, rounds, change = 3, 1200, 600
    arms = ['a', 'b']
    base = np.array([1.0, -1.0, 0.5])
    truth = {'a': base, 'b': -base}
    xs = rng.normal(size=(rounds, dim))
    cur.execute('SELECT bandit.set_seed(12)')
    results = {}
    for algorithm, key in (('linucb', 'alpha'), ('lints', 'v')):
        for gamma in (1, 0.97):
            name = 'chg_%s_%s' % (algorithm, 'd' if gamma < 1 else 'n')
            cur.execute('SELECT bandit.create_policy(%s, %s, %s, %s)',
                        (name, algorithm, arms, json.dumps({'dim': dim, key: 0.5, 'discount': gamma})))
            regret = simulate(cur, name, truth, xs, 0.3, change)
            # coefficient error after the change: the arms swapped
            err = 0.0
            for a, o in (('a', 'b'), ('b', 'a')):
                a_inv, b = state(cur, name, a, dim)
                err = max(err, float(np.linalg.norm(a_inv @ b - truth[o])))
            results[(algorithm, gamma)] = (regret[-300:].sum(), err)
            print('coefficients change at %d of %d: %s discount %s: regret of the last 300 rounds %.1f, '
                  'coefficient error %.3f' % (change, rounds, algorithm, gamma, regret[-300:].sum(), err))
        (rd, ed), (rn, en) = results[(algorithm, 0.97)], results[(algorithm, 1)]
        ok('%s: the discounted policy recovers after the change (last-300 regret < 1/4 of undiscounted)' % algorithm,
           rd < 0.25 * rn, '%.1f vs %.1f' % (rd, rn))
        ok('%s: discounted coefficients near the new truth (error < 0.25), undiscounted not (> 0.5)' % algorithm,
           ed < 0.25 and en > 0.5, '%.3f vs %.3f' % (ed, en))


def batched_and_canary(cur):
    """A batched lints policy with discount learns in learn_pending exactly as immediately."""
    dim, gamma = 3, 0.8
    cur.execute("SELECT bandit.create_policy('lt_batch', 'lints', '{a,b}', %s)",
                (json.dumps({'dim': dim, 'discount': gamma, 'learning': 'batched'}),))
    ref = Exact(['a', 'b'], dim, gamma)
    for _ in range(25):
        x = rng.normal(size=dim)
        decision, arm, _ = choose(cur, 'lt_batch', x)
        r = float(rng.normal())
        cur.execute('SELECT bandit.reward(%s, %s)', (decision, r))
        ref.add(arm, x, r)
    cur.execute("SELECT bandit.learn_pending('lt_batch')")
    learned = cur.fetchone()[0]
    worst = max(max(rel_err(state(cur, 'lt_batch', a, dim)[0], ref.a_inv(a)),
                    rel_err(state(cur, 'lt_batch', a, dim)[1], ref.b[a])) for a in 'ab')
    ok('batched lints: learn_pending learned 25 rewards as numpy (discount %s)' % gamma,
       learned == 25 and worst < 1e-9, 'learned %s, worst %.3g' % (learned, worst))
    # a LinTS candidate canaries a LinUCB policy of its dim, and serves its share
    cur.execute("SELECT bandit.create_policy('lu_prod', 'linucb', '{a,b}', %s)", (json.dumps({'dim': dim}),))
    cur.execute("SELECT bandit.create_policy('lt_cand', 'lints', '{a,b}', %s)", (json.dumps({'dim': dim}),))
    cur.execute("SELECT bandit.start_canary('lu_prod', 'lt_cand', 0.5)")
    for _ in range(40):
        choose(cur, 'lu_prod', rng.normal(size=dim))
    cur.execute("SELECT count(*) FROM bandit.decision WHERE policy = 'lt_cand' AND canary_of = 'lu_prod'")
    served = cur.fetchone()[0]
    ok('a lints candidate serves its share of a linucb policy (%d of 40)' % served, 5 <= served <= 35)


def main():
    admin, conn = fresh_database(DB)
    cur = conn.cursor()
    other = psycopg2.connect(dbname=DB)
    other.autocommit = True
    ocur = other.cursor()
    q, q1, sqlstate = query_helpers(cur)
    for algorithm in ('linucb', 'lints'):
        for gamma in (1, 0.95, 0.8, 0.3):
            check_exact_states(cur, ocur, algorithm, gamma)
    propensity_checks(cur)
    simulation(cur)
    forgetting(cur)
    batched_and_canary(cur)
    ok('bad v is 22003', sqlstate("SELECT bandit.create_policy('bad', 'lints', '{a}', '{\"dim\": 2, \"v\": -0.1}')")
       == '22003')
    other.close()
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return report()


if __name__ == '__main__':
    sys.exit(main())
