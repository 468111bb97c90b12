#!/usr/bin/python3
"""bandit.expire_decisions against a model in Python.

Random policies (thompson, ucb1, epsilon_greedy; immediate and batched learning)
get decisions of random ages on three arms, some rewarded in a random order; one
expire_decisions must credit default_reward to exactly the decisions older than
reward_wait without a reward, return how many, mark them, and leave every arm
in the state the model computes from all its rewards (the Beta posterior, pulls,
the mean and sum of squared deviations, rewarded, reward_sum).  A second run
credits nothing; a late reward of an expired decision is 23505.

Then the horizon's guarantee: a decision logged by a transaction that started
before a run and commits after it (an open transaction; a prepared one) is
still expired by a later run, though its created_at lies before the run's
cutoff; also when the run is in a repeatable read or serializable transaction
whose snapshot was taken before the decision committed.  And create_policy refuses a thompson default_reward outside [0, 1].
Prints "N passed, N failed"."""
import math
import os
import random
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import close, fresh_database, ok, query_helpers, report  # noqa: E402

DB = 'bandit_expire_test'
ARMS = ['a', 'b', 'c']


def model_arm(rewards, algorithm):
    """An arm after rewards (discount 1): Beta posterior for rewards in [0, 1]
    (thompson takes no other), pulls, mean, m2, rewarded, reward_sum."""
    n = len(rewards)
    mean = sum(rewards) / n if n else 0.0
    m2 = sum((r - mean) ** 2 for r in rewards)
    if algorithm == 'thompson':
        alpha, beta = 1 + sum(rewards), 1 + sum(1 - r for r in rewards)
    else:
        # the posterior follows rewards in [0, 1] only
        alpha = 1 + sum(r for r in rewards if 0 <= r <= 1)
        beta = 1 + sum(1 - r for r in rewards if 0 <= r <= 1)
    return {'alpha': alpha, 'beta': beta, 'pulls': n, 'mean_reward': mean, 'm2': m2, 'rewarded': n,
            'reward_sum': sum(rewards)}


