#!/usr/bin/python3
"""Learned budgets and batched learning (issue 13) against an independent model.

The model is plain float arithmetic written from the definitions, not from our
code: an arm's discounted evidence is the weighted sample with weights d^(n-i)
(total weight, weighted mean, weighted sum of squared deviations), its Beta
posterior prior + sum of discounted rewards in [0, 1] (and of their
complements), its budget estimates the exponentially weighted mean
est + s (obs - est) from the first observation on.  LinUCB's A^-1 and b are
numpy's inverse of I + sum x x^T and sum r x.

For each algorithm (thompson, ucb1 with discount 0.9, epsilon_greedy, softmax,
linucb) two policies log the same decisions; one learns immediately, the other
is batched: its rewards are recorded, then learned by bandit.learn_pending in
chunks.  The two end in the same state within 1e-12 (relative), both match the
model, and nothing recorded counts as learned before learn_pending.  Then
several sessions run learn_pending at once while rewards arrive: every reward
is learned exactly once; and on an immediate policy, live rewards and
learn_pending of decisions marked to learn (as expiry marks them) share the
arms without deadlock, each counted once.  Then budget shields choose by
learned estimates.  Last, learn_pending of 3000 LinUCB rewards at dim 100, and
reward's array form of 20000 decisions, keep the backend's private memory
(/proc RssAnon) within 32 MB.
Prints "N passed, N failed"."""
import json
import random
import sys
import threading

import numpy as np
import psycopg2

from testlib import fresh_database, ok, report

DB = 'bandit_learning_test'
SEED = random.randrange(1 << 30)
rng = random.Random(SEED)
print('seed %d' % SEED)

admin, conn = fresh_database(DB)
cur = conn.cursor()


def q(sql, *args):
    cur.execute(sql, args or None)
    return cur.fetchall() if cur.description else None


def rel(a, b):
    """|a - b| relative to the larger magnitude (0 for two zeros, inf for a None)."""
    if a is None or b is None:
        return 0.0 if a is None and b is None else float('inf')
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


# -------------------------------------------------------------------- model

class ArmModel:
    """An arm's state from its rewards, by the definitions (order matters only through the
    discount and the budget estimates)."""

    def __init__(self, prior_alpha=1.0, prior_beta=1.0, discount=1.0, smoothing=0.1):
        self.pa, self.pb, self.d, self.s = prior_alpha, prior_beta, discount, smoothing
        self.rewards = []
        self.cost = self.latency = None
        self.alpha_sum = self.beta_sum = 0.0   # discounted sums of r and 1 - r over rewards in [0, 1]

    def learn(self, reward, cost, latency):
        self.rewards.append(reward)
        # the Beta posterior learns (and forgets) only from rewards in [0, 1]
        if 0 <= reward <= 1:
            self.alpha_sum *= self.d
            self.beta_sum *= self.d
            self.alpha_sum += reward
            self.beta_sum += 1 - reward
        if cost is not None:
            self.cost = cost if self.cost is None else self.cost + self.s * (cost - self.cost)
        if latency is not None:
            self.latency = latency if self.latency is None else self.latency + self.s * (latency - self.latency)

    def state(self):
        n = len(self.rewards)
        w = [self.d ** (n - 1 - i) for i in range(n)]
        weight = sum(w)
        mean = sum(wi * r for wi, r in zip(w, self.rewards)) / weight if n else 0.0
        m2 = sum(wi * (r - mean) ** 2 for wi, r in zip(w, self.rewards))
        return dict(alpha=self.pa + self.alpha_sum, beta=self.pb + self.beta_sum, weight=weight,
                    mean_reward=mean, m2=m2, pulls=n, rewarded=n, reward_sum=sum(self.rewards),
                    cost=self.cost, latency_ms=self.latency)


COLUMNS = ['alpha', 'beta', 'weight', 'mean_reward', 'm2', 'pulls', 'rewarded', 'reward_sum', 'cost', 'latency_ms']


