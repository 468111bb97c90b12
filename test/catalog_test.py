#!/usr/bin/env python3
"""Catalog-scale Thompson sampling (issue 11): the answers, not the speed.

1. prob_best and expected_loss at 1,000 and 10,000 arms against an
   independent quadrature in scipy (Gauss-Legendre in x over the region where
   the product of the arms' CDFs is not negligible), to 1e-6.
2. Thompson's propensity against prob_best over the same state (one
   REPEATABLE READ transaction) at 10 to 10,000 arms, after rounds of choose +
   reward in one session (the per-backend caches bring their state up to date
   arm by arm) and after another session rewarded many arms: within 1e-9.
3. The per-backend arm cache sees every change another session commits
   (rewards, new, retired and deleted arms, budgets, writes by hand,
   restore, a policy dropped and made again, TRUNCATE), nothing uncommitted,
   and nothing its own aborted transaction or savepoint wrote.
4. 8 clients on one 1,000-arm policy: no reward lost, and each backend's
   propensity afterwards within 1e-9 of prob_best.
"""
import multiprocessing
import random

import numpy
import psycopg2
from scipy import special, stats

from testlib import ok, close, fresh_database, report

DB = 'bandit_catalog_test'


def varied(rng, n):
    """Posteriors of a catalog: true rates 1-10 %, 50-500 pulls per arm."""
    alpha, beta = [], []
    for _ in range(n):
        pulls = rng.randint(50, 500)
        wins = sum(rng.random() < rng.uniform(0.01, 0.10) for _ in range(pulls))
        alpha.append(1.0 + wins)
        beta.append(1.0 + pulls - wins)
    return numpy.array(alpha), numpy.array(beta)


def reference(alpha, beta):
    """P(best) and expected loss by Gauss-Legendre panels in x, where the
    product of all CDFs exceeds e^-60 (below, every share is under that)."""
    def log_product(x):
        return numpy.sum(numpy.log(special.betainc(alpha, beta, x).clip(1e-300)))
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if log_product(mid) < -60:
            lo = mid
        else:
            hi = mid
    top = float(numpy.max(stats.beta.isf(1e-18, alpha, beta)))
    nodes, weights = numpy.polynomial.legendre.leggauss(20)
    edges = numpy.linspace(lo, top, 201)
    prob = numpy.zeros(len(alpha))
    expected_max = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        x = (a + b) / 2 + (b - a) / 2 * nodes
        w = (b - a) / 2 * weights
        log_cdf = numpy.log(special.betainc(alpha[:, None], beta[:, None], x[None, :]).clip(1e-300))
        others = numpy.exp(log_cdf.sum(axis=0)[None, :] - log_cdf)
        part = stats.beta.pdf(x[None, :], alpha[:, None], beta[:, None]) * others * w[None, :]
        prob += part.sum(axis=1)
        expected_max += float((part * x[None, :]).sum())
    return prob, expected_max - alpha / (alpha + beta)


def check_against_reference(cur, rng):
    for n in (1000, 10000):
        alpha, beta = varied(rng, n)
        want_prob, want_loss = reference(alpha, beta)
        cur.execute('SELECT bandit.prob_best(%s, %s), bandit.expected_loss(%s, %s)',
                    (list(alpha), list(beta), list(alpha), list(beta)))
        prob, loss = cur.fetchone()
        error = max(abs(p - q) for p, q in zip(prob, want_prob))
        ok('prob_best at %d arms within 1e-6 of scipy' % n, error <= 1e-6, 'max error %.3g' % error)
        error = max(abs(p - q) for p, q in zip(loss, want_loss))
        ok('expected_loss at %d arms within 1e-6 of scipy' % n, error <= 1e-6, 'max error %.3g' % error)
        close('prob_best at %d arms sums to 1' % n, sum(prob), 1.0, 1e-9)


