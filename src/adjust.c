/*
 * src/adjust.c
 *
 * The ensemble choice of the policy adjustment engine: several recommenders
 * each put a weight (times an optional score) on an action, and the action
 * with the largest total wins.  The aggregate state, bandit.ensemble_tally,
 * is a small varlena type (text and binary I/O, so Citus or postgres_fdw can
 * ship it) holding one (action, total) entry per distinct action, sorted by
 * action bytes: memory grows with the actions, never with the rows.  Totals
 * are double-double sums, so the winner does not depend on the order in
 * which rows arrive or on how a parallel plan splits them.
 */
#include "bandit.h"
#include "numeric.h"

#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/json.h"

/* One action's total, hi + lo with |lo| <= ulp(hi) / 2; its name in the names area. */
typedef struct TallyEntry
{
	double		hi;
	double		lo;
	uint32		offset;
	uint32		length;
} TallyEntry;

typedef struct Tally
{
	int32		vl_len_;
	int32		count;
	TallyEntry	entries[FLEXIBLE_ARRAY_MEMBER];	/* sorted by name, then the names */
} Tally;

#define TallyNames(t) ((char *) &(t)->entries[(t)->count])
#define PG_GETARG_TALLY_P(n) CheckTallyShape((Tally *) PG_DETOAST_DATUM(PG_GETARG_DATUM(n)))

/*
 * A tally's header against its size, so that no entry is read past its end
 * (XX001 if not): every tally is built here or checked by the input
 * functions, but the support functions can be handed any datum of the type.
 * Names are checked where they are read (TallyName).
 */
static Tally *
CheckTallyShape(Tally *t)
{
	Size		size = VARSIZE(t);

	if (size < offsetof(Tally, entries) || t->count < 0 ||
		(size - offsetof(Tally, entries)) / sizeof(TallyEntry) < (Size) t->count)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt ensemble tally: %d entries in %zu bytes", t->count, size)));
	return t;
}

/* The name of entry i, checked to lie inside the tally (XX001 if not). */
static const char *
TallyName(const Tally *t, int i)
{
	Size		names_size = VARSIZE(t) - ((char *) TallyNames(t) - (char *) t);
	const TallyEntry *e = &t->entries[i];

	if (e->offset > names_size || e->length > names_size - e->offset)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt ensemble tally: action %d lies outside the tally", i + 1)));
	return TallyNames(t) + e->offset;
}

/* Adds to an action's total (double-double); a total that overflows is an error. */
static inline void
AddToTotal(double *hi, double *lo, double qhi, double qlo)
{
	DoubleDoubleAdd(hi, lo, qhi, qlo);
	if (!isfinite(*hi))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ensemble_choice: the total of an action overflowed")));
}

/* An action name and its total, while a tally is being built. */
typedef struct TallyItem
{
	const char *name;
	uint32		length;
	double		hi;
	double		lo;
} TallyItem;