def arm_rows(policy):
    rows = q('SELECT arm, %s FROM bandit.arm WHERE policy = %%s ORDER BY arm' % ', '.join(COLUMNS), policy)
    return {r[0]: dict(zip(COLUMNS, r[1:])) for r in rows}


def log_decisions(policy, arms, contexts):
    """Decisions of policy on these arms (with contexts), logged directly: ids in order."""
    ids = []
    for arm, context in zip(arms, contexts):
        ids.append(q("INSERT INTO bandit.decision (policy, arm, propensity, mode, context) "
                     "VALUES (%s, %s, 1, 'active', %s) RETURNING id",
                     policy, arm, json.dumps(context) if context is not None else None)[0][0])
    return ids


def a_inv_of(policy, arm):
    a_inv, b, _ = q('SELECT a_inv, b, pending FROM bandit.linucb_state(%s, %s)', policy, arm)[0]
    dim = len(b)
    return np.array(a_inv).reshape(dim, dim), np.array(b)


# ------------------------------------------- batched = immediate = the model

CASES = [
    ('thompson', {}, lambda: rng.choice([0.0, 1.0, rng.random()])),
    ('ucb1', {'discount': 0.9}, lambda: rng.gauss(2, 3)),
    ('epsilon_greedy', {'discount': 0.95, 'budget_smoothing': 0.3}, lambda: rng.choice([rng.random(), rng.gauss(0, 10)])),
    ('softmax', {'temperature': 0.5}, lambda: rng.uniform(-1, 2)),
    ('linucb', {'dim': 3, 'alpha': 0.5}, lambda: rng.gauss(1, 1)),
]
N = 240