def make_policy(cur, name, alpha, beta):
    arms = ['a%05d' % i for i in range(len(alpha))]
    cur.execute('SELECT bandit.create_policy(%s, %s, %s)', (name, 'thompson', arms))
    cur.execute("""UPDATE bandit.arm a SET alpha = s.alpha, beta = s.beta
                   FROM unnest(%s::text[], %s::float8[], %s::float8[]) s(arm, alpha, beta)
                   WHERE a.policy = %s AND a.arm = s.arm""", (arms, list(alpha), list(beta), name))


def propensity_error(cur, name):
    """|propensity - prob_best| of the chosen arm over one snapshot."""
    cur.execute('BEGIN ISOLATION LEVEL REPEATABLE READ')
    cur.execute('SELECT arm, propensity FROM bandit.choose(%s)', (name,))
    arm, propensity = cur.fetchone()
    cur.execute("""WITH s AS (SELECT array_agg(a.arm ORDER BY a.arm COLLATE "C") arms,
                                     array_agg(a.alpha ORDER BY a.arm COLLATE "C") al,
                                     array_agg(a.beta ORDER BY a.arm COLLATE "C") be
                              FROM bandit.arm a WHERE a.policy = %s AND NOT a.retired)
                   SELECT u.p FROM s, unnest(s.arms, bandit.prob_best(s.al, s.be)) u(name, p)
                   WHERE u.name = %s""", (name, arm))
    want = cur.fetchone()[0]
    cur.execute('ROLLBACK')
    return abs(want - propensity)


def check_propensity(conn, other, rng):
    cur, cur2 = conn.cursor(), other.cursor()
    for n, kind in ((10, 'varied'), (100, 'varied'), (1000, 'varied'), (10000, 'varied'), (10000, 'fresh')):
        name = 'prop_%d_%s' % (n, kind)
        if kind == 'varied':
            alpha, beta = varied(rng, n)
        else:
            alpha, beta = numpy.ones(n), numpy.ones(n)
        make_policy(cur, name, alpha, beta)
        worst = 0.0
        checks = 0
        for r in range(40):
            cur.execute('SELECT decision_id, arm FROM bandit.choose(%s)', (name,))
            decision, arm = cur.fetchone()
            cur.execute('SELECT bandit.reward(%s, %s)', (decision, float(rng.random() < 0.08)))
            if r % 8 == 7:
                worst = max(worst, propensity_error(cur, name))
                checks += 1
        ok('%d %s arms: propensity within 1e-9 of prob_best over %d rounds (%d checks)' % (n, kind, 40, checks),
           worst <= 1e-9, 'worst %.3g' % worst)
        # another session credits many arms at once: this one's caches catch up
        cur2.execute("""SELECT bandit.reward(%s, arm, (random() < 0.1)::int::float8)
                        FROM bandit.arm WHERE policy = %s AND arm <= 'a00200'""", (name, name))
        error = propensity_error(cur, name)
        ok('%d %s arms: propensity after another session rewarded up to 201 arms' % (n, kind),
           error <= 1e-9, 'error %.3g' % error)
        cur2.execute("SELECT bandit.reward(%s, 'a00003', 1)", (name,))
        error = propensity_error(cur, name)
        ok('%d %s arms: propensity after another session rewarded one arm' % (n, kind),
           error <= 1e-9, 'error %.3g' % error)
        cur.execute('DELETE FROM bandit.policy WHERE name = %s', (name,))


def seen(cur, name):
    """The arms and mean rewards recommend sees (epsilon-greedy ranks by mean)."""
    cur.execute('SELECT arm, score FROM bandit.recommend(%s, 100000) ORDER BY arm', (name,))
    return cur.fetchall()


def table(cur, name, budget=None):
    """The same from the table, as the snapshot of cur sees it."""
    cur.execute("""SELECT arm, CASE WHEN weight > 0 THEN mean_reward ELSE 0 END FROM bandit.arm
                   WHERE policy = %s AND NOT retired AND (%s::float8 IS NULL OR cost IS NULL OR cost <= %s)
                   ORDER BY arm""", (name, budget, budget))
    return cur.fetchall()


