#!/usr/bin/python3
"""Oracle test of Q-learning (src/qlearn.c, src/qlearn.sql).  The Bellman
update step by step against a Python reference over random transitions
(terminal ones included), q_learn_batch against the same singles, export /
import bit for bit, replay reproducible and uniform, reward_score and
state_key against their definitions, and a grid world whose learned greedy
policy must be the optimal one found by value iteration here.  Run inside a
cluster (test/run); prints "N passed, N failed"."""
import json
import math
import random
import struct
import sys
import time

from scipy import stats

from testlib import fresh_database, ok, query_helpers, report

started = time.time()
admin, conn = fresh_database('bandit_qlearn_test')
cur = conn.cursor()
rng = random.Random(20240613)


q, q1, _ = query_helpers(cur)


def bits(x):
    return struct.pack('<d', x)


def table(agent):
    return {(s, a): (v, n) for s, a, v, n in
            q('SELECT state, action, q_value, update_count FROM bandit.q_table WHERE agent = %s', agent)}


class Reference:
    """Tabular Q-learning as the textbook writes it."""

    def __init__(self):
        self.q = {}
        self.n = {}

    def learn(self, s, a, r, s2, alpha, gamma):
        learned = [v for (state, _), v in self.q.items() if state == s2] if s2 is not None else []
        target = r + gamma * (max(learned) if learned else 0.0)
        old = self.q.get((s, a), 0.0)
        self.q[(s, a)] = old + alpha * (target - old)
        self.n[(s, a)] = self.n.get((s, a), 0) + 1
        return self.q[(s, a)]


# 1. step by step: 400 random transitions over 6 states x 3 actions
ref = Reference()
states = ['s%d' % i for i in range(6)]
actions = ['a', 'b', 'c']
transitions = []
for _ in range(400):
    transitions.append((rng.choice(states), rng.choice(actions), rng.uniform(-5, 5),
                        None if rng.random() < 0.15 else rng.choice(states),
                        rng.choice([0.1, 0.5, 1.0, rng.uniform(0.01, 1)]), rng.choice([0.0, 0.9, 1.0, rng.random()])))
worst = 0.0
for s, a, r, s2, alpha, gamma in transitions:
    got = q1('SELECT bandit.q_learn(%s, %s, %s, %s, %s, %s, %s)', 'ref', s, a, r, s2, alpha, gamma)
    want = ref.learn(s, a, r, s2, alpha, gamma)
    worst = max(worst, abs(got - want) / max(1.0, abs(want)))
ok('q_learn agrees with the reference at every step (1e-12)', worst <= 1e-12, 'worst relative error %g' % worst)
final = table('ref')
ok('the same (state, action) pairs are learned', set(final) == set(ref.q), str(set(final) ^ set(ref.q)))
ok('update_count counts every update', all(final[k][1] == ref.n[k] for k in ref.q))
ok('final Q-values agree (1e-12)', all(abs(final[k][0] - ref.q[k]) <= 1e-12 * max(1, abs(ref.q[k])) for k in ref.q))
terminal = [t for t in transitions if t[3] is None]
ok('terminal transitions were exercised', len(terminal) > 30, str(len(terminal)))

# 2. a batch is the same singles in order: identical bits
batch = transitions[:250]
for start in range(0, len(batch), 50):
    chunk = batch[start:start + 50]
    alpha, gamma = 0.3, 0.95
    n = q1('SELECT bandit.q_learn_batch(%s, %s, %s, %s::float8[], %s::text[], %s, %s)', 'batch',
           [t[0] for t in chunk], [t[1] for t in chunk], [t[2] for t in chunk], [t[3] for t in chunk], alpha, gamma)
    ok('q_learn_batch returns its length', n == len(chunk))
    for s, a, r, s2, _, _ in chunk:
        q1('SELECT bandit.q_learn(%s, %s, %s, %s, %s, %s, %s)', 'singles', s, a, r, s2, alpha, gamma)
tb, ts = table('batch'), table('singles')
ok('batch = sequential singles, bit for bit',
   tb.keys() == ts.keys() and all(bits(tb[k][0]) == bits(ts[k][0]) and tb[k][1] == ts[k][1] for k in tb))

