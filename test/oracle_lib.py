"""Independent reference computations for test/oracle_test.py (scipy, numpy)."""
import math
import warnings

import numpy as np
from scipy import special, stats
from scipy.stats import _boost

# Below this log(x) the leading term of the incomplete beta series, x^a / (a B(a, b)),
# is exact to double precision (the next term is O(b x) relative).
TINY_LOG = -100.0
# Tail mass ignored at each end of every arm when choosing the integration range.
TAIL = 1e-18

# Gauss-Kronrod 7/15 nodes and weights on [-1, 1].
_XK = np.array([-0.991455371120812639206854697526329, -0.949107912342758524526189684047851,
                -0.864864423359769072789712788640926, -0.741531185599394439863864773280788,
                -0.586087235467691130294144845693013, -0.405845151377397166906606412076961,
                -0.207784955007898467600689403773245, 0.0,
                0.207784955007898467600689403773245, 0.405845151377397166906606412076961,
                0.586087235467691130294144845693013, 0.741531185599394439863864773280788,
                0.864864423359769072789712788640926, 0.949107912342758524526189684047851,
                0.991455371120812639206854697526329])
_WK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
                0.204432940075298892414161999234649, 0.190350578064785409913256402421014,
                0.169004726639267902826583426598550, 0.140653259715525918745189590510238,
                0.104790010322250183839876322541518, 0.063092092629978553290700663189204,
                0.022935322010529224963732008058970])
_WG = np.zeros(15)
_WG[1::2] = [0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
             0.381830050505118944950369775488975, 0.417959183673469387755102040816327,
             0.381830050505118944950369775488975, 0.279705391489276667901467771423780,
             0.129484966168869693270611432679082]


def integrate_vec(f, edges, epsabs=1e-13, max_rounds=60):
    """Adaptive Gauss-Kronrod (7/15) of a vector-valued f over the panels given by edges.

    f maps a 1-D array of nodes to an array (nodes, components); every round evaluates all
    unfinished panels at once.  A panel is accepted when |K15 - G7| <= epsabs in every
    component (a pessimistic bound: K15's own error is far smaller).  Returns (integral,
    number of panels)."""
    lo = np.asarray(edges[:-1], dtype=float)
    hi = np.asarray(edges[1:], dtype=float)
    total = None
    npanels = 0
    for _ in range(max_rounds):
        if lo.size == 0:
            break
        mid = 0.5 * (lo + hi)
        half = 0.5 * (hi - lo)
        nodes = mid[:, None] + half[:, None] * _XK[None, :]
        vals = f(nodes.ravel())
        vals = vals.reshape(lo.size, 15, -1)
        if not np.all(np.isfinite(vals)):
            raise RuntimeError("integrate_vec: non-finite integrand near %r"
                               % float(nodes.ravel()[~np.isfinite(vals).all(axis=2).ravel()][0]))
        k15 = half[:, None] * np.einsum("k,pkc->pc", _WK, vals)
        g7 = half[:, None] * np.einsum("k,pkc->pc", _WG, vals)
        err = np.abs(k15 - g7).max(axis=1)
        ok = err <= epsabs
        if total is None:
            total = np.zeros(vals.shape[2])
        total += k15[ok].sum(axis=0)
        npanels += int(ok.sum())
        lo, mid, hi = lo[~ok], mid[~ok], hi[~ok]
        lo, hi = np.concatenate([lo, mid]), np.concatenate([mid, hi])
        if lo.size > 20000:
            raise RuntimeError("integrate_vec: more than 20000 unfinished panels")
    else:
        raise RuntimeError("integrate_vec: no convergence")
    return total, npanels