for algorithm, params, draw in CASES:
    arms = ['a', 'b', 'c']
    imm, bat = algorithm + '_imm', algorithm + '_bat'
    q('SELECT bandit.create_policy(%s, %s, %s, %s)', imm, algorithm, arms, json.dumps(params))
    q('SELECT bandit.create_policy(%s, %s, %s, %s)', bat, algorithm, arms, json.dumps(dict(params, learning='batched')))
    served = [rng.choice(arms) for _ in range(N)]
    contexts = [{'features': [rng.gauss(0, 1) for _ in range(3)]} if algorithm == 'linucb' else None
                for _ in range(N)]
    rewards = [draw() for _ in range(N)]
    costs = [None if rng.random() < 0.2 else rng.uniform(0, 50) for _ in range(N)]
    latencies = [None if rng.random() < 0.3 else rng.expovariate(0.01) for _ in range(N)]
    ids_imm = log_decisions(imm, served, contexts)
    ids_bat = log_decisions(bat, served, contexts)

    # rewards in a random order (not the decisions'), some through the array overload
    order = list(range(N))
    rng.shuffle(order)
    learned_order = []          # the order in which each arm's rewards are learned
    pos = 0
    halfway = False
    while pos < N:
        if rng.random() < 0.15:
            chunk = order[pos:pos + 5]
            pos += len(chunk)
            # the array overload learns in (policy, arm, decision) order, i.e. in index order per arm
            chunk.sort()
            for ids in (ids_imm, ids_bat):
                q('SELECT bandit.reward(%s::bigint[], %s::float8[])', [ids[i] for i in chunk], [rewards[i] for i in chunk])
            for i in chunk:
                costs[i] = latencies[i] = None
            learned_order.extend(chunk)
        else:
            i = order[pos]
            pos += 1
            for ids in (ids_imm, ids_bat):
                q('SELECT bandit.reward(%s, %s, %s, %s)', ids[i], rewards[i], costs[i], latencies[i])
            learned_order.append(i)
        if pos >= N // 2 and not halfway:
            halfway = True
            # half way: nothing recorded counts as learned yet
            before = arm_rows(bat)
            ok('%s: recorded rewards are not learned' % algorithm,
               all(v['pulls'] == 0 and v['rewarded'] == 0 and v['reward_sum'] == 0 and v['cost'] is None
                   for v in before.values()), str(before))
            pending = q('SELECT count(*) FROM bandit.decision WHERE policy = %s AND to_learn', bat)[0][0]
            ok('%s: every reward so far pending' % algorithm, pending == pos, '%d, want %d' % (pending, pos))
            # learn some of them now, in chunks
            got = q('SELECT bandit.learn_pending(%s, 37)', bat)[0][0]
            ok('%s: learn_pending takes max_rows' % algorithm, got == 37, str(got))
    total = 37
    while True:
        got = q('SELECT bandit.learn_pending(%s, 53)', bat)[0][0]
        total += got
        if got == 0:
            break
    ok('%s: learn_pending learned every reward once' % algorithm, total == N, '%d of %d' % (total, N))
    ok('%s: nothing left to learn' % algorithm,
       q('SELECT count(*) FROM bandit.decision WHERE policy = %s AND to_learn', bat)[0][0] == 0)

    a, b = arm_rows(imm), arm_rows(bat)
    worst = max(rel(a[arm][c], b[arm][c]) for arm in arms for c in COLUMNS)
    ok('%s: batched learning = immediate learning within 1e-12' % algorithm, worst <= 1e-12,
       'worst relative difference %g\n%s\n%s' % (worst, a, b))
    # the same arithmetic in the same order: in fact bit for bit (doc/reference.md says so)
    ok('%s: batched learning = immediate learning bit for bit' % algorithm, a == b, 'worst %g' % worst)

    models = {arm: ArmModel(discount=params.get('discount', 1.0), smoothing=params.get('budget_smoothing', 0.1))
              for arm in arms}
    for i in learned_order:
        models[served[i]].learn(rewards[i], costs[i], latencies[i])
    for arm in arms:
        want = models[arm].state()
        for c in COLUMNS:
            if algorithm == 'linucb' and c in ('alpha', 'beta'):
                continue        # LinUCB keeps no Beta posterior
            # sums of a few hundred terms in another order: 1e-9, with m2 relative to its scale
            got_value = a[arm][c]
            tol = 1e-9
            good = rel(got_value, want[c]) <= tol or (
                c == 'm2' and abs(got_value - want[c]) <= 1e-9 * want['weight'] * (1 + want['mean_reward'] ** 2))
            ok('%s arm %s: %s as the model' % (algorithm, arm, c), good, 'got %r, want %r' % (got_value, want[c]))

    if algorithm == 'linucb':
        for arm in arms:
            xs = [np.array(contexts[i]['features']) for i in learned_order if served[i] == arm]
            rs = [rewards[i] for i in learned_order if served[i] == arm]
            A = np.eye(3) + sum((np.outer(x, x) for x in xs), np.zeros((3, 3)))
            want_b = sum((r * x for r, x in zip(rs, xs)), np.zeros(3))
            inv_imm, b_imm = a_inv_of(imm, arm)
            inv_bat, b_bat = a_inv_of(bat, arm)
            ok('linucb arm %s: batched A^-1 and b = immediate within 1e-12' % arm,
               np.max(np.abs(inv_imm - inv_bat)) <= 1e-12 * np.max(np.abs(inv_imm))
               and np.max(np.abs(b_imm - b_bat)) <= 1e-12 * max(1.0, np.max(np.abs(b_imm))),
               '%s %s' % (inv_imm - inv_bat, b_imm - b_bat))
            ok('linucb arm %s: A^-1 = numpy inv(I + sum x x^T)' % arm,
               np.allclose(inv_bat, np.linalg.inv(A), rtol=1e-9, atol=1e-12), '%s vs %s' % (inv_bat, np.linalg.inv(A)))
            ok('linucb arm %s: b = sum r x' % arm, np.allclose(b_bat, want_b, rtol=1e-9, atol=1e-9))


# ------------------------------ concurrent learn_pending while rewards arrive

