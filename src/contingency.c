/*
 * src/contingency.c
 *
 * Tests of independence in contingency tables, as scipy 1.10 defines them:
 * Pearson's chi-square test (Yates' correction when df = 1) and Fisher's
 * exact test of a 2x2 table.
 */
#include "bandit.h"
#include "numeric.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "miscadmin.h"
#include "utils/float.h"

#include <float.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_sf_gamma.h>

/* Largest table total for Fisher's test: every count stays an exact double. */
#define FISHER_MAX_TOTAL INT64CONST(9007199254740992)

/* scipy's tolerance for ties in probability in the two-sided Fisher test. */
#define FISHER_TIE_EPSILON 1e-14

/* Tails are summed until what is left is below this fraction of the sum. */
#define TAIL_TOLERANCE 1e-17

/* Log pmf differences closer than this to the tie threshold are settled exactly. */
#define TIE_MARGIN 1e-9

/* Longest distance over which pmf ratios are multiplied out exactly. */
#define EXACT_WALK_LIMIT 1024

/* Steps between interrupt checks (and re-anchoring) in tail sums. */
#define TAIL_BLOCK 1024

/* ln(2 pi) */
#define LN_2PI 1.837877066409345483560659472811

/*
 * The hypergeometric law of the upper-left cell of a 2x2 table with fixed
 * margins: rows n1 and n2, first column n.  All values are exact integers.
 */
typedef struct Hypergeom
{
	double		n1;
	double		n2;
	double		n;
	double		lo;				/* smallest possible upper-left cell */
	double		hi;				/* largest possible upper-left cell */
	double		p;				/* n / (n1 + n2), for Loader's method */
	double		q;				/* 1 - p */
} Hypergeom;

/* Sets up the law of the upper-left cell for rows n1, n2 and first column n. */
static Hypergeom
MakeHypergeom(double n1, double n2, double n)
{
	Hypergeom	h;
	double		total = n1 + n2;

	h.n1 = n1;
	h.n2 = n2;
	h.n = n;
	h.lo = Max(0, n - n2);
	h.hi = Min(n, n1);
	h.p = n / total;
	h.q = (total - n) / total;
	return h;
}

/* The same table with its rows swapped: x becomes n - x. */
static Hypergeom
ReflectHypergeom(const Hypergeom *h)
{
	return MakeHypergeom(h->n2, h->n1, h->n);
}

/* pmf(x + 1) / pmf(x), for lo <= x < hi. */
static inline double
UpRatio(const Hypergeom *h, double x)
{
	return ((h->n1 - x) * (h->n - x)) / ((x + 1) * (h->n2 - h->n + x + 1));
}

/* pmf(x - 1) / pmf(x), for lo < x <= hi. */
static inline double
DownRatio(const Hypergeom *h, double x)
{
	return (x * (h->n2 - h->n + x)) / ((h->n1 - x + 1) * (h->n - x + 1));
}

/*
 * A mode, by scipy's formula floor((n + 1)(n1 + 1) / (N + 2)), checked
 * against the pmf ratios because the product may round for huge tables.
 */
static double
HypergeomMode(const Hypergeom *h)
{
	double		m = floor(((h->n + 1) * (h->n1 + 1)) / (h->n1 + h->n2 + 2));

	m = Max(h->lo, Min(h->hi, m));
	while (m < h->hi && UpRatio(h, m) > 1)
		m++;
	while (m > h->lo && DownRatio(h, m) > 1)
		m--;
	return m;
}

/*
 * Stirling's error log(n!) - log(sqrt(2 pi n) (n/e)^n) for an integer
 * n >= 1 (Loader 2000): a table up to 15, the asymptotic series beyond.
 */
static double
StirlingError(double n)
{
	static const double table[16] = {
		0.0,
		0.08106146679532725821967026,
		0.04134069595540929409382208,
		0.02767792568499833914878929,
		0.02079067210376509311152277,
		0.01664469118982119216319487,
		0.01387612882307074799874573,
		0.01189670994589177009505572,
		0.01041126526197209649747857,
		0.009255462182712732917728637,
		0.008330563433362871256469319,
		0.007573675487951840794972024,
		0.006942840107209529865664153,
		0.006408994188004207068439631,
		0.005951370112758847735624416,
		0.00555473355196280137103869
	};
	const double s0 = 1.0 / 12,
				s1 = 1.0 / 360,
				s2 = 1.0 / 1260,
				s3 = 1.0 / 1680,
				s4 = 1.0 / 1188;
	double		nn = n * n;

	if (n <= 15)
		return table[(int) n];
	if (n > 500)
		return (s0 - s1 / nn) / n;
	if (n > 80)
		return (s0 - (s1 - s2 / nn) / nn) / n;
	if (n > 35)
		return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n;
	return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n;
}