def _log_cdf_logit(t, a, b, lbeta):
    """log P(X <= expit(t)) for X ~ Beta(a, b); t has shape (m, 1), a, b (k,): (m, k).

    Lower half via I_x(a, b), upper half via 1 - I_y(b, a) with y = 1 - x computed
    without cancellation; below TINY_LOG the series' leading term (x or y underflows)."""
    logx = -np.logaddexp(0.0, -t)
    logy = -np.logaddexp(0.0, t)
    with np.errstate(all="ignore"):
        x = np.exp(logx)
        y = np.exp(logy)
        lower = np.where(logx < TINY_LOG,
                         np.minimum(a * logx - np.log(a) - lbeta, 0.0),
                         np.log(_boost._beta_cdf(x, a, b)))
        s_tiny = np.exp(np.minimum(b * logy - np.log(b) - lbeta, 0.0))
        upper = np.where(logy < TINY_LOG, np.log1p(-s_tiny),
                         np.log(_boost._beta_sf(y, b, a)))
    return np.where(t <= 0, lower, upper)


def _log_density_logit(t, a, b, lbeta):
    """log of f(x) x (1 - x), the density of logit(X), X ~ Beta(a, b), x = expit(t).

    Boost's pdf (scipy's betaln loses 1e-7 at parameters near 1e7), mirrored on the
    upper half so that 1 - x is exact; the plain formula where x or 1 - x underflows."""
    logx = -np.logaddexp(0.0, -t)
    logy = -np.logaddexp(0.0, t)
    with np.errstate(all="ignore"):
        x = np.exp(logx)
        y = np.exp(logy)
        tiny = (logx < TINY_LOG) | (logy < TINY_LOG)
        x = np.where(tiny, 0.5, x)      # boost raises on an infinite density
        y = np.where(tiny, 0.5, y)
        pdf = np.where(t <= 0, _boost._beta_pdf(x, a, b), _boost._beta_pdf(y, b, a))
        return np.where(tiny, a * logx + b * logy - lbeta, np.log(pdf) + logx + logy)


def _logit_quantile(q, a, b, lbeta):
    """logit of the q-quantile of Beta(a, b), valid when it underflows."""
    x = stats.beta.ppf(q, a, b)
    if x <= 0 or math.log(x) < TINY_LOG:
        return (math.log(q) + math.log(a) + lbeta) / a    # invert x^a / (a B)
    y = stats.beta.isf(q, b, a)   # 1 - x, accurately
    if y <= 0 or math.log(y) < TINY_LOG:
        # 1 - q = P(1 - X <= y) = y^b / (b B(a, b)); x = 1 to double precision
        return -((math.log1p(-q) + math.log(b) + lbeta) / b)
    return math.log(x) - math.log(y)


def _logit_quantile_upper(q, a, b, lbeta):
    """logit of the (1-q)-quantile of Beta(a, b)."""
    return -_logit_quantile(q, b, a, lbeta)


