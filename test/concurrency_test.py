#!/usr/bin/python3
"""Concurrency test of the policy layer under pgbench: many clients choose and
reward at once, on one shared policy and on a policy each, and nothing is
lost or counted twice: the rewards credited to the arms (pulls, alpha, beta,
weight, mean) equal the committed transactions pgbench reports and the
rewarded decisions in the log.  Run inside a cluster (test/run, which sets
PGHOST etc.); prints "N passed, N failed"."""
import os
import re
import shutil
import subprocess
import sys
import tempfile


from testlib import fresh_database, ok, report

DB = 'bandit_concurrency_test'
CLIENTS = 8
PGBENCH = shutil.which('pgbench') or '/usr/lib/postgresql/15/bin/pgbench'



admin, conn = fresh_database(DB)
cur = conn.cursor()


def q(sql, *args):
    cur.execute(sql, args)
    return cur.fetchall()


def pgbench(what, scripts, per_client):
    """Runs the scripts (chosen at random per transaction) with CLIENTS clients, per_client
    transactions each; the number of transactions committed (of each script, when several), or
    None.  pgbench's threads add to the per-script counts without a lock (its source says
    so), so several scripts run in one thread: the clients still run concurrently, as
    asynchronous connections."""
    if isinstance(scripts, str):
        scripts = [scripts]
    files = []
    for script in scripts:
        with tempfile.NamedTemporaryFile('w', suffix='.sql', delete=False) as f:
            f.write(script)
        files.append(f.name)
    try:
        run = subprocess.run([PGBENCH, '-n', '-c', str(CLIENTS), '-j', str(CLIENTS if len(files) == 1 else 1),
                              '-t', str(per_client), '-r']
                             + [a for name in files for a in ('-f', name)] + [DB], capture_output=True, text=True)
    finally:
        for name in files:
            os.unlink(name)
    done = re.search(r'number of transactions actually processed: (\d+)', run.stdout)
    failures = re.search(r'number of failed transactions: (\d+)', run.stdout)
    ok('%s: pgbench succeeds' % what, run.returncode == 0 and done is not None,
       'exit %d\n%s\n%s' % (run.returncode, run.stdout[-2000:], run.stderr[-2000:]))
    ok('%s: no failed transactions' % what, failures is None or failures.group(1) == '0',
       run.stdout[-1000:] + run.stderr[-2000:])
    if done is None:
        return None
    tps = re.search(r'tps = ([0-9.]+)', run.stdout)
    print('%s: %s transactions, %s tps' % (what, done.group(1), tps.group(1) if tps else '?'))
    if len(files) == 1:
        return int(done.group(1))
    # several scripts: the transactions of each
    counts = [int(c) for c in re.findall(r'^SQL script \d+: .*\n.*\n - (\d+) transactions', run.stdout, re.M)]
    ok('%s: the scripts\' counts add up to the total' % what,
       len(counts) == len(files) and sum(counts) == int(done.group(1)), '%r, total %s' % (counts, done.group(1)))
    return counts if len(counts) == len(files) else None


def check_policies(what, policies, committed):
    """Arms against the decision log, and both against pgbench's committed count."""
    total = q('''SELECT coalesce(sum(pulls), 0) FROM bandit.arm WHERE policy = ANY (%s)''', policies)[0][0]
    rewarded, logged = q('''SELECT count(reward), count(*) FROM bandit.decision WHERE policy = ANY (%s)''',
                         policies)[0]
    ok('%s: sum(pulls) = committed transactions' % what, committed is not None
       and total == committed, 'pulls %s, committed %s' % (total, committed))
    ok('%s: rewarded decisions = committed transactions' % what, committed is not None
       and rewarded == committed, 'rewarded %s, committed %s' % (rewarded, committed))
    ok('%s: every logged decision is rewarded' % what, rewarded == logged, '%s of %s' % (rewarded, logged))
    ok('%s: something ran on every policy' % what,
       q('SELECT count(DISTINCT policy) FROM bandit.decision WHERE policy = ANY (%s)', policies)[0][0]
       == len(policies))
    bad = q('''SELECT a.policy, a.arm, a.pulls, a.alpha, a.beta, a.weight, a.mean_reward, d.n, d.s
               FROM bandit.arm a
               LEFT JOIN (SELECT policy, arm, count(*) n, sum(reward) s FROM bandit.decision
                          WHERE reward IS NOT NULL GROUP BY 1, 2) d USING (policy, arm)
               WHERE a.policy = ANY (%s)
                 AND NOT (a.pulls = coalesce(d.n, 0)
                          AND a.alpha + a.beta - 2 = a.pulls
                          AND a.alpha - 1 = coalesce(d.s, 0)
                          AND a.weight = a.pulls
                          AND abs(a.mean_reward - coalesce(d.s / d.n, 0)) <= 1e-12)''', policies)
    ok('%s: per arm, pulls = alpha + beta - 2 = rewarded decisions, alpha - 1 = their rewards' % what,
       not bad, repr(bad))


# 8 clients on one Thompson policy with 2 arms
cur.execute("SELECT bandit.create_policy('p', 'thompson', ARRAY['a', 'b'])")
n = pgbench('shared policy', "SELECT bandit.reward(decision_id, (random() < 0.3)::int) FROM bandit.choose('p');\n", 2500)
check_policies('shared policy', ['p'], n)

# 8 clients, each on its own policy
names = ['q%d' % i for i in range(CLIENTS)]
for name in names:
    cur.execute("SELECT bandit.create_policy(%s, 'thompson', ARRAY['a', 'b'])", (name,))
n = pgbench('policy per client',
            "SELECT bandit.reward(decision_id, (random() < 0.3)::int) FROM bandit.choose('q' || :client_id);\n", 2000)
check_policies('policy per client', names, n)

# mixed: decisions rewarded one by one and in batches (each transaction one
# statement: a batch locks its arms in a fixed order, so batches never deadlock)
cur.execute("SELECT bandit.create_policy('m', 'thompson', ARRAY['a', 'b', 'c'])")
n1 = pgbench('mixed single and batch rewards', [
    "SELECT bandit.reward(decision_id, (random() < 0.5)::int) FROM bandit.choose('m');\n",
    "SELECT bandit.reward(array_agg(decision_id), array_agg((random() < 0.5)::int::float8))\n"
    "  FROM generate_series(1, 5) g, LATERAL bandit.choose(CASE WHEN g > 0 THEN 'm' END);\n"], 800)
ok('mixed: both scripts ran', n1 is not None and min(n1) > 0, repr(n1))
check_policies('mixed single and batch rewards', ['m'], None if n1 is None else n1[0] + 5 * n1[1])

# direct arm rewards from all clients at once: nothing lost
cur.execute("SELECT bandit.create_policy('r', 'ucb1', ARRAY['a', 'b'])")
n = pgbench('arm rewards', "SELECT bandit.reward('r', 'a', 1);\nSELECT bandit.reward('r', 'b', 0.5);\n", 2500)
rows = dict((a, (p, w, m)) for a, p, w, m in q("SELECT arm, pulls, weight, mean_reward FROM bandit.arm WHERE policy = 'r'"))
ok('arm rewards: every reward counted', n is not None and rows['a'][0] == n and rows['b'][0] == n
   and rows['a'][1] == n and rows['a'][2] == 1 and rows['b'][2] == 0.5, '%r, committed %r' % (rows, n))

conn.close()
admin.cursor().execute('DROP DATABASE ' + DB)
sys.exit(report())
