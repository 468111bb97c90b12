#!/usr/bin/env python3
"""The arm cache on a logical replication subscriber: its apply worker fires
row triggers only, never statement triggers, so an arm deleted on the
publisher reaches the subscriber's cache through the row trigger
arm_deleted_replica (ENABLE REPLICA), which touches the policy's row.  Only
bandit.arm is published (with bandit.policy the publisher's own touch would
replicate).  Needs wal_level = logical (test/run sets it); skips otherwise."""
import time

import psycopg2

from testlib import ok, fresh_database, login_credentials, report

PUB, SUB = 'bandit_arm_cache_pub', 'bandit_arm_cache_sub'


def wait_for(cur, sql, want, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        cur.execute(sql)
        if cur.fetchone()[0] == want:
            return True
        time.sleep(0.2)
    return False


def main():
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    a = admin.cursor()
    a.execute('SHOW wal_level')
    if a.fetchone()[0] != 'logical':
        print('wal_level is not logical: skipped')
        return report()
    a.execute('SELECT current_setting(%s), current_setting(%s)', ('port', 'unix_socket_directories'))
    port, sockets = a.fetchone()
    # a slot left by a run that died would keep its database from being dropped
    a.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
              "WHERE slot_name = 'arm_cache' AND NOT active")
    _, pub = fresh_database(PUB)
    _, sub = fresh_database(SUB)
    p, s = pub.cursor(), sub.cursor()
    p.execute("SELECT bandit.create_policy('lr', 'epsilon_greedy', ARRAY['a', 'b', 'c'])")
    p.execute('CREATE PUBLICATION arm_cache FOR TABLE bandit.arm')
    p.execute("SELECT pg_create_logical_replication_slot('arm_cache', 'pgoutput')")
    # the subscriber has the policy row, its arms come by replication
    s.execute("SELECT bandit.create_policy('lr', 'epsilon_greedy', ARRAY['a', 'b', 'c'])")
    s.execute("DELETE FROM bandit.arm WHERE policy = 'lr'")
    # the apply worker connects as the test does (pg_virtualenv gives a password)
    conninfo = 'dbname=%s port=%s host=%s' % (PUB, port, sockets.split(',')[0])
    for key, value in login_credentials():
        conninfo += " %s=%s" % (key, value)
    s.execute("CREATE SUBSCRIPTION arm_cache CONNECTION %s PUBLICATION arm_cache "
              "WITH (create_slot = false, slot_name = 'arm_cache')", (conninfo,))
    synced = wait_for(s, "SELECT count(*) FROM bandit.arm WHERE policy = 'lr'", 3)
    ok('logical: the arms reached the subscriber', synced)
    reader = psycopg2.connect(dbname=SUB)
    reader.autocommit = True
    r = reader.cursor()
    r.execute("SELECT arm FROM bandit.recommend('lr', 10) ORDER BY arm")
    before = [x[0] for x in r.fetchall()]
    p.execute("DELETE FROM bandit.arm WHERE policy = 'lr' AND arm = 'c'")
    p.execute("SELECT bandit.reward('lr', 'a', 1)")
    applied = wait_for(s, "SELECT count(*) FROM bandit.arm WHERE policy = 'lr'", 2)
    ok('logical: the deletion reached the subscriber', applied)
    r.execute("SELECT arm FROM bandit.recommend('lr', 10) ORDER BY arm")
    after = [x[0] for x in r.fetchall()]
    ok('logical: a subscriber backend no longer recommends the arm deleted on the publisher',
       after == ['a', 'b'], 'before %s, after %s' % (before, after))
    reader.close()
    s.execute('ALTER SUBSCRIPTION arm_cache DISABLE')
    s.execute('ALTER SUBSCRIPTION arm_cache SET (slot_name = NONE)')
    s.execute('DROP SUBSCRIPTION arm_cache')
    # the walsender lets go of the slot a moment after the subscription is gone
    wait_for(p, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'arm_cache' AND active", 0)
    p.execute("SELECT pg_drop_replication_slot('arm_cache')")
    pub.close()
    sub.close()
    a.execute('DROP DATABASE ' + PUB)
    a.execute('DROP DATABASE ' + SUB)
    return report()


if __name__ == '__main__':
    raise SystemExit(main())