/*
 * x log(x / m) + m - x without cancellation (Loader 2000): a series in
 * v = (x - m) / (x + m) when x is near m.
 */
static double
DevianceTerm(double x, double m)
{
	if (fabs(x - m) < 0.1 * (x + m))
	{
		double		v = (x - m) / (x + m);
		double		s = (x - m) * v;
		double		ej = 2 * x * v;
		double		v2 = v * v;

		for (int j = 1; j < 1000; j++)
		{
			double		next;

			ej *= v2;
			next = s + ej / (2 * j + 1);
			if (next == s)
				break;
			s = next;
		}
		return s;
	}
	return x * log(x / m) + m - x;
}

/* log of the binomial pmf C(n, x) p^x q^(n-x), accurate in relative terms. */
static double
LogBinomialPmf(double x, double n, double p, double q)
{
	if (x == 0)
		return n == 0 ? 0.0 : (p < 0.1 ? -DevianceTerm(n, n * q) - n * p : n * log(q));
	if (x == n)
		return q < 0.1 ? -DevianceTerm(n, n * p) - n * q : n * log(p);
	return StirlingError(n) - StirlingError(x) - StirlingError(n - x)
		- DevianceTerm(x, n * p) - DevianceTerm(n - x, n * q)
		- 0.5 * (LN_2PI + log(x) + log1p(-x / n));
}

/*
 * log pmf(x) of the hypergeometric law, as a ratio of binomial pmfs with
 * p = n / N (Loader's method, as R's dhyper): the error stays near machine
 * precision in relative terms however large the table.
 */
static double
HypergeomLogPmf(const Hypergeom *h, double x)
{
	return LogBinomialPmf(x, h->n1, h->p, h->q)
		+ LogBinomialPmf(h->n - x, h->n2, h->p, h->q)
		- LogBinomialPmf(h->n, h->n1 + h->n2, h->p, h->q);
}

/*
 * Whether pmf(y) <= pmf(a) (1 + 1e-14), scipy's rule for "at least as
 * extreme" in the two-sided test, given la = log pmf(a), ly = log pmf(y).
 * Near the threshold the comparison must resolve exact ties (which scipy's
 * tolerance exists for), so there the pmf ratio is multiplied out in
 * double-double arithmetic when y is near a, or read from the symmetry of the
 * table when y is the mirror image of a.
 */
static bool
AsExtreme(const Hypergeom *h, double a, double la, double y, double ly)
{
	/* far from a tie, Loader's values (error below 1e-11) decide at once */
	if (fabs(ly - la - FISHER_TIE_EPSILON) > TIE_MARGIN)
		return ly - la <= FISHER_TIE_EPSILON;
	if (fabs(y - a) <= EXACT_WALK_LIMIT)
	{
		DoubleDouble r = {1.0, 0.0, 0};
		double		v;

		for (double x = a; x < y; x++)
		{
			DdMultiply(&r, h->n1 - x);
			DdMultiply(&r, h->n - x);
			DdDivide(&r, x + 1);
			DdDivide(&r, h->n2 - h->n + x + 1);
			DdNormalize(&r);
		}
		for (double x = a; x > y; x--)
		{
			DdMultiply(&r, x);
			DdMultiply(&r, h->n2 - h->n + x);
			DdDivide(&r, h->n1 - x + 1);
			DdDivide(&r, h->n - x + 1);
			DdNormalize(&r);
		}
		DdNormalize(&r);
		if (r.exponent >= 2)
			return false;
		if (r.exponent <= -1)
			return true;
		/* r is in [0.5, 2): r - 1 is exact */
		v = ldexp(r.hi, r.exponent);
		return (v - 1) + ldexp(r.lo, r.exponent) <= FISHER_TIE_EPSILON;
	}
	if ((h->n1 == h->n2 && y == h->n - a) ||
		(2 * h->n == h->n1 + h->n2 && y == h->n1 - a))
		return true;
	return ly - la <= FISHER_TIE_EPSILON;
}

/*
 * log of sum_{k >= 0} pmf(x0 + dir k) over the support, given lx0 =
 * log pmf(x0), with pmf decreasing from x0 in direction dir.  The pmf is
 * log-concave, so once a step ratio r < 1 the rest is below term r / (1 - r):
 * only the terms that matter are summed, never the whole support.
 */
