/*
 * src/choice.c
 *
 * Selection aggregates: one row per arm in, the chosen arm out, by Thompson
 * sampling, UCB1, epsilon-greedy or softmax.  They draw from the session's
 * generator (bandit.set_seed makes them reproducible), so they run in the
 * leader only, without a combine function, and their state is internal.
 *
 * Thompson, epsilon-greedy and softmax keep constant memory per group: the
 * arm chosen so far, replaced as rows arrive (reservoir sampling).  UCB1's
 * score needs the total pulls N, known only after the last row, so it keeps
 * the rows of its group: O(arms) memory.
 */
#include "numeric.h"

#include "common/int.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include <gsl/gsl_randist.h>

/* A row UCB1 keeps until N is known; its name lives in ChoiceState.names. */
typedef struct UcbRow
{
	int64		pulls;
	double		mean;
	int			name_offset;
	int			name_length;
} UcbRow;

/* Marks a ChoiceState, so that a final function never reads another state. */
#define CHOICE_STATE_MAGIC 0x62636831

typedef struct ChoiceState
{
	uint32		magic;
	MemoryContext context;		/* the aggregate's: holds the state and the pick */
	char	   *pick;			/* the arm chosen so far (not terminated) */
	int			pick_length;
	int			pick_capacity;
	ArgMaxRun	run;			/* has a pick; its score (draw, mean, or softmax max mean) */
	double		param[1];		/* epsilon, temperature or c: the same on every row */
	bool		explore;		/* epsilon-greedy: this choice is uniformly random */
	double		weight;			/* softmax: sum of exp((mean - best) / temperature) */
	int64		total_pulls;	/* UCB1: N */
	UcbRow	   *rows;			/* UCB1: rows with pulls > 0 */
	int			nrows;
	int			rows_capacity;
	StringInfoData names;		/* UCB1: their arm names, end to end */
} ChoiceState;

/*
 * The state argument of a support function: only an aggregate's own call
 * may pass one (22023), and it must be a ChoiceState (XX001), so that a
 * crafted aggregate mixing support functions gets an error, not garbage.
 */