def trial(conn, rng, k):
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    algorithm = rng.choice(['thompson', 'ucb1', 'epsilon_greedy'])
    learning = rng.choice(['immediate', 'batched'])
    wait_min = rng.randint(5, 120)
    if algorithm == 'thompson':
        default = rng.choice([0.0, 1.0, rng.random()])
    else:
        default = rng.choice([0.0, -3.5, rng.gauss(0, 10)])
    name = 'ex%d' % k
    q1("SELECT bandit.create_policy(%s, %s, %s, jsonb_build_object('reward_wait', %s::text, 'default_reward', %s::float8, "
       "'learning', %s::text))::text", name, algorithm, ARMS, '%d minutes' % wait_min, default, learning)
    n = rng.randint(50, 400)
    # ages in seconds, away from the wait by a minute on either side (the test takes seconds)
    ages = []
    while len(ages) < n:
        a = rng.uniform(0, 4 * 3600)
        if abs(a - wait_min * 60) > 60:
            ages.append(a)
    arms = [rng.choice(ARMS) for _ in range(n)]
    cur.execute("INSERT INTO bandit.decision (policy, arm, propensity, mode, created_at) "
                "SELECT %s, a, 1.0 / 3, 'active', now() - s * interval '1 second' "
                "FROM unnest(%s::text[], %s::float8[]) WITH ORDINALITY u(a, s, i) ORDER BY i RETURNING id",
                (name, arms, ages))
    ids = [r[0] for r in cur.fetchall()]
    rewards = {}
    chosen = rng.sample(range(n), rng.randint(0, n))
    for i in chosen:
        r = (rng.choice([0.0, 1.0, rng.random()]) if algorithm == 'thompson' else rng.gauss(1, 3))
        rewards[i] = r
    for i in chosen:
        cur.execute('SELECT bandit.reward(%s, %s)', (ids[i], rewards[i]))
    want_expired = {ids[i] for i in range(n) if ages[i] > wait_min * 60 and i not in rewards}
    got = q1('SELECT bandit.expire_decisions(%s)', name)
    ok('%s (%s, %s, wait %d min): returns the number expected' % (name, algorithm, learning, wait_min),
       got == len(want_expired), 'got %s, want %d' % (got, len(want_expired)))
    rows = q('SELECT id, reward, expired, rewarded_at IS NOT NULL FROM bandit.decision WHERE policy = %s', name)
    got_expired = {r[0] for r in rows if r[2]}
    ok('%s: exactly the decisions older than reward_wait without a reward expire' % name, got_expired == want_expired,
       'extra %s, missing %s' % (sorted(got_expired - want_expired)[:5], sorted(want_expired - got_expired)[:5]))
    ok('%s: each expired decision has default_reward and rewarded_at' % name,
       all(r[1] == default and r[3] for r in rows if r[2]))
    ok('%s: the others keep their reward or none' % name,
       all(r[1] == rewards.get(ids.index(r[0])) for r in rows if not r[2]))
    if learning == 'batched':
        ok('%s: batched: expired decisions wait for learn_pending' % name,
           q1('SELECT count(*) FROM bandit.decision WHERE policy = %s AND to_learn', name)
           == len(rewards) + len(want_expired))
        q1('SELECT bandit.learn_pending(%s, 1000000)', name)
    ok('%s: nothing left to learn' % name,
       q1('SELECT count(*) FROM bandit.decision WHERE policy = %s AND to_learn', name) == 0)
    per_arm = {a: [] for a in ARMS}
    for i in range(n):
        if i in rewards:
            per_arm[arms[i]].append(rewards[i])
        elif ids[i] in want_expired:
            per_arm[arms[i]].append(default)
    for arm, alpha, beta, pulls, mean, m2, rewarded, reward_sum in q(
            'SELECT arm, alpha, beta, pulls, mean_reward, m2, rewarded, reward_sum FROM bandit.arm '
            'WHERE policy = %s ORDER BY arm', name):
        want = model_arm(per_arm[arm], algorithm)
        ok('%s arm %s: pulls and rewarded' % (name, arm), pulls == want['pulls'] and rewarded == want['rewarded'],
           'got %s %s, want %s' % (pulls, rewarded, want['pulls']))
        scale = 1 + max([abs(r) for r in per_arm[arm]] or [0])
        close('%s arm %s: alpha' % (name, arm), alpha, want['alpha'], 1e-12, 1e-9)
        close('%s arm %s: beta' % (name, arm), beta, want['beta'], 1e-12, 1e-9)
        close('%s arm %s: mean' % (name, arm), mean, want['mean_reward'], 1e-10, 1e-12 * scale)
        close('%s arm %s: m2' % (name, arm), m2, want['m2'], 1e-9, 1e-9 * scale * scale)
        close('%s arm %s: reward_sum' % (name, arm), reward_sum, want['reward_sum'], 1e-12, 1e-9 * scale)
    ok('%s: a second run credits nothing' % name, q1('SELECT bandit.expire_decisions(%s)', name) == 0)
    if want_expired:
        late = rng.choice(sorted(want_expired))
        before = q('SELECT arm, alpha, beta, pulls FROM bandit.arm WHERE policy = %s ORDER BY arm', name)
        ok('%s: a late reward of an expired decision is 23505' % name,
           sqlstate('SELECT bandit.reward(%s, %s)', late, default) == '23505')
        ok('%s: and changes nothing' % name,
           q('SELECT arm, alpha, beta, pulls FROM bandit.arm WHERE policy = %s ORDER BY arm', name) == before)
    cur.close()