def check_arm_cache(conn, other, rng):
    a, b = conn.cursor(), other.cursor()
    name = 'cached'
    arms = ['x%03d' % i for i in range(300)]

    def same(what, budget=None):
        if budget is None:
            got = seen(a, name)
        else:
            a.execute('SELECT arm, score FROM bandit.recommend(%s, 100000, %s) ORDER BY arm',
                      (name, '{"max_cost": %s}' % budget))
            got = a.fetchall()
        want = table(b, name, budget)
        ok('arm cache: %s' % what, got == want, 'got %d arms %s, want %d arms %s'
           % (len(got), got[:3], len(want), want[:3]))

    b.execute('SELECT bandit.create_policy(%s, %s, %s)', (name, 'epsilon_greedy', arms))
    same('a new policy')
    b.execute("SELECT bandit.reward(%s, 'x007', 0.75)", (name,))
    same('a reward by another session')
    b.execute("SELECT bandit.reward(%s, arm, random()) FROM unnest(%s::text[]) arm", (name, arms[::3]))
    same('100 rewards by another session')
    b.execute("SELECT bandit.add_arm(%s, 'x999')", (name,))
    b.execute("SELECT bandit.add_arm(%s, 'a000')", (name,))
    same('two arms added (first and last by name)')
    b.execute("SELECT bandit.retire_arm(%s, 'x010')", (name,))
    same('an arm retired')
    b.execute("SELECT bandit.set_arm_budget(%s, 'x011', 5.0, NULL)", (name,))
    same('a budget set, within a max_cost', budget=1.0)
    b.execute("UPDATE bandit.arm SET mean_reward = 0.5, weight = 2 WHERE policy = %s AND arm = 'x012'", (name,))
    same('a row written by hand')
    b.execute("DELETE FROM bandit.arm WHERE policy = %s AND arm = 'x013'", (name,))
    same('a row deleted by hand')
    b.execute("SELECT bandit.snapshot(%s, 'before')", (name,))
    snap = b.fetchone()[0]
    b.execute("SELECT bandit.reward(%s, 'x014', 1)", (name,))
    b.execute("SELECT bandit.add_arm(%s, 'x998')", (name,))
    same('changes after a snapshot')
    b.execute('SELECT bandit.restore(%s)', (snap,))
    same('restore (an arm added since is deleted)')

    # not yet committed: invisible; then committed by a transaction older than the cache's last read
    b.execute('BEGIN')
    b.execute('SELECT pg_current_xact_id()')
    same('with a transaction open elsewhere')
    b.execute("SELECT bandit.reward(%s, 'x015', 1)", (name,))
    got, want, theirs = seen(a, name), table(a, name), table(b, name)
    ok('arm cache: an uncommitted reward elsewhere is not seen', got == want and got != theirs,
       'x015: %s here, %s in the table, %s uncommitted' % (dict(got).get('x015'), dict(want).get('x015'),
                                                           dict(theirs).get('x015')))
    b.execute('COMMIT')
    same('a reward committed by a transaction that began before the last read')

    # its own aborted writes
    a.execute('BEGIN')
    a.execute("SELECT bandit.reward(%s, 'x016', 1)", (name,))
    a.execute("SELECT score FROM bandit.recommend(%s, 100000) WHERE arm = 'x016'", (name,))
    ok('arm cache: its own transaction\'s reward is seen', a.fetchone()[0] == 1)
    a.execute('ROLLBACK')
    same('after its own transaction rolled back')
    a.execute('BEGIN')
    a.execute('SAVEPOINT s')
    a.execute("SELECT bandit.reward(%s, 'x017', 1)", (name,))
    a.execute("SELECT count(*) FROM bandit.recommend(%s, 100000)", (name,))
    a.execute('ROLLBACK TO SAVEPOINT s')
    a.execute("SELECT score FROM bandit.recommend(%s, 100000) WHERE arm = 'x017'", (name,))
    ok('arm cache: a reward rolled back to a savepoint is not seen', a.fetchone()[0] == 0)
    a.execute('COMMIT')

    b.execute('DELETE FROM bandit.policy WHERE name = %s', (name,))
    b.execute('SELECT bandit.create_policy(%s, %s, %s)', (name, 'epsilon_greedy', ['y1', 'y2']))
    same('the policy dropped and made again with other arms')
    b.execute('TRUNCATE bandit.arm')
    b.execute("INSERT INTO bandit.arm (policy, arm, alpha, beta) VALUES (%s, 'z1', 1, 1)", (name,))
    same('TRUNCATE and a row inserted by hand')

    # Thompson through choose: another session's reward moves this one's propensity
    b.execute('SELECT bandit.create_policy(%s, %s, %s)', ('tcached', 'thompson', ['p', 'q']))
    a.execute("SELECT propensity FROM bandit.choose('tcached') WHERE arm = 'p'")
    b.execute("UPDATE bandit.arm SET alpha = 1000, beta = 1 WHERE policy = 'tcached' AND arm = 'p'")
    a.execute("SELECT arm, propensity FROM bandit.choose('tcached')")
    arm, propensity = a.fetchone()
    # P(Beta(1000, 1) > Beta(1, 1)) = 1 - 1/1001
    ok('arm cache: choose sees a posterior written elsewhere', arm == 'p' and abs(propensity - 1000 / 1001) < 1e-12,
       'got %s %r' % (arm, propensity))


