#!/usr/bin/env python3
"""SERIALIZABLE with a warm arm cache: recommend reads only the arm rows
written since the cache's horizon, but the range scan on (policy,
changed_xid) carries the predicate lock, so a write skew through it is still
caught.

T1: recommend('ser') (depends on arm a), then INSERT INTO note.
T2: SELECT FROM note (sees nothing), then reward arm a; COMMIT; T1 COMMIT.
T1 -rw-> T2 (T1 read a, T2 wrote it) and T2 -rw-> T1 (T2 read note, T1 wrote
it): a cycle, so SSI must abort one of them with 40001."""
import psycopg2

from testlib import ok, fresh_database, report

DB = 'bandit_arm_cache_ser'


def skew(conn1, conn2):
    """Runs the two transactions; True if either got a serialization failure."""
    c1, c2 = conn1.cursor(), conn2.cursor()
    failed = False
    try:
        c1.execute('BEGIN ISOLATION LEVEL SERIALIZABLE')
        c2.execute('BEGIN ISOLATION LEVEL SERIALIZABLE')
        c1.execute("SELECT arm FROM bandit.recommend('ser', 1)")
        c1.fetchall()
        c2.execute('SELECT count(*) FROM note')
        c2.execute("SELECT bandit.reward('ser', 'a', 1)")
        c1.execute("INSERT INTO note VALUES ('t1 saw arm a unrewarded')")
        c2.execute('COMMIT')
        c1.execute('COMMIT')
    except psycopg2.errors.SerializationFailure:
        failed = True
    for c in (conn1, conn2):
        c.rollback() if c.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE else None
    return failed


def main():
    admin, setup = fresh_database(DB)
    s = setup.cursor()
    s.execute('CREATE TABLE note (what text)')
    s.execute("SELECT bandit.create_policy('ser', 'epsilon_greedy', ARRAY['a', 'b', 'c'])")
    results = {}
    for label in ('cold', 'warm'):
        s.execute('TRUNCATE note')
        s.execute("UPDATE bandit.arm SET mean_reward = 0, weight = 0 WHERE policy = 'ser'")
        conn1 = psycopg2.connect(dbname=DB)
        conn2 = psycopg2.connect(dbname=DB)
        conn1.autocommit = conn2.autocommit = True
        if label == 'warm':
            # fill this backend's arm cache while nothing else runs
            conn1.cursor().execute("SELECT * FROM bandit.recommend('ser', 3)")
            conn1.cursor().execute("SELECT * FROM bandit.recommend('ser', 3)")
        results[label] = skew(conn1, conn2)
        conn1.close()
        conn2.close()
    ok('serializable: a cold cache (all arms read) detects the write skew', results['cold'])
    ok('serializable: a warm cache detects the same write skew', results['warm'],
       'both transactions committed: recommend read no arm row SSI could see')
    setup.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return report()


if __name__ == '__main__':
    raise SystemExit(main())
