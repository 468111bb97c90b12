#!/usr/bin/env python3
"""Policies at catalog scale and under concurrency (issue 11), run by hand, not by the suite.

  /usr/bin/python3 test/bench_scale.py            (libpq environment: PGHOST, PGPORT, ...)

It works in its own database, bandit_bench_scale, created afresh and dropped.
Arms carry varied posteriors (true click rates 1-10 %, 50-500 pulls each), so
that Thompson's quadrature and the other scores see realistic spreads.  Parts,
chosen with BENCH_PARTS (comma-separated; all by default):

  create   create_policy at 1,000 / 10,000 / 100,000 arms, every algorithm
           (LinUCB at dim 4), sizes interleaved; ms per call and us per arm.
  add_arm  add_arm one arm at a time (each call its own transaction) to
           policies of 1,000 / 10,000 / ~100,000 arms (99,000 and up: a policy
           takes at most 100,000), interleaved in batches; the per-call cost
           must not grow with the policy (total cost linear in arms).
  read     recommend(k = 10) and arm_stats at 1,000 / 10,000 / 100,000 arms,
           every algorithm, interleaved; us per arm must stay flat.
  concurrency
           8 client processes each doing choose + reward rounds (each call its
           own transaction) on ONE policy, against 8 clients each on its OWN
           policy of the same size and state, phases interleaved A B A B ...;
           every phase starts from the same arm state.  Thompson at 1,000, 100
           and 10 arms, UCB1 at 1,000 and 10 arms.  Prints rounds per second of
           each side, their ratio (target >= 0.8) and the wait events of the
           clients' sessions, sampled from pg_stat_activity every 20 ms.

BENCH_SECONDS (3) is the time per measurement (per phase for concurrency);
BENCH_SIZES (1000,10000,100000) the sizes of create, add_arm and read;
BENCH_CLIENTS (8) the number of clients, BENCH_PAIRS (3) the pairs of phases.
"""
import collections
import multiprocessing
import os
import statistics
import sys
import time

import numpy
import psycopg2

SECONDS = float(os.environ.get('BENCH_SECONDS', '3'))
SIZES = [int(s) for s in os.environ.get('BENCH_SIZES', '1000,10000,100000').split(',')]
PARTS = os.environ.get('BENCH_PARTS', 'create,add_arm,read,concurrency').split(',')
CLIENTS = int(os.environ.get('BENCH_CLIENTS', '8'))
PAIRS = int(os.environ.get('BENCH_PAIRS', '3'))
ALGORITHMS = [('thompson', '{}'), ('ucb1', '{}'), ('epsilon_greedy', '{}'), ('softmax', '{}'),
              ('linucb', '{"dim": 4}')]
MAX_ARMS = 100000
DB = 'bandit_bench_scale'


def connect(dbname=DB):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def create(cur, name, algorithm, params, n):
    cur.execute("SELECT bandit.create_policy(%s, %s, ARRAY(SELECT 'arm' || i FROM generate_series(1, %s) i), %s)",
                (name, algorithm, n, params))


def drop(cur, name):
    cur.execute('DELETE FROM bandit.policy WHERE name = %s', (name,))
    cur.execute("DELETE FROM bandit.object WHERE kind = 'policy' AND name = %s", (name,))


def vary(cur, name, seed):
    """Gives the policy's arms varied posteriors and statistics (the same for the same seed and size)."""
    cur.execute('SELECT arm FROM bandit.arm WHERE policy = %s ORDER BY arm', (name,))
    arms = [r[0] for r in cur.fetchall()]
    gen = numpy.random.default_rng(seed)
    rates = gen.uniform(0.01, 0.10, len(arms))
    pulls = gen.integers(50, 501, len(arms))
    wins = gen.binomial(pulls, rates)
    mean = wins / pulls
    cur.execute("""UPDATE bandit.arm a SET alpha = 1 + s.w, beta = 1 + s.k - s.w, pulls = s.k, weight = s.k,
                          mean_reward = s.m, m2 = s.w * (1 - s.m)
                   FROM unnest(%s::text[], %s::float8[], %s::float8[], %s::float8[]) s(arm, w, k, m)
                   WHERE a.policy = %s AND a.arm = s.arm""",
                (arms, wins.tolist(), pulls.tolist(), mean.tolist(), name))
    return dict(zip(arms, rates.tolist()))


def timed(cur, sql, args):
    start = time.perf_counter()
    cur.execute(sql, args)
    cur.fetchall()
    return time.perf_counter() - start


