#!/usr/bin/python3
"""Oracle test of src/normal.c and src/sequential.c: normal_prob_best and
normal_expected_loss against mpmath quadrature at 30 digits on random arms
(2..12, point masses, scales 1e16 apart, means far apart), and msprt
against a direct mpmath transcription of Johari et al.'s formulas.
Run inside a cluster (test/run); prints "N passed, N failed"."""
import math
import os
import random
import sys
import time

import mpmath
from mpmath import mp, mpf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import close, fresh_database, ok, report  # noqa: E402

mp.dps = 20
SEED = int(os.environ.get('NORMAL_TEST_SEED', time.time_ns() % 1000000))
print('seed %d' % SEED)
rng = random.Random(SEED)


def oracle(means, sds):
    """P(best) and E[max] - mean_i by tanh-sinh quadrature (mpmath.quad): at 20
    digits for up to 3 arms, in mpmath's double-precision context beyond (~1e-15,
    and 300 times faster).  Arm i's part of the maximum's density is integrated
    in its own z = (x - mean_i) / sd_i over +-12 (the rest is < 1e-32), cut into
    pieces around every other arm's rise when it is sharper than arm i; the
    point masses at the top share the chance that every other arm is below
    them.  E[max] - mean_i = sum_k P_k (mean_k - mean_i) + sd_k E_k[z], so no
    large means cancel."""
    ctx = mp if len(means) <= 3 else mpmath.fp
    m = [ctx.mpf(x) for x in means]
    s = [ctx.mpf(x) for x in sds]
    n = len(m)
    cont = [j for j in range(n) if s[j] > 0]
    points = [m[j] for j in range(n) if s[j] == 0]
    top = max(points) if points else None
    prob = [ctx.mpf(0)] * n
    z_moment = [ctx.mpf(0)] * n
    if top is not None:
        below = ctx.fprod(ctx.ncdf(top, m[j], s[j]) for j in cont)
        ties = [j for j in range(n) if s[j] == 0 and m[j] == top]
        for j in ties:
            prob[j] = below / len(ties)
    for i in cont:
        lo = ctx.mpf(-12) if top is None else max(ctx.mpf(-12), (top - m[i]) / s[i])
        if lo >= 12:
            continue
        cuts = {lo, ctx.mpf(12)} | {ctx.mpf(k) for k in (-8, -4, -2, 0, 2, 4, 8) if k > lo}
        # arm j's Phi at z: Phi(a + b z); arms at 1 over the whole window are left out
        others = []
        for j in cont:
            if j == i:
                continue
            a, b = (m[i] - m[j]) / s[j], s[i] / s[j]
            if a + b * lo > 14:
                continue
            others.append((a, b))
            if b < 2:
                continue  # no sharper than arm i's own density: its cuts serve
            for k in (-6, -3, -1, 0, 1, 3, 6):
                z = (k - a) / b
                if lo < z < 12:
                    cuts.add(z)
        cuts = sorted(cuts)

        def density(z, others=others):
            return ctx.npdf(z) * ctx.fprod(ctx.ncdf(a + b * z) for a, b in others)
        prob[i] = ctx.quad(density, cuts)
        z_moment[i] = s[i] * ctx.quad(lambda z: z * density(z), cuts)
    loss = [float(ctx.fsum(prob[k] * (m[k] - m[i]) + z_moment[k] for k in range(n))) for i in range(n)]
    return [float(p) for p in prob], loss


def fetch(cur, fn, means, sds):
    cur.execute('SELECT bandit.%s(%%s::float8[], %%s::float8[])' % fn, (list(means), list(sds)))
    return cur.fetchone()[0]


worst = [0.0, 0.0]  # largest error of P, and of the loss in units of its tolerance / 1e9


def compare(cur, label, means, sds):
    want_p, want_l = oracle(means, sds)
    got_p = fetch(cur, 'normal_prob_best', means, sds)
    got_l = fetch(cur, 'normal_expected_loss', means, sds)
    what = '%s means=%r sds=%r' % (label, means, sds)
    # losses are in the data's units: judged against its scale and the means' rounding
    loss_tol = 1e-9 * max(sds) + 1e-15 * max(abs(x) for x in means)
    for i in range(len(means)):
        worst[0] = max(worst[0], abs(got_p[i] - want_p[i]))
        # all means and sds 0: the loss is exactly 0, judged with no tolerance
        worst[1] = max(worst[1], abs(got_l[i] - want_l[i]) / loss_tol * 1e-9 if loss_tol else
                       (0.0 if got_l[i] == want_l[i] else math.inf))
        close('normal_prob_best[%d] %s' % (i, what), got_p[i], want_p[i], 0, 1e-9)
        close('normal_expected_loss[%d] %s' % (i, what), got_l[i], want_l[i], 0, loss_tol)
    ok('probabilities in [0, 1] %s' % what, all(0 <= p <= 1 for p in got_p), repr(got_p))
    ok('probabilities sum to 1 %s' % what, abs(math.fsum(got_p) - 1) <= 1e-12, repr(math.fsum(got_p)))
    ok('losses >= 0 %s' % what, all(x >= 0 for x in got_l), repr(got_l))


