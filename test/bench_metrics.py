#!/usr/bin/python3
"""Polling bandit.policy_metrics on a long decision log (not part of the suite:
building the log takes minutes).  Usage: test/bench_metrics.py [decisions]
(default 10000000) [last-hour share].

Builds a database with four policies; 'hot' holds the decisions given, logged
over the last 7 days (the last hour: 1/168 of them), 60 % rewarded, the arms'
counters set to match; the other three hold 1000 each.  VACUUM ANALYZE, then one
bandit.refresh_metrics() (it counts the whole log once), then a minute's worth
of new decisions and the refresh that counts just them.  Last, expire_decisions
from a horizon a minute back (its steady state under pg_cron) against the scan
of the log a run without a horizon would make.  Then, interleaved,
30 polls of SELECT * FROM bandit.policy_metrics (all four policies) against
the baseline a naive view would pay: SELECT count(*) FROM bandit.decision WHERE
policy = 'hot'.  Prints the medians and their ratio, as a superuser and as a
role with read on the policies (row-level security on).  Figures:
doc/performance.md."""
import os
import statistics
import sys
import time

import psycopg2

DB = 'bandit_bench_metrics'


def timed(cur, sql):
    start = time.perf_counter()
    cur.execute(sql)
    cur.fetchall()
    return (time.perf_counter() - start) * 1000


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000000
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    ac = admin.cursor()
    ac.execute('DROP DATABASE IF EXISTS ' + DB)
    ac.execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" % DB)
    ac.execute('DROP ROLE IF EXISTS bandit_bench_reader')
    ac.execute('CREATE ROLE bandit_bench_reader')
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute('CREATE EXTENSION bandit')
    for p in ('hot', 'p1', 'p2', 'p3'):
        cur.execute("SELECT bandit.create_policy(%s, 'thompson', '{a,b,c}', "
                    "'{\"reward_wait\": \"30 minutes\", \"default_reward\": 0}')", (p,))
        cur.execute("UPDATE bandit.policy SET created_at = now() - interval '8 days' WHERE name = %s", (p,))
        cur.execute("SELECT bandit.grant('policy', %s, 'bandit_bench_reader', 'read')", (p,))
    start = time.time()
    # one statement per policy; decisions in created_at order, as a live log is
    for p, rows in (('hot', n), ('p1', 1000), ('p2', 1000), ('p3', 1000)):
        cur.execute("""
            INSERT INTO bandit.decision (policy, arm, propensity, mode, created_at, reward, rewarded_at)
            SELECT %s, (ARRAY['a','b','c'])[1 + i %% 3], 1.0 / 3, 'active', t,
                   CASE WHEN i %% 5 < 3 THEN (i %% 2)::float8 END, CASE WHEN i %% 5 < 3 THEN t + interval '1 minute' END
            FROM generate_series(1, %s) i, LATERAL (SELECT now() - interval '7 days' * (1 - i::float8 / %s)) s(t)""",
                    (p, rows, rows))
    cur.execute("""UPDATE bandit.arm a SET rewarded = s.n, reward_sum = s.r, pulls = s.n,
                          last_update = s.last
                   FROM (SELECT policy, arm, count(reward) n, coalesce(sum(reward), 0) r, max(rewarded_at) last
                         FROM bandit.decision GROUP BY 1, 2) s
                   WHERE a.policy = s.policy AND a.arm = s.arm""")
    load = time.time() - start
    start = time.time()
    cur.execute('VACUUM ANALYZE bandit.decision')
    vacuum = time.time() - start
    cur.execute("SELECT pg_size_pretty(pg_total_relation_size('bandit.decision'))")
    size = cur.fetchone()[0]
    print('%d decisions of hot (+3000 others) loaded in %.0f s, VACUUM ANALYZE %.0f s, decision table %s'
          % (n, load, vacuum, size))
    first = timed(cur, 'SELECT bandit.refresh_metrics()')
    # a minute of traffic at the log's rate, then the refresh that counts it
    per_minute = max(1, n // (7 * 24 * 60))
    cur.execute("INSERT INTO bandit.decision (policy, arm, propensity, mode) "
                "SELECT 'hot', 'a', 1.0 / 3, 'active' FROM generate_series(1, %s)", (per_minute,))
    time.sleep(1.1)   # the refresh's horizon is a second behind
    again = timed(cur, 'SELECT bandit.refresh_metrics()')
    print('refresh_metrics: first (counts the whole log) %.0f ms; next, after %d new decisions: %.1f ms'
          % (first, per_minute, again))
    cur.execute("SELECT decisions, rewarded, decisions_last_hour FROM bandit.policy_metrics WHERE policy = 'hot'")
    print('hot: decisions, rewarded, decisions_last_hour', cur.fetchone())
    cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM bandit.policy_metrics")
    plan = '\n'.join(r[0] for r in cur.fetchall())
    for who in ('superuser', 'reader'):
        if who == 'reader':
            cur.execute('SET ROLE bandit_bench_reader')
        view, base = [], []
        for _ in range(30):
            view.append(timed(cur, 'SELECT * FROM bandit.policy_metrics'))
            base.append(timed(cur, "SELECT count(*) FROM bandit.decision WHERE policy = 'hot'"))
        v, b = statistics.median(view), statistics.median(base)
        print('%-9s policy_metrics (4 policies) median %.2f ms (min %.2f, max %.2f); count(*) of hot median %.1f ms; '
              'ratio %.4f' % (who, v, min(view), max(view), b, v / b))
        cur.execute('RESET ROLE')
    # expiry in its steady state: the previous run (a minute ago) left the horizon 31 minutes
    # back; against it, the scan a run without a horizon would make of every old decision
    cur.execute("UPDATE bandit.decision_rollup SET expired_to = now() - interval '31 minutes' WHERE policy = 'hot'")
    naive = timed(cur, "SELECT count(*) FROM bandit.decision WHERE policy = 'hot' "
                       "AND created_at < now() - interval '30 minutes' AND reward IS NULL")
    cur.execute('BEGIN')
    start = time.perf_counter()
    cur.execute("SELECT bandit.expire_decisions('hot')")
    expired = cur.fetchone()[0]
    steady = (time.perf_counter() - start) * 1000
    cur.execute('ROLLBACK')
    print('expire_decisions from a horizon a minute back: %d expired and learned in %.1f ms; '
          'the scan of every unrewarded decision older than reward_wait: %.0f ms' % (expired, steady, naive))
    print('JIT in the plan:', 'JIT' in plan)
    print(plan)
    conn.close()
    if not os.environ.get('BENCH_KEEP'):   # set: keep the database to look further
        ac.execute('DROP DATABASE ' + DB)
        ac.execute('DROP ROLE bandit_bench_reader')


if __name__ == '__main__':
    main()
