#!/usr/bin/python3
"""Benchmark of eligible arms (issue 14): choose on a 100-arm policy with
context {"arms": [50 of the 100]} against plain choose, interleaved call by
call on one connection (each call timed at the client; a reward to a random
arm between calls, untimed, so that the state moves as in use).  Two subsets:
a fixed one (a repeated subset reuses its comparison) and a fresh random one
every call.  Prints mean microseconds per call and the ratio, per algorithm,
median of rounds.  Not part of the suite (no timed assertion): run by hand
inside a cluster (libpq environment), e.g.

    /usr/bin/python3 test/bench_eligible.py [calls per round] [rounds]

Figures: doc/performance.md, "Eligible arms"."""
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import fresh_database  # noqa: E402

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
admin, conn = fresh_database('bandit_bench_eligible')
cur = conn.cursor()
rng = random.Random(5050)
arms = ['arm%03d' % i for i in range(100)]
fixed = json.dumps({'arms': rng.sample(arms, 50)})


def timed(sql, args):
    start = time.perf_counter()
    cur.execute(sql, args)
    cur.fetchall()
    return time.perf_counter() - start


for algorithm in ('thompson', 'epsilon_greedy'):
    name = 'b_' + algorithm
    cur.execute("SELECT bandit.create_policy(%s, %s, %s)", (name, algorithm, arms))
    for arm in arms:
        cur.execute('SELECT count(bandit.reward(%s, %s, r)) FROM unnest(%s::float8[]) r',
                    (name, arm, [float(rng.random() < 0.3 + 0.004 * arms.index(arm)) for _ in range(20)]))
    for label, subset in (('fixed 50 of 100', lambda: fixed),
                          ('random 50 of 100', lambda: json.dumps({'arms': rng.sample(arms, 50)}))):
        ratios = []
        for r in range(ROUNDS):
            plain = eligible = 0.0
            for i in range(CALLS):
                plain += timed('SELECT * FROM bandit.choose(%s)', (name,))
                cur.execute('SELECT bandit.reward(%s, %s, %s)', (name, rng.choice(arms), float(rng.random() < 0.5)))
                eligible += timed('SELECT * FROM bandit.choose(%s, %s::jsonb)', (name, subset()))
                cur.execute('SELECT bandit.reward(%s, %s, %s)', (name, rng.choice(arms), float(rng.random() < 0.5)))
            ratios.append(eligible / plain)
            print('%-15s %-17s round %d: plain %.0f us, eligible %.0f us, ratio %.2f'
                  % (algorithm, label, r + 1, 1e6 * plain / CALLS, 1e6 * eligible / CALLS, eligible / plain))
        print('%-15s %-17s median ratio %.2f (rounds: %s)'
              % (algorithm, label, statistics.median(ratios), ', '.join('%.2f' % x for x in ratios)))
conn.close()
admin.cursor().execute('DROP DATABASE bandit_bench_eligible')
