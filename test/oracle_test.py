#!/usr/bin/python3
"""Oracle test of bandit's statistics core against scipy / statsmodels / numpy.

Run inside a cluster (PGHOST, PGPORT, PGUSER, ... set, e.g. by pg_virtualenv):
    /usr/bin/python3 test/oracle_test.py
It creates (and at the end drops) the database bandit_oracle, compares every statistics
function with an independent reference on random cases drawn from a seed printed at
the start (BANDIT_ORACLE_SEED=<seed> reproduces a run), plus published examples, and
ends with the line "N passed, N failed".  A group whose SQL function does not exist
is reported as "SKIP <group>: function missing" and counted neither way.
"""
import io
import math
import os
import re
import sys
import time
import traceback
import warnings
import zlib
from fractions import Fraction

import numpy as np
import psycopg2
from scipy import optimize, special, stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_lib  # noqa: E402

DBNAME = "bandit_oracle"
RTOL = 1e-8          # statistics, df, CIs, power, sample sizes, p-values
ATOL = 1e-300        # for reference values that are exactly 0
P_FLOOR = 1e-300     # p-values below this only need to be tiny too
PROB_ATOL = 1e-6     # prob_best and expected_loss
ALTERNATIVES = ("two-sided", "less", "greater")
SM_ALTERNATIVE = {"two-sided": "two-sided", "less": "smaller", "greater": "larger"}

warnings.simplefilter("ignore")