# 3. export / import: every double survives, whatever the session's extra_float_digits
values = [1.0 / 3, -2.0 / 3, 0.1, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
          math.pi, 1e-300, 123456789.12345678, -0.0, 0.0]
values += [struct.unpack('<d', struct.pack('<Q', rng.getrandbits(64)))[0] for _ in range(300)]
values = [v for v in values if math.isfinite(v)]
document = {'q': {'st%d' % (i // 10): {} for i in range(len(values))}}
for i, v in enumerate(values):
    document['q']['st%d' % (i // 10)]['ac%d' % i] = {'q_value': v, 'update_count': i}
n = q1('SELECT bandit.q_import(%s, %s)', 'exp', json.dumps(document))
ok('q_import reports every entry', n == len(values), str(n))
cur.execute('SET extra_float_digits = -15')
exported = q1('SELECT bandit.q_export(%s)::text', 'exp')
n = q1('SELECT bandit.q_import(%s, %s::jsonb)', 'exp2', exported)
cur.execute('RESET extra_float_digits')
t1, t2 = table('exp'), table('exp2')
ok('imported doubles are the given ones, bit for bit (but -0 = 0)',
   all(t1['st%d' % (i // 10), 'ac%d' % i][0] == v and (v == 0 or bits(t1['st%d' % (i // 10), 'ac%d' % i][0]) == bits(v))
       for i, v in enumerate(values)))
ok('export -> import round trip is exact', t1.keys() == t2.keys() and all(bits(t1[k][0]) == bits(t2[k][0]) and t1[k][1] == t2[k][1] for k in t1))
ok('last_updated survives the round trip',
   q1("""SELECT bool_and(a.last_updated = b.last_updated) FROM bandit.q_table a JOIN bandit.q_table b
         USING (state, action) WHERE a.agent = 'exp' AND b.agent = 'exp2'"""))
ok('exported JSON parses to the same doubles in Python',
   all(json.loads(exported, parse_int=float)['q'][s][a]['q_value'] == t1[s, a][0] for s, a in t1))

# 4. replay: reproducible after set_seed, and uniform over the stored transitions
for agent in ('rp1', 'rp2'):
    for i in range(4):
        q1('SELECT bandit.q_remember(%s, %s, %s, %s, %s)', agent, 'r%d' % i, 'a', float(i), None)
q1('SELECT bandit.set_seed(5)')
q1('SELECT bandit.q_replay(%s, 4000, 0.5, 0.9)', 'rp1')
q1('SELECT bandit.set_seed(5)')
q1('SELECT bandit.q_replay(%s, 4000, 0.5, 0.9)', 'rp2')
r1, r2 = table('rp1'), table('rp2')
ok('replay is reproducible after set_seed', r1 == r2)
counts = [r1['r%d' % i, 'a'][1] for i in range(4)]
p = stats.chisquare(counts).pvalue
ok('replay draws uniformly (chi-square p > 1e-4)', sum(counts) == 4000 and p > 1e-4, 'counts %s p %g' % (counts, p))
ok('replayed terminal transitions converge to their reward', all(abs(r1['r%d' % i, 'a'][0] - i) < 1e-9 for i in range(4)))

# 5. reward_score = sum of weight * metric; state_key is stable and buckets by log2
worst = 0.0
for _ in range(200):
    keys = ['k%d' % i for i in range(rng.randint(1, 8))]
    weights = {k: rng.uniform(-3, 3) for k in keys}
    metrics = {k: rng.uniform(-1000, 1000) for k in keys + ['unused']}
    got = q1('SELECT bandit.reward_score(%s, %s)', json.dumps(metrics), json.dumps(weights))
    want = math.fsum(weights[k] * metrics[k] for k in keys)
    worst = max(worst, abs(got - want) / max(1.0, sum(abs(weights[k] * metrics[k]) for k in keys)))
ok('reward_score is the weighted sum (1e-14 of the magnitudes)', worst < 1e-14, str(worst))
same = True
for _ in range(100):
    context = {'k%d' % i: rng.choice(['x', 'y|z', True, rng.randint(-50, 50), rng.uniform(0, 10)]) for i in range(6)}
    items = list(context.items())
    rng.shuffle(items)
    same &= q1('SELECT bandit.state_key(%s) = bandit.state_key(%s)', json.dumps(context), json.dumps(dict(items)))
ok('state_key does not depend on the order of the keys', same)
agree = True
for _ in range(300):
    x, y = rng.randint(1, 1000), rng.randint(1, 1000)
    equal = q1('SELECT bandit.state_key(%s) = bandit.state_key(%s)', json.dumps({'n': x}), json.dumps({'n': y}))
    agree &= equal == (math.floor(math.log2(x)) == math.floor(math.log2(y)))
ok('numbers share a key exactly when they share a log2 bucket', agree)

# 6. a 4 x 4 grid world with random step costs: the greedy policy learned by
#    epsilon-greedy episodes must be the optimal one (value iteration here)
size, goal, gamma = 4, (3, 3), 0.95
moves = {'U': (0, -1), 'D': (0, 1), 'L': (-1, 0), 'R': (1, 0)}
cost = {(x, y): rng.uniform(0.1, 2.0) for x in range(size) for y in range(size)}


def step(cell, move):
    x, y = cell[0] + moves[move][0], cell[1] + moves[move][1]
    nxt = (x, y) if 0 <= x < size and 0 <= y < size else cell
    return nxt, (10.0 if nxt == goal else -cost[nxt])


cells = [(x, y) for x in range(size) for y in range(size) if (x, y) != goal]
name = lambda c: '%d,%d' % c
v = {c: 0.0 for c in cells + [goal]}
for _ in range(2000):
    v = {c: 0.0 if c == goal else max(r + gamma * v[n] for n, r in (step(c, m) for m in moves)) for c in v}
qstar = {(c, m): step(c, m)[1] + gamma * v[step(c, m)[0]] for c in cells for m in moves}
optimal = {}
margin = math.inf
for c in cells:
    ranked = sorted(moves, key=lambda m: -qstar[c, m])
    optimal[name(c)] = ranked[0]
    margin = min(margin, qstar[c, ranked[0]] - qstar[c, ranked[1]])
ok('the optimal policy is unique (margin > 1e-3)', margin > 1e-3, str(margin))
cur.execute('CREATE TEMP TABLE env (state text, action text, next_state text, reward float8, PRIMARY KEY (state, action))')
for c in cells:
    for m in moves:
        n, r = step(c, m)
        cur.execute('INSERT INTO env VALUES (%s, %s, %s, %s)', (name(c), m, None if n == goal else name(n), r))
q1('SELECT bandit.set_seed(99)')
learn_started = time.time()
cur.execute("""
DO $$
DECLARE
    starts text[] := (SELECT array_agg(DISTINCT state) FROM env);
    s text;
    a text;
    e env;
BEGIN
    FOR episode IN 1..1500 LOOP
        s := bandit.q_select('starts', 'any', starts, 1);   -- exploring starts, reproducibly
        FOR t IN 1..50 LOOP
            a := bandit.q_select('grid', s, '{U,D,L,R}', 0.3);
            SELECT * INTO e FROM env WHERE env.state = s AND env.action = a;
            PERFORM bandit.q_learn('grid', s, a, e.reward, e.next_state, 0.5, 0.95);
            EXIT WHEN e.next_state IS NULL;
            s := e.next_state;
        END LOOP;
    END LOOP;
END $$""")
updates = q1("SELECT sum(update_count) FROM bandit.q_table WHERE agent = 'grid'")
learned = {s: a for s, a, _ in q("SELECT * FROM bandit.q_greedy('grid')")}
ok('every state-action pair was learned', q1("SELECT count(*) FROM bandit.q_table WHERE agent = 'grid'") == 4 * len(cells))
ok('the learned greedy policy is the optimal one', learned == optimal,
   'differs in %s' % sorted(s for s in optimal if learned.get(s) != optimal[s]))
grid = table('grid')
err = max(abs(grid[name(c), m][0] - qstar[c, m]) for c in cells for m in [optimal[name(c)]])
ok('greedy Q-values are near Q* (0.05)', err < 0.05, 'max error %g after %d updates' % (err, updates))
print('grid world: %d updates in %.1f s' % (updates, time.time() - learn_started))

conn.close()
admin.cursor().execute('DROP DATABASE bandit_qlearn_test')
print('%.1f s' % (time.time() - started))
sys.exit(report())
