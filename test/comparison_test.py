#!/usr/bin/env python3
"""prob_best and Thompson's propensity in the cases found by review.

1. prob_best of two arms with an exact answer (symmetry: P = 1/2;
   Beta(a,1) vs Beta(a',1): a/(a+a'); Beta(a,1) vs Beta(a,2):
   (a+1)/2 - a^2/(2a+1)), parameters up to 1e7, within 1e-9: the
   comparison's CDFs are 1 less the mass above, so arms beyond a + b = 1e5
   have their mass measured rather than trusted to the Beta function.
2. Thompson's propensity from the cached grid when one arm changes to a
   narrow posterior inside a wide panel of the grid (the Chebyshev points
   could all miss it): by a write by hand, and through the API by two
   chooses whose budgets leave the same number of arms but swap one.
"""
import math
from fractions import Fraction

import psycopg2

from testlib import ok, fresh_database, report

DB = 'bandit_comparison_test'


def exact_cases():
    cases = []
    for c, d in ((1e7, 1), (1e6, 1), (5e6, 0.5), (1e7, 2), (3e6, 0.05), (1e5, 1)):
        cases.append(('Beta(%g,%g) vs Beta(%g,%g)' % (c, c, d, d), [c, d], [c, d], 0.5))
    for a, a2 in ((1e7, 9.999e6), (1e7, 1e6), (2e6, 1e6)):
        cases.append(('Beta(%g,1) vs Beta(%g,1)' % (a, a2), [a, a2], [1, 1], a / (a + a2)))
    for b, b2 in ((1e7, 9.999e6), (3e6, 1e6)):
        cases.append(('Beta(1,%g) vs Beta(1,%g)' % (b, b2), [1, 1], [b, b2], b2 / (b + b2)))
    for a in (1e7, 1e6):
        A = Fraction(a)
        cases.append(('Beta(%g,1) vs Beta(%g,2)' % (a, a), [a, a], [1, 2],
                      float((A + 1) / 2 - A * A / (2 * A + 1))))
    return cases


def check_exact(cur):
    for name, alpha, beta, want in exact_cases():
        cur.execute('SELECT bandit.prob_best(%s::float8[], %s::float8[])', (alpha, beta))
        got = cur.fetchone()[0][0]
        ok('prob_best %s = %.15f within 1e-9' % (name, want), abs(got - want) <= 1e-9,
           'got %.15f, error %.2g' % (got, abs(got - want)))


def propensity_and_prob_best(cur, name, context=None):
    """choose's propensity and prob_best of the chosen arm over the arms choose saw."""
    cur.execute('BEGIN ISOLATION LEVEL REPEATABLE READ')
    cur.execute('SELECT arm, propensity FROM bandit.choose(%s, %s)', (name, context))
    arm, propensity = cur.fetchone()
    budget = "AND coalesce(cost, 0) <= coalesce((%s::jsonb->>'max_cost')::float8, 'Infinity') " \
             "AND coalesce(latency_ms, 0) <= coalesce((%s::jsonb->>'max_latency_ms')::float8, 'Infinity')"
    cur.execute("""WITH s AS (SELECT array_agg(arm ORDER BY arm COLLATE "C") arms,
                                     array_agg(alpha ORDER BY arm COLLATE "C") al,
                                     array_agg(beta ORDER BY arm COLLATE "C") be
                              FROM bandit.arm WHERE policy = %s AND NOT retired """ + budget + """)
                   SELECT u.p FROM s, unnest(s.arms, bandit.prob_best(s.al, s.be)) u(n, p) WHERE u.n = %s""",
                (name, context, context, arm))
    want = cur.fetchone()[0]
    cur.execute('ROLLBACK')
    return arm, propensity, want


def check_narrow_arm_by_hand(cur):
    """20 fresh arms; the grid is built; one arm is written to Beta(N x0, N (1 - x0))."""
    worst = (0, None)
    for k in range(30):
        name = 'hand%d' % k
        t0 = 4.6 + 0.026 * k
        x0 = 1 / (1 + math.exp(-t0))
        cur.execute('SELECT bandit.create_policy(%s, %s, %s)', (name, 'thompson', ['x%02d' % i for i in range(20)]))
        cur.execute('SELECT * FROM bandit.choose(%s)', (name,))
        cur.execute("UPDATE bandit.arm SET alpha = %s, beta = %s WHERE policy = %s AND arm = 'x00'",
                    (1e7 * x0, 1e7 * (1 - x0), name))
        arm, propensity, want = propensity_and_prob_best(cur, name)
        if abs(propensity - want) > worst[0]:
            worst = (abs(propensity - want), (t0, arm, propensity, want))
        cur.execute('DELETE FROM bandit.policy WHERE name = %s', (name,))
    ok('propensity = prob_best within 1e-9 after one arm narrowed inside the grid (30 positions)',
       worst[0] <= 1e-9, 'worst %.3g at (logit, arm, propensity, prob_best) %s' % worst)


def check_budget_swap(cur):
    """No write at all between the chooses: a budget that leaves out the narrow
    arm 'nar' (cost 5) builds the grid; one that leaves out 'lat' (latency 50)
    instead has as many arms, so the grid is updated, not rebuilt."""
    worst = (0, None)
    for k in range(30):
        name = 'budget%d' % k
        t0 = 4.6 + 0.026 * k
        x0 = 1 / (1 + math.exp(-t0))
        arms = ['a%02d' % i for i in range(18)] + ['lat', 'nar']
        cur.execute('SELECT bandit.create_policy(%s, %s, %s)', (name, 'thompson', arms))
        # an arm with a long history (2e7 rewards at x0), written directly for speed
        cur.execute("UPDATE bandit.arm SET alpha = %s, beta = %s, cost = 5 WHERE policy = %s AND arm = 'nar'",
                    (2e7 * x0, 2e7 * (1 - x0), name))
        cur.execute("UPDATE bandit.arm SET latency_ms = 50 WHERE policy = %s AND arm = 'lat'", (name,))
        cur.execute('SELECT * FROM bandit.choose(%s, %s)', (name, '{"max_cost": 1}'))
        arm, propensity, want = propensity_and_prob_best(cur, name, '{"max_latency_ms": 10}')
        if abs(propensity - want) > worst[0]:
            worst = (abs(propensity - want), (t0, arm, propensity, want))
        cur.execute('DELETE FROM bandit.policy WHERE name = %s', (name,))
    ok('propensity = prob_best within 1e-9 when two budgets swap a narrow arm in (30 positions)',
       worst[0] <= 1e-9, 'worst %.3g at (logit, arm, propensity, prob_best) %s' % worst)


def main():
    admin, conn = fresh_database(DB)
    cur = conn.cursor()
    cur.execute('SELECT bandit.set_seed(11)')
    check_exact(cur)
    check_narrow_arm_by_hand(cur)
    check_budget_swap(cur)
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return report()


if __name__ == '__main__':
    raise SystemExit(main())