M = 2000
REWARDERS, LEARNERS = 4, 3
q('SELECT bandit.create_policy(%s, %s, %s, %s)', 'hot', 'ucb1', ['x', 'y'], json.dumps({'learning': 'batched'}))
hot_arms = [rng.choice(['x', 'y']) for _ in range(M)]
hot_ids = log_decisions('hot', hot_arms, [None] * M)
hot_rewards = [round(rng.uniform(0, 10), 3) for _ in range(M)]
hot_costs = [rng.uniform(1, 3) for _ in range(M)]
learned_counts = []
errors = []
done_rewarding = threading.Event()


def rewarder(part):
    c = psycopg2.connect(dbname=DB)
    c.autocommit = True
    k = c.cursor()
    try:
        for i in range(part, M, REWARDERS):
            k.execute('SELECT bandit.reward(%s, %s, %s, NULL)', (hot_ids[i], hot_rewards[i], hot_costs[i]))
    except psycopg2.Error as e:
        errors.append(str(e))
    c.close()


def learner():
    c = psycopg2.connect(dbname=DB)
    c.autocommit = True
    k = c.cursor()
    mine = 0
    try:
        while True:
            finished = done_rewarding.is_set()
            k.execute('SELECT bandit.learn_pending(%s, 50)', ('hot',))
            got = k.fetchone()[0]
            mine += got
            if finished and got == 0:
                break
    except psycopg2.Error as e:
        errors.append(str(e))
    learned_counts.append(mine)
    c.close()


learners = [threading.Thread(target=learner) for _ in range(LEARNERS)]
rewarders = [threading.Thread(target=rewarder, args=(p,)) for p in range(REWARDERS)]
for t in learners + rewarders:
    t.start()
for t in rewarders:
    t.join()
done_rewarding.set()
for t in learners:
    t.join()
ok('concurrent: no errors', not errors, '\n'.join(errors[:5]))
ok('concurrent: the learners learned every reward exactly once (sum of their counts)',
   sum(learned_counts) == M, '%s, want %d' % (learned_counts, M))
ok('concurrent: several learners took part', sum(1 for n in learned_counts if n > 0) >= 2, str(learned_counts))
rows = arm_rows('hot')
for arm in ('x', 'y'):
    rs = [r for r, a in zip(hot_rewards, hot_arms) if a == arm]
    ok('concurrent: arm %s pulls = rewarded = its rewards' % arm,
       rows[arm]['pulls'] == rows[arm]['rewarded'] == len(rs), '%s vs %d' % (rows[arm], len(rs)))
    ok('concurrent: arm %s reward_sum = the sum of its rewards' % arm, rel(rows[arm]['reward_sum'], sum(rs)) <= 1e-12,
       '%r vs %r' % (rows[arm]['reward_sum'], sum(rs)))
    ok('concurrent: arm %s mean = the mean of its rewards' % arm,
       rel(rows[arm]['mean_reward'], sum(rs) / len(rs)) <= 1e-12, '%r' % rows[arm]['mean_reward'])
    ok('concurrent: arm %s cost within the observations' % arm, 1 <= rows[arm]['cost'] <= 3, str(rows[arm]['cost']))
ok('concurrent: nothing pending', q("SELECT count(*) FROM bandit.decision WHERE policy = 'hot' AND to_learn")[0][0] == 0)

# An immediate policy: live rewards lock the arms while learn_pending learns
# decisions marked to learn (as expire_decisions marks expired ones) on the same
# arms: neither waits for ever on the other, and every reward counts once.
q('SELECT bandit.create_policy(%s, %s, %s)', 'mixed', 'ucb1', ['x', 'y'])
mixed_ids = log_decisions('mixed', hot_arms, [None] * M)
marked = list(range(1, M, 2))        # the odd ones are marked, the even ones rewarded live
errors.clear()
learned_counts.clear()
done_rewarding.clear()


def live(part):
    c = psycopg2.connect(dbname=DB)
    c.autocommit = True
    k = c.cursor()
    try:
        for i in range(2 * part, M, 2 * REWARDERS):
            k.execute('SELECT bandit.reward(%s, %s)', (mixed_ids[i], hot_rewards[i]))
    except psycopg2.Error as e:
        errors.append(str(e))
    c.close()


