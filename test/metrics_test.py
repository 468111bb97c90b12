#!/usr/bin/python3
"""bandit.policy_metrics: every column against an independent count of the raw
decision rows, on a small log with a simulated history.

Three policies (thompson immediate, ucb1 batched with some rewards not yet
learned, epsilon_greedy with reward_wait and expired decisions) get decisions
spread over three hours, rewards at random times since (rewarded_at set back
after bandit.reward learned them: the arms' counters are counts, not times),
and hand-made samples of the reward totals 90, 61 and 30 minutes ago, as
bandit.refresh_metrics takes them.  Then refresh_metrics (which counts the
decisions up to its horizon and prunes the 90-minute sample) and a few more
decisions after it.  The view must give: decisions, rewarded, pending, expired
exactly; mean_reward within 1e-12; decisions_last_hour = count(created_at >=
now() - 1 hour); rewards_last_hour and mean_reward_last_hour = the rewards with
rewarded_at since the newest sample at least an hour old (61 minutes);
last_decision_at; last_reward_at = the latest rewarded_at (immediate policies;
a batched policy's learned rewards count when learned).
Prints "N passed, N failed"."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import close, fresh_database, ok, query_helpers, report  # noqa: E402

DB = 'bandit_metrics_test'
POLICIES = [('m_t', 'thompson', '{}'), ('m_u', 'ucb1', '{"learning": "batched"}'),
            ('m_e', 'epsilon_greedy', '{"reward_wait": "2 hours", "default_reward": 0.5}')]
# the view and the raw count in one statement (one now()); %(since)s: the 61-minute sample's time
BOTH = """
SELECT %(columns)s, raw.*
FROM bandit.policy_metrics m,
     LATERAL (SELECT count(*), count(reward), count(*) - count(reward), count(*) FILTER (WHERE expired), avg(reward),
                     count(*) FILTER (WHERE created_at >= now() - interval '1 hour'),
                     count(*) FILTER (WHERE rewarded_at >= %%(since)s),
                     avg(reward) FILTER (WHERE rewarded_at >= %%(since)s),
                     max(created_at), max(rewarded_at)
              FROM bandit.decision d WHERE d.policy = m.policy) raw
