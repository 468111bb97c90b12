#!/usr/bin/python3
"""Crash test: an 8-client pgbench of choose + reward, assign (hashed and
stratified) + record_metric and q_learn against a throwaway cluster, in which
a backend is killed with SIGKILL (round 1; the postmaster then restarts every
backend) and the postmaster itself is (round 2; its orphaned backends a moment
later, then pg_ctl start and crash recovery).  After each restart every
invariant must hold:

- pulls = committed rewards: each arm's pulls = its rewarded decisions, and
  the rewarded decisions = the rewards committed (logged in the rewarding
  transaction; clients also race to reward random decisions);
- no decision rewarded twice: no decision twice in that log;
- alpha/beta = prior + rewards: each arm's alpha = prior_alpha + sum(reward),
  beta = prior_beta + sum(1 - reward) over its rewarded decisions (rewards are
  quarters, so the sums are exact);
- assignments sticky: the variant each committed transaction was handed is the
  stored one, and assign() returns the stored variant again after the crash;
- stratum counters = assignments, per stratum;
- q_table update_count = committed updates, per (state, action), counted in a
  log table written in the same transaction as the update.

Runs in ~20 s; prints "N passed, N failed"."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch_cluster import Cluster  # noqa: E402
from testlib import ok, report  # noqa: E402

DB = 'crash'
CLIENTS = 8
RUN_SECONDS = 16
KILL_AFTER = 7
PRIOR_ALPHA, PRIOR_BETA = 2, 3

SETUP = '''
CREATE EXTENSION bandit;
SELECT bandit.create_policy('th', 'thompson', '{a,b,c}', '{"prior_alpha": %d, "prior_beta": %d}');
SELECT bandit.create_policy('eg', 'epsilon_greedy', '{a,b,c,d}', '{"epsilon": 0.2}');
SELECT bandit.create_experiment('hx', '{control,t1,t2}');
SELECT bandit.start_experiment('hx');
SELECT bandit.create_experiment('sx', '{control,t1,t2}');
SELECT bandit.start_experiment('sx');
-- what each committed transaction was handed, written in the same transaction
CREATE TABLE handed (experiment text, unit_id text, variant text);
CREATE TABLE qlog (state text, action text);
CREATE TABLE rlog (decision_id bigint);
CREATE TABLE unexpected (sqlstate text, message text);
-- a reward (batch: all or nothing) logged in rlog in its transaction; a decision
-- rewarded already (23505) or not yet made (42704) is expected, anything else noted
CREATE FUNCTION try_reward(ids bigint[], rewards float8[], batch boolean) RETURNS boolean
LANGUAGE plpgsql AS $f$
BEGIN
    IF batch THEN
        PERFORM bandit.reward(ids, rewards);
    ELSE
        PERFORM bandit.reward(ids[1], rewards[1]);
    END IF;
    INSERT INTO rlog SELECT unnest(ids);
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE NOT IN ('23505', '42704') THEN
        INSERT INTO unexpected VALUES (SQLSTATE, SQLERRM);
    END IF;
    RETURN false;
END $f$;
''' % (PRIOR_ALPHA, PRIOR_BETA)

SCRIPTS = {
    # a decision and its reward, each committed on its own (a decision may stay
    # unrewarded), a batch of one, and a race: a reward of a random decision,
    # often one another client is rewarding or has rewarded
    'choose_reward': r'''
\set r random(0, 4)
\set k random(1, 6000)
SELECT decision_id AS d FROM bandit.choose('th') \gset
SELECT try_reward(ARRAY[:d], ARRAY[:r / 4.0], false);
SELECT decision_id AS e FROM bandit.choose('eg') \gset
SELECT try_reward(ARRAY[:e], ARRAY[:r / 4.0], true);
SELECT try_reward(ARRAY[:k], ARRAY[0.75], :k % 2 = 0);
''',
    'assign_hashed': r'''
\set u random(1, 3000)
\set v random(0, 100)
INSERT INTO handed SELECT 'hx', 'u' || :u, bandit.assign('hx', 'u' || :u);
SELECT bandit.record_metric('hx', 'u' || :u, 'm', :v);
''',
    # stratified: a random unit, or the unit of the current 20 ms, which several
    # clients assign at once while it is new
    'assign_stratified': r'''
\set u random(1, 3000)
INSERT INTO handed SELECT 'sx', 'u' || :u, bandit.assign('sx', 'u' || :u, 's' || (:u % 7));
INSERT INTO handed SELECT 'sx', unit, bandit.assign('sx', unit, 's' || right(unit, 1))
FROM (SELECT 't' || floor(extract(epoch FROM clock_timestamp()) * 50)::bigint AS unit) t;
''',
    'q_learn': r'''
\set s random(1, 20)
\set a random(1, 4)
\set t random(1, 20)
\set r random(-4, 4)
BEGIN;
SELECT bandit.q_learn('ag', 's' || :s, 'a' || :a, :r / 4.0, 's' || :t, 0.1, 0.9);
INSERT INTO qlog VALUES ('s' || :s, 'a' || :a);
COMMIT;
''',
}


def pgbench(cluster, files):
    """Starts an 8-client pgbench for RUN_SECONDS; returns the process."""
    argv = [os.path.join(cluster.bin, 'pgbench'), '-n', '-c', str(CLIENTS), '-j', '2', '-T', str(RUN_SECONDS)]
    for name in files:
        argv += ['-f', name]
    return subprocess.Popen(argv + [DB], env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def children(pid):
    """The processes whose parent is pid."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def check(cluster, what):
    """Every invariant, after the restart."""
    conn = cluster.connect(DB)
    conn.autocommit = True
    cur = conn.cursor()

    def q(sql, *args):
        cur.execute(sql, args or None)
        return cur.fetchall()

    # pulls and posteriors against the rewarded decisions
    for policy in ('th', 'eg'):
        rows = q('''SELECT a.arm, a.pulls, a.alpha, a.beta, count(d.reward), coalesce(sum(d.reward), 0),
                           coalesce(sum(1 - d.reward), 0)
                    FROM bandit.arm a LEFT JOIN bandit.decision d ON d.policy = a.policy AND d.arm = a.arm
                                                                AND d.reward IS NOT NULL
                    WHERE a.policy = %s GROUP BY 1, 2, 3, 4 ORDER BY 1''', policy)
        bad = [r for r in rows if r[1] != r[4]]
        ok('%s: %s: pulls = rewarded decisions, per arm' % (what, policy), not bad,
           '(arm, pulls, alpha, beta, rewarded, sum r, sum 1-r) %r' % bad)
        if policy == 'th':
            bad = [r for r in rows if r[2] != PRIOR_ALPHA + r[5] or r[3] != PRIOR_BETA + r[6]]
            ok('%s: th: alpha = prior + sum(reward), beta = prior + sum(1 - reward), per arm' % what, not bad,
               '(arm, pulls, alpha, beta, rewarded, sum r, sum 1-r) %r' % bad)
    total = q("SELECT count(*), count(reward) FROM bandit.decision WHERE policy IN ('th', 'eg')")[0]
    ok('%s: decisions were made and rewarded before the kill' % what, total[1] > 0, 'decisions %r' % (total,))
    twice = q('SELECT decision_id, count(*) FROM rlog GROUP BY 1 HAVING count(*) > 1 LIMIT 5')
    ok('%s: no decision rewarded twice (committed rewards)' % what, not twice, '(decision, rewards) %r' % twice)
    logged = q('SELECT count(*) FROM rlog')[0][0]
    ok('%s: rewarded decisions = committed rewards' % what, logged == total[1],
       'rewarded %d, committed %d' % (total[1], logged))
    bad = q('SELECT sqlstate, message, count(*) FROM unexpected GROUP BY 1, 2')
    ok('%s: rewards failed only as already rewarded or unknown' % what, not bad, '%r' % bad)
    # assignments
    bad = q('''SELECT h.experiment, h.unit_id, h.variant, a.variant FROM handed h
               LEFT JOIN bandit.assignment a USING (experiment, unit_id)
               WHERE a.variant IS DISTINCT FROM h.variant LIMIT 5''')
    handed = q('SELECT count(*) FROM handed')[0][0]
    ok('%s: every variant handed out is the stored one (%d handed)' % (what, handed), handed > 0 and not bad,
       '(experiment, unit, handed, stored) %r' % bad)
    bad = q('''SELECT experiment, unit_id, variant, again FROM (
                   SELECT experiment, unit_id, variant,
                          CASE WHEN stratum IS NULL THEN bandit.assign(experiment, unit_id)
                               ELSE bandit.assign(experiment, unit_id, stratum) END AS again
                   FROM bandit.assignment) s
               WHERE again IS DISTINCT FROM variant LIMIT 5''')
    ok('%s: assign returns the stored variant again after the restart' % what, not bad,
       '(experiment, unit, stored, again) %r' % bad)
    bad = q('''SELECT coalesce(s.stratum, a.stratum), s.assigned, a.n
               FROM bandit.stratum s FULL JOIN (SELECT stratum, count(*) AS n FROM bandit.assignment
                                                WHERE experiment = 'sx' GROUP BY 1) a
                    ON a.stratum = s.stratum AND s.experiment = 'sx'
               WHERE s.assigned IS DISTINCT FROM a.n ORDER BY 1''')
    ok('%s: stratum counters = assignments, per stratum' % what, not bad, '(stratum, counter, assignments) %r' % bad)
    bad = q('''SELECT o.unit_id FROM bandit.observation o LEFT JOIN bandit.assignment a USING (experiment, unit_id)
               WHERE a.unit_id IS NULL OR a.variant <> o.variant LIMIT 5''')
    ok('%s: every recorded metric belongs to an assigned unit, under its variant' % what, not bad, '%r' % bad)

    # Q-learning
    bad = q('''SELECT coalesce(t.state, l.state), coalesce(t.action, l.action), t.update_count, l.n
               FROM (SELECT * FROM bandit.q_table WHERE agent = 'ag') t
               FULL JOIN (SELECT state, action, count(*) AS n FROM qlog GROUP BY 1, 2) l USING (state, action)
               WHERE t.update_count IS DISTINCT FROM l.n LIMIT 5''')
    updates = q('SELECT count(*) FROM qlog')[0][0]
    ok('%s: q_table update_count = committed updates (%d updates)' % (what, updates), updates > 0 and not bad,
       '(state, action, update_count, committed) %r' % bad)
    print('%s: %d decisions (%d rewarded), %d assignments handed, %d Q-learning updates committed'
          % (what, total[0], total[1], handed, updates))
    conn.close()


