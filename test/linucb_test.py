#!/usr/bin/env python3
"""LinUCB's pending updates (issue 11): the A^-1 and b that choose uses,
against numpy's sequential Sherman-Morrison after every reward, across folds
(every 2 dim rewards of an arm), across sessions (one session rewards, another
reads: no staleness), through a rolled-back reward seen by its own session,
a batch crossing a fold, snapshot/restore with updates pending (a pending
row names its decision and holds no x; a new session derives every x again
from the decisions' contexts and matches numpy), and 8
concurrent clients (nothing lost, each update folded exactly once: the end
state is numpy's over every reward, within 1e-9 relative).

What choose uses is read three ways: bandit.linucb_state (the loaded state
itself), recommend's scores (the same load, in another session) against
numpy's theta.x + alpha sqrt(x' A^-1 x), and choose's argmax.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import fresh_database, ok, query_helpers, report  # noqa: E402

DB = 'bandit_linucb_test'
RTOL = 1e-9
rng = np.random.default_rng(20261207)


class Reference:
    """numpy's LinUCB state per arm: A^-1 by sequential Sherman-Morrison, b, and every x."""

    def __init__(self, arms, dim):
        self.dim = dim
        self.a_inv = {a: np.eye(dim) for a in arms}
        self.b = {a: np.zeros(dim) for a in arms}
        self.xs = {a: [] for a in arms}
        self.n = {a: 0 for a in arms}

    def add(self, arm, x, r):
        u = self.a_inv[arm] @ x
        self.a_inv[arm] = self.a_inv[arm] - np.outer(u, u) / (1 + x @ u)
        self.b[arm] = self.b[arm] + r * x
        self.xs[arm].append(x)
        self.n[arm] += 1

    def direct(self, arm):
        """inv(I + X'X): the same matrix by another road."""
        X = np.array(self.xs[arm]).reshape(-1, self.dim)
        return np.linalg.inv(np.eye(self.dim) + X.T @ X)

    def score(self, arm, x, alpha):
        A = self.a_inv[arm]
        return float(x @ A @ self.b[arm] + alpha * np.sqrt(x @ A @ x))

    def copy(self):
        c = Reference([], self.dim)
        c.a_inv = {a: m.copy() for a, m in self.a_inv.items()}
        c.b = {a: v.copy() for a, v in self.b.items()}
        c.xs = {a: list(v) for a, v in self.xs.items()}
        c.n = dict(self.n)
        return c


def fold_every(dim):
    """Rewards of an arm between folds (src/linucb.c, LINUCB_FOLD_EVERY)."""
    return 2 * dim


def rel(got, want):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    scale = max(np.max(np.abs(want)), 1e-300)
    return float(np.max(np.abs(got - want)) / scale)


def features(dim):
    x = rng.uniform(0, 1, dim)
    x[0] = 1.0
    return x


def ctx(x):
    return json.dumps({'features': [float(v) for v in x]})


def state(q, policy, arm, dim):
    a_inv, b, pending = q('SELECT a_inv, b, pending FROM bandit.linucb_state(%s, %s)', policy, arm)[0]
    return np.array(a_inv).reshape(dim, dim), np.array(b), pending


def check_state(what, q, policy, ref, arms=None, pending=True):
    """linucb_state of every arm = the reference; pending = rewards since the last fold."""
    worst = 0.0
    good_pending = True
    for a in arms or ref.a_inv:
        A, b, p = state(q, policy, a, ref.dim)
        worst = max(worst, rel(A, ref.a_inv[a]), rel(b, ref.b[a]) if ref.n[a] else float(np.max(np.abs(b))))
        good_pending &= not pending or p == ref.n[a] % fold_every(ref.dim)
    ok('%s: A^-1 and b = sequential Sherman-Morrison (%g)' % (what, RTOL), worst <= RTOL, 'relative error %g' % worst)
    if pending:
        ok('%s: pending = rewards since the last fold (every 2 dim)' % what, good_pending)
    return worst