def fmt(v):
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)) and len(v) > 12:
        return "[" + ", ".join(fmt(x) for x in v[:12]) + ", ... (%d)]" % len(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


def as_float(v):
    return None if v is None else float(v)


# ---------------------------------------------------------------------------
# comparisons: each returns None when fine, else a short reason
# ---------------------------------------------------------------------------

def cmp_rel(ours, ref, rtol=RTOL, atol=ATOL):
    """|ours - ref| <= rtol |ref| + atol; NaN reference means NULL; infinities exact."""
    ref = as_float(ref)
    if ref is None or math.isnan(ref):
        return None if ours is None else "expected NULL"
    if ours is None:
        return "NULL"
    ours = float(ours)
    if math.isnan(ours):
        return "NaN"
    if math.isinf(ref) or math.isinf(ours):
        return None if ours == ref else "infinity mismatch"
    if abs(ours - ref) <= rtol * abs(ref) + atol:
        return None
    return "diff %.3g (rel %.3g)" % (ours - ref, abs(ours - ref) / abs(ref) if ref else math.inf)


def cmp_p(ours, ref, atol=ATOL):
    """p-values: relative RTOL above P_FLOOR; below it ours must be below 1e-290 too."""
    if ours is None:
        return "NULL"
    ours = float(ours)
    if not (0.0 <= ours <= 1.0):
        return "not a probability"
    if ref < P_FLOOR:
        return None if ours < 1e-290 or abs(ours - ref) <= atol else "should be < 1e-290"
    return cmp_rel(ours, ref, atol=atol)


def cmp_abs(ours, ref, tol):
    if ours is None:
        return "NULL"
    ours = float(ours)
    if math.isnan(ours):
        return "NaN"
    return None if abs(ours - float(ref)) <= tol else "diff %.3g" % (ours - float(ref))


def cmp_exact(ours, ref):
    return None if ours == ref else "differs"


def cmp_vec_abs(ours, ref, tol):
    if ours is None:
        return "NULL"
    if len(ours) != len(ref):
        return "length %d, expected %d" % (len(ours), len(ref))
    worst = max(range(len(ref)), key=lambda i: abs(float(ours[i] or 0) - ref[i]))
    if any(o is None or math.isnan(o) for o in ours):
        return "NULL or NaN element"
    d = abs(ours[worst] - ref[worst])
    return None if d <= tol else "element %d differs by %.3g" % (worst + 1, d)


def published(text):
    """A published rounded number: (value, half a unit of its last digit)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), 0.5 * 10.0 ** -decimals + 1e-15


# ---------------------------------------------------------------------------
# the harness
# ---------------------------------------------------------------------------

class Oracle:
    def __init__(self, seed):
        self.seed = seed
        self.passed = 0
        self.failed = 0
        self.skipped = []
        self.group = None
        self.conn = None

    def rng(self, group):
        """A generator per group, so skipping one group does not change another's cases."""
        return np.random.default_rng([self.seed, zlib.crc32(group.encode())])

    # -- database ----------------------------------------------------------
    def connect(self, dbname=DBNAME):
        conn = psycopg2.connect(dbname=dbname)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET extra_float_digits = 3")
            cur.execute("SET statement_timeout = '120s'")
        return conn

    def setup(self):
        admin = psycopg2.connect(dbname=os.environ.get("PGDATABASE") or "postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s" % DBNAME)
            cur.execute("CREATE DATABASE %s" % DBNAME)
        admin.close()
        self.conn = self.connect()
        with self.conn.cursor() as cur:
            cur.execute("CREATE EXTENSION bandit")

    def teardown(self):
        if self.conn is not None:
            self.conn.close()
        if os.environ.get("BANDIT_ORACLE_KEEP"):
            return
        admin = psycopg2.connect(dbname=os.environ.get("PGDATABASE") or "postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s" % DBNAME)
        admin.close()

    def query(self, sql, params=None, conn=None):
        with (conn or self.conn).cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def one(self, sql, params=None, conn=None):
        return self.query(sql, params, conn)[0]

    def missing(self, signatures):
        """The signatures (regprocedure or type names) that do not exist."""
        out = []
        for sig in signatures:
            fn = "to_regtype" if sig.startswith("type ") else "to_regprocedure"
            name = sig[5:] if sig.startswith("type ") else sig
            try:
                ok = self.one("SELECT %s(%%s) IS NOT NULL" % fn, (name,))[0]
            except psycopg2.Error:
                ok = False
            if not ok:
                out.append(sig)
        return out

    # -- bookkeeping -------------------------------------------------------
    def ok(self):
        self.passed += 1

    def fail(self, inputs, detail):
        self.failed += 1
        print("FAIL %s(%s): %s" % (self.group, inputs, detail), flush=True)

    def case(self, inputs, sql, params, checks_fn):
        """Run sql (one row), then checks_fn(row) -> list of (field, ours, ref, reason)."""
        try:
            row = self.one(sql, params)
        except psycopg2.Error as e:
            self.fail(inputs, "ERROR %s %s" % (e.pgcode, (e.pgerror or str(e)).strip().splitlines()[0]))
            return None
        self.judge(inputs, checks_fn(row))
        return row

    def judge(self, inputs, checks):
        bad = [c for c in checks if c[3] is not None]
        if bad:
            self.fail(inputs, "; ".join("%s ours=%s ref=%s (%s)" % (f, fmt(o), fmt(r), why)
                                        for f, o, r, why in bad))
        else:
            self.ok()

    def section(self, group, signatures, body):
        self.group = group
        gone = self.missing(signatures)
        if gone:
            print("SKIP %s: function missing (%s)" % (group, ", ".join(gone)), flush=True)
            self.skipped.append(group)
            return
        before = self.passed + self.failed
        t0 = time.time()
        try:
            body(self.rng(group))
        except Exception:                      # a bug here must not hide the other groups
            self.failed += 1
            print("FAIL %s: the test itself raised:" % group)
            traceback.print_exc(file=sys.stdout)
        print("-- %s: %d cases, %.1fs" % (group, self.passed + self.failed - before,
                                          time.time() - t0), flush=True)


def loguniform(rng, lo, hi, size=None):
    return np.exp(rng.uniform(math.log(lo), math.log(hi), size))


# ---------------------------------------------------------------------------
# 2. Beta distribution
# ---------------------------------------------------------------------------

def beta_params(rng):
    a, b = loguniform(rng, 0.01, 1e7, 2)
    return float(a), float(b)


def run_beta_quantile(o, rng):
    typical = [0.5, 0.025, 0.975, 0.05, 0.95, 0.001, 0.999, 0.1, 0.9]
    cases = [(1.0, 1.0, 0.3), (2.0, 5.0, 0.5), (0.5, 0.5, 0.975), (0.01, 0.01, 0.5),
             (1e7, 1e7, 0.025), (0.01, 1e7, 1e-12), (1e7, 0.01, 1 - 1e-12), (3.0, 1e7, 0.5)]
    for _ in range(240):
        a, b = beta_params(rng)
        r = rng.random()
        if r < 0.3:
            p = float(rng.choice(typical))
        elif r < 0.6:
            p = float(loguniform(rng, 1e-12, 0.5))
        elif r < 0.9:
            p = 1.0 - float(loguniform(rng, 1e-12, 0.5))
        else:
            p = float(rng.uniform(1e-12, 1 - 1e-12))
        cases.append((a, b, p))
    for a, b, p in cases:
        ref = float(stats.beta.ppf(p, a, b))
        o.case("a=%r, b=%r, p=%r" % (a, b, p), "SELECT bandit.beta_quantile(%s, %s, %s)",
               (a, b, p), lambda row: [("quantile", row[0], ref, cmp_rel(row[0], ref))])


def run_beta_interval(o, rng):
    cases = [(1.0, 1.0, 0.95), (11.0, 91.0, 0.95), (0.01, 0.01, 0.95), (1e7, 1e7, 0.99)]
    for _ in range(80):
        a, b = beta_params(rng)
        level = float(rng.choice([0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1 - 1e-9])) \
            if rng.random() < 0.7 else float(rng.uniform(0.01, 0.999))
        cases.append((a, b, level))
    for a, b, level in cases:
        tail = (1.0 - level) / 2
        lo = float(stats.beta.ppf(tail, a, b))
        hi = float(stats.beta.isf(tail, a, b))
        o.case("a=%r, b=%r, level=%r" % (a, b, level),
               "SELECT lower, upper FROM bandit.beta_interval(%s, %s, %s)", (a, b, level),
               lambda row: [("lower", row[0], lo, cmp_rel(row[0], lo)),
                            ("upper", row[1], hi, cmp_rel(row[1], hi))])
    # the default level is 0.95
    lo, hi = float(stats.beta.ppf(0.025, 3, 7)), float(stats.beta.isf(0.025, 3, 7))
    o.case("a=3, b=7 (default level)", "SELECT lower, upper FROM bandit.beta_interval(3, 7)", None,
           lambda row: [("lower", row[0], lo, cmp_rel(row[0], lo)),
                        ("upper", row[1], hi, cmp_rel(row[1], hi))])


def arm_cases(rng, n_random):
    """Parameter sets for prob_best / expected_loss."""
    cases = [([1e6, 1e6 + 100], [1e6, 1e6]),
             ([1.0, 1.0], [1.0, 1.0]),
             ([0.01, 0.01, 1.0], [0.01, 1.0, 0.01]),
             ([1e7, 1e7 - 3000], [1e7, 1e7]),
             ([1e5] * 50, [1e5] * 50),
             ([0.05, 0.02], [1e7, 1e7]),
             ([101.0, 121.0, 95.0], [1901.0, 1881.0, 1907.0])]
    kinds = ["loguniform", "near", "ab", "tiny", "peaked"]
    for i in range(n_random):
        kind = kinds[i % len(kinds)]
        k = int(rng.choice([2, 3, 4, 5, 8, 10, 20, 50]))
        if kind == "loguniform":
            a, b = loguniform(rng, 0.01, 1e7, k), loguniform(rng, 0.01, 1e7, k)
        elif kind == "near":                # nearly identical arms
            base = float(loguniform(rng, 1e3, 1e7))
            ratio = float(rng.uniform(0.05, 0.95))
            m = base * ratio                # >= 50
            a = np.maximum(m + 0.3 * math.sqrt(m) * rng.normal(0, 1, k), 0.1 * m)
            b = np.full(k, base * (1 - ratio))
        elif kind == "ab":                  # conversion counts from a test
            n = np.floor(loguniform(rng, 10, 1e6, k))
            rate = float(rng.uniform(0.01, 0.5))
            s = rng.binomial(n.astype(np.int64), rate * (1 + rng.normal(0, 0.05, k)).clip(0.5, 1.5))
            a, b = 1.0 + s, 1.0 + n - s
        elif kind == "tiny":
            a, b = loguniform(rng, 0.01, 2, k), loguniform(rng, 0.01, 2, k)
        else:                               # very peaked, far apart or overlapping
            a = loguniform(rng, 1e6, 1e7, k)
            b = a * rng.uniform(0.999, 1.001, k) if rng.random() < 0.5 else loguniform(rng, 1e6, 1e7, k)
        cases.append(([float(x) for x in a], [float(x) for x in b]))
    return cases


def run_prob_best_and_loss(o, rng, which):
    for a, b in arm_cases(rng, 26):
        p_ref, loss_ref = oracle_lib.prob_best_loss(a, b)
        ref = [float(x) for x in (p_ref if which == "prob_best" else loss_ref)]
        inputs = "alpha=%s, beta=%s" % (fmt(a), fmt(b))
        sql = "SELECT bandit.%s(%%s::float8[], %%s::float8[])" % which
        o.case(inputs, sql, (a, b),
               lambda row: [(which, row[0], ref, cmp_vec_abs(row[0], ref, PROB_ATOL))])


def run_beta_posterior(o, rng):
    for i in range(30):
        n = int(loguniform(rng, 1, 5000))
        x = [bool(v) for v in rng.random(n) < rng.random()]
        s = sum(x)
        ref = (1.0 + s, 1.0 + n - s)
        o.case("%d booleans, %d true" % (n, s),
               "SELECT (bandit.beta_posterior(x)).* FROM unnest(%s::boolean[]) x", (x,),
               lambda row: [("alpha", row[0], ref[0], cmp_rel(row[0], ref[0])),
                            ("beta", row[1], ref[1], cmp_rel(row[1], ref[1]))])
    for i in range(30):
        n = int(loguniform(rng, 1, 5000))
        if i % 3 == 0:
            r = [float(v) for v in rng.integers(0, 2, n)]
        else:
            r = [float(v) for v in rng.random(n)]
        pa, pb = float(loguniform(rng, 0.01, 100)), float(loguniform(rng, 0.01, 100))
        ref = (pa + math.fsum(r), pb + math.fsum(1.0 - v for v in r))
        o.case("%d rewards in [0,1], prior (%r, %r)" % (n, pa, pb),
               "SELECT (bandit.beta_posterior(r, %s, %s)).* FROM unnest(%s::float8[]) r", (pa, pb, r),
               lambda row: [("alpha", row[0], ref[0], cmp_rel(row[0], ref[0])),
                            ("beta", row[1], ref[1], cmp_rel(row[1], ref[1]))])


# ---------------------------------------------------------------------------
# 3. Summaries
# ---------------------------------------------------------------------------

# (count,mean,m2), or (count,mean,m2,mean_low) when the double-double mean has a low part
SUMMARY_TEXT = re.compile(r"^\(\s*([^,]+),([^,]+),([^,]+)(?:,([^,]+))?\)$")


def exact_moments(x):
    """n, mean, m2 (sum of squared deviations) with compensated sums."""
    n = len(x)
    mean = math.fsum(x) / n
    d = [v - mean for v in x]
    sd = math.fsum(d)
    m2 = math.fsum(v * v for v in d) - sd * sd / n
    return n, mean + sd / n, m2


def random_sample(rng):
    n = int(loguniform(rng, 2, 5000))
    kind = rng.integers(0, 4)
    if kind == 0:
        loc, scale = float(rng.normal(0, 1) * 10 ** rng.uniform(-3, 6)), float(10 ** rng.uniform(-3, 3))
        if abs(loc) > 1e6 * scale:
            loc = 1e6 * scale
        x = rng.normal(loc, scale, n)
    elif kind == 1:
        x = rng.exponential(float(10 ** rng.uniform(-3, 3)), n)
    elif kind == 2:
        x = rng.integers(-5, 20, n).astype(float)
    else:
        x = rng.standard_t(3, n) * 100 + 5
    return [float(v) for v in x]


def summary_checks(row, x, rtol=RTOL):
    n, mean, m2 = exact_moments(x)
    var = m2 / (n - 1)
    scale = max(abs(v) for v in x)
    out = [("n", row[0], n, cmp_exact(row[0], n)),
           ("mean", row[1], mean, cmp_rel(row[1], mean, rtol, 1e-13 * scale)),
           ("variance", row[2], var, cmp_rel(row[2], var, rtol, 1e-300)),
           ("stddev", row[3], math.sqrt(var), cmp_rel(row[3], math.sqrt(var), rtol, 1e-300))]
    m = SUMMARY_TEXT.match(row[4] or "")
    if not m:
        out.append(("text", row[4], "(count,mean,m2[,mean_low])", "unparsable"))
    else:
        tn, tmean, tm2, tlow = (float(v or 0) for v in m.groups())
        out += [("text count", tn, n, cmp_exact(tn, n)),
                ("text mean", tmean, mean, cmp_rel(tmean, mean, rtol, 1e-13 * scale)),
                ("text m2", tm2, m2, cmp_rel(tm2, m2, rtol, 1e-300)),
                ("text mean_low below an ulp of the mean", abs(tlow), 0,
                 cmp_exact(abs(tlow) <= abs(tmean) * 2.0 ** -52, True))]
    return out


SUMMARY_SQL = ("SELECT bandit.n(s), bandit.mean(s), bandit.variance(s), bandit.stddev(s), s::text "
               "FROM (SELECT bandit.summarize(v) s FROM unnest(%s::float8[]) v) q")


def run_summary(o, rng):
    for _ in range(40):
        x = random_sample(rng)
        o.case("%d values %s" % (len(x), fmt(x[:4])), SUMMARY_SQL, (x,),
               lambda row: summary_checks(row, x))

    # 1e9 + N(0, 1): catastrophic for a naive sum of squares
    big = [float(v) for v in 1e9 + rng.normal(0, 1, 100000)]
    shard = [int(v) for v in rng.integers(0, 37, len(big))]
    o.query("DROP TABLE IF EXISTS oracle_big")
    o.query("CREATE TABLE oracle_big (shard int, v float8)")
    buf = io.StringIO("".join("%d\t%r\n" % (s, v) for s, v in zip(shard, big)))
    with o.conn.cursor() as cur:
        cur.copy_expert("COPY oracle_big FROM STDIN", buf)
    o.query("ANALYZE oracle_big")
    o.case("1e9 + N(0,1), 100000 values",
           "SELECT bandit.n(s), bandit.mean(s), bandit.variance(s), bandit.stddev(s), s::text "
           "FROM (SELECT bandit.summarize(v) s FROM oracle_big) q", None,
           lambda row: summary_checks(row, big, rtol=1e-9))

    # Merging shard summaries equals summarizing everything, to 1e-12 relative, on data whose
    # variance is well conditioned (|mean|/sd <= 100); where it is not (1e9 + N(0,1)), two
    # correct orders of rounding differ by more, so the merge is held to the exact moments.
    def merge_case(label, table):
        whole = o.one("SELECT bandit.n(s), bandit.mean(s), bandit.variance(s) "
                      "FROM (SELECT bandit.summarize(v) s FROM %s) q" % table)
        o.case(label,
               "SELECT bandit.n(s), bandit.mean(s), bandit.variance(s) FROM "
               "(SELECT bandit.merge(s) s FROM (SELECT bandit.summarize(v) s FROM %s "
               " GROUP BY shard) per_shard) q" % table, None,
               lambda row: [("n", row[0], whole[0], cmp_exact(row[0], whole[0])),
                            ("mean", row[1], whole[1],
                             cmp_rel(row[1], whole[1], 1e-12, 1e-12 * math.sqrt(whole[2]))),
                            ("variance", row[2], whole[2], cmp_rel(row[2], whole[2], 1e-12))])

    def merge_exact_case(label, table, x, rtol):
        o.case(label + " vs exact",
               "SELECT bandit.n(s), bandit.mean(s), bandit.variance(s), bandit.stddev(s), s::text "
               "FROM (SELECT bandit.merge(s) s FROM (SELECT bandit.summarize(v) s "
               "FROM %s GROUP BY shard) p) q" % table, None,
               lambda row: summary_checks(row, x, rtol=rtol))

    merge_exact_case("merge of 37 shards of 1e9 + N(0,1)", "oracle_big", big, 1e-9)
    for i in range(12):
        if i == 0:
            x = [float(v) for v in rng.normal(5, 2, 100000)]
        else:
            x = random_sample(rng)
        n, mean, m2 = exact_moments(x)
        sd = math.sqrt(m2 / (n - 1))
        if abs(mean) > 100 * sd:
            x = [v - mean + 3 * sd for v in x]      # keep it well conditioned
        nshards = int(rng.integers(2, 50))
        sh = [int(v) for v in rng.integers(0, nshards, len(x))]
        o.query("DROP TABLE IF EXISTS oracle_shards")
        o.query("CREATE TABLE oracle_shards AS SELECT * FROM unnest(%s::int[], %s::float8[]) u(shard, v)",
                (sh, x))
        label = "merge of %d shards of %d values" % (nshards, len(x))
        merge_case(label, "oracle_shards")
        merge_exact_case(label, "oracle_shards", x, RTOL)

    # a parallel plan uses the combine function
    settings = ["SET max_parallel_workers_per_gather = 4", "SET parallel_setup_cost = 0",
                "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0"]
    conn = o.connect()
    try:
        for s in settings:
            o.query(s, conn=conn)
        plan = "\n".join(r[0] for r in o.query(
            "EXPLAIN SELECT bandit.summarize(v) FROM oracle_big", conn=conn))
        label = "parallel summarize of 1e9 + N(0,1)%s" % (
            "" if "Partial Aggregate" in plan else " (planner chose no parallel plan)")
        try:
            row = o.one("SELECT bandit.n(s), bandit.mean(s), bandit.variance(s), bandit.stddev(s), "
                        "s::text FROM (SELECT bandit.summarize(v) s FROM oracle_big) q", conn=conn)
            o.judge(label, summary_checks(row, big, rtol=1e-9))
        except psycopg2.Error as e:
            o.fail(label, "ERROR %s %s" % (e.pgcode, e.pgerror))
    finally:
        conn.close()

    # text and binary round trips are exact
    text = o.one("SELECT bandit.summarize(v)::text FROM oracle_big")[0]
    o.case("text round trip", "SELECT %s::bandit.summary::text", (text,),
           lambda row: [("text", row[0], text, cmp_exact(row[0], text))])
    try:
        o.query("DROP TABLE IF EXISTS oracle_sums")
        o.query("CREATE TABLE oracle_sums (shard int, s bandit.summary)")
        buf = io.BytesIO()
        with o.conn.cursor() as cur:
            cur.copy_expert("COPY (SELECT shard, bandit.summarize(v) FROM oracle_big GROUP BY shard) "
                            "TO STDOUT WITH (FORMAT binary)", buf)
            buf.seek(0)
            cur.copy_expert("COPY oracle_sums FROM STDIN WITH (FORMAT binary)", buf)
        diff = o.one("SELECT count(*) FROM oracle_sums o JOIN (SELECT shard, bandit.summarize(v) s "
                     "FROM oracle_big GROUP BY shard) q USING (shard) WHERE o.s::text = q.s::text")[0]
        o.judge("binary send/receive round trip of 37 summaries",
                [("equal summaries", diff, 37, cmp_exact(diff, 37))])
    except psycopg2.Error as e:
        o.fail("binary send/receive round trip", "ERROR %s %s" % (e.pgcode, e.pgerror))


# ---------------------------------------------------------------------------
# 3. t-tests
# ---------------------------------------------------------------------------

def t_reference(n1, m1, v1, n2, m2, v2, equal_var, alternative, level):
    """(statistic, df, p, mean_diff, ci_lower, ci_upper, cohens_d) from summary statistics."""
    res = stats.ttest_ind_from_stats(m1, math.sqrt(v1), n1, m2, math.sqrt(v2), n2,
                                     equal_var=equal_var, alternative=alternative)
    diff = m1 - m2
    pooled = ((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2)
    if equal_var:
        df = n1 + n2 - 2
        se = math.sqrt(pooled * (1.0 / n1 + 1.0 / n2))
    else:
        a, b = v1 / n1, v2 / n2
        df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
        se = math.sqrt(a + b)
    lo, hi = ci_reference(diff, se, df, alternative, level)
    return (float(res.statistic), df, float(res.pvalue), diff, lo, hi, diff / math.sqrt(pooled))


def ci_reference(diff, se, df, alternative, level):
    if alternative == "two-sided":
        h = oracle_lib.t_isf((1 - level) / 2, df) * se
        return diff - h, diff + h
    h = oracle_lib.t_isf(1 - level, df) * se
    return (-math.inf, diff + h) if alternative == "less" else (diff - h, math.inf)


T_FIELDS = ("statistic", "df", "p_value", "mean_diff", "ci_lower", "ci_upper", "cohens_d")


def t_checks(row, ref, scale):
    """Compare a t_test_result row; scale is the size of the means (rounding slack of m1 - m2)."""
    stat, df, p, diff, lo, hi, d = ref
    slack = 1e-13 * scale
    # a bound is diff -+ h: 1e-8 of h too, for bounds that nearly cancel to 0
    h = max(abs(x - diff) for x in (lo, hi) if not math.isinf(x))
    ci_slack = slack + RTOL * h
    stat_slack = slack * abs(stat / diff) if diff else ATOL      # slack / se
    d_slack = slack * abs(d / diff) if diff else ATOL            # slack / pooled sd
    return [("statistic", row[0], stat, cmp_rel(row[0], stat, atol=stat_slack)),
            ("df", row[1], df, cmp_rel(row[1], df)),
            ("p_value", row[2], p, cmp_p(row[2], p)),
            ("mean_diff", row[3], diff, cmp_rel(row[3], diff, atol=slack)),
            ("ci_lower", row[4], lo, cmp_rel(row[4], lo, atol=ci_slack)),
            ("ci_upper", row[5], hi, cmp_rel(row[5], hi, atol=ci_slack)),
            ("cohens_d", row[6], d, cmp_rel(row[6], d, atol=d_slack))]


def t_pub_checks(row, expected):
    out = []
    for field, text in expected.items():
        value, tol = published(text)
        ours = row[T_FIELDS.index(field)]
        out.append((field + " (published)", ours, text, cmp_abs(ours, value, tol)))
    return out


def random_t_inputs(rng):
    n1, n2 = (float(math.floor(v)) for v in loguniform(rng, 2, 1e6, 2))
    scale = float(10 ** rng.uniform(-3, 6))
    m1 = float(rng.normal(0, scale))
    m2 = m1 + float(rng.normal(0, scale * 10 ** rng.uniform(-4, 0)))
    sd1 = float(scale * 10 ** rng.uniform(-2, 1))
    sd2 = sd1 * float(10 ** rng.uniform(-1, 1))
    equal_var = bool(rng.random() < 0.4)
    alternative = str(rng.choice(ALTERNATIVES))
    level = float(rng.choice([0.8, 0.9, 0.95, 0.99, 0.999])) if rng.random() < 0.8 \
        else float(rng.uniform(0.5, 0.9999))
    return n1, m1, sd1, n2, m2, sd2, equal_var, alternative, level


def run_t_test_stats(o, rng):
    for _ in range(150):
        n1, m1, sd1, n2, m2, sd2, ev, alt, level = random_t_inputs(rng)
        ref = t_reference(n1, m1, sd1 * sd1, n2, m2, sd2 * sd2, ev, alt, level)
        o.case("n1=%r, mean1=%r, sd1=%r, n2=%r, mean2=%r, sd2=%r, equal_var=%s, %s, level=%r"
               % (n1, m1, sd1, n2, m2, sd2, ev, alt, level),
               "SELECT * FROM bandit.t_test(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
               (n1, m1, sd1, n2, m2, sd2, ev, alt, level),
               lambda row: t_checks(row, ref, abs(m1) + abs(m2)))
    # defaults: Welch, two-sided, 95 %
    ref = t_reference(20, 5.0, 4.0, 30, 4.0, 9.0, False, "two-sided", 0.95)
    o.case("n1=20, mean1=5, sd1=2, n2=30, mean2=4, sd2=3 (defaults)",
           "SELECT * FROM bandit.t_test(20, 5, 2, 30, 4, 3)", None,
           lambda row: t_checks(row, ref, 9.0))
    # R's sleep data (Welch), from the group means and sds
    g1, g2 = SLEEP
    n, m1, m2 = 10.0, float(np.mean(g1)), float(np.mean(g2))
    s1, s2 = float(np.std(g1, ddof=1)), float(np.std(g2, ddof=1))
    o.case("sleep data, from means and sds (published R t.test)",
           "SELECT * FROM bandit.t_test(%s, %s, %s, %s, %s, %s)", (n, m1, s1, n, m2, s2),
           lambda row: t_pub_checks(row, SLEEP_WELCH))


SLEEP = ([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0],
         [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])
# R: t.test(extra ~ group, data = sleep)
SLEEP_WELCH = {"statistic": "-1.8608", "df": "17.776", "p_value": "0.07939",
               "ci_lower": "-3.3654832", "ci_upper": "0.2054832"}
# R: with(sleep, t.test(extra[group == 1], extra[group == 2], paired = TRUE))
SLEEP_PAIRED = {"statistic": "-4.0621", "df": "9", "p_value": "0.002833",
                "ci_lower": "-2.4598858", "ci_upper": "-0.7001142"}


def random_groups(rng):
    n1, n2 = (int(v) for v in loguniform(rng, 2, 3000, 2))
    scale = float(10 ** rng.uniform(-2, 4))
    loc = float(rng.normal(0, scale * 10))
    x1 = rng.normal(loc, scale, n1)
    x2 = rng.normal(loc + float(rng.normal(0, scale * 0.3)), scale * float(10 ** rng.uniform(-0.5, 0.5)), n2)
    return [float(v) for v in x1], [float(v) for v in x2]


def raw_t_reference(x1, x2, equal_var, alternative, level):
    n1, m1, q1 = exact_moments(x1)
    n2, m2, q2 = exact_moments(x2)
    ref = list(t_reference(n1, m1, q1 / (n1 - 1), n2, m2, q2 / (n2 - 1), equal_var, alternative, level))
    res = stats.ttest_ind(x1, x2, equal_var=equal_var, alternative=alternative)
    ref[0], ref[2] = float(res.statistic), float(res.pvalue)
    return tuple(ref)


def run_t_test_summaries(o, rng):
    # summaries given in their text form
    for _ in range(40):
        n1, m1, sd1, n2, m2, sd2, ev, alt, level = random_t_inputs(rng)
        q1, q2 = sd1 * sd1 * (n1 - 1), sd2 * sd2 * (n2 - 1)
        ref = t_reference(n1, m1, q1 / (n1 - 1), n2, m2, q2 / (n2 - 1), ev, alt, level)
        t1, t2 = "(%d,%r,%r)" % (n1, m1, q1), "(%d,%r,%r)" % (n2, m2, q2)
        o.case("s1=%s, s2=%s, equal_var=%s, %s, level=%r" % (t1, t2, ev, alt, level),
               "SELECT * FROM bandit.t_test(%s::bandit.summary, %s::bandit.summary, %s, %s, %s)",
               (t1, t2, ev, alt, level), lambda row: t_checks(row, ref, abs(m1) + abs(m2)))
    # summaries of raw data = scipy ttest_ind on the rows
    for _ in range(30):
        x1, x2 = random_groups(rng)
        ev, alt = bool(rng.random() < 0.4), str(rng.choice(ALTERNATIVES))
        level = float(rng.choice([0.9, 0.95, 0.99]))
        ref = raw_t_reference(x1, x2, ev, alt, level)
        o.case("summaries of %d and %d values, equal_var=%s, %s, level=%r" % (len(x1), len(x2), ev, alt, level),
               "SELECT (bandit.t_test(s1, s2, %s, %s, %s)).* FROM "
               "(SELECT (SELECT bandit.summarize(v) FROM unnest(%s::float8[]) v) s1, "
               "        (SELECT bandit.summarize(v) FROM unnest(%s::float8[]) v) s2) q",
               (ev, alt, level, x1, x2),
               lambda row: t_checks(row, ref, 1e3 * (abs(ref[3]) + max(map(abs, x1 + x2)))))
    # defaults
    g1, g2 = SLEEP
    o.case("sleep data as summaries, defaults (published R t.test)",
           "SELECT (bandit.t_test(s1, s2)).* FROM "
           "(SELECT (SELECT bandit.summarize(v) FROM unnest(%s::float8[]) v) s1, "
           "        (SELECT bandit.summarize(v) FROM unnest(%s::float8[]) v) s2) q",
           (g1, g2), lambda row: t_pub_checks(row, SLEEP_WELCH))


def run_t_test_aggregate(o, rng):
    g1, g2 = SLEEP
    values, group2 = g1 + g2, [False] * 10 + [True] * 10
    o.case("sleep data (published R t.test, Welch)",
           "SELECT (bandit.t_test(v, g)).* FROM unnest(%s::float8[], %s::boolean[]) u(v, g)",
           (values, group2), lambda row: t_pub_checks(row, SLEEP_WELCH))
    ref = raw_t_reference(g1, g2, False, "two-sided", 0.95)
    o.case("sleep data vs scipy",
           "SELECT (bandit.t_test(v, g)).* FROM unnest(%s::float8[], %s::boolean[]) u(v, g)",
           (values, group2), lambda row: t_checks(row, ref, 10.0))
    for i in range(40):
        x1, x2 = random_groups(rng)
        ev, alt = bool(rng.random() < 0.4), str(rng.choice(ALTERNATIVES))
        level = float(rng.choice([0.9, 0.95, 0.99]))
        nargs = i % 4                       # the 2-, 3-, 4- and 5-argument aggregates
        if nargs == 0:
            ev, alt, level = False, "two-sided", 0.95
        elif nargs == 1:
            alt, level = "two-sided", 0.95
        elif nargs == 2:
            level = 0.95
        extra = [ev, alt, level][:nargs]
        ref = raw_t_reference(x1, x2, ev, alt, level)
        # shuffle the rows: group membership, not order, decides
        order = rng.permutation(len(x1) + len(x2))
        vals = [(x1 + x2)[j] for j in order]
        grp = [bool(j >= len(x1)) for j in order]
        sql = ("SELECT (bandit.t_test(v, g%s)).* FROM unnest(%%s::float8[], %%s::boolean[]) u(v, g)"
               % "".join(", %s" for _ in extra))
        o.case("%d + %d rows, args %s" % (len(x1), len(x2), extra), sql, tuple(extra) + (vals, grp),
               lambda row: t_checks(row, ref, 1e3 * (abs(ref[3]) + max(map(abs, x1 + x2)))))


def run_t_test_one_sample(o, rng):
    for _ in range(40):
        n = int(loguniform(rng, 2, 3000))
        scale = float(10 ** rng.uniform(-2, 4))
        x = [float(v) for v in rng.normal(float(rng.normal(0, scale)), scale, n)]
        mu = float(np.mean(x) + rng.normal(0, scale / math.sqrt(n) * 3)) if rng.random() < 0.8 else 0.0
        alt = str(rng.choice(ALTERNATIVES))
        level = float(rng.choice([0.9, 0.95, 0.99]))
        nn, mean, m2 = exact_moments(x)
        sd = math.sqrt(m2 / (n - 1))
        res = stats.ttest_1samp(x, mu, alternative=alt)
        diff = mean - mu
        lo, hi = ci_reference(diff, sd / math.sqrt(n), n - 1, alt, level)
        ref = (float(res.statistic), float(n - 1), float(res.pvalue), diff, lo, hi, diff / sd)
        o.case("%d values %s, mu=%r, %s, level=%r" % (n, fmt(x[:3]), mu, alt, level),
               "SELECT (bandit.t_test_one_sample(bandit.summarize(v), %s, %s, %s)).* "
               "FROM unnest(%s::float8[]) v", (mu, alt, level, x),
               lambda row: t_checks(row, ref, 1e3 * (abs(mean) + abs(mu))))
    # defaults: mu = 0, two-sided, 95 %
    x = SLEEP[0]
    res = stats.ttest_1samp(x, 0.0)
    nn, mean, m2 = exact_moments(x)
    lo, hi = ci_reference(mean, math.sqrt(m2 / 9) / math.sqrt(10), 9, "two-sided", 0.95)
    ref = (float(res.statistic), 9.0, float(res.pvalue), mean, lo, hi, mean / math.sqrt(m2 / 9))
    o.case("sleep group 1, defaults", "SELECT (bandit.t_test_one_sample(bandit.summarize(v))).* "
           "FROM unnest(%s::float8[]) v", (x,), lambda row: t_checks(row, ref, 10.0))
    # R: t.test(extra[group == 1]) -> t = 1.3257, df = 9, p-value = 0.2176, CI -0.5297804 2.0297804
    # (R's interval is for the mean; with mu = 0 it is the interval of mean - mu as well)
    o.case("sleep group 1 (published R t.test)",
           "SELECT (bandit.t_test_one_sample(bandit.summarize(v))).* FROM unnest(%s::float8[]) v", (x,),
           lambda row: t_pub_checks(row, {"statistic": "1.3257", "df": "9", "p_value": "0.2176",
                                          "ci_lower": "-0.5297804", "ci_upper": "2.0297804"}))


def run_t_test_paired(o, rng):
    g1, g2 = SLEEP
    o.case("sleep data, paired (published R t.test)",
           "SELECT (bandit.t_test_paired(x, y)).* FROM unnest(%s::float8[], %s::float8[]) u(x, y)",
           (g1, g2), lambda row: t_pub_checks(row, SLEEP_PAIRED))
    cases = [(g1, g2)]
    for _ in range(40):
        n = int(loguniform(rng, 2, 3000))
        scale = float(10 ** rng.uniform(-2, 4))
        x = rng.normal(float(rng.normal(0, scale * 10)), scale, n)
        y = x + rng.normal(float(rng.normal(0, scale * 0.1)), scale * 0.5, n)
        cases.append(([float(v) for v in x], [float(v) for v in y]))
    for x, y in cases:
        n = len(x)
        d = [a - b for a, b in zip(x, y)]
        nn, mean, m2 = exact_moments(d)
        sd = math.sqrt(m2 / (n - 1))
        res = stats.ttest_rel(x, y)
        lo, hi = ci_reference(mean, sd / math.sqrt(n), n - 1, "two-sided", 0.95)
        ref = (float(res.statistic), float(n - 1), float(res.pvalue), mean, lo, hi, mean / sd)
        o.case("%d pairs %s %s" % (n, fmt(x[:3]), fmt(y[:3])),
               "SELECT (bandit.t_test_paired(x, y)).* FROM unnest(%s::float8[], %s::float8[]) u(x, y)",
               (x, y), lambda row: t_checks(row, ref, 1e3 * max(map(abs, x + y))))


# ---------------------------------------------------------------------------
# 3. contingency tables
# ---------------------------------------------------------------------------

def exact_chi2(table, correction):
    """Pearson's statistic of an r x c table in exact rational arithmetic (Yates as scipy)."""
    rows = [sum(r) for r in table]
    cols = [sum(c) for c in zip(*table)]
    n = sum(rows)
    df = (len(rows) - 1) * (len(cols) - 1)
    stat = Fraction(0)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            dev = abs(Fraction(table[i][j]) - Fraction(r * c, n))
            if correction and df == 1:
                dev = max(dev - Fraction(1, 2), Fraction(0))
            stat += dev * dev / Fraction(r * c, n)
    stat = float(stat)
    return stat, df, float(special.chdtrc(df, stat))


def random_2x2(rng):
    while True:
        n1, n2 = (int(v) for v in loguniform(rng, 1, 1e7, 2))
        r = rng.random()
        if r < 0.2:
            s1, s2 = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n2 + 1))
        else:
            rate = float(rng.uniform(0.001, 0.999)) if r < 0.6 else float(loguniform(rng, 1e-4, 0.5))
            s1 = int(rng.binomial(n1, rate))
            s2 = int(rng.binomial(n2, min(1.0, rate * float(rng.uniform(0.8, 1.25)))))
        if 0 < s1 + s2 < n1 + n2:           # scipy rejects a zero expected count
            return s1, n1, s2, n2


