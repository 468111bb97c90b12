#!/usr/bin/python3
"""Benchmark of batched learning (issue 13): 8 client connections reward
decisions of one 2-arm policy as fast as they can, with learning immediate
(each reward updates, and locks, its arm's row until commit) and batched
(each reward is only recorded on its decision), in interleaved rounds; then
bandit.learn_pending learns each batched round's rewards.  Prints rewards/s of
each round, the batched/immediate ratio (median of rounds) and learn_pending's
rows/s.  Not part of the suite (no timed assertion anywhere): run it by hand
inside a cluster (libpq environment), e.g.

    /usr/bin/python3 test/bench_batched.py [seconds per round] [rounds]

Figures: doc/performance.md, "Batched learning"."""
import os
import statistics
import sys
import threading
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import fresh_database  # noqa: E402

DB = 'bandit_bench_batched'
CLIENTS = 8
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
POOL = 60000        # decisions logged per client and round, more than it can reward

admin, conn = fresh_database(DB)
cur = conn.cursor()


def one(sql, *args):
    cur.execute(sql, args or None)
    return cur.fetchone()[0] if cur.description else None


def run_round(policy):
    """Clients reward for SECONDS; returns rewards per second (all clients)."""
    # each client gets its own decisions, logged beforehand (choose is not what is measured)
    first = one("WITH d AS (INSERT INTO bandit.decision (policy, arm, propensity, mode) "
                "SELECT %s, CASE WHEN g %% 2 = 0 THEN 'x' ELSE 'y' END, 0.5, 'active' "
                "FROM generate_series(1, %s) g RETURNING id) SELECT min(id) FROM d", policy, CLIENTS * POOL)
    cur.execute('VACUUM ANALYZE bandit.decision')
    counts = [0] * CLIENTS
    start_line = threading.Barrier(CLIENTS + 1)
    stop = threading.Event()

    def client(k):
        c = psycopg2.connect(dbname=DB)
        c.autocommit = True
        kc = c.cursor()
        ids = range(first + k, first + CLIENTS * POOL, CLIENTS)
        start_line.wait()
        n = 0
        for i in ids:
            if stop.is_set():
                break
            kc.execute('SELECT bandit.reward(%s, %s, %s, %s)', (i, (i % 7) / 7.0, 1.5, 20.0))
            n += 1
        counts[k] = n
        c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    start_line.wait()
    t0 = time.monotonic()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if max(counts) >= POOL:
        print('  (a client used up its %d decisions: raise POOL)' % POOL)
    return sum(counts) / elapsed


one("SELECT bandit.create_policy('bench_imm', 'thompson', '{x,y}')")
one("SELECT bandit.create_policy('bench_bat', 'thompson', '{x,y}', '{\"learning\": \"batched\"}')")
rates = {'immediate': [], 'batched': []}
learn_rates = []
print('%d clients, one 2-arm Thompson policy, %.0f s rounds' % (CLIENTS, SECONDS))
for r in range(ROUNDS):
    order = [('immediate', 'bench_imm'), ('batched', 'bench_bat')]
    if r % 2:
        order.reverse()
    for mode, policy in order:
        rate = run_round(policy)
        rates[mode].append(rate)
        print('round %d %-9s %9.0f rewards/s' % (r + 1, mode, rate))
        if mode == 'batched':
            pending = one("SELECT count(*) FROM bandit.decision WHERE policy = 'bench_bat' AND to_learn")
            t0 = time.monotonic()
            learned = 0
            while True:
                got = one("SELECT bandit.learn_pending('bench_bat')")
                learned += got
                if got == 0:
                    break
            secs = time.monotonic() - t0
            learn_rates.append(learned / secs)
            print('          learn_pending: %d rewards in %.2f s, %9.0f rows/s' % (learned, secs, learned / secs))
            assert learned == pending, (learned, pending)
imm, bat = statistics.median(rates['immediate']), statistics.median(rates['batched'])
print('median rewards/s: immediate %.0f, batched %.0f, ratio batched/immediate %.2f' % (imm, bat, bat / imm))
print('median learn_pending rows/s: %.0f' % statistics.median(learn_rates))
conn.close()
admin.cursor().execute('DROP DATABASE ' + DB)
