#!/usr/bin/python3
"""Oracle test of the policy adjustment engine (src/adjust.sql, src/adjust.c):
random sequences of proposals, validations, applications, clock shifts,
snapshots and rollbacks checked against a Python model of the rules; two
sessions racing for one scope; ensemble_choice against exact rational sums.
Run inside a cluster (test/run); prints "N passed, N failed"."""
import math
import random
import threading
import time
from fractions import Fraction

import psycopg2

from testlib import fresh_database, ok, report

admin, conn = fresh_database('bandit_adjust_test')
cur = conn.cursor()
# every statement commits: do not wait for the disk each time
cur.execute('SET extra_float_digits = 3; SET synchronous_commit = off')
started = time.time()
rng = random.Random(20240612)
TOLERANCE = 1e-15


def q(sql, *args):
    cur.execute(sql, args or None)
    return cur.fetchone()


def model_problems(v, new, n, scope, ages):
    """The rule tags the model says changing v to new with n observations breaks."""
    tags = set()
    if new < v['lower'] or new > v['upper']:
        tags.add('bounds')
    if abs(new - v['value']) - v['max_step'] > TOLERANCE * max(abs(new), abs(v['value']), v['max_step']):
        tags.add('max_step')
    if n < v['min_feedback']:
        tags.add('min_feedback')
    limit = scope['limit']
    if limit is not None and sum(1 for age in ages if age < limit[1]) >= limit[0]:
        tags.add('rate_limit')
    return tags


def model_proposal(v, indicated, n, k):
    """The proposal rule: toward indicated by at most max_step, times n / (n + k), within the bounds."""
    confidence = n / (n + k)
    if n < v['min_feedback']:
        return v['value'], confidence
    raw = indicated - v['value']
    capped = math.copysign(min(abs(raw), v['max_step']), raw) if raw != 0 else 0.0
    return min(max(v['value'] + capped * confidence, v['lower']), v['upper']), confidence


def tags_of(problems):
    return {p.split(':', 1)[0] for p in problems}


def nasty(lo, hi):
    """A number in [lo, hi] with a long binary expansion, now and then a bound itself."""
    r = rng.random()
    if r < 0.05:
        return lo
    if r < 0.1:
        return hi
    return min(hi, lo + (hi - lo) * rng.random() / 3 * 3)


# --- random sequences against the model --------------------------------------
scopes = {}
values = {}          # (scope, name) -> definition and value
ages = {}            # scope -> minutes since each adjustment (clock shifts only)
snapshots = []       # (id, scope, {name: definition})
for s in range(4):
    scope = 'scope%d' % s
    limit = None if s == 0 else (rng.randint(1, 6), 5 * rng.randint(2, 12))
    scopes[scope] = {'limit': limit}
    ages[scope] = []
    for j in range(rng.randint(2, 4)):
        lower = rng.uniform(-100, 10)
        upper = lower + rng.uniform(0.1, 200)
        v = {'lower': lower, 'upper': upper, 'value': nasty(lower, upper),
             'max_step': (upper - lower) * rng.choice([0.01, 0.1, 0.3, 1 / 3]),
             'min_feedback': rng.choice([0, 5, 30])}
        values[(scope, 'v%d' % j)] = v
        cur.execute('SELECT bandit.define_tuning_value(%s, %s, %s, %s, %s, %s, %s)',
                    (scope, 'v%d' % j, v['value'], lower, upper, v['max_step'], v['min_feedback']))
    if limit is not None:
        cur.execute("SELECT bandit.set_tuning_rate_limit(%s, %s, make_interval(mins => %s))",
                    (scope, limit[0], limit[1]))


def check_all_values(what):
    cur.execute('SELECT scope, name, value, lower_bound, upper_bound, max_step, min_feedback FROM bandit.tuning_value')
    rows = {(r[0], r[1]): r[2:] for r in cur.fetchall()}
    want = {key: (v['value'], v['lower'], v['upper'], v['max_step'], v['min_feedback']) for key, v in values.items()}
    ok(what, rows == want, 'db %r\nmodel %r' % (rows, want))