def run_chi2_test(o, rng):
    cases = [(15, 100, 25, 100, True), (15, 100, 25, 100, False), (3, 10, 3, 10, True),
             (490, 1000, 510, 1000, True), (9000000, 10000000, 10, 10000000, False)]
    for _ in range(120):
        s1, n1, s2, n2 = random_2x2(rng)
        cases.append((s1, n1, s2, n2, bool(rng.random() < 0.5)))
    for s1, n1, s2, n2, corr in cases:
        table = [[s1, n1 - s1], [s2, n2 - s2]]
        stat, _df, p = exact_chi2(table, corr)
        o.case("s1=%d, n1=%d, s2=%d, n2=%d, correction=%s" % (s1, n1, s2, n2, corr),
               "SELECT statistic, p_value FROM bandit.chi2_test(%s, %s, %s, %s, %s)",
               (s1, n1, s2, n2, corr),
               lambda row: [("statistic", row[0], stat, cmp_rel(row[0], stat)),
                            ("p_value", row[1], p, cmp_p(row[1], p))])
    # the default applies Yates' correction
    stat, _df, p = exact_chi2([[15, 85], [25, 75]], True)
    o.case("s1=15, n1=100, s2=25, n2=100 (default correction)",
           "SELECT statistic, p_value FROM bandit.chi2_test(15, 100, 25, 100)", None,
           lambda row: [("statistic", row[0], stat, cmp_rel(row[0], stat)),
                        ("p_value", row[1], p, cmp_p(row[1], p))])