static double
LogTailSum(const Hypergeom *h, double x0, double lx0, int dir)
{
	double		sum = 1.0;
	double		term = 1.0;
	double		x = x0;
	long		steps = 0;

	while (dir < 0 ? x > h->lo : x < h->hi)
	{
		double		r = dir < 0 ? DownRatio(h, x) : UpRatio(h, x);

		x += dir;
		term *= r;
		/* re-anchor now and then, so rounding does not pile up */
		if (++steps % TAIL_BLOCK == 0)
		{
			CHECK_FOR_INTERRUPTS();
			term = exp(HypergeomLogPmf(h, x) - lx0);
		}
		sum += term;
		if (r < 1 && term * r < TAIL_TOLERANCE * sum * (1 - r))
			break;
	}
	return lx0 + log(sum);
}

/* P(X <= x), with relative accuracy in the lower tail. */
static double
HypergeomCdf(const Hypergeom *h, double x)
{
	if (x >= h->hi)
		return 1.0;
	if (x <= HypergeomMode(h))
		return exp(LogTailSum(h, x, HypergeomLogPmf(h, x), -1));
	return -expm1(LogTailSum(h, x + 1, HypergeomLogPmf(h, x + 1), +1));
}

/*
 * scipy's two-sided p-value: the probability of every table whose pmf is at
 * most pmf(a) (1 + 1e-14); 1 when a is (tied with) the mode.
 */
static double
FisherTwoSided(const Hypergeom *table, double a)
{
	Hypergeom	h = *table;
	double		m = HypergeomMode(&h);
	double		la,
				lower,
				upper,
				g,
				below,
				above;

	if (a == m)
		return 1.0;
	/* work below the mode: reflect the table if a is above it */
	if (a > m)
	{
		h = ReflectHypergeom(table);
		a = h.n - a;
		m = HypergeomMode(&h);
	}
	la = HypergeomLogPmf(&h, a);
	if (AsExtreme(&h, a, la, m, HypergeomLogPmf(&h, m)))
		return 1.0;
	lower = exp(LogTailSum(&h, a, la, -1));

	/* first x above the mode as extreme as a: bisect, then settle ties exactly */
	below = m;
	above = h.hi + 1;
	while (above - below > 1)
	{
		double		mid = floor(below + (above - below) / 2);

		if (HypergeomLogPmf(&h, mid) - la <= FISHER_TIE_EPSILON)
			above = mid;
		else
			below = mid;
	}
	g = above;
	while (g - 1 > m && AsExtreme(&h, a, la, g - 1, HypergeomLogPmf(&h, g - 1)))
	{
		CHECK_FOR_INTERRUPTS();
		g--;
	}
	while (g <= h.hi && !AsExtreme(&h, a, la, g, HypergeomLogPmf(&h, g)))
	{
		CHECK_FOR_INTERRUPTS();
		g++;
	}
	upper = g <= h.hi ? exp(LogTailSum(&h, g, HypergeomLogPmf(&h, g), +1)) : 0.0;
	return Min(1.0, lower + upper);
}

/* a * b / (c * d) as scipy computes it, without int64 overflow. */
static double
OddsRatio(int64 a, int64 b, int64 c, int64 d)
{
	int64		ad,
				bc;

	if (!pg_mul_s64_overflow(a, d, &ad) && !pg_mul_s64_overflow(b, c, &bc))
		return (double) ad / (double) bc;
	return ((double) a * (double) d) / ((double) b * (double) c);
}

PG_FUNCTION_INFO_V1(bandit_fisher_exact);