def main():
    admin, conn = fresh_database(DB)
    cur = conn.cursor()
    q, q1, sqlstate = query_helpers(cur)
    other = psycopg2.connect(dbname=DB)
    other.autocommit = True
    oq, oq1, _ = query_helpers(other.cursor())

    # == one session rewards, another reads, after every reward: folds every 2 dim rewards
    for dim, rounds in ((5, 100), (32, 420)):
        name = 'seq%d' % dim
        arms = ['a', 'b', 'c']
        alpha = 0.7
        cur.execute('SELECT bandit.create_policy(%s, %s, %s, %s)',
                    (name, 'linucb', arms, json.dumps({'dim': dim, 'alpha': alpha})))
        ref = Reference(arms, dim)
        worst_state = worst_score = 0.0
        bad_pending = bad_stored = bad_argmax = 0
        for t in range(rounds):
            x = features(dim)
            decision, arm = q('SELECT decision_id, arm FROM bandit.choose(%s, %s)', name, ctx(x))[0]
            scores = {a: ref.score(a, x, alpha) for a in arms}
            top = sorted(scores.values(), reverse=True)
            if top[0] - top[1] > 1e-6 * abs(top[0]) and arm != max(scores, key=scores.get):
                bad_argmax += 1
            r = float(rng.normal(0.5, 0.3))
            cur.execute('SELECT bandit.reward(%s::bigint, %s::float8)', (decision, r))
            ref.add(arm, x, r)
            # the other session (its own cache) sees it at once
            A, b, p = state(oq, name, arm, dim)
            worst_state = max(worst_state, rel(A, ref.a_inv[arm]), rel(b, ref.b[arm]))
            bad_pending += p != ref.n[arm] % fold_every(dim)
            if ref.n[arm] % fold_every(dim) == 0:
                stored = np.array(q1('SELECT a_inv FROM bandit.arm WHERE policy = %s AND arm = %s', name, arm))
                bad_stored += rel(stored.reshape(dim, dim), ref.a_inv[arm]) > RTOL
            probe = features(dim)
            for a, s in oq('SELECT arm, score FROM bandit.recommend(%s, 3, %s)', name, ctx(probe)):
                worst_score = max(worst_score, abs(s - ref.score(a, probe, alpha)) / abs(ref.score(a, probe, alpha)))
        ok('dim %d: after every reward another session\'s A^-1 and b = sequential Sherman-Morrison (%g)'
           % (dim, RTOL), worst_state <= RTOL, 'relative error %g' % worst_state)
        ok('dim %d: after every reward, pending = rewards since the last fold' % dim, bad_pending == 0,
           '%d wrong' % bad_pending)
        ok('dim %d: each fold wrote the whole state into bandit.arm' % dim, bad_stored == 0, '%d wrong' % bad_stored)
        ok('dim %d: recommend\'s scores in another session = numpy\'s (%g)' % (dim, RTOL), worst_score <= RTOL,
           'relative error %g' % worst_score)
        ok('dim %d: choose takes the argmax of numpy\'s scores' % dim, bad_argmax == 0, '%d not' % bad_argmax)
        folds = sum(n // fold_every(dim) for n in ref.n.values())
        ok('dim %d: %d folds happened' % (dim, folds), folds >= 2, repr(ref.n))
        worst = max(rel(state(q, name, a, dim)[0], ref.direct(a)) for a in arms)
        ok('dim %d: A^-1 = inv(I + X\'X) (1e-9)' % dim, worst <= 1e-9, 'relative error %g' % worst)
        check_state('dim %d, the rewarding session' % dim, q, name, ref)

    # == a reward rolled back after its own session read it (its cache applied it)
    dim = 4
    cur.execute("""SELECT bandit.create_policy('rb', 'linucb', '{a}', '{"dim": 4}')""")
    ref = Reference(['a'], dim)
    for _ in range(2):
        x = features(dim)
        d = q1("SELECT decision_id FROM bandit.choose('rb', %s)", ctx(x))
        cur.execute('SELECT bandit.reward(%s::bigint, 1)', (d,))
        ref.add('a', x, 1.0)
    conn.autocommit = False
    x = features(dim)
    d = q1("SELECT decision_id FROM bandit.choose('rb', %s)", ctx(x))
    cur.execute('SELECT bandit.reward(%s::bigint, 1)', (d,))
    inside = ref.copy()
    inside.add('a', x, 1.0)
    check_state('inside the rewarding transaction', q, 'rb', inside)
    q("SELECT * FROM bandit.choose('rb', %s)", ctx(x))
    conn.rollback()
    conn.autocommit = True
    check_state('after its rollback, in the same session', q, 'rb', ref)
    for _ in range(3):
        x = features(dim)
        d = q1("SELECT decision_id FROM bandit.choose('rb', %s)", ctx(x))
        cur.execute('SELECT bandit.reward(%s::bigint, 0.5)', (d,))
        ref.add('a', x, 0.5)
        check_state('rewards after the rollback (%d)' % ref.n['a'], q, 'rb', ref)
    check_state('rewards after the rollback, another session', oq, 'rb', ref)

    # == a batch crossing a fold, one transaction
    ids = []
    for _ in range(6):
        x = features(dim)
        ids.append(q1("SELECT decision_id FROM bandit.choose('rb', %s)", ctx(x)))
        ref.add('a', x, 0.25)
    cur.execute('SELECT bandit.reward(%s::bigint[], %s::float8[])', (ids, [0.25] * len(ids)))
    check_state('a batch of 6 rewards crossing a fold', q, 'rb', ref)
    check_state('a batch of 6 rewards crossing a fold, another session', oq, 'rb', ref)

    # == snapshot with updates pending; restore across a fold
    cur.execute("""SELECT bandit.create_policy('sr', 'linucb', '{a,b}', '{"dim": 5}')""")
    ref = Reference(['a', 'b'], 5)

    def play(n, policy='sr', reference=None):
        reference = reference or ref
        for _ in range(n):
            x = features(5)
            d, arm = q('SELECT decision_id, arm FROM bandit.choose(%s, %s)', policy, ctx(x))[0]
            r = float(rng.uniform(-1, 1))
            cur.execute('SELECT bandit.reward(%s::bigint, %s::float8)', (d, r))
            reference.add(arm, x, r)
    play(13)
    while all(n % fold_every(5) == 0 for n in ref.n.values()):
        play(1)
    saved = ref.copy()
    snap = q1("SELECT bandit.snapshot('sr')")
    pend = q1("""SELECT sum(jsonb_array_length(e->'linucb_pending')) FROM bandit.snapshot,
                 jsonb_array_elements(arms) e WHERE id = %s""", snap)
    ok('the snapshot holds the pending updates', pend == sum(n % fold_every(5) for n in saved.n.values()),
       '%s vs %r' % (pend, saved.n))
    play(25)
    check_state('before the restore', oq, 'sr', ref)
    cur.execute('SELECT bandit.restore(%s)', (snap,))
    check_state('restored with updates pending', q, 'sr', saved)
    check_state('restored with updates pending, another session', oq, 'sr', saved)
    # a pending row holds no x: it names its decision, whose context gives x again
    fresh = psycopg2.connect(dbname=DB)
    fresh.autocommit = True
    check_state('restored with updates pending, a new session (every x from its decision)',
                query_helpers(fresh.cursor())[0], 'sr', saved)
    fresh.close()
    ok('a pending row holds no feature vector: its columns',
       q("""SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
            WHERE attrelid = 'bandit.linucb_pending'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""")
       == [('policy', 'text'), ('arm', 'text'), ('stamp', 'bigint'), ('seq', 'bigint'), ('decision', 'bigint'),
           ('reward', 'double precision')])
    ok('each restored pending row names the decision it rewards (its arm, its reward)',
       q1("""SELECT count(*) FILTER (WHERE d.id IS NULL) = 0 AND count(*) > 0 FROM bandit.linucb_pending q
             LEFT JOIN bandit.decision d ON d.id = q.decision AND d.policy = q.policy AND d.arm = q.arm
                                          AND d.reward = q.reward
             WHERE q.policy = 'sr'"""))
    ok('the snapshot keeps each pending update as {decision, reward}',
       q1("""SELECT bool_and(v.item ?& '{decision,reward}' AND NOT v.item ? 'x')
             FROM bandit.snapshot, jsonb_array_elements(arms) e, jsonb_array_elements(e->'linucb_pending') v(item)
             WHERE id = %s""", snap))
    size = q1("SELECT max(pg_column_size(q.*)) FROM bandit.linucb_pending q WHERE q.policy = 'seq32'")
    ok('a pending row of dim 32 is smaller than its x would be (8 dim bytes)', size is not None and size < 8 * 32,
       repr(size))
    ok('restore leaves no pending row of an older state',
       q1("""SELECT count(*) FROM bandit.linucb_pending q JOIN bandit.arm a USING (policy, arm)
             WHERE q.policy = 'sr' AND q.stamp <> a.state_stamp""") == 0)
    ref = saved.copy()
    play(25)
    check_state('rewards after the restore (folds included)', oq, 'sr', ref)
    # a snapshot of 0.1.0 has no pending key: its a_inv is the whole state
    arms = q1("SELECT arms FROM bandit.snapshot WHERE id = %s", snap)
    old = [{k: v for k, v in e.items() if k != 'linucb_pending'} for e in arms]
    snap_old = q1("""INSERT INTO bandit.snapshot (policy, label, policy_row, arms)
                     SELECT policy, 'old', policy_row, %s FROM bandit.snapshot WHERE id = %s RETURNING id""",
                  json.dumps(old), snap)
    cur.execute('SELECT bandit.restore(%s)', (snap_old,))
    ok('a snapshot without pending updates restores none',
       q1("SELECT count(*) FROM bandit.linucb_pending WHERE policy = 'sr'") == 0 and
       all(state(q, 'sr', a, 5)[2] == 0 for a in 'ab'))

    # == pg_dump and pg_restore: the stored states, the pending updates and their sequence
    cur.execute('SELECT bandit.restore(%s)', (snap,))
    ref = saved.copy()
    play(3)
    bindir = os.path.dirname(shutil.which('pg_dump'))
    if os.environ.get('PG_CONFIG'):
        bindir = subprocess.run([os.environ['PG_CONFIG'], '--bindir'], capture_output=True, text=True,
                                check=True).stdout.strip()
    restored_db = DB + '_restored'
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + restored_db)
    admin.cursor().execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
                           % restored_db)
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, 'dump')
        subprocess.run([os.path.join(bindir, 'pg_dump'), '-Fc', '-f', dump, DB], check=True)
        subprocess.run([os.path.join(bindir, 'pg_restore'), '-d', restored_db, dump], check=True)
    rconn = psycopg2.connect(dbname=restored_db)
    rconn.autocommit = True
    rq, rq1, _ = query_helpers(rconn.cursor())
    pending_here = q1("SELECT count(*) FROM bandit.linucb_pending WHERE policy = 'sr'")
    ok('pg_dump carries the pending updates', pending_here > 0 and
       rq1("SELECT count(*) FROM bandit.linucb_pending WHERE policy = 'sr'") == pending_here, repr(pending_here))
    same = all(q('SELECT * FROM bandit.linucb_state(%s, %s)', pol, arm) ==
               rq('SELECT * FROM bandit.linucb_state(%s, %s)', pol, arm)
               for pol, arm in q("SELECT a.policy, a.arm FROM bandit.arm a JOIN bandit.policy p ON p.name = a.policy "
                                 "WHERE p.algorithm = 'linucb'"))
    ok('restored from a dump, every LinUCB arm\'s state is the same, bit for bit', same)
    check_state('restored from a dump', rq, 'sr', ref)
    # a new pending update sorts after the dumped ones
    x = features(5)
    d = rq1("SELECT decision_id FROM bandit.choose('sr', %s)", ctx(x))
    arm = rq1('SELECT arm FROM bandit.decision WHERE id = %s', d)
    rconn.cursor().execute('SELECT bandit.reward(%s::bigint, 1)', (d,))
    ref.add(arm, x, 1.0)
    check_state('restored from a dump, then a reward', rq, 'sr', ref)
    rconn.close()
    admin.cursor().execute('DROP DATABASE ' + restored_db)

    # == arms added and retired
    cur.execute("SELECT bandit.add_arm('sr', 'c')")
    ok('an added arm starts from A^-1 = I, b = 0, nothing pending',
       rel(state(q, 'sr', 'c', 5)[0], np.eye(5)) == 0 and state(q, 'sr', 'c', 5)[2] == 0)
    ref = Reference(['c'], 5)
    x = features(5)
    d = q1("SELECT decision_id FROM bandit.choose('sr', %s)", ctx(x))
    cur.execute("UPDATE bandit.decision SET arm = 'c' WHERE id = %s", (d,))
    cur.execute("SELECT bandit.retire_arm('sr', 'c')")
    cur.execute('SELECT bandit.reward(%s::bigint, 2)', (d,))
    ref.add('c', x, 2.0)
    check_state('a retired arm still learns from earlier decisions', oq, 'sr', ref, arms=['c'])

    # == a reward out of range changes nothing, pending or stored
    before = q("""SELECT a.pulls, a.a_inv, a.b, (SELECT count(*) FROM bandit.linucb_pending q WHERE q.policy = 'sr')
                  FROM bandit.arm a WHERE a.policy = 'sr' AND a.arm = 'a'""")
    d = q1("""INSERT INTO bandit.decision (policy, arm, propensity, mode, context)
              VALUES ('sr', 'a', 1, 'active', '{"features": [1e200, 0, 0, 0, 1]}') RETURNING id""")
    code = sqlstate('SELECT bandit.reward(%s::bigint, 1)', d)
    ok('a reward whose features overflow A^-1 is 22003', code == '22003', code)
    after = q("""SELECT a.pulls, a.a_inv, a.b, (SELECT count(*) FROM bandit.linucb_pending q WHERE q.policy = 'sr')
                 FROM bandit.arm a WHERE a.policy = 'sr' AND a.arm = 'a'""")
    ok('... and changes nothing (pulls, a_inv, b, pending rows)', before == after)

    # == linucb_state's errors
    cur.execute("SELECT bandit.create_policy('th', 'thompson', '{a}')")
    for sql, want in (("SELECT * FROM bandit.linucb_state(NULL, 'a')", '22004'),
                      ("SELECT * FROM bandit.linucb_state('sr', NULL)", '22004'),
                      ("SELECT * FROM bandit.linucb_state('nope', 'a')", '42704'),
                      ("SELECT * FROM bandit.linucb_state('sr', 'nope')", '42704'),
                      ("SELECT * FROM bandit.linucb_state('th', 'a')", '22023')):
        code = sqlstate(sql)
        ok('%s is %s' % (sql, want), code == want, code)

    # == 8 clients choose and reward one policy: nothing lost, folded exactly once
    dim, per_client, clients = 2, 60, 8
    cur.execute("""SELECT bandit.create_policy('conc', 'linucb', '{a,b,c}', '{"dim": 2, "alpha": 0.3}')""")
    lock = threading.Lock()
    done = []
    errors = []

    def client(seed):
        local = np.random.default_rng(seed)
        c = psycopg2.connect(dbname=DB)
        c.autocommit = True
        k = c.cursor()
        try:
            for _ in range(per_client):
                x = local.uniform(0, 1, dim)
                x[0] = 1.0
                k.execute("SELECT decision_id, arm FROM bandit.choose('conc', %s)", (ctx(x),))
                d, arm = k.fetchone()
                r = float(local.normal())
                k.execute('SELECT bandit.reward(%s::bigint, %s::float8)', (d, r))
                with lock:
                    done.append((arm, x, r))
        except psycopg2.Error as e:
            errors.append(repr(e))
        finally:
            c.close()
    # meanwhile a reader: no staleness.  x[0] = 1 always, so A[0, 0] - 1 counts the rewards in a
    # state: at least the arm's pulls committed before the read began, a whole number
    reads = []

    def reader():
        c = psycopg2.connect(dbname=DB)
        c.autocommit = True
        k = c.cursor()
        try:
            while any(t.is_alive() for t in threads):
                k.execute("SELECT arm, pulls FROM bandit.arm WHERE policy = 'conc'")
                before = dict(k.fetchall())
                k.execute("SELECT arm, (bandit.linucb_state('conc', arm)).a_inv FROM bandit.arm WHERE policy = 'conc'")
                for arm, a_inv in k.fetchall():
                    counted = np.linalg.inv(np.array(a_inv).reshape(dim, dim))[0, 0] - 1
                    reads.append((before[arm], counted))
        except psycopg2.Error as e:
            errors.append(repr(e))
        finally:
            c.close()
    # a session whose cache lives through all of it
    check_state('8 clients: before', oq, 'conc', Reference(['a', 'b', 'c'], dim))
    threads = [threading.Thread(target=client, args=(1000 + i,)) for i in range(clients)]
    for t in threads:
        t.start()
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.join()
    watcher.join()
    stale = [(b, c) for b, c in reads if not (abs(c - round(c)) < 1e-6 and round(c) >= b)]
    ok('8 clients: a reader\'s every state holds every reward committed before it read (%d reads)' % len(reads),
       len(reads) > 10 and not stale, repr(stale[:5]))
    ok('8 clients: no error', not errors, '; '.join(errors[:3]))
    ok('8 clients: every reward credited', len(done) == clients * per_client, '%d' % len(done))
    ref = Reference(['a', 'b', 'c'], dim)
    for arm, x, r in done:
        ref.add(arm, x, r)
    pulls = dict(q("SELECT arm, pulls FROM bandit.arm WHERE policy = 'conc'"))
    ok('8 clients: pulls = rewards per arm', pulls == ref.n, '%r vs %r' % (pulls, ref.n))
    check_state('8 clients: a long-lived session', oq, 'conc', ref)
    fresh = psycopg2.connect(dbname=DB)
    fresh.autocommit = True
    check_state('8 clients: a new session', query_helpers(fresh.cursor())[0], 'conc', ref)
    fresh.close()
    worst = max(rel(state(q, 'conc', a, dim)[0], ref.direct(a)) for a in ref.n)
    ok('8 clients: A^-1 = inv(I + X\'X) over all rewards (1e-9)', worst <= 1e-9, 'relative error %g' % worst)
    ok('8 clients: no pending row of an older state',
       q1("""SELECT count(*) FROM bandit.linucb_pending q JOIN bandit.arm a USING (policy, arm)
             WHERE q.policy = 'conc' AND q.stamp <> a.state_stamp""") == 0)
    ok('8 clients: pending rows = pulls mod 2 dim per arm',
       dict(q("""SELECT a.arm, count(q.seq) FROM bandit.arm a LEFT JOIN bandit.linucb_pending q
                 ON q.policy = a.policy AND q.arm = a.arm WHERE a.policy = 'conc' GROUP BY a.arm"""))
       == {a: n % fold_every(dim) for a, n in ref.n.items()})

    other.close()
    conn.close()
    admin.cursor().execute('DROP DATABASE ' + DB)
    return report()


if __name__ == '__main__':
    sys.exit(main())