def marker():
    c = psycopg2.connect(dbname=DB)
    c.autocommit = True
    k = c.cursor()
    try:
        for start in range(0, len(marked), 40):
            chunk = marked[start:start + 40]
            k.execute('UPDATE bandit.decision d SET reward = v.r, rewarded_at = now(), expired = true, to_learn = true '
                      'FROM unnest(%s::bigint[], %s::float8[]) v(id, r) WHERE d.id = v.id',
                      ([mixed_ids[i] for i in chunk], [hot_rewards[i] for i in chunk]))
    except psycopg2.Error as e:
        errors.append(str(e))
    c.close()


def mixed_learner():
    c = psycopg2.connect(dbname=DB)
    c.autocommit = True
    k = c.cursor()
    mine = 0
    try:
        while True:
            finished = done_rewarding.is_set()
            k.execute("SELECT bandit.learn_pending('mixed', 30)")
            got = k.fetchone()[0]
            mine += got
            if finished and got == 0:
                break
    except psycopg2.Error as e:
        errors.append(str(e))
    learned_counts.append(mine)
    c.close()


learners = [threading.Thread(target=mixed_learner) for _ in range(2)]
writers = [threading.Thread(target=live, args=(p,)) for p in range(REWARDERS)] + [threading.Thread(target=marker)]
for t in learners + writers:
    t.start()
for t in writers:
    t.join()
done_rewarding.set()
for t in learners:
    t.join()
ok('mixed: no errors (no deadlock)', not errors, '\n'.join(errors[:5]))
ok('mixed: learn_pending learned each marked decision once', sum(learned_counts) == len(marked),
   '%s, want %d' % (learned_counts, len(marked)))
rows = arm_rows('mixed')
for arm in ('x', 'y'):
    rs = [r for r, a in zip(hot_rewards, hot_arms) if a == arm]
    ok('mixed: arm %s pulls = rewarded = its rewards, live and learned' % arm,
       rows[arm]['pulls'] == rows[arm]['rewarded'] == len(rs), '%s vs %d' % (rows[arm], len(rs)))
    ok('mixed: arm %s reward_sum' % arm, rel(rows[arm]['reward_sum'], sum(rs)) <= 1e-12)
    ok('mixed: arm %s mean' % arm, rel(rows[arm]['mean_reward'], sum(rs) / len(rs)) <= 1e-12)

# ------------------------------------------------ shields by learned estimates

q('SELECT bandit.create_policy(%s, %s, %s, %s)', 'shield', 'thompson', ['cheap', 'dear'],
  json.dumps({'learning': 'batched', 'budget_smoothing': 0.5}))
sh_arms = ['cheap', 'dear'] * 10
sh_ids = log_decisions('shield', sh_arms, [None] * len(sh_arms))
cost_model = {a: ArmModel(smoothing=0.5) for a in ('cheap', 'dear')}
for i, a in zip(sh_ids, sh_arms):
    cost = rng.uniform(1, 2) if a == 'cheap' else rng.uniform(10, 20)
    latency = rng.uniform(5, 10) if a == 'cheap' else rng.uniform(100, 200)
    q('SELECT bandit.reward(%s, 0.5, %s, %s)', i, cost, latency)
    cost_model[a].learn(0.5, cost, latency)


def served_under(context, n=200):
    return {r[0] for r in q('SELECT (bandit.choose(%s, %s)).arm FROM generate_series(1, %s)',
                            'shield', json.dumps(context), n)}


ok('shield: before learn_pending no estimate, both arms fit', served_under({'max_cost': 5}) == {'cheap', 'dear'})
q("SELECT bandit.learn_pending('shield')")
stats = {r[0]: r[1:] for r in q("SELECT arm, cost, latency_ms FROM bandit.arm_stats('shield')")}
for a in ('cheap', 'dear'):
    want = cost_model[a].state()
    ok('shield: arm_stats shows %s\'s learned cost' % a, rel(stats[a][0], want['cost']) <= 1e-12, '%s %s' % (stats[a], want))
    ok('shield: arm_stats shows %s\'s learned latency' % a, rel(stats[a][1], want['latency_ms']) <= 1e-12)
