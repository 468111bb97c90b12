#!/usr/bin/python3
"""Oracle test of the priors from aggregated signals (src/prior.sql).
An independent implementation of the contract's update rule, in exact
rational arithmetic, follows many seeded random signals (and replays of
them); the table must match it to 1e-12.  Every kind of invalid signal
must fail with its SQLSTATE, change nothing, and be listed by
validate_signal.  prior_adjusted_score against its documented formula,
cleanup_priors against the ages set here, prior_metrics against the
counts kept here, and many connections applying one signal at once.
Run inside a cluster (test/run); prints "N passed, N failed"."""
import copy
import json
import random
import sys
import threading
import time
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import psycopg2

from testlib import fresh_database, ok, query_helpers, report

started = time.time()
admin, conn = fresh_database('bandit_prior_test')
cur = conn.cursor()
q, q1, sqlstate = query_helpers(cur)
rng = random.Random(20240614)


def exact(number_text):
    """A JSON number as the exact rational it denotes."""
    return Fraction(Decimal(number_text))


# The oracle: key -> (rate, latency, quality, count), all exact.
oracle = {}
applied = {}    # (cluster_hash, round) -> keys updated
replays = 0


def oracle_apply(signal):
    """The contract's rule, independently: returns the priors updated (0 for a replay)."""
    global replays
    gate = (signal['cluster_hash'], signal['aggregation_round'])
    if gate in applied:
        replays += 1
        return 0
    for key, e in signal['reward_signals'].items():
        n = e['total_samples']
        # s = round(success_rate * n): the exact decimal product, halves away from zero
        s = int((Decimal(repr(e['success_rate'])) * n).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        rate, latency, quality, count = oracle.get(key, (Fraction(0), Fraction(0), Fraction(0), 0))
        alpha = rate * count + s
        beta = (1 - rate) * count + (n - s)
        oracle[key] = (alpha / (alpha + beta),
                       (latency * count + exact(repr(e['avg_latency'])) * n) / (count + n),
                       (quality * count + exact(repr(e['quality_score'])) * n) / (count + n),
                       count + n)
    applied[gate] = len(signal['reward_signals'])
    return applied[gate]


def random_rate():
    """A success rate: short decimals (many exact halves of total_samples), long ones, the ends."""
    kind = rng.random()
    if kind < 0.1:
        return rng.choice([0.0, 1.0])
    if kind < 0.5:
        return round(rng.random(), rng.choice([1, 2, 3]))
    return rng.random()


def random_signal(cluster, round_):
    keys = rng.sample(['k%02d' % i for i in range(20)], rng.randint(1, 8))
    return {'aggregation_round': round_, 'cluster_hash': cluster, 'participant_count': rng.randint(1, 50),
            'reward_signals': {k: {'success_rate': random_rate(),
                                   'avg_latency': rng.choice([0.0, round(rng.expovariate(1 / 300), 3),
                                                              rng.uniform(0, 1e5)]),
                                   'quality_score': rng.choice([0.0, 1.0, rng.random(), round(rng.random(), 2)]),
                                   'total_samples': rng.choice([1, 2, 3, 4, 5, 10, rng.randint(1, 1000),
                                                                rng.randint(1, 10 ** 7)])}
                               for k in keys}}


def apply(signal):
    return q1('SELECT bandit.apply_signal(%s)', json.dumps(signal))


def check_table(what):
    rows = {r[0]: r[1:] for r in q('SELECT key, success_rate, latency_ms, quality, sample_count, confidence '
                                   'FROM bandit.prior')}
    ok('%s: the same keys as the oracle' % what, set(rows) == set(oracle), '%s vs %s' % (sorted(rows), sorted(oracle)))
    worst = 0.0
    for key, (rate, latency, quality, count) in oracle.items():
        if key not in rows:
            continue
        got = rows[key]
        want = (float(rate), float(latency), float(quality), float(count), float(Fraction(count, count + 100)))
        for g, w in zip(got, want):
            worst = max(worst, abs(g - w) / max(abs(w), 1e-300) if w else abs(g))
        ok('%s: %s sample_count exact' % (what, key), got[3] == count, '%r vs %r' % (got[3], count))
    ok('%s: every value within 1e-12 (relative) of the oracle' % what, worst <= 1e-12, 'worst %g' % worst)


# (a) many random signals, with replays (identical and altered) mixed in
sent = []
for i in range(150):
    if sent and rng.random() < 0.2:
        signal = copy.deepcopy(rng.choice(sent))
        if rng.random() < 0.5:    # the same round with other content is still a replay
            for e in signal['reward_signals'].values():
                e['total_samples'] += 1
    else:
        cluster = rng.choice(['c0', 'c1', 'c2', 'c3'])
        signal = random_signal(cluster, sum(1 for s in sent if s['cluster_hash'] == cluster) + rng.randint(0, 1) * 1000)
        sent.append(signal)
    want = oracle_apply(signal)
    got = apply(signal)
    if got != want:
        ok('signal %d returns %d' % (i, want), False, 'got %r' % got)
    else:
        ok('signal %d returns the priors updated (0 for a replay)' % i, True)
check_table('after 150 signals')
ok('some replays were exercised', replays >= 10, repr(replays))
ok('rounding halves were exercised', any(
    (Decimal(repr(e['success_rate'])) * e['total_samples']) % 1 == Decimal('0.5')
    for s in sent for e in s['reward_signals'].values()))
metrics = q('SELECT active_priors, signals_applied, updates_applied, signals_replayed FROM bandit.prior_metrics')[0]
ok('prior_metrics counts priors, signals, updates and replays',
   metrics == (len(oracle), len(applied), sum(applied.values()), replays),
   '%r vs %r' % (metrics, (len(oracle), len(applied), sum(applied.values()), replays)))

# (b) every kind of invalid signal: its SQLSTATE, nothing changed, and validate_signal names it
def state():
    return (q('SELECT * FROM bandit.prior ORDER BY key'), q('SELECT * FROM bandit.prior_signal ORDER BY 1, 2'))


def mutated(change):
    signal = random_signal('bad', 10 ** 6 + rng.randint(0, 10 ** 6))
    change(signal)
    return signal


def entry(signal):
    return next(iter(signal['reward_signals'].values()))


def set_entry(field, value):
    return lambda s: entry(s).__setitem__(field, value)


cases = [
    ('unknown top-level key', lambda s: s.__setitem__('round', 1), '22023', 'unknown key "round"'),
    ('missing cluster_hash', lambda s: s.pop('cluster_hash'), '22023', 'cluster_hash is missing'),
    ('cluster_hash a number', lambda s: s.__setitem__('cluster_hash', 5), '22023', 'cluster_hash must be'),
    ('cluster_hash empty', lambda s: s.__setitem__('cluster_hash', ''), '22023', 'cluster_hash must be'),
    ('missing aggregation_round', lambda s: s.pop('aggregation_round'), '22023', 'aggregation_round is missing'),
    ('aggregation_round negative', lambda s: s.__setitem__('aggregation_round', -3), '22003', 'aggregation_round must be'),
    ('aggregation_round fractional', lambda s: s.__setitem__('aggregation_round', 2.5), '22023', 'aggregation_round must be'),
    ('aggregation_round a string', lambda s: s.__setitem__('aggregation_round', '4'), '22023', 'aggregation_round must be'),
    ('aggregation_round beyond bigint', lambda s: s.__setitem__('aggregation_round', 2 ** 63), '22003', 'aggregation_round must be'),
    ('participant_count zero', lambda s: s.__setitem__('participant_count', 0), '22003', 'participant_count must be'),
    ('participant_count null', lambda s: s.__setitem__('participant_count', None), '22023', 'participant_count must be'),
    ('missing reward_signals', lambda s: s.pop('reward_signals'), '22023', 'reward_signals is missing'),
    ('reward_signals empty', lambda s: s.__setitem__('reward_signals', {}), '22023', 'reward_signals must not be empty'),
    ('reward_signals a list', lambda s: s.__setitem__('reward_signals', [1]), '22023', 'reward_signals must be a JSON object'),
    ('an entry not an object', lambda s: s['reward_signals'].__setitem__('zz', 3), '22023', 'reward_signals."zz" must be a JSON object'),
    ('an empty key', lambda s: s['reward_signals'].__setitem__('', dict(entry(s))), '22023', 'a key must not be empty'),
    ('unknown entry key', set_entry('latency', 3), '22023', 'unknown key "latency"'),
    ('missing total_samples', lambda s: entry(s).pop('total_samples'), '22023', 'total_samples is missing'),
    ('success_rate above 1', set_entry('success_rate', 1.5), '22003', 'success_rate must be a number from 0 to 1'),
    ('success_rate below 0', set_entry('success_rate', -1e-9), '22003', 'success_rate must be a number from 0 to 1'),
    ('success_rate a string', set_entry('success_rate', '0.5'), '22023', 'success_rate must be a number'),
    ('avg_latency negative', set_entry('avg_latency', -0.001), '22003', 'avg_latency must be'),
    ('avg_latency a bool', set_entry('avg_latency', True), '22023', 'avg_latency must be'),
    ('quality_score above 1', set_entry('quality_score', 1.01), '22003', 'quality_score must be'),
    ('quality_score null', set_entry('quality_score', None), '22023', 'quality_score must be'),
    ('total_samples zero', set_entry('total_samples', 0), '22003', 'total_samples must be'),
    ('total_samples fractional', set_entry('total_samples', 1.5), '22023', 'total_samples must be'),
    ('total_samples beyond 2^53', set_entry('total_samples', 2 ** 53 + 1), '22003', 'total_samples must be'),
]
# numbers that jsonb keeps but float8 cannot: spliced in as JSON text
raw_cases = [
    ('avg_latency 1e400', '"avg_latency": 1e400', '22003', 'avg_latency must be'),
    ('quality_score 1e-400', '"quality_score": 1e-400', '22003', 'quality_score is too small for float8'),
    ('success_rate 1e400', '"success_rate": 1e400', '22003', 'success_rate must be'),
]
before = state()
for what, change, code, problem in cases:
    signal = mutated(change)
    got = sqlstate('SELECT bandit.apply_signal(%s)', json.dumps(signal))
    ok('%s is %s' % (what, code), got == code, 'got %r' % got)
    problems = q1('SELECT bandit.validate_signal(%s)', json.dumps(signal))
    ok('validate_signal lists: %s' % what, any(problem in p for p in problems), repr(problems))
for what, splice, code, problem in raw_cases:
    signal = mutated(lambda s: None)
    field = splice.split(':')[0].strip('"')
    text = json.dumps(signal).replace('"%s": %s' % (field, json.dumps(entry(signal)[field])), splice, 1)
    got = sqlstate('SELECT bandit.apply_signal(%s)', text)
    ok('%s is %s' % (what, code), got == code, 'got %r' % got)
    problems = q1('SELECT bandit.validate_signal(%s)', text)
    ok('validate_signal lists: %s' % what, any(problem in p for p in problems), repr(problems))
ok('not one invalid signal changed priors or the applied signals', state() == before)
ok('a valid signal has no problems', q1('SELECT bandit.validate_signal(%s)', json.dumps(mutated(lambda s: None))) == [])

# (c) prior_adjusted_score against the documented formula
DEFAULTS = {'cost': 0.25, 'latency_ms': 0.25, 'quality': 0.25, 'carbon': 0.25}


def score(key, cost, latency, quality, carbon, weights):
    w = dict(DEFAULTS, **(weights or {}))
    row = q('SELECT success_rate, latency_ms, quality, confidence FROM bandit.prior WHERE key = %s', key)
    if row and row[0][3] >= 0.1:
        rate, p_latency, p_quality, c = (Fraction(v) for v in row[0])
        latency = (1 - c) * latency + c * p_latency
        quality = ((1 - c) * quality + c * p_quality) * ((1 - c) + c * rate)
    u = {'cost': 1 / (1 + Fraction(cost)), 'latency_ms': 1 / (1 + Fraction(latency) / 1000),
         'quality': Fraction(quality), 'carbon': 1 / (1 + Fraction(carbon))}
    return float(sum(Fraction(w[k]) * u[k] for k in w) / sum(Fraction(w[k]) for k in w))


# a prior of few samples, whose confidence is below 0.1
low = {'aggregation_round': 0, 'cluster_hash': 'low', 'participant_count': 1,
       'reward_signals': {'low': {'success_rate': 0.2, 'avg_latency': 900.5, 'quality_score': 0.3, 'total_samples': 4}}}
ok('a signal of 4 samples applies', apply(low) == oracle_apply(low) == 1)
keys = sorted(oracle) + ['unknown']
confidences = [r[0] for r in q('SELECT confidence FROM bandit.prior')]
ok('scores cover priors below and above confidence 0.1',
   any(c < 0.1 for c in confidences) and any(c >= 0.1 for c in confidences))
worst = 0.0
for i in range(300):
    key = rng.choice(keys)
    args = (rng.choice([0.0, rng.uniform(0, 5), rng.expovariate(0.01)]), rng.choice([0.0, rng.uniform(0, 3000)]),
            rng.random(), rng.choice([0.0, rng.uniform(0, 10)]))
    weights = rng.choice([None, {}, {k: rng.choice([0, rng.random(), 3]) for k in rng.sample(list(DEFAULTS), rng.randint(1, 3))}])
    got = q1('SELECT bandit.prior_adjusted_score(%s, %s, %s, %s, %s, %s)', key, *args,
             None if weights is None else json.dumps(weights))
    want = score(key, *args, weights)
    worst = max(worst, abs(got - want) / max(want, 1e-300))
    if not 0 <= got <= 1:
        ok('score %d in [0, 1]' % i, False, repr(got))
ok('300 prior_adjusted_score values within 1e-12 of the formula', worst <= 1e-12, 'worst %g' % worst)
for what, args, code in [('unknown weight', ('k00', 1, 1, 1, 1, '{"speed": 1}'), '22023'),
                         ('negative weight', ('k00', 1, 1, 1, 1, '{"carbon": -1}'), '22003'),
                         ('all weights zero', ('k00', 1, 1, 1, 1, '{"cost": 0, "latency_ms": 0, "quality": 0, "carbon": 0}'), '22003'),
                         ('negative cost', ('k00', -1, 1, 1, 1, None), '22003'),
                         ('NaN latency', ('k00', 1, float('nan'), 1, 1, None), '22003'),
                         ('quality above 1', ('k00', 1, 1, 2, 1, None), '22003'),
                         ('infinite carbon', ('k00', 1, 1, 1, float('inf'), None), '22003')]:
    got = sqlstate('SELECT bandit.prior_adjusted_score(%s, %s::float8, %s::float8, %s::float8, %s::float8, %s)', *args)
    ok('prior_adjusted_score: %s is %s' % (what, code), got == code, 'got %r' % got)

# (d) cleanup_priors deletes exactly the priors older than max_age
ages = {k: rng.choice([0, 1, 3, 6, 8, 10, 30]) for k in oracle}
for k, days in ages.items():
    cur.execute("UPDATE bandit.prior SET last_updated = now() - %s * interval '1 day' - interval '1 minute' "
                'WHERE key = %s', (days, k))
for max_days in (40, 9, 7, 2):
    want = sorted(k for k in oracle if ages[k] >= max_days)
    got = q1("SELECT bandit.cleanup_priors(%s * interval '1 day')", max_days)
    ok('cleanup_priors(%d days) deletes the %d older priors' % (max_days, len(want)), got == len(want), 'got %r' % got)
    for k in want:
        del oracle[k]
    ok('cleanup_priors(%d days) keeps the rest' % max_days,
       sorted(r[0] for r in q('SELECT key FROM bandit.prior')) == sorted(oracle))
ok('cleanup_priors() defaults to 7 days', q1('SELECT bandit.cleanup_priors()') == 0)
ok('cleanup_priors(NULL) is 22004', sqlstate('SELECT bandit.cleanup_priors(NULL)') == '22004')
ok('cleanup_priors(negative) is 22003', sqlstate("SELECT bandit.cleanup_priors('-1 day')") == '22003')
# an old round replayed after the cleanup rebuilds nothing
ok('a replay after cleanup returns 0', apply(sent[0]) == 0)
oracle_apply(sent[0])
check_table('after cleanup and a replay')

# (e) many connections apply one new signal at once: exactly one applies it
signal = random_signal('race', 1)
results = []
barrier = threading.Barrier(8)


def race():
    c = psycopg2.connect(dbname='bandit_prior_test')
    c.autocommit = True
    barrier.wait()
    k = c.cursor()
    k.execute('SELECT bandit.apply_signal(%s)', (json.dumps(signal),))
    results.append(k.fetchone()[0])
    c.close()


threads = [threading.Thread(target=race) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
want = oracle_apply(signal)
for _ in range(7):
    oracle_apply(signal)
ok('8 concurrent applies: one returns %d, seven return 0' % want, sorted(results) == [0] * 7 + [want], repr(results))
check_table('after the race')
ok('the race counted 7 replays', q1("SELECT replays FROM bandit.prior_signal WHERE cluster_hash = 'race'") == 7)

print('elapsed %.1f s' % (time.time() - started))
conn.close()
admin.cursor().execute('DROP DATABASE bandit_prior_test')
sys.exit(report())
