#!/usr/bin/env python3
"""Catalog-scale Thompson sampling (issue 11), run by hand, not by the suite.

One client, each round its own transactions: bandit's choose + reward against
what an application does instead (read the arm rows, draw the Beta samples in
numpy, insert the decision; later update the decision and the arm), the two
interleaved round by round so that the machine's drift hits both alike.  The
application logs no propensity; bandit logs the exact one, checked here
against prob_best over the same state (|difference| <= 1e-9) before the
rounds and every 50th round.

Sizes 10, 100, 1,000 and 10,000 arms with varied posteriors (true click rates
1-10 %, 50-500 pulls each), and 10,000 fresh arms (Beta(1, 1) all).  Prints
mean ms per round and bandit / application per size.  Uses the libpq
environment (PGDATABASE and so on); BENCH_SECONDS (5) is the time per size
and side, with at least 3 rounds each.
"""
import os
import random
import sys
import time

import numpy
import psycopg2

SIZES = [(10, 'varied'), (100, 'varied'), (1000, 'varied'), (10000, 'varied'), (10000, 'fresh')]
SECONDS = float(os.environ.get('BENCH_SECONDS', '5'))
DB = 'bandit_bench_catalog'


def connect(dbname):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def setup(cur, rng):
    cur.execute('CREATE EXTENSION bandit')
    cur.execute("""CREATE TABLE app_arm (policy text, arm text, alpha float8 NOT NULL, beta float8 NOT NULL,
                                         PRIMARY KEY (policy, arm))""")
    cur.execute("""CREATE TABLE app_decision (id bigserial PRIMARY KEY, policy text NOT NULL, arm text NOT NULL,
                                              created_at timestamptz NOT NULL DEFAULT now(), reward float8,
                                              rewarded_at timestamptz)""")
    truth = {}
    for n, kind in SIZES:
        name = 'cat_%d_%s' % (n, kind)
        arms = ['a%d' % i for i in range(n)]
        rates = [rng.uniform(0.01, 0.10) for _ in arms]
        if kind == 'varied':
            pulls = [rng.randint(50, 500) for _ in arms]
            wins = [sum(rng.random() < p for _ in range(k)) for p, k in zip(rates, pulls)]
            state = [(1.0 + w, 1.0 + k - w) for w, k in zip(wins, pulls)]
        else:
            state = [(1.0, 1.0)] * n
        cur.execute('SELECT bandit.create_policy(%s, %s, %s)', (name, 'thompson', arms))
        cur.execute("""UPDATE bandit.arm a SET alpha = s.alpha, beta = s.beta
                       FROM unnest(%s::text[], %s::float8[], %s::float8[]) s(arm, alpha, beta)
                       WHERE a.policy = %s AND a.arm = s.arm""",
                    (arms, [a for a, _ in state], [b for _, b in state], name))
        cur.execute("""INSERT INTO app_arm SELECT %s, s.arm, s.alpha, s.beta
                       FROM unnest(%s::text[], %s::float8[], %s::float8[]) s(arm, alpha, beta)""",
                    (name, arms, [a for a, _ in state], [b for _, b in state]))
        truth[name] = dict(zip(arms, rates))
    cur.execute('VACUUM ANALYZE')
    return truth


def bandit_round(cur, name, truth, rng):
    cur.execute('SELECT decision_id, arm, propensity FROM bandit.choose(%s)', (name,))
    decision, arm, propensity = cur.fetchone()
    cur.execute('SELECT bandit.reward(%s::bigint, %s::float8)', (decision, float(rng.random() < truth[arm])))
    return arm, propensity


def app_round(cur, name, truth, rng, gen):
    cur.execute('SELECT arm, alpha, beta FROM app_arm WHERE policy = %s', (name,))
    rows = cur.fetchall()
    draws = gen.beta([r[1] for r in rows], [r[2] for r in rows])
    arm = rows[int(numpy.argmax(draws))][0]
    cur.execute('INSERT INTO app_decision (policy, arm) VALUES (%s, %s) RETURNING id', (name, arm))
    decision = cur.fetchone()[0]
    reward = float(rng.random() < truth[arm])
    cur.execute('BEGIN')
    cur.execute('UPDATE app_decision SET reward = %s, rewarded_at = now() WHERE id = %s AND reward IS NULL',
                (reward, decision))
    cur.execute('UPDATE app_arm SET alpha = alpha + %s, beta = beta + 1 - %s WHERE policy = %s AND arm = %s',
                (reward, reward, name, arm))
    cur.execute('COMMIT')


def propensity_error(cur, name):
    """|propensity - prob_best| of the chosen arm, over one state (one transaction)."""
    cur.execute('BEGIN ISOLATION LEVEL REPEATABLE READ')
    cur.execute('SELECT arm, propensity FROM bandit.choose(%s)', (name,))
    arm, propensity = cur.fetchone()
    cur.execute("""WITH s AS (SELECT array_agg(a.arm ORDER BY a.arm) arms, array_agg(a.alpha ORDER BY a.arm) al,
                                     array_agg(a.beta ORDER BY a.arm) be
                              FROM bandit.arm a WHERE a.policy = %s AND NOT a.retired)
                   SELECT u.p FROM s, unnest(s.arms, bandit.prob_best(s.al, s.be)) u(name, p) WHERE u.name = %s""",
                (name, arm))
    row = cur.fetchone()
    cur.execute('ROLLBACK')
    return abs(row[0] - propensity) if row else None


def main():
    admin = connect(os.environ.get('PGDATABASE', 'postgres'))
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + DB)
    admin.cursor().execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" % DB)
    conn = connect(DB)
    cur = conn.cursor()
    rng = random.Random(11)
    gen = numpy.random.default_rng(11)
    truth = setup(cur, rng)
    cur.execute('SELECT bandit.set_seed(11)')
    print('Thompson choose + reward, 1 client, interleaved round by round; mean ms per round')
    print('%8s %-7s %12s %12s %10s %8s %14s' % ('arms', 'arms are', 'bandit', 'application', 'bandit/app', 'rounds',
                                               '|prop - P(best)|'))
    per_size = {}
    for n, kind in SIZES:
        name = 'cat_%d_%s' % (n, kind)
        error = propensity_error(cur, name)
        spent = {'bandit': 0.0, 'app': 0.0}
        rounds = 0
        while rounds < 3 or max(spent.values()) < SECONDS:
            start = time.perf_counter()
            bandit_round(cur, name, truth[name], rng)
            spent['bandit'] += time.perf_counter() - start
            start = time.perf_counter()
            app_round(cur, name, truth[name], rng, gen)
            spent['app'] += time.perf_counter() - start
            rounds += 1
            # the propensity as the caches bring it up to date round by round, now and then
            if rounds % 50 == 0:
                error = max(error, propensity_error(cur, name))
        b, a = spent['bandit'] / rounds * 1e3, spent['app'] / rounds * 1e3
        per_size[(n, kind)] = b
        print('%8d %-7s %12.2f %12.2f %10.2f %8d %14s' % (n, kind, b, a, b / a, rounds,
                                                            '%.1e' % error if error is not None else '-'))
    print('bandit: 10,000-arm round / 10-arm round = %.1f (varied), %.1f (fresh); target <= 3'
          % (per_size[(10000, 'varied')] / per_size[(10, 'varied')], per_size[(10000, 'fresh')] / per_size[(10, 'varied')]))
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return 0


if __name__ == '__main__':
    sys.exit(main())
