#!/usr/bin/env python3
"""The per-backend arm cache of choose and recommend against what its own
snapshot holds, in the cases found by review: a reward prepared and rolled
back, arms renamed or moved to another policy by hand, VACUUM FULL giving a
policy row the key of an older version, a snapshot imported from the past,
and names reread without end (the cache must not grow).  Each check compares
recommend (epsilon-greedy: score = mean reward) with the table read in the
same session and snapshot."""
import psycopg2

from testlib import ok, fresh_database, report

DB = 'bandit_arm_cache_test'


def seen(cur, name):
    cur.execute('SELECT arm, score FROM bandit.recommend(%s, 100000) ORDER BY arm', (name,))
    return cur.fetchall()


def table(cur, name):
    cur.execute("""SELECT arm, CASE WHEN weight > 0 THEN mean_reward ELSE 0 END FROM bandit.arm
                   WHERE policy = %s AND NOT retired ORDER BY arm""", (name,))
    return cur.fetchall()


def same(cur, name, what):
    got, want = seen(cur, name), table(cur, name)
    ok(what, got == want, 'recommend sees %s, the table holds %s' % (got, want))


def policy(cur, name, arms):
    cur.execute('DELETE FROM bandit.policy WHERE name = %s', (name,))
    cur.execute('SELECT bandit.create_policy(%s, %s, %s)', (name, 'epsilon_greedy', arms))


def prepared_rollback(conn):
    """A transaction rewards, recommends (the cache takes its uncommitted
    write), is prepared and rolled back: preparing drops what it showed."""
    cur = conn.cursor()
    policy(cur, 'prep', ['a', 'b'])
    same(cur, 'prep', 'prepared: before')
    cur.execute('BEGIN')
    cur.execute("SELECT bandit.reward('prep', 'a', 1)")
    seen(cur, 'prep')
    cur.execute("PREPARE TRANSACTION 'arm_cache_prep'")
    cur.execute("ROLLBACK PREPARED 'arm_cache_prep'")
    same(cur, 'prep', 'prepared: a reward prepared then rolled back is not seen')
    # and COMMIT PREPARED from another session after this one read the table
    cur.execute('BEGIN')
    cur.execute("SELECT bandit.reward('prep', 'b', 1)")
    seen(cur, 'prep')
    cur.execute("PREPARE TRANSACTION 'arm_cache_prep2'")
    cur.execute("ROLLBACK PREPARED 'arm_cache_prep2'")
    cur.execute("SELECT bandit.reward('prep', 'a', 0.25)")
    same(cur, 'prep', 'prepared: after a second rollback and a later reward')


def renamed(conn, other):
    """UPDATE bandit.arm SET arm = ...: the row is stamped under its new name,
    and the old name, which leaves no stamp, goes by the policy row's touch."""
    cur, cur2 = conn.cursor(), other.cursor()
    policy(cur2, 'ren', ['a', 'b', 'c'])
    same(cur, 'ren', 'rename: before')
    cur2.execute("UPDATE bandit.arm SET arm = 'c2' WHERE policy = 'ren' AND arm = 'c'")
    same(cur, 'ren', 'rename: an arm renamed by hand (UPDATE ... SET arm)')


def moved(conn, other):
    """UPDATE bandit.arm SET policy = ...: the arm leaves its old policy's cache."""
    cur, cur2 = conn.cursor(), other.cursor()
    policy(cur2, 'from', ['a', 'b'])
    policy(cur2, 'to', ['x'])
    same(cur, 'from', 'move: before')
    cur2.execute("UPDATE bandit.arm SET policy = 'to' WHERE policy = 'from' AND arm = 'b'")
    same(cur, 'from', 'move: an arm moved to another policy by hand')
    same(cur, 'to', 'move: the other policy')