WHERE m.policy = %%(policy)s"""
COLUMNS = ['decisions', 'rewarded', 'pending', 'expired', 'mean_reward', 'decisions_last_hour',
           'rewards_last_hour', 'mean_reward_last_hour', 'last_decision_at', 'last_reward_at']


def main():
    seed = int(os.environ.get('BANDIT_TEST_SEED', random.randrange(1 << 30)))
    print('seed', seed)
    rng = random.Random(seed)
    admin, conn = fresh_database(DB)
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    # one transaction's now() for the whole history
    cur.execute('BEGIN')
    for name, algorithm, params in POLICIES:
        q1("SELECT bandit.create_policy(%s, %s, '{a,b,c}', %s)::text", name, algorithm, params)
        q1("UPDATE bandit.policy SET created_at = now() - interval '1 day' WHERE name = %s RETURNING 1", name)
        n = rng.randint(300, 1500)
        cur.execute("INSERT INTO bandit.decision (policy, arm, propensity, mode, created_at) "
                    "SELECT %s, (ARRAY['a','b','c'])[1 + floor(random() * 3)], 1.0 / 3, 'active', "
                    "       now() - random() * interval '3 hours' FROM generate_series(1, %s) RETURNING id",
                    (name, n))
        ids = [r[0] for r in cur.fetchall()]
        chosen = rng.sample(ids, rng.randint(n // 4, 3 * n // 4))
        rewards = [rng.random() if algorithm == 'thompson' else rng.gauss(2, 3) for _ in chosen]
        q1('SELECT bandit.reward(%s::bigint[], %s::float8[])', chosen, rewards)
    # each reward at a random time between its decision and now
    q1("UPDATE bandit.decision SET rewarded_at = created_at + random() * (now() - created_at) "
       "WHERE reward IS NOT NULL RETURNING 1")
    cur.execute('COMMIT')
    # the batched policy learns part of its rewards; the others wait (to_learn)
    q1("SELECT bandit.learn_pending('m_u', 100)")
    ok('some of the batched rewards wait', q1("SELECT count(*) FROM bandit.decision WHERE policy = 'm_u' AND to_learn") > 0)
    expired = q1("SELECT bandit.expire_decisions('m_e')")
    ok('m_e: expiry credits the decisions older than two hours', expired > 0, 'expired %s' % expired)
    # the latest reward of an immediate policy, now: its arm's last_update is its rewarded_at
    q1("SELECT bandit.reward(min(id), 1) FROM bandit.decision WHERE policy = 'm_t' AND reward IS NULL")
    # samples of the totals, as refresh_metrics takes them: rewards credited before each time
    since = {}
    for name, _, _ in POLICIES:
        for minutes in (90, 61, 30):
            since[name, minutes] = q1(
                "INSERT INTO bandit.metrics_sample (policy, taken_at, rewarded, reward_sum) "
                "SELECT %s, now() - %s * interval '1 minute', count(*), coalesce(sum(reward), 0) FROM bandit.decision "
                "WHERE policy = %s AND rewarded_at < now() - %s * interval '1 minute' RETURNING taken_at",
                name, minutes, name, minutes)
    ok('refresh_metrics refreshes the three policies', q1('SELECT bandit.refresh_metrics()') == 3)
    kept = q("SELECT policy, count(*) FILTER (WHERE taken_at < now() - interval '89 minutes'), count(*) "
             "FROM bandit.metrics_sample GROUP BY policy ORDER BY policy")
    ok('refresh_metrics keeps the newest sample an hour old and those after it (3 of 4)',
       all(k[1] == 0 and k[2] == 3 for k in kept), 'samples %s' % kept)
    ok('refresh_metrics counted the decisions up to its horizon',
       q1("SELECT count(*) FROM bandit.decision_rollup WHERE decisions > 0 AND counted_to IS NOT NULL") == 3)
    # decisions after the refresh are counted from the index
    for name, _, _ in POLICIES:
        q1("SELECT count(*) FROM (SELECT bandit.choose(%s) FROM generate_series(1, 7)) c", name)
    for name, algorithm, params in POLICIES:
        cur.execute(BOTH % {'columns': ', '.join('m.' + c for c in COLUMNS)},
                    {'policy': name, 'since': since[name, 61]})
        row = cur.fetchone()
        got = dict(zip(COLUMNS, row[:len(COLUMNS)]))
        want = dict(zip(COLUMNS, row[len(COLUMNS):]))
        for c in ('decisions', 'rewarded', 'pending', 'expired', 'decisions_last_hour', 'rewards_last_hour',
                  'last_decision_at'):
            ok('%s: %s' % (name, c), got[c] == want[c], 'got %s, want %s' % (got[c], want[c]))
        for c in ('mean_reward', 'mean_reward_last_hour'):
            close('%s: %s' % (name, c), got[c], float(want[c]), 1e-12, 1e-12)
        if 'batched' in params:
            ok('%s: last_reward_at not before the latest rewarded_at' % name, got['last_reward_at'] >= want['last_reward_at'])
        else:
            ok('%s: last_reward_at' % name, got['last_reward_at'] == want['last_reward_at'],
               'got %s, want %s' % (got['last_reward_at'], want['last_reward_at']))
    # no sample an hour old, the policy older than an hour: the last hour's rewards are unknown
    q1("DELETE FROM bandit.metrics_sample WHERE policy = 'm_t' RETURNING 1")
    ok('without a sample an hour old: rewards_last_hour NULL',
       q("SELECT rewards_last_hour, mean_reward_last_hour FROM bandit.policy_metrics WHERE policy = 'm_t'") == [(None, None)])
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return report()


if __name__ == '__main__':
    sys.exit(main())