def round_(cluster, files, what, kill, restart):
    bench = pgbench(cluster, files)
    time.sleep(KILL_AFTER)
    killed = kill()
    ok('%s: killed %s' % (what, killed), killed)
    try:
        out, _ = bench.communicate(timeout=RUN_SECONDS + 60)
    except subprocess.TimeoutExpired:
        bench.kill()
        out, _ = bench.communicate()
    back = restart()
    ok('%s: the server is back' % what, back, cluster.server_log()[-2000:])
    print('%s: pgbench: %s' % (what, ' / '.join(l for l in out.splitlines()
                                                 if 'aborted' in l or 'processed' in l)[:300]))
    if back:
        check(cluster, what)


def alive(pid):
    """Running (not gone, not a zombie)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def main():
    started = time.time()
    cluster = Cluster('crash', {'max_connections': 30})
    files = []
    try:
        # started as our child, so that the killed postmaster is reaped (not left a zombie
        # that its lock file still names); restarted with pg_ctl after the kill
        ok('the cluster starts', cluster.start())
        env = cluster.env()
        subprocess.run([os.path.join(cluster.bin, 'createdb'), DB], env=env, check=True)
        run = subprocess.run([os.path.join(cluster.bin, 'psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', DB],
                             input=SETUP, capture_output=True, text=True, env=env)
        ok('setup', run.returncode == 0, run.stderr)
        for name, body in SCRIPTS.items():
            with tempfile.NamedTemporaryFile('w', suffix='_%s.sql' % name, delete=False) as f:
                f.write(body)
            files.append(f.name)

        def kill_backend():
            conn = cluster.connect(DB)
            conn.autocommit = True
            cur = conn.cursor()
            cur.execute('''SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'
                           ORDER BY state = 'active' DESC, pid LIMIT 1''')
            row = cur.fetchone()
            conn.close()
            if row is None:
                return None
            os.kill(row[0], signal.SIGKILL)
            return 'backend %d' % row[0]

        def kill_postmaster():
            pid = cluster.postmaster_pid()
            if pid is None:
                return None
            orphans = children(pid)
            os.kill(pid, signal.SIGKILL)
            cluster.process.wait()
            # the orphaned backends go on for a moment, as after a real crash of the postmaster
            time.sleep(1)
            for child in orphans:
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 10
            while time.time() < deadline and any(alive(c) for c in orphans):
                time.sleep(0.2)
            return 'postmaster %d and %d children' % (pid, len(orphans))

        round_(cluster, files, 'backend killed', kill_backend, lambda: cluster.wait_ready(60))
        ok('recovered after the backend was killed',
           'all server processes terminated; reinitializing' in cluster.server_log())
        round_(cluster, files, 'postmaster killed', kill_postmaster, cluster.pg_ctl_start)
        ok('crash recovery ran after the postmaster was killed',
           'database system was interrupted' in cluster.server_log()
           or 'was not properly shut down' in cluster.server_log())
        cluster.stop()
    finally:
        for name in files:
            os.unlink(name)
        if cluster.postmaster_pid() is not None:
            cluster.stop()
        cluster.remove()
    print('crash test: %.0f s' % (time.time() - started))
    return report()


if __name__ == '__main__':
    sys.exit(main())