def part_create(cur):
    print('\n(a) create_policy, sizes interleaved; median ms per call (us per arm)')
    times = collections.defaultdict(list)
    rep = 0
    deadline = time.perf_counter() + SECONDS * len(ALGORITHMS) * len(SIZES)
    while rep < 3 or time.perf_counter() < deadline:
        for algorithm, params in ALGORITHMS:
            for n in SIZES[rep % len(SIZES):] + SIZES[:rep % len(SIZES)]:
                name = 'create_%s_%d' % (algorithm, n)
                start = time.perf_counter()
                create(cur, name, algorithm, params, n)
                times[(algorithm, n)].append(time.perf_counter() - start)
                drop(cur, name)
        rep += 1
    print('%-16s' % 'algorithm' + ''.join('%22d' % n for n in SIZES))
    for algorithm, _ in ALGORITHMS:
        cells = []
        for n in SIZES:
            t = statistics.median(times[(algorithm, n)])
            cells.append('%10.1f ms (%5.2f us)' % (t * 1e3, t / n * 1e6))
        print('%-16s' % algorithm + ''.join('%22s' % c for c in cells))
    print('calls per cell: %d' % rep)
    return {k: statistics.median(v) for k, v in times.items()}


def part_add_arm(cur):
    print('\n(b) add_arm, one arm per call and transaction, batches of 20 interleaved; mean ms per call')
    bases = {n: min(n, MAX_ARMS - 1000) for n in SIZES}
    results = {}
    for algorithm, params in [('thompson', '{}'), ('linucb', '{"dim": 4}')]:
        for n in SIZES:
            create(cur, 'grow_%s_%d' % (algorithm, n), algorithm, params, bases[n])
        cur.execute('VACUUM ANALYZE bandit.arm')
        spent = collections.defaultdict(float)
        calls = collections.defaultdict(int)
        added = 0
        deadline = time.perf_counter() + SECONDS * len(SIZES)
        while added < 1000 and (added < 100 or time.perf_counter() < deadline):
            for n in SIZES:
                name = 'grow_%s_%d' % (algorithm, n)
                start = time.perf_counter()
                for i in range(added, added + 20):
                    cur.execute('SELECT bandit.add_arm(%s, %s)', (name, 'new%d' % i))
                spent[n] += time.perf_counter() - start
                calls[n] += 20
            added += 20
        print('%-10s' % algorithm + ''.join('%8d arms: %6.3f ms' % (bases[n], spent[n] / calls[n] * 1e3)
                                            for n in SIZES) + '   (%d calls each)' % added)
        for n in SIZES:
            results[(algorithm, n)] = spent[n] / calls[n]
            drop(cur, 'grow_%s_%d' % (algorithm, n))
    return results


def part_read(cur):
    print('\n(c) recommend(k = 10) and arm_stats, sizes interleaved; mean ms per call (us per arm)')
    for algorithm, params in ALGORITHMS:
        for n in SIZES:
            name = 'read_%s_%d' % (algorithm, n)
            create(cur, name, algorithm, params, n)
            vary(cur, name, n)
    cur.execute('VACUUM ANALYZE bandit.arm')
    results = {}
    # LinUCB scores a context's features
    context = {'linucb': '{"features": [0.5, -0.25, 1, 0.125]}'}
    calls_of = {'recommend': lambda name, algorithm: ('SELECT * FROM bandit.recommend(%s, 10, %s)',
                                                      (name, context.get(algorithm))),
                'arm_stats': lambda name, algorithm: ('SELECT * FROM bandit.arm_stats(%s)', (name,))}
    for what in ['recommend', 'arm_stats']:
        print(what)
        for algorithm, params in ALGORITHMS:
            spent = collections.defaultdict(float)
            calls = collections.defaultdict(int)
            for n in SIZES:         # warm-up
                timed(cur, *calls_of[what]('read_%s_%d' % (algorithm, n), algorithm))
            deadline = time.perf_counter() + SECONDS * len(SIZES)
            while min(calls.values() or [0]) < 3 or time.perf_counter() < deadline:
                for n in SIZES:
                    spent[n] += timed(cur, *calls_of[what]('read_%s_%d' % (algorithm, n), algorithm))
                    calls[n] += 1
            cells = []
            for n in SIZES:
                t = spent[n] / calls[n]
                results[(what, algorithm, n)] = t
                cells.append('%10.2f ms (%6.2f us)' % (t * 1e3, t / n * 1e6))
            print('  %-16s' % algorithm + ''.join('%24s' % c for c in cells) + '   (%d calls each)' % calls[n])
    for algorithm, _ in ALGORITHMS:
        for n in SIZES:
            drop(cur, 'read_%s_%d' % (algorithm, n))
    return results


