#!/usr/bin/env python3
"""prob_best and expected_loss against the build before issue 11, run by hand.

Issue 11 asks prob_best/expected_loss at 1,000 arms to be at least 20x
faster than before it, as accurate (1e-6).  Both builds answer in one run:
this build's bandit.prob_best in one session, and in another session (a
second backend, so that the two libraries never share a process) the same C
function of the old library, declared from OLD_SO:

    git worktree add /tmp/bandit-old 5312c28    # 0.2.0 just before issue 11
    make -C /tmp/bandit-old PG_CONFIG=...        # OLD_SO=/tmp/bandit-old/bandit.so

Each measurement is one statement calling the function K times on arrays
materialized once (no array parsing, no constant folding), timed by the
client and divided by K; old and new alternate, so the machine's drift hits
both alike.  Arm sets: 'varied' (click rates 1-12 %, 50-500 pulls each: every
arm overlaps the leaders), 'fresh' (90 % Beta(1, 1), the rest varied) and
'separated' (10,000 pulls each: the leaders stand apart).  Before timing,
the two builds' answers are compared (largest difference, goal <= 1e-6).
Uses the libpq environment; BENCH_ROUNDS (7) rounds per case, medians.
"""
import os
import statistics
import sys
import time

import numpy
import psycopg2

ROUNDS = int(os.environ.get('BENCH_ROUNDS', '7'))
OLD_SO = os.environ.get('OLD_SO')
DB = 'bandit_bench_prob_best'
CASES = [(1000, 'varied'), (1000, 'fresh'), (1000, 'separated'), (10000, 'varied')]


def connect(dbname):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def arm_set(n, kind, rng):
    pulls = rng.integers(50, 501, n) if kind != 'separated' else numpy.full(n, 10000)
    rates = rng.uniform(0.01, 0.12, n)
    wins = rng.binomial(pulls, rates)
    alpha, beta = 1.0 + wins, 1.0 + pulls - wins
    if kind == 'fresh':
        fresh = rng.random(n) < 0.9
        alpha[fresh], beta[fresh] = 1.0, 1.0
    return [float(a) for a in alpha], [float(b) for b in beta]


def per_call(cur, fn, alpha, beta, calls):
    start = time.perf_counter()
    cur.execute("""WITH d AS MATERIALIZED (SELECT %%s::float8[] a, %%s::float8[] b)
                   SELECT count(%s(d.a, d.b)) FROM d, generate_series(1, %%s)""" % fn, (alpha, beta, calls))
    cur.fetchone()
    return (time.perf_counter() - start) / calls * 1000


def main():
    if not OLD_SO or not os.path.exists(OLD_SO):
        sys.exit('set OLD_SO to the bandit.so built from 5312c28 (see the docstring)')
    admin = connect('postgres')
    admin.cursor().execute('DROP DATABASE IF EXISTS %s' % DB)
    admin.cursor().execute('CREATE DATABASE %s' % DB)
    admin.cursor().execute('DROP DATABASE IF EXISTS %s_old' % DB)
    admin.cursor().execute('CREATE DATABASE %s_old' % DB)
    new_conn, old_conn = connect(DB), connect(DB + '_old')
    new, old = new_conn.cursor(), old_conn.cursor()
    new.execute('CREATE EXTENSION bandit')
    for name in ('prob_best', 'expected_loss'):
        old.execute("""CREATE FUNCTION old_%s(float8[], float8[]) RETURNS float8[]
                       AS %%s, 'bandit_%s' LANGUAGE C STRICT IMMUTABLE""" % (name, name), (OLD_SO,))
    rng = numpy.random.default_rng(11)
    print('| arms | set | function | before issue 11, ms | now, ms | before / now | largest difference |')
    print('|---|---|---|---|---|---|---|')
    for n, kind in CASES:
        alpha, beta = arm_set(n, kind, rng)
        for name in ('prob_best', 'expected_loss'):
            new.execute('SELECT bandit.%s(%%s::float8[], %%s::float8[])' % name, (alpha, beta))
            now_answer = numpy.array(new.fetchone()[0])
            old.execute('SELECT old_%s(%%s::float8[], %%s::float8[])' % name, (alpha, beta))
            old_answer = numpy.array(old.fetchone()[0])
            difference = float(numpy.max(numpy.abs(now_answer - old_answer)))
            old_ms, now_ms = [], []
            for _ in range(ROUNDS):
                old_ms.append(per_call(old, 'old_' + name, alpha, beta, 2 if n >= 10000 else 5))
                now_ms.append(per_call(new, 'bandit.' + name, alpha, beta, 20 if n >= 10000 else 100))
            before, after = statistics.median(old_ms), statistics.median(now_ms)
            print('| %d | %s | %s | %.2f | %.3f | %.1f | %.1e |' % (n, kind, name, before, after, before / after,
                                                                   difference))
            sys.stdout.flush()
    new_conn.close()
    old_conn.close()
    admin.cursor().execute('DROP DATABASE %s' % DB)
    admin.cursor().execute('DROP DATABASE %s_old' % DB)


if __name__ == '__main__':
    main()
