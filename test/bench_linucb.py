#!/usr/bin/env python3
"""LinUCB at dim 64 and 256 (issue 11), run by hand, not by the suite.

One client, 10 arms per policy, each call its own transaction.  Two figures:

- time: choose + reward rounds at dim 64 and dim 256, interleaved round by
  round so that the machine's drift hits both alike; mean and median ms per
  round and the ratio dim 256 / dim 64 (issue 11's goal: at most 3), with
  synchronous_commit off so that a shared disk's flushes do not drown what is
  compared;
- WAL: pg_current_wal_lsn() read just before and after each of 1,000
  rewards, the bytes between summed and divided by 1,000 (goal: at most
  32 d + 2048 bytes; synchronous_commit on, so that each reward's WAL is
  written by the end of its call), right after a CHECKPOINT (every page's
  first change after it is written whole: the worst window) and over the
  1,000 rewards that follow (as between checkpoints); the whole round's WAL
  (choose too) beside each.  Autovacuum is off for bandit's tables during
  these windows: the WAL position is the cluster's, and a VACUUM of the
  decisions after the checkpoint would be counted as the rewards'.

Features are uniform in [0, 1) with a constant first feature; rewards are
linear in them plus noise.  Both policies are warmed up (BENCH_WARMUP, 6000
rounds each: an arm that folds within the measurement has folded before, so
its fold replaces a whole A^-1, not the compressed identity) before anything
is measured (not VACUUM: the free space it leaves takes inserts into old
pages, each written whole after the checkpoint).  Uses the libpq
environment (PGDATABASE and so on); BENCH_SECONDS (10) is the time of the
interleaved run.  BENCH_WALINSPECT=1 adds, for each WAL window, its records
by type and relation (pg_walinspect; a superuser's connection).
"""
import json
import os
import statistics
import sys
import time

import numpy
import psycopg2

DIMS = [64, 256]
ARMS = 10
SECONDS = float(os.environ.get('BENCH_SECONDS', '10'))
WARMUP = int(os.environ.get('BENCH_WARMUP', '6000'))
WAL_REWARDS = 1000
DB = 'bandit_bench_linucb'


def connect(dbname):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


class Policy:
    def __init__(self, cur, dim, rng):
        self.name = 'lin%d' % dim
        self.dim = dim
        self.rng = rng
        self.theta = {'a%d' % i: rng.normal(0, 1, dim) / numpy.sqrt(dim) for i in range(ARMS)}
        cur.execute('SELECT bandit.create_policy(%s, %s, %s, %s)',
                    (self.name, 'linucb', sorted(self.theta), json.dumps({'dim': dim, 'alpha': 0.5})))

    def context(self):
        x = self.rng.uniform(0, 1, self.dim)
        x[0] = 1.0
        return x, json.dumps({'features': [float(v) for v in x]})

    def choose(self, cur):
        x, ctx = self.context()
        cur.execute('SELECT decision_id, arm FROM bandit.choose(%s, %s)', (self.name, ctx))
        decision, arm = cur.fetchone()
        return decision, float(x @ self.theta[arm] + self.rng.normal(0, 0.1))

    def reward(self, cur, decision, reward):
        cur.execute('SELECT bandit.reward(%s::bigint, %s::float8)', (decision, reward))

    def round(self, cur):
        self.reward(cur, *self.choose(cur))


def lsn(cur):
    cur.execute('SELECT pg_current_wal_lsn()')
    return cur.fetchone()[0]


def wal_bytes(cur, a, b):
    cur.execute('SELECT pg_wal_lsn_diff(%s, %s)', (b, a))
    return float(cur.fetchone()[0])


def walinspect(cur, windows):
    """Each window's WAL by record type and relation (of the record's first block), bytes per round;
    records without a transaction id are VACUUM's (autovacuum included), checkpoints' and hints'.
    Read before the next CHECKPOINT, which may remove the window's WAL."""
    cur.execute('CREATE EXTENSION IF NOT EXISTS pg_walinspect')
    out = []
    for what, a, b in windows:
        cur.execute("""
            SELECT r.resource_manager || '/' || r.record_type, coalesce(pg_filenode_relation(0, m[1]::oid)::text, m[1]),
                   r.xid <> '0' AS xact, count(*), sum(r.record_length), sum(r.fpi_length)
            FROM pg_get_wal_records_info(%s, %s) r
            LEFT JOIN LATERAL regexp_match(r.block_ref, 'rel \\d+/\\d+/(\\d+)') m ON true
            GROUP BY 1, 2, 3 ORDER BY sum(r.record_length) DESC LIMIT 12""", (a, b))
        out += ['', '%s: WAL by record (pg_walinspect), bytes per round' % what,
                '| record | relation | in a transaction | records | bytes | of which page images |',
                '|---|---|---|---|---|---|']
        for kind, rel, xact, n, total, fpi in cur.fetchall():
            out.append('| %s | %s | %s | %d | %.0f | %.0f |' % (kind, rel, 'yes' if xact else 'no', n,
                                                               total / WAL_REWARDS, fpi / WAL_REWARDS))
    return out