def run_chi2_contingency(o, rng):
    cases = [([[10, 20, 30], [20, 20, 20]], True), ([[15, 85], [25, 75]], True),
             ([[15, 85], [25, 75]], False), ([[1, 2], [3, 4], [5, 6]], True)]
    while len(cases) < 80:
        r, c = int(rng.integers(2, 7)), int(rng.integers(2, 7))
        top = int(loguniform(rng, 2, 1e6))
        table = [[int(v) for v in row] for row in rng.integers(0, top, (r, c))]
        if rng.random() < 0.3:              # near independence
            p_row, p_col = rng.dirichlet(np.ones(r)), rng.dirichlet(np.ones(c))
            table = [[int(v) for v in row] for row in rng.poisson(top * r * c * np.outer(p_row, p_col))]
        if min(sum(row) for row in table) == 0 or min(sum(col) for col in zip(*table)) == 0:
            continue
        cases.append((table, bool(rng.random() < 0.5)))
    for table, corr in cases:
        stat, df, p = exact_chi2(table, corr)
        o.case("observed=%s, correction=%s" % (table, corr),
               "SELECT statistic, df, p_value FROM bandit.chi2_contingency(%s::bigint[], %s)",
               (table, corr),
               lambda row: [("statistic", row[0], stat, cmp_rel(row[0], stat)),
                            ("df", row[1], df, cmp_exact(row[1], df)),
                            ("p_value", row[2], p, cmp_p(row[2], p))])
    stat, df, p = exact_chi2([[10, 20], [30, 25]], True)
    o.case("observed=[[10,20],[30,25]] (default correction)",
           "SELECT statistic, df, p_value FROM bandit.chi2_contingency('{{10,20},{30,25}}')", None,
           lambda row: [("statistic", row[0], stat, cmp_rel(row[0], stat)),
                        ("df", row[1], df, cmp_exact(row[1], df)),
                        ("p_value", row[2], p, cmp_p(row[2], p))])