def similar(n):
    return [rng.gauss(0, 1) for _ in range(n)], [10 ** rng.uniform(-0.5, 0.5) for _ in range(n)]


def extreme_scales(n):
    """sds up to 1e16 apart, each mean within a few sds of some other arm's."""
    sds = [10 ** rng.uniform(-8, 8) for _ in range(n)]
    means = [0.0] * n
    for i in range(1, n):
        k = rng.randrange(i)
        means[i] = means[k] + rng.gauss(0, 2) * rng.choice((sds[i], sds[k]))
    return means, sds


def with_points(n):
    """Some point masses on a coarse grid, so that some tie."""
    means = [float(rng.randrange(-3, 4)) for _ in range(n)]
    sds = [0.0 if rng.random() < 0.4 else 10 ** rng.uniform(-2, 1) for _ in range(n)]
    return means, sds


def far_apart(n):
    return [rng.uniform(-1e6, 1e6) for _ in range(n)], [10 ** rng.uniform(-1, 1) for _ in range(n)]


def offset(n):
    """Narrow arms far from 0: their sds are a few hundred thousand ulps of their means."""
    base = rng.choice((1e3, -1e3, 1e5))
    sd = 1e-8
    return [base + rng.gauss(0, 2) * sd for _ in range(n)], [sd * 10 ** rng.uniform(-0.5, 0.5) for _ in range(n)]


admin, conn = fresh_database('bandit_normal_test')
cur = conn.cursor()
started = time.time()

# two arms: scipy's closed forms, P(1 > 2) = Phi(d / s), E[max] = m1 Phi(d/s) + m2 Phi(-d/s) + s phi(d/s)
for _ in range(40):
    m1, m2 = rng.gauss(0, 3), rng.gauss(0, 3)
    s1, s2 = 10 ** rng.uniform(-3, 3), 10 ** rng.uniform(-3, 3)
    s, d = math.hypot(s1, s2), m1 - m2
    p1 = float(mpmath.ncdf(mpf(d) / mpf(s)))
    emax = float(m1 * mpmath.ncdf(mpf(d) / s) + m2 * mpmath.ncdf(-mpf(d) / s) + s * mpmath.npdf(mpf(d) / s))
    what = 'two arms (%r, %r), (%r, %r)' % (m1, s1, m2, s2)
    got_p = fetch(cur, 'normal_prob_best', [m1, m2], [s1, s2])
    got_l = fetch(cur, 'normal_expected_loss', [m1, m2], [s1, s2])
    close('closed form P ' + what, got_p[0], p1, 0, 1e-9)
    close('closed form 1 - P ' + what, got_p[1], 1 - p1, 0, 1e-9)
    close('closed form loss ' + what, got_l[0], emax - m1, 1e-12, 1e-9 * s)
    close('closed form loss ' + what, got_l[1], emax - m2, 1e-12, 1e-9 * s)

for gen, count in ((similar, 10), (extreme_scales, 10), (with_points, 12), (far_apart, 5), (offset, 5)):
    for _ in range(count):
        means, sds = gen(rng.randrange(2, 13))
        compare(cur, gen.__name__, means, sds)

# properties: single arms, all point masses, shift invariance, symmetry
for n in (1, 2, 5, 50):
    got = fetch(cur, 'normal_prob_best', [1.0] * n, [2.0] * n)
    ok('identical arms share equally (n=%d)' % n, all(abs(p - 1 / n) <= 1e-9 for p in got), repr(got))