def prob_best_loss(alpha, beta, epsabs=1e-13):
    """(prob_best, expected_loss) for independent Beta(alpha_i, beta_i) arms.

    P_i = int f_i(x) prod_{j!=i} F_j(x) dx, E[max] = sum_i int x f_i(x) prod_{j!=i} F_j(x) dx,
    integrated in t = log(x/(1-x)) (dx = x(1-x) dt) with log-space densities and cdfs."""
    a = np.asarray(alpha, dtype=float)
    b = np.asarray(beta, dtype=float)
    k = len(a)
    lbeta = special.betaln(a, b)
    lo = [_logit_quantile(TAIL, a[i], b[i], lbeta[i]) for i in range(k)]
    hi = [_logit_quantile_upper(TAIL, a[i], b[i], lbeta[i]) for i in range(k)]
    # Below the largest lower tail quantile every integrand has a factor below TAIL.
    left, right = max(lo), max(hi)
    pts = set()
    for i in range(k):
        for q in (1e-12, 1e-8, 1e-5, 1e-3, 0.02, 0.1, 0.3, 0.5):
            pts.add(_logit_quantile(q, a[i], b[i], lbeta[i]))
            pts.add(_logit_quantile_upper(q, a[i], b[i], lbeta[i]))
    edges = [left] + sorted(p for p in pts if left < p < right) + [right]
    A, B, LB = a[None, :], b[None, :], lbeta[None, :]

    def integrand(t):
        t = t[:, None]
        logx = -np.logaddexp(0.0, -t)
        logdens = _log_density_logit(t, A, B, LB)
        lf = np.maximum(_log_cdf_logit(t, A, B, LB), -1e5)   # keeps s - lf finite
        s = lf.sum(axis=1, keepdims=True)
        g = np.exp(logdens + s - lf)
        return np.concatenate([g, np.exp(logx) * g.sum(axis=1, keepdims=True)], axis=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        total, _ = integrate_vec(integrand, edges, epsabs=epsabs)
    p = total[:k]
    loss = total[k] - a / (a + b)
    return p, loss



def _minus_expm1_minus(d):
    """d - expm1(d) without cancellation for small |d|."""
    d = np.asarray(d, dtype=float)
    small = np.abs(d) < 0.1
    ds = np.where(small, d, 0.0)
    series = np.zeros_like(ds)
    term = ds * ds / 2
    for n in range(3, 20):
        series += term
        term = term * ds / n
    return np.where(small, -series, d - np.expm1(np.where(small, 0.0, d)))


def nct_tail(x, df, nc, upper):
    """P(T <= x) (upper=False) or P(T > x) (upper=True) of the noncentral t.

    scipy 1.10's nct (Boost) loses accuracy far in the tails (relative errors from
    1e-7 to many orders of magnitude below ~1e-6), so the oracle uses this there.
    T = (Z + nc) / sqrt(V / df), V ~ chi2(df), so P(T <= x) = E[Phi(x sqrt(V/df) - nc)],
    integrated over s = log V.  In s the chi2 log-density is
    c + k (d - expm1(d)), k = df/2, d = s - log(2k), c = k log k - k - lgamma(k),
    written so that no large terms cancel; c comes from mpmath."""
    import mpmath as mp
    sign = -1.0 if upper else 1.0
    k = df / 2.0
    mode = math.log(2 * k)
    with mp.workdps(40):
        K = mp.mpf(k)
        c = float(K * mp.log(K) - K - mp.loggamma(K))

    def logg(s):
        z = sign * (x * np.exp(s / 2) / math.sqrt(df) - nc)
        return special.log_ndtr(z) + c + k * _minus_expm1_minus(s - mode)

    # locate the peak of the integrand on a grid, then walk out to where it is e^-60 smaller
    grid = mode + np.linspace(-40.0, 40.0, 80001) / math.sqrt(k) ** 0.5
    grid = np.concatenate([grid, mode + np.linspace(-700.0, 30.0, 20001)])
    with np.errstate(all="ignore"):
        vals = logg(grid)
    top = np.nanmax(vals)
    if not np.isfinite(top):
        return 0.0
    keep = grid[vals > top - 60]
    lo, hi = keep.min() - 0.01, keep.max() + 0.01
    edges = list(np.linspace(lo, hi, 33))

    def f(s):
        with np.errstate(all="ignore"):
            return np.exp(logg(s) - top)[:, None]

    total, _ = integrate_vec(f, edges, epsabs=1e-15)
    return float(total[0] * math.exp(top)) if top < 700 else float(total[0]) * math.exp(top)


def t_isf(p, df):
    """Upper p-quantile of Student's t, to full precision.

    scipy 1.10's t.isf (cephes stdtrit) is off by up to ~1e-9 relative (e.g. p = 0.05,
    df = 39); its t.sf is accurate, so polish by Newton steps on sf."""
    q = float(stats.t.isf(p, df))
    for _ in range(3):
        dens = float(stats.t.pdf(q, df))
        if dens <= 0 or not math.isfinite(q):
            break
        q += (float(stats.t.sf(q, df)) - p) / dens
    return q