def fisher_p_mpmath(a, b, c, d, alt, max_terms=200000):
    """Fisher's exact p-value by summing the hypergeometric pmf in 40-digit
    mpmath, for the tables where scipy's double sum underflows to 0 (its tails
    fall below 1e-300 while the true p can be 1e-277).  None when the support is
    too wide to sum here."""
    import mpmath as mp
    mp.mp.dps = 40
    r1, c1, n = a + b, a + c, a + b + c + d
    lo, hi = max(0, r1 + c1 - n), min(r1, c1)
    if hi - lo > max_terms:
        return None
    base = mp.loggamma(c1 + 1) + mp.loggamma(n - c1 + 1) + mp.loggamma(r1 + 1) + mp.loggamma(n - r1 + 1) - mp.loggamma(n + 1)

    def pmf(x):
        return mp.exp(base - mp.loggamma(x + 1) - mp.loggamma(c1 - x + 1) - mp.loggamma(r1 - x + 1)
                      - mp.loggamma(n - c1 - r1 + x + 1))
    if alt == 'greater':
        xs = range(a, hi + 1)
    elif alt == 'less':
        xs = range(lo, a + 1)
    else:                               # as scipy: every table no more likely than the observed one
        cut = pmf(a) * (1 + mp.mpf('1e-7'))
        return float(mp.fsum(q for q in (pmf(x) for x in range(lo, hi + 1)) if q <= cut))
    return float(mp.fsum(pmf(x) for x in xs))