def client(args):
    """One of 8 clients: choose + reward rounds, each its own transaction;
    then the propensity over one snapshot, from this backend's caches."""
    name, seed, rounds = args
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()
    rng = random.Random(seed)
    credited = 0.0
    for _ in range(rounds):
        cur.execute('SELECT decision_id FROM bandit.choose(%s)', (name,))
        reward = float(rng.random() < 0.3)
        cur.execute('SELECT bandit.reward(%s, %s)', (cur.fetchone()[0], reward))
        credited += reward
    error = propensity_error(cur, name)
    conn.close()
    return credited, error


def check_concurrent(conn, rng):
    """8 clients on one 1,000-arm policy: no reward lost, every backend's
    cached state ends equal to the table's."""
    cur = conn.cursor()
    alpha, beta = varied(rng, 1000)
    make_policy(cur, 'shared', alpha, beta)
    cur.execute("SELECT sum(alpha + beta) FROM bandit.arm WHERE policy = 'shared'")
    before = cur.fetchone()[0]
    with multiprocessing.Pool(8) as pool:
        results = pool.map(client, [('shared', 100 + k, 40) for k in range(8)])
    cur.execute("SELECT sum(alpha + beta), sum(alpha) FROM bandit.arm WHERE policy = 'shared'")
    total, _ = cur.fetchone()
    close('8 clients x 40 rounds: every reward credited once', total - before, 320, 0, 1e-6)
    cur.execute("SELECT count(*) FROM bandit.decision WHERE policy = 'shared' AND reward IS NOT NULL")
    ok('8 clients: 320 decisions rewarded', cur.fetchone()[0] == 320)
    worst = max(error for _, error in results)
    ok('8 clients: each backend\'s propensity within 1e-9 of prob_best at the end', worst <= 1e-9,
       'worst %.3g' % worst)


def main():
    admin, conn = fresh_database(DB)
    other = psycopg2.connect(dbname=DB)
    other.autocommit = True
    rng = random.Random(20261207)
    cur = conn.cursor()
    cur.execute('SELECT bandit.set_seed(7)')
    check_against_reference(cur, rng)
    check_propensity(conn, other, rng)
    check_arm_cache(conn, other, rng)
    check_concurrent(conn, rng)
    conn.close()
    other.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    report()


if __name__ == '__main__':
    main()