/* Fisher's exact test of [[a, b], [c, d]], = scipy.stats.fisher_exact. */
Datum
bandit_fisher_exact(PG_FUNCTION_ARGS)
{
	int64		a = CheckCount(PG_GETARG_INT64(0), "a");
	int64		b = CheckCount(PG_GETARG_INT64(1), "b");
	int64		c = CheckCount(PG_GETARG_INT64(2), "c");
	int64		d = CheckCount(PG_GETARG_INT64(3), "d");
	Alternative alternative = ParseAlternative(PG_GETARG_TEXT_PP(4));
	int64		total;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	Hypergeom	h;
	double		p;

	if (pg_add_s64_overflow(a, b, &total) ||
		pg_add_s64_overflow(total, c, &total) ||
		pg_add_s64_overflow(total, d, &total) ||
		total > FISHER_MAX_TOTAL)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the table total a + b + c + d must be at most " INT64_FORMAT,
						FISHER_MAX_TOTAL)));

	/* a zero row or column: scipy's odds ratio is NaN (here NULL) and p = 1 */
	if (a + b == 0 || c + d == 0 || a + c == 0 || b + d == 0)
	{
		nulls[0] = true;
		values[0] = (Datum) 0;
		values[1] = Float8GetDatum(1.0);
		PG_RETURN_DATUM(MakeResultTuple(fcinfo, values, nulls));
	}

	h = MakeHypergeom((double) (a + b), (double) (c + d), (double) (a + c));
	if (alternative == ALT_LESS)
		p = HypergeomCdf(&h, (double) a);
	else if (alternative == ALT_GREATER)
	{
		/* P(X >= a) is P(X' <= n - a) with the rows swapped */
		Hypergeom	r = ReflectHypergeom(&h);

		p = HypergeomCdf(&r, (double) c);
	}
	else
		p = FisherTwoSided(&h, (double) a);

	values[0] = Float8GetDatum(b > 0 && c > 0 ? OddsRatio(a, b, c, d) : get_float8_infinity());
	values[1] = Float8GetDatum(Min(p, 1.0));
	PG_RETURN_DATUM(MakeResultTuple(fcinfo, values, nulls));
}

/* P(chi-square with df degrees of freedom > x); 0 when it underflows. */
static double
ChiSquareSf(double x, int df)
{
	gsl_sf_result result;
	int			status = gsl_sf_gamma_inc_Q_e(0.5 * df, 0.5 * x, &result);

	if (status == GSL_EUNDRFLW)
		return 0.0;
	CheckGsl(status, "the chi-square p-value");
	return result.val;
}

/*
 * Pearson's statistic of a rows x cols table (row-major) against the
 * expected counts of independence, with Yates' correction (each |o - e|
 * reduced by at most 0.5) if asked; as scipy.stats.chi2_contingency.
 * A zero row or column sum makes an expected count zero: an error.
 */
static double
PearsonStatistic(const double *observed, int rows, int cols, bool yates)
{
	double	   *rowsum = palloc0(sizeof(double) * rows);
	double	   *colsum = palloc0(sizeof(double) * cols);
	double		total = 0;
	double		statistic = 0;

	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
		{
			rowsum[i] += observed[i * cols + j];
			colsum[j] += observed[i * cols + j];
		}
	for (int i = 0; i < rows; i++)
	{
		if (rowsum[i] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row %d of the table has no observations, so an expected frequency is zero", i + 1),
					 errhint("Drop empty rows and columns before testing.")));
		total += rowsum[i];
	}
	for (int j = 0; j < cols; j++)
		if (colsum[j] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column %d of the table has no observations, so an expected frequency is zero", j + 1),
					 errhint("Drop empty rows and columns before testing.")));

	for (int i = 0; i < rows; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < cols; j++)
		{
			double		expected = rowsum[i] * colsum[j] / total;
			double		diff = observed[i * cols + j] - expected;

			if (yates)
				diff -= copysign(Min(0.5, fabs(diff)), diff);
			statistic += diff * diff / expected;
		}
	}
	pfree(rowsum);
	pfree(colsum);
	return statistic;
}

/* Returns (statistic, df, p-value) of a table, with df = (rows-1)(cols-1). */
static void
ChiSquareTest(const double *observed, int rows, int cols, bool correction,
			  double *statistic, int *df, double *p_value)
{
	double		x = PearsonStatistic(observed, rows, cols, correction && rows == 2 && cols == 2);

	*df = (rows - 1) * (cols - 1);
	/* one row or one column: observed equals expected, as scipy says */
	*statistic = *df == 0 ? 0.0 : x;
	*p_value = *df == 0 ? 1.0 : ChiSquareSf(x, *df);
}

PG_FUNCTION_INFO_V1(bandit_chi2_test);