def run_fisher_exact(o, rng):
    cases = [((3, 1, 1, 3), "greater"), ((3, 1, 1, 3), "two-sided"), ((3, 1, 1, 3), "less"),
             ((0, 0, 5, 7), "two-sided"), ((0, 5, 0, 7), "less"), ((1, 0, 0, 1), "two-sided"),
             ((100, 10, 10, 100), "two-sided"), ((1000, 10, 10, 1000), "greater"),
             ((10000000, 5000000, 3000000, 9000000), "two-sided"),
             ((9999997, 10000000, 10000000, 9999997), "two-sided"),
             ((5000000, 5000100, 5000050, 4999990), "less"), ((0, 12, 12, 0), "two-sided")]
    for i in range(150):
        kind = i % 5
        if kind == 0:
            cells = rng.integers(0, 20, 4)
        elif kind == 1:
            cells = rng.integers(0, 1000, 4)
        elif kind == 2:
            cells = loguniform(rng, 1, 1e7, 4).astype(np.int64)
        elif kind == 3:                     # strong association: tiny p-values
            big, small = loguniform(rng, 20, 2000, 2)
            cells = np.array([big, small, small * rng.uniform(0.5, 2), big * rng.uniform(0.5, 2)], dtype=np.int64)
        else:                               # balanced, large
            n = int(loguniform(rng, 100, 1e7))
            p = float(rng.uniform(0.05, 0.95))
            cells = np.array([rng.binomial(n, p), 0, rng.binomial(n, p * float(rng.uniform(0.99, 1.01))), 0])
            cells[1], cells[3] = n - cells[0], n - cells[2]
        cases.append((tuple(int(v) for v in cells), str(rng.choice(ALTERNATIVES))))
    for (a, b, c, d), alt in cases:
        odds, p = stats.fisher_exact([[a, b], [c, d]], alternative=alt)
        odds, p = float(odds), float(p)
        if p < P_FLOOR:
            p = fisher_p_mpmath(a, b, c, d, alt)
            if p is None:
                p = 0.0                 # too wide to sum: ours need only be tiny too (cmp_p)
        o.case("a=%d, b=%d, c=%d, d=%d, %s" % (a, b, c, d, alt),
               "SELECT odds_ratio, p_value FROM bandit.fisher_exact(%s, %s, %s, %s, %s)",
               (a, b, c, d, alt),
               lambda row: [("odds_ratio", row[0], odds, cmp_rel(row[0], odds)),
                            ("p_value", row[1], p, cmp_p(row[1], p))])
    # Fisher's lady tasting tea (published: 0.2428571 one-sided, 0.4857143 two-sided)
    for alt, text in (("greater", "0.2428571"), ("two-sided", "0.4857143")):
        value, tol = published(text)
        o.case("tea tasting [[3,1],[1,3]], %s (published)" % alt,
               "SELECT odds_ratio, p_value FROM bandit.fisher_exact(3, 1, 1, 3, %s)", (alt,),
               lambda row: [("p_value", row[1], text, cmp_abs(row[1], value, tol)),
                            ("odds_ratio", row[0], 9.0, cmp_rel(row[0], 9.0))])
    o.case("tea tasting, default alternative",
           "SELECT odds_ratio, p_value FROM bandit.fisher_exact(3, 1, 1, 3)", None,
           lambda row: [("p_value", row[1], 0.4857142857142857, cmp_p(row[1], 0.48571428571428565))])


# ---------------------------------------------------------------------------
# 3. power and sample sizes
# ---------------------------------------------------------------------------

def solve_tight(f, x0):
    """Root of the increasing f near x0 (statsmodels' solve_power stops at ~1e-8 relative)."""
    lo, hi = x0 * (1 - 1e-5), x0 * (1 + 1e-5)
    for _ in range(200):
        if f(lo) <= 0 <= f(hi):
            break
        if f(lo) > 0:
            lo = max(1.0 + 1e-9 if x0 < 2 else 2.0, lo - 2 * (hi - lo))
        if f(hi) < 0:
            hi = hi + 2 * (hi - lo)
    return optimize.brentq(f, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)