ok('one arm', fetch(cur, 'normal_prob_best', [3.0], [1.0]) == [1.0])
ok('all point masses', fetch(cur, 'normal_prob_best', [1.0, 2.0, 2.0], [0.0, 0.0, 0.0]) == [0.0, 0.5, 0.5])
ok('all point masses: loss', fetch(cur, 'normal_expected_loss', [1.0, 2.0, 2.0], [0.0, 0.0, 0.0]) == [1.0, 0.0, 0.0])
for _ in range(10):
    means, sds = similar(rng.randrange(2, 8))
    shift = rng.uniform(-100, 100)
    a = fetch(cur, 'normal_prob_best', means, sds)
    b = fetch(cur, 'normal_prob_best', [x + shift for x in means], sds)
    ok('shift invariance', all(abs(x - y) <= 1e-9 for x, y in zip(a, b)), '%r %r' % (a, b))
    c = fetch(cur, 'normal_prob_best', [-x for x in reversed(means)], list(reversed(sds)))
    ok('reversal keeps P for 2 arms', len(means) != 2 or abs(a[0] - c[0]) <= 1e-9, '%r %r' % (a, c))

# 50 arms and their speed
means, sds = similar(50)
t0 = time.time()
for _ in range(20):
    got = fetch(cur, 'normal_prob_best', means, sds)
ok('50 arms sum to 1', abs(math.fsum(got) - 1) <= 1e-12, repr(math.fsum(got)))
ok('50 arms: under 20 ms a call', (time.time() - t0) / 20 < 0.02, '%.4f s' % ((time.time() - t0) / 20))


def msprt_oracle(n1, m1, s1, n2, m2, s2, tau, alpha):
    """Johari, Pekelis, Walsh (2017), the normal-mixture SPRT, transcribed at 60 digits."""
    with mp.workdps(60):
        v = mpf(s1) ** 2 / n1 + mpf(s2) ** 2 / n2
        d = mpf(m1) - mpf(m2)
        t2 = mpf(tau) ** 2
        lam = mpmath.sqrt(v / (v + t2)) * mpmath.exp(t2 * d ** 2 / (2 * v * (v + t2)))
        p = min(mpf(1), 1 / lam)
        half = mpmath.sqrt(v * (v + t2) / t2 * (mpmath.log((v + t2) / v) - 2 * mpmath.log(alpha)))
        return float(p), float(d - half), float(d + half)


for _ in range(300):
    n1, n2 = rng.randrange(1, 100000), rng.randrange(1, 100000)
    s1, s2 = 10 ** rng.uniform(-3, 3), 10 ** rng.uniform(-3, 3)
    se = math.sqrt(s1 ** 2 / n1 + s2 ** 2 / n2)
    m1 = rng.gauss(0, 10)
    m2 = m1 - rng.gauss(0, 4) * se
    tau = se * 10 ** rng.uniform(-3, 3)
    alpha = rng.choice((0.01, 0.05, 0.1, 0.2))
    args = (n1, m1, s1, n2, m2, s2, tau, alpha)
    cur.execute('SELECT * FROM bandit.msprt(%s, %s, %s, %s, %s, %s, %s, %s)', args)
    got = cur.fetchone()
    want = msprt_oracle(*args)
    close('msprt p %r' % (args,), got[0], want[0], 1e-12, 1e-300)
    close('msprt ci_lower %r' % (args,), got[1], want[1], 1e-12, 1e-12 * abs(m1))
    close('msprt ci_upper %r' % (args,), got[2], want[2], 1e-12, 1e-12 * abs(m1))

# the summary overload agrees with the numbers it summarizes
xs = [rng.gauss(1, 2) for _ in range(30)]
ys = [rng.gauss(0, 1) for _ in range(40)]
cur.execute('SELECT (bandit.msprt((SELECT bandit.summarize(x) FROM unnest(%s::float8[]) x),'
            ' (SELECT bandit.summarize(y) FROM unnest(%s::float8[]) y), 0.5)).*', (xs, ys))
got = cur.fetchone()
mx, my = math.fsum(xs) / 30, math.fsum(ys) / 40
sx = math.sqrt(math.fsum((x - mx) ** 2 for x in xs) / 29)
sy = math.sqrt(math.fsum((y - my) ** 2 for y in ys) / 39)
want = msprt_oracle(30, mx, sx, 40, my, sy, 0.5, 0.05)
for k, name in enumerate(('p', 'ci_lower', 'ci_upper')):
    close('msprt(summary, summary) ' + name, got[k], want[k], 1e-10, 1e-300)

conn.close()
admin.cursor().execute('DROP DATABASE bandit_normal_test')
print('%.1f s; largest error against the oracle: P %.2g, loss %.2g (scaled)' % (time.time() - started, worst[0], worst[1]))
sys.exit(report())