ok('shield: max_cost serves the cheap arm only', served_under({'max_cost': 5}) == {'cheap'})
ok('shield: max_latency_ms serves the fast arm only', served_under({'max_latency_ms': 50}) == {'cheap'})
ok('shield: a budget both fit serves both', served_under({'max_cost': 100}) == {'cheap', 'dear'})
ok('shield: recommend keeps within budget',
   [r[0] for r in q("SELECT arm FROM bandit.recommend('shield', 5, '{\"max_cost\": 5}')")] == ['cheap'])

# memory: learn_pending of many LinUCB rewards, and reward's array form, hold
# what one learning needs, not what all of them allocated (each kept its tuple
# tables and loads: 45 kB a LinUCB decision at dim 100, 25 kB a ucb1 one;
# gigabytes at the default max_rows or a large batch).  The server's private
# memory (RssAnon) is read from /proc while the statement runs.
MEM_N, MEM_DIM, BATCH_N = 3000, 100, 20000
q("SELECT bandit.create_policy('mem', 'linucb', '{a}', %s)", json.dumps({'dim': MEM_DIM, 'learning': 'batched'}))
q("SELECT count(bandit.reward(decision_id, 1)) FROM (SELECT (bandit.choose('mem', jsonb_build_object('features', "
  "(SELECT jsonb_agg(random()) FROM generate_series(1, %s) WHERE g > 0)))).decision_id "
  "FROM generate_series(1, %s) g) c", MEM_DIM, MEM_N)
q("SELECT bandit.create_policy('mem_batch', 'ucb1', '{a, b}')")
q("CREATE TABLE mem_batch AS SELECT (bandit.choose('mem_batch')).decision_id FROM generate_series(1, %s)", BATCH_N)
mem_conn = psycopg2.connect(dbname=DB)
mem_conn.autocommit = True
mem_cur = mem_conn.cursor()
mem_cur.execute('SELECT pg_backend_pid()')
status = '/proc/%d/status' % mem_cur.fetchone()[0]


def rss_anon():
    try:
        with open(status) as f:
            return next(int(line.split()[1]) for line in f if line.startswith('RssAnon'))
    except OSError:
        return None


def growth(sql):
    """The statement's result and how far the backend's RssAnon rose (kB) while it ran."""
    before = rss_anon()
    peak = [before]
    done = threading.Event()

    def watch():
        while not done.is_set():
            now = rss_anon()
            if now is not None:
                peak[0] = max(peak[0], now)
            done.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    mem_cur.execute(sql)
    result = mem_cur.fetchone()[0]
    done.set()
    watcher.join()
    return result, peak[0] - before


if rss_anon() is None:
    print('# the server\'s /proc is not readable here: memory not measured')
else:
    learned, grew = growth("SELECT bandit.learn_pending('mem')")
    ok('memory: learn_pending learned the %d LinUCB rewards' % MEM_N, learned == MEM_N, str(learned))
    ok('memory: learn_pending of %d LinUCB rewards at dim %d grows the backend by less than 32 MB' % (MEM_N, MEM_DIM),
       grew < 32 * 1024, 'grew by %d kB' % grew)
    credited, grew = growth('SELECT bandit.reward(array_agg(decision_id), array_agg(1::float8)) FROM mem_batch')
    ok('memory: reward(decision_ids, rewards) credited the %d decisions' % BATCH_N, credited == BATCH_N, str(credited))
    ok('memory: reward(decision_ids, rewards) of %d decisions grows the backend by less than 32 MB' % BATCH_N,
       grew < 32 * 1024, 'grew by %d kB' % grew)
    ok('memory: and each was learned once', q("SELECT sum(rewarded) FROM bandit.arm WHERE policy = 'mem_batch'")[0][0]
       == BATCH_N)
mem_conn.close()

conn.close()
admin.cursor().execute('DROP DATABASE ' + DB)
sys.exit(report())
