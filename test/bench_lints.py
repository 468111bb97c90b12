#!/usr/bin/env python3
"""LinTS vs LinUCB at dim 64, 10 arms (issue 14), run by hand, not by the suite.

One client, each call its own transaction, synchronous_commit off.  After a
warm-up (BENCH_WARMUP rounds of choose + reward per policy), BENCH_CALLS
choose calls per policy, interleaved call by call (LinTS, LinUCB, LinTS, ...)
so that drift hits both alike: median and mean ms and the ratio LinTS /
LinUCB.  Then rewards interleaved between a LinUCB policy with discount 0.99
(fold every min(128, floor(ln 2 / -ln 0.99) = 68) rewards, each fold a
Cholesky solve restoring the prior) and one without: what forgetting costs.
Uses the libpq environment.
"""
import json
import os
import statistics
import time

import numpy
import psycopg2

DIM, ARMS = 64, 10
WARMUP = int(os.environ.get('BENCH_WARMUP', '1500'))
CALLS = int(os.environ.get('BENCH_CALLS', '3000'))
DB = 'bandit_bench_lints'


def main():
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + DB)
    admin.cursor().execute('CREATE DATABASE ' + DB)
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute('CREATE EXTENSION bandit')
    cur.execute('SET synchronous_commit = off')
    rng = numpy.random.default_rng(1)
    arms = ['a%d' % i for i in range(ARMS)]
    theta = {a: rng.normal(0, 1, DIM) / numpy.sqrt(DIM) for a in arms}
    policies = {'lints': ('lints', {}), 'linucb': ('linucb', {}),
                'linucb_d': ('linucb', {'discount': 0.99})}
    for name, (algorithm, extra) in policies.items():
        cur.execute('SELECT bandit.create_policy(%s, %s, %s, %s)',
                    (name, algorithm, arms, json.dumps(dict(dim=DIM, **extra))))

    def context():
        x = rng.random(DIM)
        x[0] = 1
        return x, json.dumps({'features': [float(v) for v in x]})

    def round_trip(name):
        x, ctx = context()
        cur.execute('SELECT decision_id, arm FROM bandit.choose(%s, %s)', (name, ctx))
        decision, arm = cur.fetchone()
        reward = float(x @ theta[arm] + rng.normal() * 0.1)
        start = time.perf_counter()
        cur.execute('SELECT bandit.reward(%s, %s)', (decision, reward))
        return time.perf_counter() - start

    for _ in range(WARMUP):
        for name in policies:
            round_trip(name)
    times = {'lints': [], 'linucb': []}
    for _ in range(CALLS):
        for name in times:
            _, ctx = context()
            start = time.perf_counter()
            cur.execute('SELECT arm FROM bandit.choose(%s, %s)', (name, ctx))
            cur.fetchone()
            times[name].append(time.perf_counter() - start)
    for name, t in times.items():
        print('choose %-6s dim %d, %d arms: median %.3f ms, mean %.3f ms (%d calls)'
              % (name, DIM, ARMS, 1e3 * statistics.median(t), 1e3 * statistics.mean(t), len(t)))
    print('ratio LinTS / LinUCB choose: median %.2f, mean %.2f'
          % (statistics.median(times['lints']) / statistics.median(times['linucb']),
             statistics.mean(times['lints']) / statistics.mean(times['linucb'])))
    rewards = {'linucb': [], 'linucb_d': []}
    for _ in range(CALLS // 2):
        for name in rewards:
            rewards[name].append(round_trip(name))
    for name, t in rewards.items():
        print('reward %-8s dim %d: median %.3f ms, mean %.3f ms (%d rewards)'
              % (name, DIM, 1e3 * statistics.median(t), 1e3 * statistics.mean(t), len(t)))
    print('ratio discounted / undiscounted reward: mean %.2f'
          % (statistics.mean(rewards['linucb_d']) / statistics.mean(rewards['linucb'])))
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)


if __name__ == '__main__':
    main()