static ChoiceState *
CheckedChoiceState(FunctionCallInfo fcinfo, const char *function, MemoryContext *context)
{
	ChoiceState *state;

	if (!AggCheckCallContext(fcinfo, context))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s can only be called as part of an aggregate", function)));
	if (PG_ARGISNULL(0))
		return NULL;
	state = (ChoiceState *) PG_GETARG_POINTER(0);
	if (state->magic != CHOICE_STATE_MAGIC || state->pick_length < 0 ||
		state->pick_length > state->pick_capacity || state->nrows < 0 ||
		state->nrows > state->rows_capacity || (state->run.has_pick && state->pick == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s was given a state that is not a selection aggregate's", function)));
	return state;
}

/* The state, created in the aggregate's context on the first row. */
static ChoiceState *
GetChoiceState(FunctionCallInfo fcinfo, const char *function)
{
	MemoryContext context;
	ChoiceState *state = CheckedChoiceState(fcinfo, function, &context);

	if (state != NULL)
		return state;
	state = MemoryContextAllocZero(context, sizeof(ChoiceState));
	state->magic = CHOICE_STATE_MAGIC;
	state->context = context;
	state->param[0] = STATE_UNSET;
	return state;
}

/* Makes arm the pick, reusing the pick's buffer. */
static void
KeepArm(ChoiceState *state, const char *arm, int length)
{
	if (state->pick == NULL || length > state->pick_capacity)
	{
		if (state->pick != NULL)
			pfree(state->pick);
		state->pick_capacity = Max(length, 32);
		state->pick = MemoryContextAlloc(state->context, state->pick_capacity);
	}
	memcpy(state->pick, arm, length);
	state->pick_length = length;
}

/*
 * Offers an arm with its score: the largest score wins, and each of k tied
 * rows ends up the pick with probability 1/k (the j-th tied row replaces
 * the pick with probability 1/j).
 */
static void
Consider(ChoiceState *state, const char *arm, int length, double score)
{
	if (ArgMaxOffer(&state->run, score))
		KeepArm(state, arm, length);
}

/* A row with a NULL argument leaves the state (or its absence) as it was. */
#define SKIP_ROW() \
	do { \
		if (PG_ARGISNULL(0)) \
			PG_RETURN_NULL(); \
		PG_RETURN_DATUM(PG_GETARG_DATUM(0)); \
	} while (0)

PG_FUNCTION_INFO_V1(bandit_thompson_choice_accum);

/* Transition of thompson_choice(arm, alpha, beta): one Beta draw per row. */
Datum
bandit_thompson_choice_accum(PG_FUNCTION_ARGS)
{
	ChoiceState *state;
	text	   *arm;
	double		alpha,
				beta,
				draw;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		SKIP_ROW();
	state = GetChoiceState(fcinfo, "thompson_choice_accum");
	arm = PG_GETARG_TEXT_PP(1);
	alpha = CheckPositive(PG_GETARG_FLOAT8(2), "alpha");
	beta = CheckPositive(PG_GETARG_FLOAT8(3), "beta");
	draw = gsl_ran_beta(BanditRng(), alpha, beta);
	if (!(draw >= 0 && draw <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("thompson_choice: could not draw from Beta(%s, %s)", ShowDouble(alpha), ShowDouble(beta))));
	Consider(state, VARDATA_ANY(arm), VARSIZE_ANY_EXHDR(arm), draw);
	PG_RETURN_POINTER(state);
}

PG_FUNCTION_INFO_V1(bandit_epsilon_greedy_choice_accum);

/*
 * Transition of epsilon_greedy_choice(arm, mean_reward, epsilon).  Whether
 * to explore is drawn on the first row; exploring keeps a uniformly random
 * arm (every score tied), exploiting the best mean.
 */
Datum
bandit_epsilon_greedy_choice_accum(PG_FUNCTION_ARGS)
{
	ChoiceState *state;
	text	   *arm;
	double		mean,
				epsilon;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		SKIP_ROW();
	state = GetChoiceState(fcinfo, "epsilon_greedy_choice_accum");
	arm = PG_GETARG_TEXT_PP(1);
	mean = CheckFinite(PG_GETARG_FLOAT8(2), "mean_reward");
	epsilon = CheckRange(PG_GETARG_FLOAT8(3), 0, 1, "epsilon");
	if (state->param[0] == STATE_UNSET)
		state->explore = gsl_rng_uniform(BanditRng()) < epsilon;
	SetRowConstant(state->param, 0, epsilon, "epsilon_greedy_choice", "epsilon");
	Consider(state, VARDATA_ANY(arm), VARSIZE_ANY_EXHDR(arm), state->explore ? 0 : mean);
	PG_RETURN_POINTER(state);
}

PG_FUNCTION_INFO_V1(bandit_softmax_choice_accum);

/*
 * Transition of softmax_choice(arm, mean_reward, temperature): weighted
 * reservoir sampling.  Weights are exp((mean - best) / temperature) for the
 * largest mean so far, rescaled when it grows, so nothing overflows; row i
 * replaces the pick with probability w_i / (w_1 + ... + w_i), which leaves
 * each arm picked with probability w / sum of all w.
 */
Datum
bandit_softmax_choice_accum(PG_FUNCTION_ARGS)
{
	ChoiceState *state;
	text	   *arm;
	double		mean,
				temperature,
				w;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		SKIP_ROW();
	state = GetChoiceState(fcinfo, "softmax_choice_accum");
	arm = PG_GETARG_TEXT_PP(1);
	mean = CheckFinite(PG_GETARG_FLOAT8(2), "mean_reward");
	temperature = CheckPositive(PG_GETARG_FLOAT8(3), "temperature");
	SetRowConstant(state->param, 0, temperature, "softmax_choice", "temperature");
	if (!state->run.has_pick)
	{
		KeepArm(state, VARDATA_ANY(arm), VARSIZE_ANY_EXHDR(arm));
		state->run.has_pick = true;
		state->run.best = mean;
		state->weight = 1;
		PG_RETURN_POINTER(state);
	}
	if (mean > state->run.best)
	{
		state->weight *= exp((state->run.best - mean) / temperature);
		state->run.best = mean;
	}
	w = exp((mean - state->run.best) / temperature);
	state->weight += w;
	if (gsl_rng_uniform(BanditRng()) * state->weight < w)
		KeepArm(state, VARDATA_ANY(arm), VARSIZE_ANY_EXHDR(arm));
	PG_RETURN_POINTER(state);
}

PG_FUNCTION_INFO_V1(bandit_ucb1_choice_accum);

/*
 * Transition of ucb1_choice(arm, pulls, mean_reward [, c]).  Unpulled arms
 * compete among themselves (all tied) and win outright; the others are kept
 * until N is known.  An unpulled arm may have a NULL mean.
 */
Datum
bandit_ucb1_choice_accum(PG_FUNCTION_ARGS)
{
	ChoiceState *state;
	text	   *arm;
	int64		pulls;
	double		mean = 0,
				c = 1;
	const char *name;
	int			length;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || (PG_NARGS() > 4 && PG_ARGISNULL(4)))
		SKIP_ROW();
	pulls = CheckCount(PG_GETARG_INT64(2), "pulls");
	if (PG_ARGISNULL(3))
	{
		if (pulls > 0)
			SKIP_ROW();
	}
	else
		mean = CheckFinite(PG_GETARG_FLOAT8(3), "mean_reward");
	state = GetChoiceState(fcinfo, "ucb1_choice_accum");
	if (PG_NARGS() > 4)
	{
		c = PG_GETARG_FLOAT8(4);
		if (!(isfinite(c) && c >= 0))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("c must be a non-negative finite number, got %s", ShowDouble(c))));
	}
	SetRowConstant(state->param, 0, c, "ucb1_choice", "c");
	if (pg_add_s64_overflow(state->total_pulls, pulls, &state->total_pulls))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ucb1_choice: the total of pulls is out of range for bigint")));

	arm = PG_GETARG_TEXT_PP(1);
	name = VARDATA_ANY(arm);
	length = VARSIZE_ANY_EXHDR(arm);
	if (pulls == 0)
	{
		Consider(state, name, length, 0);
		PG_RETURN_POINTER(state);
	}
	if (state->run.has_pick)
		PG_RETURN_POINTER(state);	/* an unpulled arm wins anyway */

	if (state->nrows == state->rows_capacity)
	{
		MemoryContext old = MemoryContextSwitchTo(state->context);

		if (state->rows == NULL)
		{
			state->rows_capacity = 16;
			state->rows = palloc(sizeof(UcbRow) * state->rows_capacity);
			initStringInfo(&state->names);
		}
		else
		{
			/* as its names, the rows are kept within one allocation's 1 GB */
			if ((Size) state->rows_capacity * 2 * sizeof(UcbRow) > MaxAllocSize)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("ucb1_choice keeps at most %d pulled rows per group",
								state->rows_capacity)));
			state->rows_capacity *= 2;
			state->rows = repalloc(state->rows, sizeof(UcbRow) * state->rows_capacity);
		}
		MemoryContextSwitchTo(old);
	}
	state->rows[state->nrows].pulls = pulls;
	state->rows[state->nrows].mean = mean;
	state->rows[state->nrows].name_offset = state->names.len;
	state->rows[state->nrows].name_length = length;
	state->nrows++;
	appendBinaryStringInfo(&state->names, name, length);
	PG_RETURN_POINTER(state);
}

