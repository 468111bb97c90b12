#!/usr/bin/python3
"""Scheduling with pg_cron, as doc/reference.md shows it: a throwaway cluster
with shared_preload_libraries = pg_cron runs the jobs
    SELECT bandit.expire_decisions()   and   SELECT bandit.refresh_metrics()
every minute ('* * * * *': pg_cron 1.4, Debian's postgresql-15-cron, has no
seconds schedule).  Within two minutes the job must have expired exactly the
decisions older than reward_wait without a reward and learned them, and the
refresh must have counted the decisions and sampled the totals.  Skips (one
passed check saying so) where pg_cron is not installed.  Prints "N passed, N failed"."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch_cluster import Cluster  # noqa: E402
from testlib import ok, report  # noqa: E402

DB = 'bandit_cron'


def pg_cron_installed(bindir):
    libdir = subprocess.run([os.path.join(bindir, 'pg_config'), '--pkglibdir'], capture_output=True, text=True,
                            check=True).stdout.strip()
    return os.path.exists(os.path.join(libdir, 'pg_cron.so'))


def main():
    cluster = Cluster('cron', {'shared_preload_libraries': "'pg_cron'", 'cron.database_name': "'%s'" % DB,
                               # jobs in background workers: the cluster listens on its socket only
                               'cron.use_background_workers': 'on', 'max_worker_processes': 16,
                               'timezone': "'UTC'"})
    try:
        if not pg_cron_installed(cluster.bin):
            print('skip: pg_cron is not installed (postgresql-15-cron)')
            ok('skipped: pg_cron not installed', True)
            return report()
        if not cluster.start():
            ok('the cluster with pg_cron starts', False, cluster.server_log()[-2000:])
            return report()
        admin = cluster.connect()
        admin.autocommit = True
        admin.cursor().execute('CREATE DATABASE ' + DB)
        conn = cluster.connect(DB)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute('CREATE EXTENSION bandit')
        cur.execute('CREATE EXTENSION pg_cron')
        cur.execute("SELECT bandit.create_policy('cron_p', 'thompson', '{a,b}', "
                    "'{\"reward_wait\": \"30 minutes\", \"default_reward\": 0}')")
        # 6 decisions an hour old (one rewarded 1), 3 fresh
        cur.execute("INSERT INTO bandit.decision (policy, arm, propensity, mode, created_at) "
                    "SELECT 'cron_p', CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, 0.5, 'active', "
                    "       now() - CASE WHEN i <= 6 THEN interval '1 hour' ELSE interval '0' END "
                    "FROM generate_series(1, 9) i")
        cur.execute("SELECT bandit.reward(min(id), 1) FROM bandit.decision WHERE policy = 'cron_p'")
        # as doc/reference.md schedules them
        cur.execute("SELECT cron.schedule('bandit-expire', '* * * * *', 'SELECT bandit.expire_decisions()')")
        cur.execute("SELECT cron.schedule('bandit-metrics', '* * * * *', 'SELECT bandit.refresh_metrics()')")
        started = time.time()
        expired = 0
        sampled = 0
        while time.time() - started < 130:
            cur.execute("SELECT count(*) FILTER (WHERE expired) FROM bandit.decision WHERE policy = 'cron_p'")
            expired = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM bandit.metrics_sample WHERE policy = 'cron_p'")
            sampled = cur.fetchone()[0]
            if expired and sampled:
                break
            time.sleep(2)
        print('the jobs ran after %.0f s' % (time.time() - started))
        ok('the cron job expired the 5 old decisions without a reward', expired == 5, 'expired %d' % expired)
        cur.execute("SELECT count(*) FROM bandit.decision WHERE policy = 'cron_p' AND reward IS NULL")
        ok('the fresh decisions wait', cur.fetchone()[0] == 3)
        cur.execute("SELECT sum(pulls), sum(alpha), sum(beta) FROM bandit.arm WHERE policy = 'cron_p'")
        # arms from Beta(1, 1) each: one reward 1 and five 0 learned
        ok('the arms learned the default rewards', cur.fetchone() == (6, 3.0, 7.0))
        ok('the metrics job sampled the totals', sampled >= 1, 'samples %d' % sampled)
        cur.execute("SELECT decisions, rewarded, pending, expired FROM bandit.policy_metrics WHERE policy = 'cron_p'")
        ok('policy_metrics after the jobs', cur.fetchone() == (9, 6, 3, 5))
        cur.execute("SELECT counted_to IS NOT NULL FROM bandit.decision_rollup WHERE policy = 'cron_p'")
        row = cur.fetchone()
        ok('refresh_metrics advanced the count', row == (True,), 'rollup %s' % (row,))
        cur.execute("SELECT j.jobname, d.status, d.return_message FROM cron.job_run_details d "
                    "JOIN cron.job j USING (jobid) ORDER BY d.runid")
        runs = cur.fetchall()
        ok('every run succeeded', runs and all(r[1] == 'succeeded' for r in runs), 'runs %s' % runs)
        cur.execute("SELECT cron.unschedule('bandit-expire'), cron.unschedule('bandit-metrics')")
        conn.close()
        admin.close()
    finally:
        cluster.stop()
        cluster.remove()
    return report()


if __name__ == '__main__':
    sys.exit(main())