def vacuum_full(conn, other):
    """The key (xmin, ctid) of the policy row repeats: one transaction writes two
    versions of the row (create, then a deletion touches it), this backend
    caches the first; VACUUM FULL bandit.policy puts the live one back at the
    first one's ctid, with the same xmin."""
    cur, cur2 = conn.cursor(), other.cursor()
    cur2.execute('DELETE FROM bandit.policy')
    cur2.execute('VACUUM FULL bandit.policy')
    cur.execute('BEGIN')
    cur.execute('SELECT bandit.create_policy(%s, %s, %s)', ('vf', 'epsilon_greedy', ['a', 'b', 'c']))
    cur.execute("SELECT xmin, ctid FROM bandit.policy WHERE name = 'vf'")
    first = cur.fetchone()
    seen(cur, 'vf')
    cur.execute("DELETE FROM bandit.arm WHERE policy = 'vf' AND arm = 'c'")
    cur.execute("SELECT xmin, ctid FROM bandit.policy WHERE name = 'vf'")
    second = cur.fetchone()
    cur.execute('COMMIT')
    cur2.execute('VACUUM FULL bandit.policy')
    cur2.execute("SELECT xmin, ctid FROM bandit.policy WHERE name = 'vf'")
    third = cur2.fetchone()
    ok('vacuum full: the setting (row key repeats)', third == first and second != first,
       'first %s, second %s, after VACUUM FULL %s' % (first, second, third))
    same(cur, 'vf', 'vacuum full: an arm deleted after the cache was keyed on the same (xmin, ctid)')
    # the same with the policy dropped and made again in one transaction
    cur2.execute('DELETE FROM bandit.policy')
    cur2.execute('VACUUM FULL bandit.policy')
    cur.execute('BEGIN')
    cur.execute('SELECT bandit.create_policy(%s, %s, %s)', ('vf', 'epsilon_greedy', ['old1', 'old2']))
    seen(cur, 'vf')
    cur.execute("DELETE FROM bandit.policy WHERE name = 'vf'")
    cur.execute('SELECT bandit.create_policy(%s, %s, %s)', ('vf', 'epsilon_greedy', ['new1']))
    cur.execute('COMMIT')
    cur2.execute('VACUUM FULL bandit.policy')
    same(cur, 'vf', 'vacuum full: a policy dropped and made again in one transaction')


def imported_snapshot(conn, other, third):
    """SET TRANSACTION SNAPSHOT goes back in time: arms the cache took from a
    later snapshot must not show."""
    cur, cur2, cur3 = conn.cursor(), other.cursor(), third.cursor()
    policy(cur2, 'imp', ['a', 'b'])
    third.autocommit = False
    cur3.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
    cur3.execute('SELECT pg_export_snapshot()')
    snapshot = cur3.fetchone()[0]
    cur2.execute("SELECT bandit.reward('imp', 'a', 1)")
    cur2.execute("SELECT bandit.add_arm('imp', 'later')")
    seen(cur, 'imp')
    cur.execute('BEGIN ISOLATION LEVEL REPEATABLE READ')
    cur.execute('SET TRANSACTION SNAPSHOT %s', (snapshot,))
    same(cur, 'imp', 'imported snapshot: recommend sees what the snapshot holds')
    cur.execute('ROLLBACK')
    third.rollback()
    third.autocommit = True


def cache_bytes(cur):
    """Bytes held by this backend's arm caches."""
    cur.execute("""SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
                   WHERE name = 'bandit arms'""")
    return int(cur.fetchone()[0])


def leak(conn):
    """A refresh that rereads an arm keeps its name: the cache, whose context
    lives as long as its key holds, does not grow."""
    cur = conn.cursor()
    policy(cur, 'leak', ['arm_with_a_rather_long_name_%04d' % i for i in range(50)])
    cur.execute("SELECT bandit.reward('leak', arm, 1) FROM bandit.arm WHERE policy = 'leak'")
    seen(cur, 'leak')
    before = cache_bytes(cur)
    for _ in range(200):
        cur.execute("""SELECT bandit.reward('leak', 'arm_with_a_rather_long_name_0001', 1);
                       SELECT count(*) FROM bandit.recommend('leak', 1)""")
    after = cache_bytes(cur)
    ok('leak: the cache of 50 arms does not grow over 200 reward + recommend rounds',
       after <= before + 8192, '%d bytes before, %d after' % (before, after))


def leak_with_old_xact(conn, other):
    """A transaction kept open elsewhere holds the horizon back: every arm is reread each time."""
    cur, cur2 = conn.cursor(), other.cursor()
    policy(cur, 'leak2', ['arm_with_a_rather_long_name_%04d' % i for i in range(500)])
    other.autocommit = False
    cur2.execute('SELECT pg_current_xact_id()')   # holds the snapshot xmin back
    cur.execute("SELECT bandit.reward('leak2', arm, 1) FROM bandit.arm WHERE policy = 'leak2'")
    seen(cur, 'leak2')
    before = cache_bytes(cur)
    for _ in range(200):
        cur.execute("SELECT count(*) FROM bandit.recommend('leak2', 1)")
    after = cache_bytes(cur)
    other.rollback()
    other.autocommit = True
    ok('leak: 500 arms reread 200 times (a transaction open elsewhere) do not grow the cache',
       after <= before + 8192, '%d bytes before, %d after' % (before, after))


def main():
    admin, conn = fresh_database(DB)
    other = psycopg2.connect(dbname=DB)
    other.autocommit = True
    third = psycopg2.connect(dbname=DB)
    third.autocommit = True
    prepared_rollback(conn)
    renamed(conn, other)
    moved(conn, other)
    vacuum_full(conn, other)
    imported_snapshot(conn, other, third)
    leak(conn)
    leak_with_old_xact(conn, other)
    for c in (conn, other, third):
        c.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return report()


if __name__ == '__main__':
    raise SystemExit(main())