PG_FUNCTION_INFO_V1(bandit_ucb1_choice_final);

/* The unpulled arm if any, else argmax mean + c sqrt(2 ln N / n). */
Datum
bandit_ucb1_choice_final(PG_FUNCTION_ARGS)
{
	MemoryContext context;
	ChoiceState *state = CheckedChoiceState(fcinfo, "ucb1_choice_final", &context);
	ChoiceState best;
	double		log_n;

	if (state == NULL)
		PG_RETURN_NULL();
	if (state->run.has_pick)
		PG_RETURN_TEXT_P(cstring_to_text_with_len(state->pick, state->pick_length));
	if (state->nrows == 0)
		PG_RETURN_NULL();

	/* a scratch state, so that the final function can run again (window frames) */
	memset(&best, 0, sizeof(best));
	best.context = CurrentMemoryContext;
	log_n = log((double) state->total_pulls);
	for (int i = 0; i < state->nrows; i++)
	{
		const UcbRow *row = &state->rows[i];
		double		score = row->mean + state->param[0] * sqrt(2 * log_n / (double) row->pulls);

		if (!isfinite(score))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("ucb1_choice: the score of an arm overflows; c = %s is too large",
							ShowDouble(state->param[0]))));
		Consider(&best, state->names.data + row->name_offset, row->name_length, score);
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(best.pick, best.pick_length));
}

PG_FUNCTION_INFO_V1(bandit_choice_final);

/* The arm chosen: final of thompson, epsilon-greedy and softmax. */
Datum
bandit_choice_final(PG_FUNCTION_ARGS)
{
	MemoryContext context;
	ChoiceState *state = CheckedChoiceState(fcinfo, "choice_final", &context);

	if (state == NULL || !state->run.has_pick)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(state->pick, state->pick_length));
}