counts = {'proposal': 0, 'applied': 0, 'rejected': 0, 'rollback': 0}
for step in range(700):
    scope = rng.choice(sorted(scopes))
    name = rng.choice(sorted(n for s, n in values if s == scope))
    v = values[(scope, name)]
    op = rng.random()
    n = rng.choice([0, 3, 5, 10, 29, 30, 100, 1000])
    if op < 0.3:
        mean, target = rng.uniform(0, 1), rng.uniform(0, 1)
        gain = rng.choice([-1, 1]) * 10 ** rng.uniform(-1, 3)
        k = rng.choice([1, 10, 0.5])
        row = q('SELECT proposed_value, confidence, problems FROM bandit.propose_adjustment(%s, %s, %s, %s, %s, %s, %s)',
                scope, name, mean, n, target, gain, k)
        want, confidence = model_proposal(v, v['value'] + gain * (target - mean), n, k)
        ok('proposal %d' % step, row[0] == want and row[1] == confidence, 'got %r, want %r %r' % (row, want, confidence))
        ok('proposal problems %d' % step, tags_of(row[2]) == model_problems(v, want, n, scopes[scope], ages[scope]),
           repr(row[2]))
        counts['proposal'] += 1
        new = want
    elif op < 0.45:
        new = rng.uniform(v['lower'] - 5, v['upper'] + 5)
    elif op < 0.55:
        new = v['value'] + rng.choice([-1, 1]) * v['max_step']     # one full step, rounding included
    elif op < 0.62:
        shift = 5 * rng.randint(1, 6)
        cur.execute("UPDATE bandit.tuning_adjustment SET adjusted_at = adjusted_at - make_interval(mins => %s) "
                    "WHERE scope = %s", (shift, scope))
        ages[scope] = [a + shift for a in ages[scope]]
        continue
    elif op < 0.7:
        sid = q('SELECT bandit.snapshot_tuning(%s)', scope)[0]
        snapshots.append((sid, scope, {nm: dict(d) for (s, nm), d in values.items() if s == scope}))
        continue
    elif op < 0.76 and snapshots:
        sid, s_scope, saved = rng.choice(snapshots)
        changed = sum(1 for nm, d in saved.items() if d != values[(s_scope, nm)])
        got = q('SELECT bandit.rollback_tuning(%s)', sid)[0]
        for nm, d in saved.items():
            values[(s_scope, nm)] = dict(d)
        ok('rollback count %d' % step, got == changed, 'got %r, want %r' % (got, changed))
        check_all_values('rollback exact %d' % step)
        counts['rollback'] += 1
        continue
    else:
        new = nasty(v['lower'] - 1, v['upper'] + 1)
    want = model_problems(v, new, n, scopes[scope], ages[scope])
    got = q('SELECT bandit.validate_adjustment(%s, %s, %s, %s)', scope, name, new, n)[0]
    ok('validate %d' % step, tags_of(got) == want, 'got %r, want %r (new %r, %r)' % (got, want, new, v))
    if rng.random() < 0.6:
        before = q('SELECT count(*) FROM bandit.tuning_adjustment')[0]
        try:
            q('SELECT bandit.apply_adjustment(%s, %s, %s, %s, %s)', scope, name, new, 'test', n)
            ok('apply accepted %d' % step, not want, 'model says %r' % want)
            ages[scope].append(0)
            v['value'] = new
            counts['applied'] += 1
        except psycopg2.Error as e:
            code = '22003' if want & {'bounds', 'max_step'} else '22023'
            ok('apply rejected %d' % step, want and e.pgcode == code, '%s %s, model %r' % (e.pgcode, e.pgerror, want))
            ok('rejected changes nothing %d' % step, q('SELECT count(*) FROM bandit.tuning_adjustment')[0] == before)
            counts['rejected'] += 1
    if step % 50 == 0:
        check_all_values('values %d' % step)
check_all_values('values at the end')
ok('the sequence exercised every path', all(c > 5 for c in counts.values()), repr(counts))
adjusts = q("SELECT count(*) FROM bandit.tuning_adjustment WHERE kind = 'adjust'")[0]
ok('one audit row per adjustment', adjusts == counts['applied'], '%r vs %r' % (adjusts, counts['applied']))
ok('scope counters', q('SELECT sum(adjustments) FROM bandit.tuning_scope')[0] == counts['applied'])
ok('every adjustment has its snapshot',
   q("SELECT count(*) FROM bandit.tuning_adjustment a JOIN bandit.tuning_snapshot s ON s.id = a.snapshot_id "
     "WHERE a.kind = 'adjust' AND s.saved_values ? a.name "
     "AND (s.saved_values -> a.name ->> 'value')::float8 = a.old_value")[0] == adjusts)

print('random sequences: %.1f s, %r' % (time.time() - started, counts))