def worker(index, commands, answers):
    """One client: on each command (policy, seconds), choose + reward rounds until the time is up."""
    conn = connect()
    cur = conn.cursor()
    cur.execute('SELECT bandit.set_seed(%s)', (1000 + index,))
    rng = numpy.random.default_rng(index)
    while True:
        command = commands.get()
        if command is None:
            break
        policy, truth, start_at, seconds = command
        while time.time() < start_at:
            time.sleep(0.001)
        rounds = 0
        deadline = start_at + seconds
        while time.time() < deadline:
            cur.execute('SELECT decision_id, arm FROM bandit.choose(%s)', (policy,))
            decision, arm = cur.fetchone()
            cur.execute('SELECT bandit.reward(%s::bigint, %s::float8)', (decision, float(rng.random() < truth[arm])))
            rounds += 1
        answers.put(rounds)
    conn.close()


def sample_waits(cur, seconds, waits):
    """Tallies the wait events of the other sessions of this database until the time is up."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        cur.execute("""SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'""")
        for (event,) in cur.fetchall():
            waits[event] += 1
        time.sleep(0.02)


def part_concurrency(cur):
    print('\n(d) %d clients, choose + reward rounds (each call its own transaction): one shared policy (A) '
          'against one policy each (B), phases interleaved, %.0f s each' % (CLIENTS, SECONDS))
    ctx = multiprocessing.get_context('fork')
    commands = [ctx.Queue() for _ in range(CLIENTS)]
    answers = ctx.Queue()
    workers = [ctx.Process(target=worker, args=(i, commands[i], answers)) for i in range(CLIENTS)]
    for w in workers:
        w.start()
    results = {}
    try:
        for algorithm, n in [('thompson', 1000), ('thompson', 100), ('thompson', 10), ('ucb1', 1000), ('ucb1', 10)]:
            names = ['conc_%s_%d_%s' % (algorithm, n, s) for s in ['shared'] + ['own%d' % i for i in range(CLIENTS)]]
            for name in names:
                create(cur, name, algorithm, '{}', n)
                truth = vary(cur, name, n)
            cur.execute("""CREATE TEMP TABLE initial AS SELECT arm, alpha, beta, pulls, weight, mean_reward, m2
                           FROM bandit.arm WHERE policy = %s""", (names[0],))
            rate = {'A': [], 'B': []}
            waits = {'A': collections.Counter(), 'B': collections.Counter()}
            for phase in range(2 * PAIRS):
                side = 'AB'[phase % 2]
                # every phase starts from the same state of every policy
                cur.execute("""UPDATE bandit.arm a SET alpha = i.alpha, beta = i.beta, pulls = i.pulls,
                                      weight = i.weight, mean_reward = i.mean_reward, m2 = i.m2
                               FROM initial i WHERE a.policy = ANY (%s) AND a.arm = i.arm""", (names,))
                cur.execute('VACUUM bandit.arm')
                start_at = time.time() + 0.2
                for i in range(CLIENTS):
                    commands[i].put((names[0] if side == 'A' else names[1 + i], truth, start_at, SECONDS))
                time.sleep(0.2)
                sample_waits(cur, SECONDS, waits[side])
                rate[side].append(sum(answers.get() for _ in range(CLIENTS)) / SECONDS)
            cur.execute('DROP TABLE initial')
            for name in names:
                drop(cur, name)
            a, b = statistics.mean(rate['A']), statistics.mean(rate['B'])
            results[(algorithm, n)] = (a, b)
            print('%-9s %5d arms: shared %8.1f rounds/s, separate %8.1f rounds/s, ratio %.2f '
                  '(per pair: %s)' % (algorithm, n, a, b, a / b,
                                      ', '.join('%.2f' % (x / y) for x, y in zip(rate['A'], rate['B']))))
            for side, label in (('A', 'shared'), ('B', 'separate')):
                total = sum(waits[side].values()) or 1
                print('    %-8s sessions by wait event: ' % label +
                      ', '.join('%s %.0f%%' % (e, c * 100.0 / total) for e, c in waits[side].most_common(6)))
    finally:
        for q in commands:
            q.put(None)
        for w in workers:
            w.join()
    return results


def main():
    admin = connect(os.environ.get('PGDATABASE', 'postgres'))
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + DB)
    admin.cursor().execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" % DB)
    conn = connect()
    cur = conn.cursor()
    cur.execute('CREATE EXTENSION bandit')
    cur.execute('SELECT version()')
    print(cur.fetchone()[0].split(',')[0], '; %d CPUs; BENCH_SECONDS=%g' % (os.cpu_count(), SECONDS))
    if 'create' in PARTS:
        part_create(cur)
    if 'add_arm' in PARTS:
        part_add_arm(cur)
    if 'read' in PARTS:
        part_read(cur)
    if 'concurrency' in PARTS:
        part_concurrency(cur)
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return 0


if __name__ == '__main__':
    sys.exit(main())