/* Byte order of action names (C collation): shorter first on a common prefix. */
static inline int
CompareNames(const char *a, uint32 alen, const char *b, uint32 blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* The index of name in the tally, or -(insertion point) - 1. */
static int
FindAction(const Tally *t, const char *name, uint32 length)
{
	int			low = 0,
				high = t->count - 1;

	while (low <= high)
	{
		int			mid = low + (high - low) / 2;
		int			c = CompareNames(TallyName(t, mid), t->entries[mid].length, name, length);

		if (c == 0)
			return mid;
		if (c < 0)
			low = mid + 1;
		else
			high = mid - 1;
	}
	return -low - 1;
}

/* A new tally holding items, which are sorted by name and distinct. */
static Tally *
BuildTally(const TallyItem *items, int count)
{
	Size		names_size = 0;
	Size		size;
	Tally	   *t;
	char	   *names;
	uint32		offset = 0;

	for (int i = 0; i < count; i++)
		names_size += items[i].length;
	size = offsetof(Tally, entries) + count * sizeof(TallyEntry) + names_size;
	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ensemble_choice: too many or too long actions for one tally")));
	t = palloc(size);
	SET_VARSIZE(t, size);
	t->count = count;
	names = TallyNames(t);
	for (int i = 0; i < count; i++)
	{
		t->entries[i].hi = items[i].hi;
		t->entries[i].lo = items[i].lo;
		t->entries[i].offset = offset;
		t->entries[i].length = items[i].length;
		memcpy(names + offset, items[i].name, items[i].length);
		offset += items[i].length;
	}
	return t;
}

/* The entries of a tally as items (names pointing into it). */
static TallyItem *
TallyItems(const Tally *t, int extra)
{
	TallyItem  *items = palloc((t->count + extra) * sizeof(TallyItem));

	for (int i = 0; i < t->count; i++)
	{
		items[i].name = TallyName(t, i);
		items[i].length = t->entries[i].length;
		items[i].hi = t->entries[i].hi;
		items[i].lo = t->entries[i].lo;
	}
	return items;
}

/* Rejects what no aggregation could have produced: it may come from anywhere. */
static Tally *
CheckedTally(TallyItem *items, int count)
{
	for (int i = 0; i < count; i++)
	{
		if (!isfinite(items[i].hi) || !isfinite(items[i].lo) || items[i].hi + items[i].lo != items[i].hi)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid ensemble tally: totals must be finite, hi + lo rounding to hi")));
		if (i > 0 && CompareNames(items[i - 1].name, items[i - 1].length, items[i].name, items[i].length) >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid ensemble tally: actions must be distinct and sorted bytewise")));
		/* -0 is 0: JSON text has no negative zero */
		items[i].hi += 0.0;
		items[i].lo += 0.0;
	}
	return BuildTally(items, count);
}

/* Orders items by name for qsort. */
static int
CompareItems(const void *a, const void *b)
{
	const TallyItem *x = a;
	const TallyItem *y = b;

	return CompareNames(x->name, x->length, y->name, y->length);
}

PG_FUNCTION_INFO_V1(bandit_ensemble_tally_in);

/* Text form: a JSON object {"action": [hi, lo], ...}; '{}' is the empty tally. */
Datum
bandit_ensemble_tally_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str)));
	int			capacity = JB_ROOT_COUNT(jb) + 1;
	TallyItem  *items = palloc(capacity * sizeof(TallyItem));
	int			count = 0;
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken token;

	if (!JB_ROOT_IS_OBJECT(jb) || JsonbIteratorNext(&it, &v, false) != WJB_BEGIN_OBJECT)
		goto bad;
	while ((token = JsonbIteratorNext(&it, &v, false)) == WJB_KEY)
	{
		double		parts[2];

		if (count >= capacity)
			goto bad;
		items[count].name = v.val.string.val;
		items[count].length = v.val.string.len;
		if (JsonbIteratorNext(&it, &v, false) != WJB_BEGIN_ARRAY)
			goto bad;
		for (int i = 0; i < 2; i++)
		{
			if (JsonbIteratorNext(&it, &v, false) != WJB_ELEM || v.type != jbvNumeric)
				goto bad;
			parts[i] = JsonbNumberValue(&v, "a total of an ensemble tally");
		}
		if (JsonbIteratorNext(&it, &v, false) != WJB_END_ARRAY)
			goto bad;
		items[count].hi = parts[0];
		items[count].lo = parts[1];
		count++;
	}
	if (token != WJB_END_OBJECT)
		goto bad;
	qsort(items, count, sizeof(TallyItem), CompareItems);
	PG_RETURN_POINTER(CheckedTally(items, count));

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type bandit.ensemble_tally: \"%s\"", str),
			 errhint("A tally is a JSON object of [high, low] totals, e.g. {\"a\": [0.8, 0], \"b\": [0.2, 0]}.")));
	pg_unreachable();
}

PG_FUNCTION_INFO_V1(bandit_ensemble_tally_out);