# --- concurrency: two sessions, one scope -------------------------------------
other = psycopg2.connect(dbname='bandit_adjust_test')
other.autocommit = True
ocur = other.cursor()
ocur.execute('SET extra_float_digits = 3')
cur.execute("SELECT bandit.define_tuning_value('race', 'x', 0, -10, 10, 1, 0)")
cur.execute("SELECT bandit.define_tuning_value('race', 'y', 0, -10, 10, 1, 0)")


def race(first_sql, second_sql, isolation='READ COMMITTED'):
    """Runs first_sql in a transaction, second_sql in another session meanwhile; returns
    (seconds the second waited, its SQLSTATE or None)."""
    result = {}
    cur.execute('BEGIN')
    cur.execute(first_sql)

    def second():
        started = time.time()
        try:
            ocur.execute('BEGIN ISOLATION LEVEL ' + isolation)
            ocur.execute('SELECT 1')    # take the snapshot now, before the first commits
            ocur.execute(second_sql)
            ocur.execute('COMMIT')
            result['code'] = None
        except psycopg2.Error as e:
            ocur.execute('ROLLBACK')
            result['code'] = e.pgcode
        result['waited'] = time.time() - started

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)
    cur.execute('COMMIT')
    thread.join()
    return result['waited'], result['code']


# the second steps from the same old value: once the first commits, its step is 2 > max_step
waited, code = race("SELECT bandit.apply_adjustment('race', 'x', 1, 'up', 0)",
                    "SELECT bandit.apply_adjustment('race', 'x', -1, 'down', 0)")
ok('concurrent step waits', waited > 0.4, repr(waited))
ok('concurrent step validated against the committed value', code == '22003', repr(code))
ok('value after the race', q("SELECT bandit.tuned_value('race', 'x')")[0] == 1)
# two values of one scope and a limit of one: only one passes
cur.execute("SELECT bandit.set_tuning_rate_limit('race', 2, '1 hour')")   # one adjustment already made
waited, code = race("SELECT bandit.apply_adjustment('race', 'x', 2, 'up', 0)",
                    "SELECT bandit.apply_adjustment('race', 'y', 1, 'up', 0)")
ok('concurrent rate limit waits', waited > 0.4, repr(waited))
ok('concurrent rate limit holds', code == '22023', repr(code))
ok('only one of the racing adjustments', q("SELECT count(*) FROM bandit.tuning_adjustment WHERE scope = 'race' "
                                           "AND kind = 'adjust'")[0] == 2)
# under REPEATABLE READ the second cannot see the first's commit: serialization failure
cur.execute("SELECT bandit.set_tuning_rate_limit('race', NULL, NULL)")
waited, code = race("SELECT bandit.apply_adjustment('race', 'x', 3, 'up', 0)",
                    "SELECT bandit.apply_adjustment('race', 'y', 0.5, 'up', 0)", 'REPEATABLE READ')
ok('repeatable read conflicts', code == '40001', repr(code))
# a rollback racing an adjustment: the adjustment validates against the restored values
sid = q("SELECT bandit.snapshot_tuning('race')")[0]
cur.execute("SELECT bandit.apply_adjustment('race', 'x', 4, 'up', 0)")
waited, code = race('SELECT bandit.rollback_tuning(%d)' % sid,
                    "SELECT bandit.apply_adjustment('race', 'x', 5, 'up', 0)")
ok('adjustment after a concurrent rollback', code == '22003', repr(code))
ok('rolled back value', q("SELECT bandit.tuned_value('race', 'x')")[0] == 3)
other.close()

# --- ensemble choice against exact sums ---------------------------------------
ACTIONS = ['fast', 'cheap', 'eco', 'Fast', 'b', 'B', '', 'ä', 'z' * 40, 'é', 'a b']


def exact_winner(rows, with_score):
    totals = {}
    for action, weight, score in rows:
        if action is None or weight is None or (with_score and score is None):
            continue
        term = weight * score if with_score else weight
        totals[action] = totals.get(action, Fraction(0)) + Fraction(term)
    if not totals:
        return None
    best = max(totals.values())
    return min((a for a, t in totals.items() if t == best), key=lambda a: a.encode('utf-8'))