def ref_power_t(d, n, alpha, alt):
    """statsmodels' TTestIndPower().power(d, n, alpha, ratio=1), with its noncentral t
    tails from oracle_lib.nct_tail: scipy's nct, which statsmodels calls, is wrong by up to
    1e-8 relative already near 1e-8 and by orders of magnitude further out."""
    df = 2 * n - 2
    nc = d * math.sqrt(n / 2)
    alpha_ = alpha / 2 if alt == "two-sided" else alpha
    power = 0.0
    if alt in ("two-sided", "greater"):
        power += oracle_lib.nct_tail(oracle_lib.t_isf(alpha_, df), df, nc, True)
    if alt in ("two-sided", "less"):
        power += oracle_lib.nct_tail(-oracle_lib.t_isf(alpha_, df), df, nc, False)
    sm = float(TTestIndPower().power(d, nobs1=n, alpha=alpha, ratio=1, alternative=SM_ALTERNATIVE[alt]))
    if power > 1e-4 and abs(sm - power) > 1e-7 * power:   # a mistake in this function
        raise AssertionError("ref_power_t(%r, %r, %r, %r) = %r but statsmodels %r" % (d, n, alpha, alt, power, sm))
    return power


def run_power_t_test(o, rng):
    cases = [(0.5, 64.0, 0.05, "two-sided"), (0.2, 100.0, 0.05, "greater"), (-0.3, 50.0, 0.01, "less")]
    for _ in range(70):
        n = float(loguniform(rng, 2, 1e5)) if rng.random() < 0.7 else float(int(loguniform(rng, 2, 1e5)))
        alt = str(rng.choice(ALTERNATIVES))
        d = float(loguniform(rng, 1e-3, 3) * (1 if rng.random() < 0.85 else -1))
        d = min(d, 20 / math.sqrt(n / 2))   # keep the power away from its 1e-300s
        if alt == "less":
            d = -d
        alpha = float(rng.choice([0.001, 0.01, 0.05, 0.1])) if rng.random() < 0.7 else float(rng.uniform(0.001, 0.2))
        cases.append((d, n, alpha, alt))
    for d, n, alpha, alt in cases:
        ref = ref_power_t(d, n, alpha, alt)
        o.case("effect_size=%r, n_per_group=%r, alpha=%r, %s" % (d, n, alpha, alt),
               "SELECT bandit.power_t_test(%s, %s, %s, %s)", (d, n, alpha, alt),
               lambda row: [("power", row[0], ref, cmp_rel(row[0], ref))])
    ref = ref_power_t(0.5, 20.0, 0.05, "two-sided")
    o.case("effect_size=0.5, n_per_group=20 (defaults)", "SELECT bandit.power_t_test(0.5, 20)", None,
           lambda row: [("power", row[0], ref, cmp_rel(row[0], ref))])


def power_t_bulk(d, n, alpha, alt):
    """statsmodels' TTestIndPower power with exact t quantiles; Boost's nct is accurate
    where the sample-size equation is solved (power >= 0.5)."""
    df = 2 * n - 2
    nc = d * math.sqrt(n / 2)
    alpha_ = alpha / 2 if alt == "two-sided" else alpha
    crit = oracle_lib.t_isf(alpha_, df)
    power = 0.0
    if alt in ("two-sided", "greater"):
        power += float(stats.nct.sf(crit, df, nc))
    if alt in ("two-sided", "less"):
        power += float(stats.nct.cdf(-crit, df, nc))
    return power


def ref_sample_size_t(d, power, alpha, alt):
    tp = TTestIndPower()
    sm = SM_ALTERNATIVE[alt]
    n0 = float(np.ravel(tp.solve_power(effect_size=d, nobs1=None, alpha=alpha, power=power,
                                       ratio=1, alternative=sm))[0])
    if not (math.isfinite(n0) and n0 > 1):
        n0 = 2 * ((stats.norm.isf(alpha / 2) + stats.norm.ppf(power)) / d) ** 2 + 1
    n = solve_tight(lambda n: power_t_bulk(d, n, alpha, alt) - power, n0)
    # statsmodels' own answer, to its precision (1e-6 relative, a little worse near n = 2)
    if abs(n - n0) > 1e-5 * n:
        raise AssertionError("sample size %r vs statsmodels %r for %r" % (n, n0, (d, power, alpha, alt)))
    return n


def run_sample_size_t_test(o, rng):
    cases = [(0.5, 0.8, 0.05, "two-sided"), (0.1, 0.9, 0.01, "greater"), (-0.3, 0.8, 0.05, "less")]
    for _ in range(50):
        alt = str(rng.choice(ALTERNATIVES))
        d = float(loguniform(rng, 0.01, 2))
        d = -d if alt == "less" else d
        power = float(rng.choice([0.8, 0.9, 0.95])) if rng.random() < 0.5 else float(rng.uniform(0.5, 0.99))
        alpha = float(rng.choice([0.01, 0.05, 0.1])) if rng.random() < 0.7 else float(rng.uniform(0.001, 0.2))
        if power_t_bulk(d, 2.0, alpha, alt) >= power:
            continue                        # n < 2: no degrees of freedom; statsmodels fails too
        cases.append((d, power, alpha, alt))
    for d, power, alpha, alt in cases:
        ref = ref_sample_size_t(d, power, alpha, alt)
        o.case("effect_size=%r, power=%r, alpha=%r, %s" % (d, power, alpha, alt),
               "SELECT bandit.sample_size_t_test(%s, %s, %s, %s)", (d, power, alpha, alt),
               lambda row: [("n", row[0], ref, cmp_rel(row[0], ref))])
    # (R's power.t.test gives 63.76576 here: it ignores the far tail, statsmodels does not)
    ref = ref_sample_size_t(0.5, 0.8, 0.05, "two-sided")
    o.case("effect_size=0.5 (defaults)", "SELECT bandit.sample_size_t_test(0.5)", None,
           lambda row: [("n", row[0], ref, cmp_rel(row[0], ref))])


def ref_sample_size_prop(p1, p2, power, alpha):
    npow = NormalIndPower()
    h = float(proportion_effectsize(p1, p2))
    n0 = float(np.ravel(npow.solve_power(effect_size=h, nobs1=None, alpha=alpha, power=power,
                                         ratio=1, alternative="two-sided"))[0])
    return solve_tight(lambda n: npow.power(h, nobs1=n, alpha=alpha, ratio=1,
                                            alternative="two-sided") - power, n0)


def run_sample_size_proportions(o, rng):
    cases = [(0.1, 0.12, 0.8, 0.05), (0.5, 0.6, 0.9, 0.01), (0.6, 0.5, 0.8, 0.05)]
    for _ in range(50):
        p1 = float(loguniform(rng, 1e-3, 0.5)) if rng.random() < 0.5 else float(rng.uniform(0.01, 0.99))
        p2 = min(0.999, max(1e-4, p1 * float(rng.uniform(0.5, 1.5))))
        if abs(p1 - p2) < 1e-4:
            continue
        power = float(rng.choice([0.8, 0.9])) if rng.random() < 0.5 else float(rng.uniform(0.5, 0.99))
        alpha = float(rng.choice([0.01, 0.05])) if rng.random() < 0.7 else float(rng.uniform(0.001, 0.2))
        cases.append((p1, p2, power, alpha))
    for p1, p2, power, alpha in cases:
        ref = ref_sample_size_prop(p1, p2, power, alpha)
        o.case("p1=%r, p2=%r, power=%r, alpha=%r" % (p1, p2, power, alpha),
               "SELECT bandit.sample_size_proportions(%s, %s, %s, %s)", (p1, p2, power, alpha),
               lambda row: [("n", row[0], ref, cmp_rel(row[0], ref))])
    ref = ref_sample_size_prop(0.1, 0.15, 0.8, 0.05)
    o.case("p1=0.1, p2=0.15 (defaults)", "SELECT bandit.sample_size_proportions(0.1, 0.15)", None,
           lambda row: [("n", row[0], ref, cmp_rel(row[0], ref))])