/* JSON object in action byte order, shortest exact decimals: round-trips bit for bit. */
Datum
bandit_ensemble_tally_out(PG_FUNCTION_ARGS)
{
	Tally	   *t = PG_GETARG_TALLY_P(0);
	StringInfoData buf;
	char		number[DOUBLE_SHORTEST_DECIMAL_LEN];

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < t->count; i++)
	{
		const TallyEntry *e = &t->entries[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, pnstrdup(TallyName(t, i), e->length));
		double_to_shortest_decimal_buf(e->hi, number);
		appendStringInfo(&buf, ": [%s, ", number);
		double_to_shortest_decimal_buf(e->lo, number);
		appendStringInfo(&buf, "%s]", number);
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(bandit_ensemble_tally_send);

/* Binary form: count, then per action its name (length, bytes), hi and lo. */
Datum
bandit_ensemble_tally_send(PG_FUNCTION_ARGS)
{
	Tally	   *t = PG_GETARG_TALLY_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, t->count);
	for (int i = 0; i < t->count; i++)
	{
		const TallyEntry *e = &t->entries[i];

		pq_sendint32(&buf, e->length);
		pq_sendbytes(&buf, TallyName(t, i), e->length);
		pq_sendfloat8(&buf, e->hi);
		pq_sendfloat8(&buf, e->lo);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(bandit_ensemble_tally_recv);

/*
 * Binary input, checked like text input: lengths against the message, names
 * in the database encoding without NUL, order, totals.
 */
Datum
bandit_ensemble_tally_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		count = pq_getmsgint(buf, 4);
	TallyItem  *items;

	/* every entry takes at least 20 bytes of the message */
	if (count < 0 || count > (buf->len - buf->cursor) / 20)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary ensemble tally: bad count %d", count)));
	items = palloc(Max(count, 1) * sizeof(TallyItem));
	for (int i = 0; i < count; i++)
	{
		int32		length = pq_getmsgint(buf, 4);

		if (length < 0 || length > buf->len - buf->cursor)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary ensemble tally: bad action length %d", length)));
		items[i].length = length;
		items[i].name = pq_getmsgbytes(buf, length);
		/* text of the database encoding, as the text input gets (22021) */
		(void) pg_verify_mbstr(GetDatabaseEncoding(), items[i].name, length, false);
		items[i].hi = pq_getmsgfloat8(buf);
		items[i].lo = pq_getmsgfloat8(buf);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_POINTER(CheckedTally(items, count));
}

PG_FUNCTION_INFO_V1(bandit_ensemble_accum);

/*
 * Transition of ensemble_choice(action, weight [, score]): adds weight
 * (times score) to the action's total.  A known action is updated in place
 * (the state is ours inside an aggregate); a new one makes a new tally,
 * which the executor copies into the aggregate's memory.
 */
Datum
bandit_ensemble_accum(PG_FUNCTION_ARGS)
{
	Tally	   *t = PG_GETARG_TALLY_P(0);
	text	   *action = PG_GETARG_TEXT_PP(1);
	double		weight = PG_GETARG_FLOAT8(2);
	volatile double term;		/* rounded to float8 as SQL's weight * score, never fused */
	int			found;

	if (!isfinite(weight) || weight < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ensemble_choice: weight must be a finite number >= 0, got %s", ShowDouble(weight))));
	term = weight;
	if (PG_NARGS() > 3)
		term = weight * CheckFinite(PG_GETARG_FLOAT8(3), "ensemble_choice: score");
	if (!isfinite(term))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ensemble_choice: weight * score overflowed")));
	found = FindAction(t, VARDATA_ANY(action), VARSIZE_ANY_EXHDR(action));
	if (found >= 0)
	{
		if (!AggCheckCallContext(fcinfo, NULL))
			t = (Tally *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(0));
		AddToTotal(&t->entries[found].hi, &t->entries[found].lo, term, 0);
		PG_RETURN_POINTER(t);
	}
	else
	{
		int			at = -found - 1;
		TallyItem  *items = TallyItems(t, 1);

		memmove(&items[at + 1], &items[at], (t->count - at) * sizeof(TallyItem));
		items[at].name = VARDATA_ANY(action);
		items[at].length = VARSIZE_ANY_EXHDR(action);
		items[at].hi = term + 0.0;	/* -0 is 0, as in CheckedTally */
		items[at].lo = 0;
		PG_RETURN_POINTER(BuildTally(items, t->count + 1));
	}
}

PG_FUNCTION_INFO_V1(bandit_ensemble_combine);

/* Merges two tallies (sorted merge, totals added in double-double). */
Datum
bandit_ensemble_combine(PG_FUNCTION_ARGS)
{
	Tally	   *a = PG_GETARG_TALLY_P(0);
	Tally	   *b = PG_GETARG_TALLY_P(1);
	TallyItem  *x = TallyItems(a, 0);
	TallyItem  *y = TallyItems(b, 0);
	TallyItem  *merged = palloc(Max(a->count + b->count, 1) * sizeof(TallyItem));
	int			i = 0,
				j = 0,
				n = 0;

	while (i < a->count || j < b->count)
	{
		int			c = i == a->count ? 1 : j == b->count ? -1 :
			CompareNames(x[i].name, x[i].length, y[j].name, y[j].length);

		if (c < 0)
			merged[n++] = x[i++];
		else if (c > 0)
			merged[n++] = y[j++];
		else
		{
			merged[n] = x[i++];
			AddToTotal(&merged[n].hi, &merged[n].lo, y[j].hi, y[j].lo);
			j++;
			n++;
		}
	}
	PG_RETURN_POINTER(BuildTally(merged, n));
}

PG_FUNCTION_INFO_V1(bandit_ensemble_winner);

/*
 * Final of ensemble_choice: the action of the largest total; among equal
 * totals the first in byte order (entries are sorted).  No rows: NULL.
 */
Datum
bandit_ensemble_winner(PG_FUNCTION_ARGS)
{
	Tally	   *t = PG_GETARG_TALLY_P(0);
	int			best = 0;

	if (t->count == 0)
		PG_RETURN_NULL();
	for (int i = 1; i < t->count; i++)
	{
		const TallyEntry *e = &t->entries[i];

		if (e->hi > t->entries[best].hi || (e->hi == t->entries[best].hi && e->lo > t->entries[best].lo))
			best = i;
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(TallyName(t, best), t->entries[best].length));
}