def open_transactions(conn):
    """Decisions of transactions open across a run: expired by a later run."""
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    q1("SELECT bandit.create_policy('ex_open', 'thompson', '{a,b}', "
       "'{\"reward_wait\": \"2 seconds\", \"default_reward\": 0}')::text")
    late = psycopg2.connect(dbname=DB)
    lc = late.cursor()
    lc.execute('SELECT now()')                  # psycopg2 opened a transaction: its now() is fixed
    started = lc.fetchone()[0]
    prepared = psycopg2.connect(dbname=DB)
    prepared.autocommit = True
    pc = prepared.cursor()
    pc.execute('BEGIN')
    pc.execute("SELECT decision_id FROM bandit.choose('ex_open')")
    prepared_id = pc.fetchone()[0]
    pc.execute("PREPARE TRANSACTION 'bandit_expire_test'")
    time.sleep(3.5)
    q1('SELECT bandit.expire_decisions(%s)', 'ex_open')
    horizon = q1("SELECT expired_to FROM bandit.decision_rollup WHERE policy = 'ex_open'")
    ok('a prepared transaction holds the horizon still', horizon is None, 'horizon %s' % horizon)
    cur.execute("COMMIT PREPARED 'bandit_expire_test'")
    q1('SELECT bandit.expire_decisions(%s)', 'ex_open')
    horizon = q1("SELECT expired_to FROM bandit.decision_rollup WHERE policy = 'ex_open'")
    ok('the horizon stays before the start of an open transaction', horizon is not None and horizon < started,
       'horizon %s, transaction started %s' % (horizon, started))
    ok('the prepared decision, committed after the first run, expires at the next',
       q1('SELECT expired FROM bandit.decision WHERE id = %s', prepared_id) is True)
    # the open transaction logs its decision now, with created_at = its start, before the cutoff
    lc.execute("SELECT decision_id FROM bandit.choose('ex_open')")
    late_id = lc.fetchone()[0]
    late.commit()
    ok("the late decision is dated at its transaction's start, before the last run's cutoff",
       q1('SELECT created_at = %s AND created_at < now() - interval \'2 seconds\' FROM bandit.decision WHERE id = %s',
          started, late_id))
    ok('a run after it committed expires it', q1('SELECT bandit.expire_decisions(%s)', 'ex_open') == 1)
    ok('it is expired', q1('SELECT expired FROM bandit.decision WHERE id = %s', late_id) is True)
    horizon2 = q1("SELECT expired_to FROM bandit.decision_rollup WHERE policy = 'ex_open'")
    ok('with nothing open the horizon moves on to the cutoff', horizon2 > started, 'horizon %s' % horizon2)
    late.close()
    prepared.close()
    cur.close()


def snapshot_transactions(conn):
    """A run in a repeatable read transaction does not see a decision committed
    after its snapshot: the horizon must not pass it (a later run expires it,
    refresh_metrics counts it)."""
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    q1("SELECT bandit.create_policy('ex_rr', 'ucb1', '{a,b}', "
       "'{\"reward_wait\": \"1 second\", \"default_reward\": 0}')::text")
    for isolation in ('REPEATABLE READ', 'SERIALIZABLE'):
        logger = psycopg2.connect(dbname=DB)
        lc = logger.cursor()
        lc.execute("SELECT decision_id FROM bandit.choose('ex_rr')")   # dated at this transaction's start
        decision = lc.fetchone()[0]
        time.sleep(1.5)
        runner = psycopg2.connect(dbname=DB)
        runner.set_session(isolation_level=isolation)
        rc = runner.cursor()
        rc.execute('SELECT 1')                  # the snapshot, taken before the decision commits
        logger.commit()
        logger.close()
        rc.execute("SELECT bandit.expire_decisions('ex_rr'), bandit.refresh_metrics('ex_rr')")
        runner.commit()
        runner.close()
        ok('the decision committed after a %s run\'s snapshot expires at the next run' % isolation.lower(),
           q1("SELECT bandit.expire_decisions('ex_rr')") == 1
           and q1('SELECT expired FROM bandit.decision WHERE id = %s', decision) is True)
    q1("SELECT bandit.refresh_metrics('ex_rr')")
    ok('and policy_metrics counts it once refreshed',
       q1("SELECT decisions FROM bandit.policy_metrics WHERE policy = 'ex_rr'")
       == q1("SELECT count(*) FROM bandit.decision WHERE policy = 'ex_rr'") == 2)
    cur.close()


def main():
    seed = int(os.environ.get('BANDIT_TEST_SEED', random.randrange(1 << 30)))
    print('seed', seed)
    rng = random.Random(seed)
    admin, conn = fresh_database(DB)
    q, q1, sqlstate = query_helpers(conn.cursor())
    for k in range(12):
        trial(conn, rng, k)
    for bad in (1.5, -0.25, 'Infinity'):
        ok('thompson default_reward %s refused at create' % bad,
           sqlstate("SELECT bandit.create_policy('ex_bad', 'thompson', '{a,b}', "
                    "jsonb_build_object('reward_wait', '1 hour', 'default_reward', %s::float8))", bad)
           in ('22003', '22023'))
    ok('nothing created', q1("SELECT count(*) FROM bandit.policy WHERE name = 'ex_bad'") == 0)
    # expire_decisions() (every policy the caller manages) finds nothing left
    ok('expire_decisions() after all: 0', q1('SELECT bandit.expire_decisions()') == 0)
    open_transactions(conn)
    snapshot_transactions(conn)
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return report()


if __name__ == '__main__':
    sys.exit(main())