def main():
    admin = connect('postgres')
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + DB)
    admin.cursor().execute('CREATE DATABASE ' + DB)
    conn = connect(DB)
    cur = conn.cursor()
    cur.execute('CREATE EXTENSION bandit')
    # while timing, commits do not wait for their WAL to reach the disk: a busy disk's flush
    # (milliseconds) would hide the computation compared here
    cur.execute('SET synchronous_commit = off')
    rng = numpy.random.default_rng(11)
    policies = [Policy(cur, d, rng) for d in DIMS]
    for p in policies:
        for _ in range(WARMUP):
            p.round(cur)
    cur.execute('VACUUM ANALYZE')

    # time: interleaved rounds
    times = {p.dim: [] for p in policies}
    end = time.monotonic() + SECONDS
    while time.monotonic() < end or min(len(t) for t in times.values()) < 3:
        for p in policies:
            start = time.perf_counter()
            p.round(cur)
            times[p.dim].append((time.perf_counter() - start) * 1000)
    print('choose + reward, %d arms, one client, %d s interleaved (ms per round)' % (ARMS, SECONDS))
    print('| dim | rounds | mean | median |')
    print('|---|---|---|---|')
    for p in policies:
        t = times[p.dim]
        print('| %d | %d | %.3f | %.3f |' % (p.dim, len(t), statistics.mean(t), statistics.median(t)))
    lo, hi = times[DIMS[0]], times[DIMS[-1]]
    print('dim %d / dim %d: mean %.2f, median %.2f' % (DIMS[-1], DIMS[0], statistics.mean(hi) / statistics.mean(lo),
                                                       statistics.median(hi) / statistics.median(lo)))

    # pg_current_wal_lsn() is where WAL has been written to: each commit must flush its own for
    # it to be that reward's
    cur.execute('RESET synchronous_commit')
    # and the cluster's position counts every writer: no autovacuum of these tables in the windows
    # (one run logged ~20 MB of page images beside the rewards, the size of a VACUUM of the decisions)
    cur.execute("""SELECT format('ALTER TABLE %s SET (autovacuum_enabled = off, toast.autovacuum_enabled = off)',
                                c.oid::regclass)
                   FROM pg_class c WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'r'""")
    for (statement,) in cur.fetchall():
        cur.execute(statement)

    # WAL: 1,000 rewards, each between two reads of the WAL position, twice: right after a
    # CHECKPOINT (the first change of each page after it writes the whole page), then at once
    # again (pages already written whole since the checkpoint, as between checkpoints)
    print()
    print('WAL over %d rewards, bytes per reward' % WAL_REWARDS)
    print('| dim | after a CHECKPOINT: reward | whole round | the next %d: reward | whole round | goal 32 d + 2048 |'
          % WAL_REWARDS)
    print('|---|---|---|---|---|---|')
    windows = []
    breakdown = []
    for p in policies:
        cur.execute('CHECKPOINT')
        figures = []
        for window in ('after a CHECKPOINT', 'the next %d' % WAL_REWARDS):
            reward_wal = 0.0
            first = lsn(cur)
            for _ in range(WAL_REWARDS):
                decision, r = p.choose(cur)
                before = lsn(cur)
                p.reward(cur, decision, r)
                reward_wal += wal_bytes(cur, before, lsn(cur))
            windows.append(('dim %d, %s' % (p.dim, window), first, lsn(cur)))
            figures += [reward_wal / WAL_REWARDS, wal_bytes(cur, first, windows[-1][2]) / WAL_REWARDS]
        if os.environ.get('BENCH_WALINSPECT'):
            breakdown += walinspect(cur, windows[-2:])
        print('| %d | %.0f | %.0f | %.0f | %.0f | %d |' % ((p.dim,) + tuple(figures) + (32 * p.dim + 2048,)))
    print('\n'.join(breakdown))
    cur.execute("""SELECT pg_size_pretty(pg_total_relation_size('bandit.arm'))""")
    print('bandit.arm with its TOAST and indexes after all that: %s' % cur.fetchone()[0])
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return 0


if __name__ == '__main__':
    sys.exit(main())