def run_nct(o, rng):
    cases = [(1.0, 10.0, 1.0), (2.0, 5.5, 0.5), (-1.0, 30.0, -2.0), (0.0, 1.0, 0.0), (3.0, 1e6, 3.0)]
    for _ in range(90):
        df = float(loguniform(rng, 1, 1e6))
        nc = float(rng.normal(0, 5)) if rng.random() < 0.8 else float(rng.uniform(-30, 30))
        x = nc + float(rng.normal(0, 3)) if rng.random() < 0.7 else float(rng.uniform(-40, 40))
        cases.append((x, df, nc))
    # The reference is oracle_lib.nct_tail, not scipy.stats.nct: scipy 1.10's (Boost) is off by
    # 1e-8 relative already near 1e-8 and by orders of magnitude further out; nct_tail agrees
    # with scipy to 1e-11 where scipy is right and with 40-digit mpmath integrals elsewhere.
    for x, df, nc in cases:
        cdf, sf = oracle_lib.nct_tail(x, df, nc, False), oracle_lib.nct_tail(x, df, nc, True)
        o.case("nct_cdf x=%r, df=%r, nc=%r" % (x, df, nc),
               "SELECT bandit.nct_cdf(%s, %s, %s)", (x, df, nc),
               lambda row: [("cdf", row[0], cdf, cmp_p(row[0], cdf))])
        o.case("nct_sf x=%r, df=%r, nc=%r" % (x, df, nc),
               "SELECT bandit.nct_sf(%s, %s, %s)", (x, df, nc),
               lambda row: [("sf", row[0], sf, cmp_p(row[0], sf))])


# ---------------------------------------------------------------------------
# 1-2. random draws
# ---------------------------------------------------------------------------

def rounded_pit(draws, a, b, rng):
    """Randomized probability integral transform of Beta(a, b) draws correct to 1 ulp.

    A double v stands for the true draws in [v - the gap below, v + the gap above],
    so u is uniform on F of that interval.  Small parameters put two thirds of the
    mass on 1.0 (or 0.0) exactly and most of the rest within a few ulps of it; a
    sampler's X / (X + Y) is not correctly rounded there, and judging each draw to
    half an ulp would fail correct draws that are one ulp off."""
    u = []
    for v in draws:
        below = v - np.nextafter(v, -1.0) if v > 0 else 0.0
        above = np.nextafter(v, 2.0) - v if v < 1 else 0.0
        if v < 0.5:
            lo = stats.beta.cdf(max(v - below, 0.0), a, b)
            hi = stats.beta.cdf(v + above, a, b) if v > 0 else stats.beta.cdf(5e-324, a, b)
        else:
            y = 1.0 - v                     # exact for v >= 0.5
            lo = stats.beta.sf(y + below, b, a)
            hi = stats.beta.sf(max(y - above, 0.0), b, a)
        u.append(lo + (hi - lo) * rng.random())
    return u


def run_beta_sample(o, rng):
    params = [(2.0, 5.0), (0.5, 0.5), (1.0, 1.0), (0.01, 0.01), (0.01, 1.0), (1.0, 0.01),
              (0.05, 3.0), (100.0, 1e4), (1e6, 1e6)]
    params += [tuple(float(v) for v in loguniform(rng, 0.01, 1e7, 2)) for _ in range(3)]
    sql = "SELECT bandit.beta_sample(%s, %s) FROM generate_series(1, 1000)"
    other = o.connect()
    try:
        for a, b in params:
            seed = int(rng.integers(-2**62, 2**62))
            label = "1000 draws of Beta(%r, %r) after set_seed(%d)" % (a, b, seed)
            try:
                o.query("SELECT bandit.set_seed(%s)", (seed,))
                draws = [r[0] for r in o.query(sql, (a, b))]
                o.query("SELECT bandit.set_seed(%s)", (seed,))
                again = [r[0] for r in o.query(sql, (a, b))]
                o.query("SELECT bandit.set_seed(%s)", (seed,), conn=other)
                elsewhere = [r[0] for r in o.query(sql, (a, b), conn=other)]
            except psycopg2.Error as e:
                o.fail(label, "ERROR %s %s" % (e.pgcode, e.pgerror))
                continue
            bad = [v for v in draws if v is None or not (0.0 <= v <= 1.0)]
            ks = stats.kstest(rounded_pit(draws, a, b, rng), "uniform").pvalue if not bad else 0.0
            o.judge(label, [("values in [0, 1]", fmt(bad[:3]), "none outside", None if not bad else "outside"),
                            ("KS p-value", ks, "> 1e-4", None if ks > 1e-4 else "too small"),
                            ("same seed, same session", fmt(again[:3]), fmt(draws[:3]),
                             cmp_exact(again, draws)),
                            ("same seed, other session", fmt(elsewhere[:3]), fmt(draws[:3]),
                             cmp_exact(elsewhere, draws))])
    finally:
        other.close()


# ---------------------------------------------------------------------------

def main():
    seed_env = os.environ.get("BANDIT_ORACLE_SEED")
    seed = int(seed_env) if seed_env else time.time_ns() % (2**32)
    print("oracle seed %d (reproduce with BANDIT_ORACLE_SEED=%d)" % (seed, seed), flush=True)
    o = Oracle(seed)
    t0 = time.time()
    try:
        o.setup()
    except psycopg2.Error as e:
        print("FAIL setup: %s" % (e.pgerror or e))
        print("0 passed, 1 failed")
        return 1
    f8 = "float8"
    sections = [
        ("beta_quantile", ["bandit.beta_quantile(float8,float8,float8)"], run_beta_quantile),
        ("beta_interval", ["bandit.beta_interval(float8,float8,float8)"], run_beta_interval),
        ("prob_best", ["bandit.prob_best(float8[],float8[])"],
         lambda rng: run_prob_best_and_loss(o, rng, "prob_best")),
        ("expected_loss", ["bandit.expected_loss(float8[],float8[])"],
         lambda rng: run_prob_best_and_loss(o, rng, "expected_loss")),
        ("beta_posterior", ["bandit.beta_posterior(boolean)", "bandit.beta_posterior(float8,float8,float8)"],
         run_beta_posterior),
        ("summary", ["type bandit.summary", "bandit.summarize(float8)", "bandit.merge(bandit.summary)",
                     "bandit.n(bandit.summary)", "bandit.mean(bandit.summary)",
                     "bandit.variance(bandit.summary)", "bandit.stddev(bandit.summary)"], run_summary),
        ("t_test", ["bandit.t_test(%s)" % ",".join([f8] * 6 + ["boolean", "text", f8])], run_t_test_stats),
        ("t_test_summary", ["type bandit.summary", "bandit.summarize(float8)",
                            "bandit.t_test(bandit.summary,bandit.summary,boolean,text,float8)"],
         run_t_test_summaries),
        ("t_test_aggregate", ["bandit.t_test(float8,boolean)", "bandit.t_test(float8,boolean,boolean)",
                              "bandit.t_test(float8,boolean,boolean,bandit.alternative)",
                              "bandit.t_test(float8,boolean,boolean,bandit.alternative,float8)"], run_t_test_aggregate),
        ("t_test_one_sample", ["type bandit.summary", "bandit.summarize(float8)",
                               "bandit.t_test_one_sample(bandit.summary,float8,text,float8)"],
         run_t_test_one_sample),
        ("t_test_paired", ["bandit.t_test_paired(float8,float8)"], run_t_test_paired),
        ("chi2_test", ["bandit.chi2_test(bigint,bigint,bigint,bigint,boolean)"], run_chi2_test),
        ("chi2_contingency", ["bandit.chi2_contingency(bigint[],boolean)"], run_chi2_contingency),
        ("fisher_exact", ["bandit.fisher_exact(bigint,bigint,bigint,bigint,text)"], run_fisher_exact),
        ("power_t_test", ["bandit.power_t_test(float8,float8,float8,text)"], run_power_t_test),
        ("sample_size_t_test", ["bandit.sample_size_t_test(float8,float8,float8,text)"],
         run_sample_size_t_test),
        ("sample_size_proportions", ["bandit.sample_size_proportions(float8,float8,float8,float8)"],
         run_sample_size_proportions),
        ("nct", ["bandit.nct_cdf(float8,float8,float8)", "bandit.nct_sf(float8,float8,float8)"], run_nct),
        ("beta_sample", ["bandit.beta_sample(float8,float8)", "bandit.set_seed(bigint)"], run_beta_sample),
    ]
    try:
        for group, sigs, body in sections:
            fn = body if body.__code__.co_argcount == 1 else (lambda rng, body=body: body(o, rng))
            o.section(group, sigs, fn)
    finally:
        try:
            o.teardown()
        except psycopg2.Error as e:
            print("note: could not drop %s: %s" % (DBNAME, e))
    if o.skipped:
        print("skipped groups: %s" % ", ".join(o.skipped))
    print("oracle seed %d, %.1fs" % (seed, time.time() - t0))
    print("%d passed, %d failed" % (o.passed, o.failed))
    return 1 if o.failed else 0


if __name__ == "__main__":
    sys.exit(main())