cur.execute('CREATE TABLE rec (grp int, action text, weight float8, score float8)')
groups = {}
for g in range(300):
    kind = rng.random()
    rows = []
    for _ in range(rng.randint(0, 40)):
        action = rng.choice(ACTIONS[:rng.randint(1, len(ACTIONS))])
        if kind < 0.4 or kind > 0.85:
            weight = rng.choice([0.1, 0.2, 0.3, 0.4, 0.25])   # exact ties are common
        else:
            weight = rng.random() * 10 ** rng.randint(-3, 3)
        score = rng.choice([1.0, 0.5, -0.5] + ([] if kind > 0.85 else [rng.uniform(-1, 1)]))
        if rng.random() < 0.05:
            action = None
        if rng.random() < 0.03:
            weight = None
        if rng.random() < 0.03:
            score = None
        rows.append((action, weight, score))
    if kind > 0.85 and rows:
        # the same multiset of weights for two actions, in another order: an exact tie
        # (short binary fractions, so that double-double sums are exact)
        pairs = [(rng.choice(['tie_b', 'tie_a']), w, s) for _, w, s in rows]
        twin = [('tie_a' if a == 'tie_b' else 'tie_b', w, s) for a, w, s in pairs]
        rng.shuffle(twin)
        rows = pairs + twin
    groups[g] = rows
cur.executemany('INSERT INTO rec VALUES (%s, %s, %s, %s)',
                [(g, action, weight, score) for g, rows in groups.items() for action, weight, score in rows])
cur.execute('SELECT grp, bandit.ensemble_choice(action, weight), bandit.ensemble_choice(action, weight, score) '
            'FROM rec GROUP BY grp')
got = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
for g, rows in groups.items():
    if not rows:
        continue
    want = (exact_winner(rows, False), exact_winner(rows, True))
    ok('ensemble group %d' % g, got.get(g) == want, 'got %r, want %r' % (got.get(g), want))
# the tally's totals are the exact sums, rounded once
cur.execute('SELECT grp, t.action, t.total FROM (SELECT grp, bandit.ensemble_tally(action, weight) tally FROM rec '
            'GROUP BY grp) s, bandit.ensemble_totals(s.tally) t')
for g, action, total in cur.fetchall():
    exact = sum((Fraction(w) for a, w, s in groups[g] if a == action and w is not None), Fraction(0))
    ok('tally total %d %r' % (g, action), total == float(exact), 'got %r, want %r' % (total, float(exact)))
# a text round-trip keeps every bit; merging shards gives the one-pass tally
ok('tally text round-trip', q('SELECT bool_and(t::text::bandit.ensemble_tally::text = t::text) FROM '
                              '(SELECT bandit.ensemble_tally(action, weight, score) t FROM rec GROUP BY grp) s')[0])
ok('merged shards', q('SELECT bandit.ensemble_winner(bandit.merge(t)) = (SELECT bandit.ensemble_choice(action, weight) '
                      'FROM rec) FROM (SELECT bandit.ensemble_tally(action, weight) t FROM rec GROUP BY grp % 7) s')[0])
print('ensemble groups: %.1f s' % (time.time() - started))
# many distinct actions in one group, in a parallel plan and serially
cur.execute("CREATE TABLE big AS SELECT 'act' || (i * 7919 % 3000) AS action, (i % 13) * 0.125 AS weight "
            "FROM generate_series(1, 200000) i")
cur.execute('ANALYZE big')
serial = q('SET max_parallel_workers_per_gather = 0; '
           'SELECT bandit.ensemble_choice(action, weight), bandit.ensemble_tally(action, weight)::text FROM big')
cur.execute('SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; '
            'SET max_parallel_workers_per_gather = 4; SET parallel_leader_participation = off')
cur.execute('EXPLAIN SELECT bandit.ensemble_choice(action, weight) FROM big')
ok('parallel plan', any('Partial Aggregate' in r[0] for r in cur.fetchall()))
parallel = q('SELECT bandit.ensemble_choice(action, weight), bandit.ensemble_tally(action, weight)::text FROM big')
ok('parallel equals serial', parallel == serial)
totals = {}
for i in range(1, 200001):
    a = 'act%d' % (i * 7919 % 3000)
    totals[a] = totals.get(a, 0) + (i % 13) * 0.125
best = max(totals.values())
ok('3000 actions', serial[0] == min((a for a, t in totals.items() if t == best), key=lambda a: a.encode()),
   repr(serial[0]))
cur.execute('RESET ALL')
print('all: %.1f s' % (time.time() - started))

conn.close()
admin.cursor().execute('DROP DATABASE bandit_adjust_test')
raise SystemExit(report())