/* Chi-square test of [[s1, n1 - s1], [s2, n2 - s2]]. */
Datum
bandit_chi2_test(PG_FUNCTION_ARGS)
{
	int64		s1 = CheckCount(PG_GETARG_INT64(0), "successes1");
	int64		n1 = CheckCount(PG_GETARG_INT64(1), "n1");
	int64		s2 = CheckCount(PG_GETARG_INT64(2), "successes2");
	int64		n2 = CheckCount(PG_GETARG_INT64(3), "n2");
	bool		correction = PG_GETARG_BOOL(4);
	double		table[4];
	double		statistic,
				p_value;
	int			df;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (n1 == 0 || n2 == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be positive, got 0", n1 == 0 ? "n1" : "n2")));
	if (s1 > n1)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("successes1 must be at most n1 = " INT64_FORMAT ", got " INT64_FORMAT, n1, s1)));
	if (s2 > n2)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("successes2 must be at most n2 = " INT64_FORMAT ", got " INT64_FORMAT, n2, s2)));
	if ((s1 == 0 && s2 == 0) || (s1 == n1 && s2 == n2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the chi-square test needs at least one success and one failure in all, got %s",
						s1 == 0 ? "no successes" : "no failures"),
				 errdetail("An expected frequency of the table would be zero.")));

	table[0] = (double) s1;
	table[1] = (double) (n1 - s1);
	table[2] = (double) s2;
	table[3] = (double) (n2 - s2);
	ChiSquareTest(table, 2, 2, correction, &statistic, &df, &p_value);
	values[0] = Float8GetDatum(statistic);
	values[1] = Float8GetDatum(p_value);
	PG_RETURN_DATUM(MakeResultTuple(fcinfo, values, nulls));
}

PG_FUNCTION_INFO_V1(bandit_chi2_contingency);

/* Chi-square test of independence of an r x c table given as a 2-D array. */
Datum
bandit_chi2_contingency(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	bool		correction = PG_GETARG_BOOL(1);
	int			rows,
				cols;
	const int64 *cells;
	double	   *observed;
	double		statistic,
				p_value;
	int			df;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (ARR_ELEMTYPE(array) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("observed must be a bigint array")));
	if (ARR_NDIM(array) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("observed must be a two-dimensional array (rows x columns), got %d dimension%s",
						ARR_NDIM(array), ARR_NDIM(array) == 1 ? "" : "s")));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("observed must not contain NULL elements")));

	rows = ARR_DIMS(array)[0];
	cols = ARR_DIMS(array)[1];
	cells = (const int64 *) ARR_DATA_PTR(array);
	observed = palloc(sizeof(double) * rows * cols);
	for (int i = 0; i < rows * cols; i++)
	{
		if (cells[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("observed must not contain negative counts, got " INT64_FORMAT " in row %d, column %d",
							cells[i], i / cols + 1, i % cols + 1)));
		observed[i] = (double) cells[i];
	}

	ChiSquareTest(observed, rows, cols, correction, &statistic, &df, &p_value);
	pfree(observed);
	values[0] = Float8GetDatum(statistic);
	values[1] = Int32GetDatum(df);
	values[2] = Float8GetDatum(p_value);
	PG_RETURN_DATUM(MakeResultTuple(fcinfo, values, nulls));
}

PG_FUNCTION_INFO_V1(bandit_chisquare);

/*
 * Pearson's goodness-of-fit test of observed counts against expected ones
 * (NULL: equal), = scipy.stats.chisquare(observed, expected); the two must
 * sum alike, within a relative 1e-8, as scipy demands.
 */
Datum
bandit_chisquare(PG_FUNCTION_ARGS)
{
	int			k,
				k_expected = 0;
	double	   *observed,
			   *expected;
	double		total = 0,
				expected_total = 0,
				statistic = 0;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	observed = CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(0), "observed", &k);
	expected = PG_ARGISNULL(1) ? NULL : CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(1), "expected", &k_expected);
	if (k < 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("observed must have at least 2 categories, got %d", k)));
	if (expected != NULL && k_expected != k)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("expected has %d elements, observed %d", k_expected, k)));
	for (int i = 0; i < k; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		total += CheckRange(observed[i], 0, DBL_MAX, "an observed count");
		if (expected != NULL)
			expected_total += CheckPositive(expected[i], "an expected count");
	}
	if (!isfinite(total) || !isfinite(expected_total))
		StatisticOverflow("The total of the counts");
	if (expected != NULL && !(fabs(total - expected_total) <= 1e-8 * Max(total, expected_total)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observed counts sum to %s, expected ones to %s: they must agree",
						ShowDouble(total), ShowDouble(expected_total))));
	if (total == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observed must hold at least one count")));
	for (int i = 0; i < k; i++)
	{
		double		e = expected != NULL ? expected[i] : total / k;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		statistic += (observed[i] - e) * (observed[i] - e) / e;
	}
	if (!isfinite(statistic))
		StatisticOverflow("The chi-square statistic");
	values[0] = Float8GetDatum(statistic);
	values[1] = Float8GetDatum(ChiSquareSf(statistic, k - 1));
	PG_RETURN_DATUM(MakeResultTuple(fcinfo, values, nulls));
}
