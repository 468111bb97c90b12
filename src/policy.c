/*
 * src/policy.c
 *
 * The hot path of table-backed policies: choose an arm and log the decision,
 * credit rewards, rank arms, and LinUCB's linear algebra.  Everything else
 * about policies (creation, arms, modes, snapshots) is SQL in policy.sql.
 *
 * Statements run through SPI with plans prepared once per backend, under
 * SpiBegin's search path (pg_catalog only): the plan cache re-analyzes a
 * saved plan under the current search path, so a caller's must never be in
 * force.
 */
#include "linucb.h"
#include "numeric.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/xid8.h"

#include <gsl/gsl_randist.h>

typedef enum Algorithm
{
	ALG_THOMPSON, ALG_UCB1, ALG_EPSILON_GREEDY, ALG_SOFTMAX, ALG_LINUCB, ALG_LINTS
} Algorithm;

/* LinUCB and LinTS share the linear state (linucb.c) and its learning. */
#define IS_LINEAR(policy) ((policy)->algorithm == ALG_LINUCB || (policy)->algorithm == ALG_LINTS)

typedef enum Mode
{
	MODE_ACTIVE, MODE_SHADOW, MODE_OFF
} PolicyMode;

/* A policy's row, with its parameters parsed. */
typedef struct Policy
{
	char	   *name;
	Algorithm	algorithm;
	PolicyMode	mode;
	char	   *default_arm;
	double		prior_alpha,
				prior_beta,
				epsilon,
				epsilon_decay,
				min_epsilon,
				c,
				temperature,
				discount,
				alpha,
				v,
				budget_smoothing;
	int			dim;
	int64		decisions;		/* made before this one (epsilon decay) */
	/* what keys its arms in ArmCache */
	int64		arms_stamp;
	Oid			arm_filenode;
	FullTransactionId snapshot_xmin;	/* of the snapshot that read the row */
} Policy;

/* budget_smoothing of a policy made before it had one */
#define BUDGET_SMOOTHING 0.1

/* An arm as choose and recommend see it. */
typedef struct Arm
{
	char	   *name;
	double		alpha,
				beta;
	int64		pulls;
	double		weight,
				mean;
	const double *a_inv,		/* LinUCB: dim x dim, row-major */
			   *theta;			/* LinUCB: A^-1 b */
} Arm;

/* What a choice needs from the context: budget and features. */
typedef struct Context
{
	bool		has_max_cost,
				has_max_latency;
	double		max_cost,
				max_latency;
	double	   *features;		/* LinUCB only */
	/*
	 * Context key "arms" (only these are eligible) or "exclude" (these are
	 * not): has_list, and the names, sorted and distinct.
	 */
	bool		has_list,
				list_excludes;
	int			nlisted;
	char	  **listed;
} Context;

static SPIPlanPtr plan_policy,
			plan_canary,
			plan_active_arm,
			plan_arm_changes,
			plan_insert_decision,
			plan_reward_decision,
			plan_decision_state,
			plan_update_arm,
			plan_recorded_decision,
			plan_decision_order,
			plan_count_decision;

/* Prepares this module's plans once per backend (inside SPI). */
static void
PreparePlans(void)
{
	Oid			text1[] = {TEXTOID};
	Oid			text2[] = {TEXTOID, TEXTOID};
	Oid			insert_types[] = {TEXTOID, TEXTOID, FLOAT8OID, TEXTOID, FLOAT8OID, TEXTOID, JSONBOID, TEXTOID};
	Oid			reward_types[] = {INT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID};
	Oid			int8_1[] = {INT8OID};
	Oid			int8_array[] = {INT8ARRAYOID};
	Oid			update_types[] = {TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID};
	Oid			changes_types[] = {TEXTOID, XID8OID};

	LinUcbPreparePlans();
	/* the last one: a failure half way (say, before ALTER EXTENSION UPDATE) prepares all again */
	if (plan_update_arm != NULL)
		return;
	plan_policy = PrepareSafely(
		"SELECT algorithm, params, mode, default_arm, arms_stamp,"
		"  pg_catalog.pg_relation_filenode('bandit.arm'::pg_catalog.regclass),"
		"  pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())"
		"  FROM bandit.policy WHERE name = $1", 1, text1);
	/* a canary serves only through an active candidate that still exists */
	plan_canary = PrepareSafely(
		"SELECT k.candidate, k.share FROM bandit.canary k JOIN bandit.policy c ON c.name = k.candidate"
		"  WHERE k.policy = $1 AND c.mode = 'active'", 1, text1);
	plan_active_arm = PrepareSafely(
		"SELECT FROM bandit.arm WHERE policy = $1 AND arm = $2 AND NOT retired", 2, text2);
	/* the arms written by a transaction from $2 on (see ArmCache) */
	plan_arm_changes = PrepareSafely(
		"SELECT arm, alpha, beta, pulls, weight, mean_reward, cost, latency_ms, retired"
		"  FROM bandit.arm WHERE policy = $1 AND changed_xid >= $2", 2, changes_types);
	plan_insert_decision = PrepareSafely(
		"INSERT INTO bandit.decision (policy, arm, propensity, policy_arm, policy_propensity, mode, context, canary_of)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id", 8, insert_types);
	/*
	 * A batched policy's reward is only recorded (to_learn, for
	 * bandit.learn_pending), stamped with the time of the call so that the
	 * rewards of one transaction are learned in the order they were made.
	 */
	plan_reward_decision = PrepareSafely(
		"UPDATE bandit.decision d SET reward = $2, cost = $3, latency_ms = $4,"
		"  rewarded_at = CASE WHEN p.params->>'learning' = 'batched' THEN clock_timestamp() ELSE now() END,"
		"  to_learn = CASE WHEN p.params->>'learning' = 'batched' THEN true END"
		" FROM bandit.policy p"
		" WHERE d.id = $1 AND d.reward IS NULL AND p.name = d.policy"
		" RETURNING d.policy, d.arm, d.context, d.to_learn, d.canary_of", 4, reward_types);
	plan_recorded_decision = PrepareSafely(
		"SELECT policy, arm, context, reward, cost, latency_ms FROM bandit.decision WHERE id = $1 AND reward IS NOT NULL",
		1, int8_1);
	plan_decision_order = PrepareSafely(
		"SELECT id FROM bandit.decision WHERE id = ANY ($1) ORDER BY policy, arm, id", 1, int8_array);
	plan_count_decision = PrepareSafely(
		"UPDATE bandit.policy SET decisions = decisions + 1 WHERE name = $1 RETURNING decisions - 1", 1, text1);
	plan_decision_state = PrepareSafely(
		"SELECT coalesce(canary_of, policy), expired, rewarded_at::text FROM bandit.decision WHERE id = $1", 1, int8_1);

	/*
	 * One statement: the arm's row lock is taken here and held only until
	 * commit.  The arithmetic is bandit.learn_step's, in C, which checks
	 * the new state before it is written (float8 operators in SQL would
	 * raise underflow errors on harmless decays and strand the arm).  $6 is
	 * the discount; alpha and beta follow rewards in [0, 1] ($7).  The
	 * observed cost and latency ($8, $9; NULL: not observed) move the
	 * budget estimates by budget_smoothing ($10); a decision's reward ($11)
	 * counts in rewarded and reward_sum.
	 */
	plan_update_arm = PrepareSafely(
		"UPDATE bandit.arm SET (alpha, beta, weight, mean_reward, m2) ="
		"  (SELECT s[1], s[2], s[3], s[4], s[5] FROM"
		"   (SELECT bandit.learn_step(alpha, beta, weight, mean_reward, m2, $3, $4, $5, $6, $7)) t(s)),"
		"  cost = bandit.learn_budget(cost, $8, $10), latency_ms = bandit.learn_budget(latency_ms, $9, $10),"
		"  rewarded = rewarded + CASE WHEN $11 THEN 1 ELSE 0 END,"
		"  reward_sum = CASE WHEN $11 THEN reward_sum + $3 ELSE reward_sum END,"
		"  pulls = pulls + 1, last_update = now()"
		" WHERE policy = $1 AND arm = $2", 11, update_types);
}

static double
ParamOrDefault(Jsonb *params, const char *key, double fallback)
{
	double		value;

	return JsonbObjectNumber(params, key, "parameter", &value) ? value : fallback;
}

static char *
TupleText(HeapTuple tuple, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static double
TupleFloat8(HeapTuple tuple, TupleDesc desc, int column, double fallback)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);

	return isnull ? fallback : DatumGetFloat8(d);
}

/*
 * Reads a policy for its application's calls (inside SPI): an unknown
 * policy is 42704, a caller without use on guard 42501 (guard is the policy
 * itself, or the one whose canary the policy is: the application holds use
 * on that one only).
 */
static void
LoadPolicyAs(const char *name, const char *guard, Policy *policy)
{
	Datum		arg = CStringGetTextDatum(name);
	HeapTuple	tuple;
	TupleDesc	desc;
	char	   *algorithm,
			   *mode;
	Jsonb	   *params;
	bool		isnull;

	RequirePrivilege("policy", guard, "use", false);
	if (SPI_execute_plan(plan_policy, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading policy \"%s\" failed", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("policy \"%s\" does not exist", name)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	policy->name = pstrdup(name);
	algorithm = TupleText(tuple, desc, 1);
	params = DatumGetJsonbP(SPI_getbinval(tuple, desc, 2, &isnull));
	mode = TupleText(tuple, desc, 3);
	policy->default_arm = TupleText(tuple, desc, 4);
	policy->arms_stamp = DatumGetInt64(SPI_getbinval(tuple, desc, 5, &isnull));
	policy->arm_filenode = DatumGetObjectId(SPI_getbinval(tuple, desc, 6, &isnull));
	policy->snapshot_xmin = DatumGetFullTransactionId(SPI_getbinval(tuple, desc, 7, &isnull));

	if (strcmp(algorithm, "thompson") == 0)
		policy->algorithm = ALG_THOMPSON;
	else if (strcmp(algorithm, "ucb1") == 0)
		policy->algorithm = ALG_UCB1;
	else if (strcmp(algorithm, "epsilon_greedy") == 0)
		policy->algorithm = ALG_EPSILON_GREEDY;
	else if (strcmp(algorithm, "softmax") == 0)
		policy->algorithm = ALG_SOFTMAX;
	else if (strcmp(algorithm, "lints") == 0)
		policy->algorithm = ALG_LINTS;
	else
		policy->algorithm = ALG_LINUCB;
	policy->mode = strcmp(mode, "active") == 0 ? MODE_ACTIVE :
		strcmp(mode, "shadow") == 0 ? MODE_SHADOW : MODE_OFF;
	policy->prior_alpha = ParamOrDefault(params, "prior_alpha", 1);
	policy->prior_beta = ParamOrDefault(params, "prior_beta", 1);
	policy->epsilon = ParamOrDefault(params, "epsilon", 0.1);
	policy->epsilon_decay = ParamOrDefault(params, "epsilon_decay", 1);
	policy->min_epsilon = ParamOrDefault(params, "min_epsilon", 0);
	policy->c = ParamOrDefault(params, "c", 1);
	policy->temperature = ParamOrDefault(params, "temperature", 0.1);
	policy->discount = ParamOrDefault(params, "discount", 1);
	policy->alpha = ParamOrDefault(params, "alpha", 1);
	policy->v = ParamOrDefault(params, "v", 1);
	policy->budget_smoothing = ParamOrDefault(params, "budget_smoothing", BUDGET_SMOOTHING);
	policy->decisions = 0;
	if (IS_LINEAR(policy))
	{
		double		dim = ParamOrDefault(params, "dim", 0);

		/* create_policy checked it: anything else was written by hand */
		if (!(dim >= 1 && dim <= LINUCB_MAX_DIM && dim == floor(dim)))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("policy \"%s\" has dim %s; LinUCB takes an integer from 1 to %d",
							name, ShowDouble(dim), LINUCB_MAX_DIM)));
		policy->dim = (int) dim;
	}
	else
		policy->dim = 0;
}

static void
LoadPolicy(const char *name, Policy *policy)
{
	LoadPolicyAs(name, name, policy);
}

/*
 * Counts a decision of an epsilon-greedy policy whose epsilon decays, and
 * returns how many came before.  Only such policies pay for this update of
 * their policy row, which serializes their concurrent chooses at commit.
 */
static void
CountDecision(Policy *policy)
{
	Datum		arg = CStringGetTextDatum(policy->name);
	bool		isnull;

	if (SPI_execute_plan(plan_count_decision, &arg, NULL, false, 1) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "counting a decision of policy \"%s\" failed", policy->name);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("policy \"%s\" does not exist", policy->name)));
	policy->decisions = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The arms of a policy as this backend last read them, so that a choose
 * over thousands of arms reads only those written since.  Every write of an
 * arm row stamps it with its top transaction (changed_xid, set by the
 * trigger function bandit.arm_written); a refresh reads the rows stamped by
 * a transaction at or after the xmin of the snapshot that last read the
 * policy: any write the cache has not seen was not visible to that snapshot,
 * so its transaction was still running or not yet begun.  Deleted arms leave
 * no stamp, nor does the old key of an arm renamed or moved by hand: such
 * writes renew the policy's arms_stamp (the trigger bandit.arms_deleted and
 * bandit.arm_written itself), and the cache is keyed by that stamp (not by
 * the row's version, which a decaying epsilon changes on every choose) and by
 * the arm table's file node (TRUNCATE, VACUUM FULL).  A policy made again
 * under its name has a new stamp.
 *
 * What a transaction's own writes showed the cache is not committed yet: an
 * entry refreshed after this backend wrote arms in its transaction is
 * dropped when that transaction (or the subtransaction) ends, whether it
 * commits, aborts or is prepared.  A
 * REPEATABLE READ or SERIALIZABLE transaction may run on an older snapshot
 * than the cache's (SET TRANSACTION SNAPSHOT): it reads the arms afresh once.
 */
#define ARM_CACHE_POLICIES 8
#define ARM_CACHE_MAX_ARMS 200000

typedef struct CachedArm
{
	char	   *name;
	double		alpha,
				beta,
				weight,
				mean,
				cost,			/* NaN: no estimate */
				latency;
	int64		pulls;
	bool		retired;
} CachedArm;

typedef struct ArmCache
{
	char	   *policy;			/* NULL: unused */
	bool		valid;			/* false while being refreshed, and after an abort */
	int64		arms_stamp;
	Oid			arm_filenode;
	FullTransactionId horizon;	/* read again the arms written from here on */
	LocalTransactionId refreshed_in;	/* the transaction that last refreshed it */
	bool		saw_own_writes; /* refreshed after its transaction wrote arms */
	int			narms,
				capacity;
	CachedArm  *arms;			/* by name, in byte order (COLLATE "C") */
	MemoryContext context;
	uint64		used;
} ArmCache;

static ArmCache arm_cache[ARM_CACHE_POLICIES];
static uint64 arm_cache_clock = 0;
static bool arm_cache_callbacks = false;
static bool arms_written = false;	/* by this transaction, in this backend */

/* Drops the entries that saw this (sub)transaction's own writes. */
static void
ArmCacheForgetOwnWrites(void)
{
	for (int k = 0; k < ARM_CACHE_POLICIES; k++)
		if (arm_cache[k].saw_own_writes)
			arm_cache[k].valid = false;
}

static void
ArmCacheXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		if (arms_written)
			ArmCacheForgetOwnWrites();
		arms_written = false;
	}
}

static void
ArmCacheSubXactCallback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && arms_written)
		ArmCacheForgetOwnWrites();
}

/* Called by the trigger on every arm row this backend writes. */
static void
ArmCacheNoteWrite(void)
{
	if (!arm_cache_callbacks)
	{
		RegisterXactCallback(ArmCacheXactCallback, NULL);
		RegisterSubXactCallback(ArmCacheSubXactCallback, NULL);
		arm_cache_callbacks = true;
	}
	arms_written = true;
}

static int
CompareCachedArms(const void *left, const void *right)
{
	return strcmp(((const CachedArm *) left)->name, ((const CachedArm *) right)->name);
}

/* The policy's entry, emptied and keyed afresh unless its key still holds. */
static ArmCache *
ArmCacheEntry(const Policy *policy)
{
	ArmCache   *victim = &arm_cache[0];
	int			cached = 0;
	for (int k = 0; k < ARM_CACHE_POLICIES; k++)
	{
		ArmCache   *entry = &arm_cache[k];

		if (entry->policy != NULL && strcmp(entry->policy, policy->name) == 0)
		{
			victim = entry;
			break;
		}
		if (entry->used < victim->used)
			victim = entry;
	}
	victim->used = ++arm_cache_clock;
	if (victim->policy != NULL && victim->valid && strcmp(victim->policy, policy->name) == 0 &&
		victim->arms_stamp == policy->arms_stamp && victim->arm_filenode == policy->arm_filenode &&
		(!IsolationUsesXactSnapshot() || victim->refreshed_in == BanditLocalTransactionId()))
		return victim;

	/* a large catalog pushes out the others rather than grow without bound */
	for (int k = 0; k < ARM_CACHE_POLICIES; k++)
		if (&arm_cache[k] != victim && arm_cache[k].policy != NULL)
			cached += arm_cache[k].narms;
	for (int k = 0; k < ARM_CACHE_POLICIES && cached > ARM_CACHE_MAX_ARMS / 2; k++)
		if (&arm_cache[k] != victim && arm_cache[k].policy != NULL)
		{
			cached -= arm_cache[k].narms;
			arm_cache[k].policy = NULL;
			arm_cache[k].narms = 0;
			MemoryContextReset(arm_cache[k].context);
		}
	if (victim->context == NULL)
		victim->context = AllocSetContextCreate(TopMemoryContext, "bandit arms", ALLOCSET_DEFAULT_SIZES);
	/* no name into freed memory, should the copy fail */
	victim->policy = NULL;
	MemoryContextReset(victim->context);
	victim->policy = MemoryContextStrdup(victim->context, policy->name);
	victim->arms_stamp = policy->arms_stamp;
	victim->arm_filenode = policy->arm_filenode;
	victim->horizon = InvalidFullTransactionId;	/* every arm */
	victim->narms = victim->capacity = 0;
	victim->arms = NULL;
	victim->valid = true;
	return victim;
}

/* Columns 2 to 9 of plan_arm_changes and LinUcbArmsPlan(): an arm's row but its name (column 1). */
static void
TupleArm(HeapTuple tuple, TupleDesc desc, CachedArm *arm)
{
	Datum		value;
	bool		isnull;

	arm->alpha = TupleFloat8(tuple, desc, 2, 1);
	arm->beta = TupleFloat8(tuple, desc, 3, 1);
	value = SPI_getbinval(tuple, desc, 4, &isnull);
	arm->pulls = isnull ? 0 : DatumGetInt64(value);
	arm->weight = TupleFloat8(tuple, desc, 5, 0);
	arm->mean = TupleFloat8(tuple, desc, 6, 0);
	arm->cost = TupleFloat8(tuple, desc, 7, NAN);
	arm->latency = TupleFloat8(tuple, desc, 8, NAN);
	value = SPI_getbinval(tuple, desc, 9, &isnull);
	arm->retired = !isnull && DatumGetBool(value);
}

/* The policy's cached arms, brought up to date (inside SPI). */
static const ArmCache *
ArmCacheRefresh(const Policy *policy)
{
	ArmCache   *entry = ArmCacheEntry(policy);
	Datum		args[2] = {CStringGetTextDatum(policy->name), FullTransactionIdGetDatum(entry->horizon)};
	int			nold = entry->narms;
	MemoryContext old;

	/* a snapshot of its own, taken after LoadPolicy's: it sees all that one saw */
	if (SPI_execute_plan(plan_arm_changes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the arms of policy \"%s\" failed", policy->name);
	entry->valid = false;
	old = MemoryContextSwitchTo(entry->context);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CachedArm	key;
		CachedArm  *arm;

		if ((r & 0x3FF) == 0x3FF)
			CHECK_FOR_INTERRUPTS();
		key.name = TupleText(tuple, desc, 1);
		arm = bsearch(&key, entry->arms, nold, sizeof(CachedArm), CompareCachedArms);
		if (arm == NULL)
		{
			if (entry->narms == entry->capacity)
			{
				entry->capacity = Max(64, 2 * entry->capacity);
				entry->arms = entry->arms == NULL ? palloc(sizeof(CachedArm) * entry->capacity) :
					repalloc(entry->arms, sizeof(CachedArm) * entry->capacity);
			}
			arm = &entry->arms[entry->narms++];
			arm->name = key.name;
		}
		else
			pfree(key.name);
		TupleArm(tuple, desc, arm);
	}
	MemoryContextSwitchTo(old);
	if (entry->narms > nold)
		qsort(entry->arms, entry->narms, sizeof(CachedArm), CompareCachedArms);
	entry->horizon = policy->snapshot_xmin;
	entry->refreshed_in = BanditLocalTransactionId();
	entry->saw_own_writes = arms_written;
	entry->valid = true;
	return entry;
}

/* An arm without an estimate is not known to be over budget. */
static bool
OverBudget(const Context *context, double cost, double latency)
{
	return (context->has_max_cost && !isnan(cost) && cost > context->max_cost) ||
		(context->has_max_latency && !isnan(latency) && latency > context->max_latency);
}

static int
CompareNames(const void *left, const void *right)
{
	return strcmp(*(char *const *) left, *(char *const *) right);
}

/* Whether the context's "arms" or "exclude" allow the arm (retired or not). */
static bool
Allowed(const Context *context, const char *name)
{
	return !context->has_list ||
		(bsearch(&name, context->listed, context->nlisted, sizeof(char *), CompareNames) != NULL) !=
		context->list_excludes;
}

/* 42704 for a name in the context's "arms" or "exclude" that is no arm of the cached policy. */
static void
CheckListed(const Policy *policy, const Context *context, const ArmCache *cache)
{
	for (int i = 0; i < context->nlisted; i++)
	{
		CachedArm	key;

		key.name = context->listed[i];
		if (bsearch(&key, cache->arms, cache->narms, sizeof(CachedArm), CompareCachedArms) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("arm \"%s\" in context key \"%s\" is not an arm of policy \"%s\"",
							key.name, context->list_excludes ? "exclude" : "arms", policy->name)));
	}
}

/* An arm as choose sees it, from its row (LinUCB state apart). */
static void
ArmOfRow(Arm *arm, const CachedArm *row)
{
	arm->name = row->name;
	arm->alpha = row->alpha;
	arm->beta = row->beta;
	arm->pulls = row->pulls;
	arm->weight = row->weight;
	arm->mean = row->mean;
	arm->a_inv = arm->theta = NULL;
}

/*
 * The active arms that the context allows and that fit its budget (inside
 * SPI); with check_names, a name in its "arms" or "exclude" that is not an
 * arm of the policy is 42704 (a canary's candidate leaves that to the policy).
 */
static Arm *
LoadArms(const Policy *policy, const Context *context, int *count, bool check_names)
{
	Datum		arg = CStringGetTextDatum(policy->name);
	Arm		   *arms;
	int			n = 0;

	if (!IS_LINEAR(policy))
	{
		const ArmCache *cache = ArmCacheRefresh(policy);

		if (check_names)
			CheckListed(policy, context, cache);
		/* read-only: the names stay in the cache until the next refresh */
		if (context->has_list && !context->list_excludes)
		{
			/* only the listed arms: a few of many are found, not scanned for */
			arms = palloc(sizeof(Arm) * Max(context->nlisted, 1));
			for (int i = 0; i < context->nlisted; i++)
			{
				CachedArm	key;
				const CachedArm *cached;

				key.name = context->listed[i];
				cached = bsearch(&key, cache->arms, cache->narms, sizeof(CachedArm), CompareCachedArms);
				if (cached == NULL || cached->retired || OverBudget(context, cached->cost, cached->latency))
					continue;
				ArmOfRow(&arms[n++], cached);
			}
			*count = n;
			return arms;
		}
		arms = palloc(sizeof(Arm) * Max(cache->narms, 1));
		for (int i = 0; i < cache->narms; i++)
		{
			const CachedArm *cached = &cache->arms[i];
			Arm		   *arm = &arms[n];

			if (cached->retired || OverBudget(context, cached->cost, cached->latency) ||
				(context->has_list && !Allowed(context, cached->name)))
				continue;
			ArmOfRow(arm, cached);
			n++;
		}
		*count = n;
		return arms;
	}
	/* LinUCB reads its active arms; the cache knows them all, retired ones too */
	if (check_names && context->has_list)
		CheckListed(policy, context, ArmCacheRefresh(policy));
again:
	LinUcbBeginLoad(policy->name, policy->dim, policy->discount);
	if (SPI_execute_plan(LinUcbArmsPlan(), &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the arms of policy \"%s\" failed", policy->name);
	arms = palloc(sizeof(Arm) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Arm		   *arm = &arms[n];
		CachedArm	row;

		if ((i & 0x3FF) == 0x3FF)
			CHECK_FOR_INTERRUPTS();
		row.name = TupleText(tuple, desc, 1);
		TupleArm(tuple, desc, &row);
		if (OverBudget(context, row.cost, row.latency) || !Allowed(context, row.name))
			continue;
		ArmOfRow(arm, &row);
		LinUcbLoadRow(tuple, desc, LINUCB_STATE_COLUMN, arm->name, &arm->a_inv, &arm->theta);
		n++;
	}
	/* a fold committed since the arms were read: read them again */
	if (!LinUcbFinishLoad())
	{
		n = 0;
		goto again;
	}
	*count = n;
	return arms;
}

/*
 * The hashing trick: each key (numbers, booleans) or key=value (strings)
 * of a flat JSON object adds its value, with a hashed sign, to a hashed
 * one of dim features.
 */
static double *
HashFeatures(Jsonb *object, int dim, const char *const *skip, int nskip)
{
	double	   *x = palloc0(sizeof(double) * dim);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	char	   *key = NULL;
	StringInfoData name;

	if (!JB_ROOT_IS_OBJECT(object))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context must be a JSON object")));
	initStringInfo(&name);
	it = JsonbIteratorInit(&object->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		double		value;
		uint64		h;
		bool		skipped = false;

		CHECK_FOR_INTERRUPTS();
		if (token == WJB_KEY)
		{
			if (key != NULL)
				pfree(key);
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (token != WJB_VALUE)
			continue;
		for (int i = 0; i < nskip; i++)
			skipped |= strcmp(key, skip[i]) == 0;
		/* eligible arms are no feature (choose takes them as arrays only) */
		if (skip != NULL && v.type == jbvBinary && (strcmp(key, "arms") == 0 || strcmp(key, "exclude") == 0))
			skipped = true;
		if (skipped || v.type == jbvNull)
			continue;
		resetStringInfo(&name);
		appendStringInfoString(&name, key);
		switch (v.type)
		{
			case jbvNumeric:
				value = JsonbNumberValue(&v, "a context value");
				break;
			case jbvBool:
				value = v.val.boolean ? 1 : 0;
				break;
			case jbvString:
				appendStringInfoChar(&name, '=');
				appendBinaryStringInfo(&name, v.val.string.val, v.val.string.len);
				value = 1;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("context key \"%s\" must hold a number, string or boolean to be hashed", key)));
		}
		h = hash_bytes_extended((const unsigned char *) name.data, name.len, 0x62616e646974);
		x[h % dim] += (h >> 63) ? -value : value;
		if (!isfinite(x[h % dim]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the hashed features of the context overflow at context key \"%s\"", key)));
	}
	pfree(name.data);
	return x;
}

/* A LinUCB dimension: at least 1 (22003), at most LINUCB_MAX_DIM (54000). */
static void
CheckDim(int32 dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("dim must be at least 1, got %d", dim)));
	if (dim > LINUCB_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dim must be at most %d, got %d", LINUCB_MAX_DIM, dim)));
}

PG_FUNCTION_INFO_V1(bandit_identity_matrix);

/* identity_matrix(dim): LinUCB's initial A^-1, row-major. */
Datum
bandit_identity_matrix(PG_FUNCTION_ARGS)
{
	int32		dim = PG_GETARG_INT32(0);
	ArrayType  *result;
	double	   *values;
	Size		bytes;

	CheckDim(dim);
	/* built in place: zeros, then the diagonal (dim^2 Datums would double the work) */
	bytes = ARR_OVERHEAD_NONULLS(1) + sizeof(float8) * dim * dim;
	result = palloc0(bytes);
	SET_VARSIZE(result, bytes);
	result->ndim = 1;
	result->dataoffset = 0;
	result->elemtype = FLOAT8OID;
	*ARR_DIMS(result) = dim * dim;
	*ARR_LBOUND(result) = 1;
	values = (double *) ARR_DATA_PTR(result);
	for (int i = 0; i < dim; i++)
		values[i * dim + i] = 1;
	PG_RETURN_ARRAYTYPE_P(result);
}

PG_FUNCTION_INFO_V1(bandit_hash_features);

/* hash_features(object, dim): the hashing trick, as LinUCB applies it to contexts. */
Datum
bandit_hash_features(PG_FUNCTION_ARGS)
{
	int32		dim = PG_GETARG_INT32(1);

	CheckDim(dim);
	PG_RETURN_DATUM(Float8ArrayDatum(HashFeatures(PG_GETARG_JSONB_P(0), dim, NULL, 0), dim));
}

/* Context keys that set a budget rather than describe the request. */
static const char *const budget_keys[] = {"max_cost", "max_latency_ms"};

/* A JSON value as the user wrote it, for a message. */
static char *
ShowJsonbValue(JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	return JsonbToCString(NULL, &JsonbValueToJsonb(v)->root, 0);
}

/*
 * The eligible arms of a choose or recommend context: key "arms" (only
 * these) or "exclude" (all but these), an array of arm names; null is no
 * key.  Whether the names are the policy's arms is LoadArms's to check.
 */
static void
ParseEligible(Jsonb *json, Context *context)
{
	JsonbValue	k;
	JsonbValue *arms,
			   *exclude,
			   *list;
	const char *key;
	int			n;

	if (json == NULL || !JB_ROOT_IS_OBJECT(json))
		return;
	k.type = jbvString;
	k.val.string.val = "arms";
	k.val.string.len = 4;
	arms = findJsonbValueFromContainer(&json->root, JB_FOBJECT, &k);
	k.val.string.val = "exclude";
	k.val.string.len = 7;
	exclude = findJsonbValueFromContainer(&json->root, JB_FOBJECT, &k);
	if (arms != NULL && arms->type == jbvNull)
		arms = NULL;
	if (exclude != NULL && exclude->type == jbvNull)
		exclude = NULL;
	if (arms == NULL && exclude == NULL)
		return;
	if (arms != NULL && exclude != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context keys \"arms\" and \"exclude\" cannot both be given"),
				 errhint("\"arms\" lists the only eligible arms, \"exclude\" the arms that are not.")));
	list = arms ? arms : exclude;
	key = arms ? "arms" : "exclude";
	if (list->type != jbvBinary || !JsonContainerIsArray(list->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context key \"%s\" must be an array of arm names, got %s", key, ShowJsonbValue(list))));
	n = JsonContainerSize(list->val.binary.data);
	context->has_list = true;
	context->list_excludes = exclude != NULL;
	context->listed = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(list->val.binary.data, i);

		if ((i & 0x3FF) == 0x3FF)
			CHECK_FOR_INTERRUPTS();
		if (e->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("context key \"%s\" must hold arm names (strings), got %s", key, ShowJsonbValue(e))));
		context->listed[i] = pnstrdup(e->val.string.val, e->val.string.len);
	}
	qsort(context->listed, n, sizeof(char *), CompareNames);
	context->nlisted = 0;
	for (int i = 0; i < n; i++)
		if (context->nlisted == 0 || strcmp(context->listed[i], context->listed[context->nlisted - 1]) != 0)
			context->listed[context->nlisted++] = context->listed[i];
}

/* Budget and, for LinUCB, the feature vector of a context (NULL: none). */
static void
ParseContext(Jsonb *json, const Policy *policy, Context *context)
{
	memset(context, 0, sizeof(Context));
	if (json == NULL)
	{
		if (IS_LINEAR(policy) && policy->mode != MODE_OFF)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s policy \"%s\" needs a context",
							policy->algorithm == ALG_LINTS ? "lints" : "linucb", policy->name)));
		return;
	}
	if (!JB_ROOT_IS_OBJECT(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context must be a JSON object")));
	context->has_max_cost = JsonbObjectNumber(json, "max_cost", "context key", &context->max_cost);
	context->has_max_latency = JsonbObjectNumber(json, "max_latency_ms", "context key", &context->max_latency);
	if (IS_LINEAR(policy))
		context->features = LinUcbContextFeatures(json, policy->name, policy->dim);
}

/*
 * A LinUCB context's feature vector: its "features" array, else its keys
 * hashed (the budget's apart).  The one derivation of x: reward learns from
 * it, and linucb.c derives it again from the decision a pending update names.
 */
double *
LinUcbContextFeatures(Jsonb *json, const char *policy, int dim)
{
	JsonbValue	k;
	JsonbValue *features;
	double	   *x;

	k.type = jbvString;
	k.val.string.val = "features";
	k.val.string.len = 8;
	features = findJsonbValueFromContainer(&json->root, JB_FOBJECT, &k);
	if (features == NULL)
		return HashFeatures(json, dim, budget_keys, lengthof(budget_keys));
	if (features->type != jbvBinary || !JsonContainerIsArray(features->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context \"features\" must be an array of numbers")));
	if (JsonContainerSize(features->val.binary.data) != dim)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("context \"features\" has %d elements, policy \"%s\" has dim %d",
						JsonContainerSize(features->val.binary.data), policy, dim)));
	x = palloc(sizeof(double) * dim);
	for (int i = 0; i < dim; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(features->val.binary.data, i);

		if (e == NULL || e->type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("context \"features\" must be an array of numbers")));
		x[i] = JsonbNumberValue(e, "a feature");
	}
	return x;
}

/*
 * Each arm's score under the policy, for argmax choices and for recommend.
 * Only an unpulled UCB1 arm scores +Infinity (an unbounded upper bound:
 * tried first; recommend shows it as NULL); any other non-finite score is a
 * context or state beyond what can be computed, 22003, so that nothing NaN
 * or infinite is ranked, returned or logged.
 */
static double
ArmScore(const Policy *policy, const Arm *arm, double total_weight, const Context *context)
{
	double		score;

	switch (policy->algorithm)
	{
		case ALG_UCB1:
			if (arm->weight <= 0)
				return INFINITY;
			score = arm->mean + policy->c * sqrt(2 * log(total_weight) / arm->weight);
			break;
		case ALG_LINUCB:
			score = LinUcbScore(arm->a_inv, arm->theta, context->features, policy->dim, policy->alpha);
			break;
		case ALG_LINTS:
			/* recommend ranks by the posterior mean score x . A^-1 b */
			score = LinUcbScore(arm->a_inv, arm->theta, context->features, policy->dim, 0);
			break;
		default:
			score = arm->weight > 0 ? arm->mean : 0;
			break;
	}
	if (!isfinite(score))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the score of arm \"%s\" of policy \"%s\" is out of range", arm->name, policy->name),
				 IS_LINEAR(policy) ?
				 errhint("The context's features are too large for what the arm has learned.") : 0));
	return score;
}

/* Every arm's score (ArmScore), checking for interrupts over many arms. */
static double *
ArmScores(const Policy *policy, const Arm *arms, int n, const Context *context)
{
	double	   *score = palloc(sizeof(double) * Max(n, 1));
	double		total_weight = 0;

	for (int i = 0; i < n; i++)
		total_weight += arms[i].weight;
	for (int i = 0; i < n; i++)
	{
		/* a LinUCB score is dim^2 work: check every arm */
		CHECK_FOR_INTERRUPTS();
		score[i] = ArmScore(policy, &arms[i], total_weight, context);
	}
	return score;
}

/*
 * Softmax probabilities of the arms' mean rewards, in place of their
 * scores: exp((mean - top) / temperature), top the largest mean, so that
 * nothing overflows (a difference of -Infinity weighs 0); the top arm
 * weighs 1, so the total is at least 1.
 */
static void
SoftmaxProbabilities(const Policy *policy, double *score, int n)
{
	double		top = -INFINITY,
				total = 0;

	for (int i = 0; i < n; i++)
		top = Max(top, score[i]);
	for (int i = 0; i < n; i++)
		total += (score[i] = exp((score[i] - top) / policy->temperature));
	for (int i = 0; i < n; i++)
		score[i] /= total;
}

/* The arms' Beta posteriors as two arrays. */
static void
ArmPosteriors(const Arm *arms, int n, double **alpha, double **beta)
{
	*alpha = palloc(sizeof(double) * Max(n, 1));
	*beta = palloc(sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		(*alpha)[i] = arms[i].alpha;
		(*beta)[i] = arms[i].beta;
	}
}

/* P(theta_i is the largest) for the arms' Beta posteriors. */
static double *
ArmsProbBest(const Arm *arms, int n)
{
	double	   *alpha,
			   *beta;
	double	   *prob = palloc(sizeof(double) * n);

	ArmPosteriors(arms, n, &alpha, &beta);
	BetaProbBest(alpha, beta, n, prob);
	return prob;
}

/* The policy's choice among the arms, and the probability it had. */
static int
ChooseArm(const Policy *policy, const Arm *arms, int n, const Context *context, double *propensity)
{
	gsl_rng    *rng = BanditRng();
	double	   *score;
	int			chosen,
				ties;

	switch (policy->algorithm)
	{
		case ALG_THOMPSON:
			score = palloc(sizeof(double) * n);
			for (int i = 0; i < n; i++)
			{
				score[i] = gsl_ran_beta(rng, arms[i].alpha, arms[i].beta);
				if ((i & 0x3FF) == 0x3FF)
					CHECK_FOR_INTERRUPTS();
			}
			chosen = ArgMaxRandomTies(score, n, &ties);
			if (chosen < 0)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("could not draw from the Beta posteriors of policy \"%s\"", policy->name)));
			/* exactly the probability of the draw's winner: P(theta_i is the largest) */
			{
				double	   *alpha,
						   *beta;

				ArmPosteriors(arms, n, &alpha, &beta);
				/*
				 * Any arms give the right answer from any cached comparison;
				 * a subset has an entry of its own so as not to push out
				 * the policy's (a repeated subset reuses its entry).
				 */
				*propensity = BetaPropensity(context->has_list ? psprintf("%s\x1f(eligible)", policy->name) :
											 policy->name, alpha, beta, n, chosen);
			}
			break;
		case ALG_EPSILON_GREEDY:
			{
				double		epsilon = Max(policy->min_epsilon,
										  policy->epsilon * pow(policy->epsilon_decay, (double) policy->decisions));
				int			greedy;

				score = ArmScores(policy, arms, n, context);
				greedy = ArgMaxRandomTies(score, n, &ties);
				chosen = gsl_rng_uniform(rng) < epsilon ? (int) gsl_rng_uniform_int(rng, n) : greedy;
				*propensity = epsilon / n + (score[chosen] == score[greedy] ? (1 - epsilon) / ties : 0);
				break;
			}
		case ALG_SOFTMAX:
			{
				double		u = gsl_rng_uniform(rng);

				score = ArmScores(policy, arms, n, context);
				SoftmaxProbabilities(policy, score, n);
				/*
				 * The first arm whose cumulative probability passes u; should
				 * rounding leave u over, the last arm of positive probability.
				 */
				chosen = -1;
				for (int i = 0; i < n; i++)
				{
					if (score[i] == 0)
						continue;
					chosen = i;
					if (u < score[i])
						break;
					u -= score[i];
				}
				if (chosen < 0)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("the softmax weights of policy \"%s\" are out of range", policy->name),
							 errhint("Check its temperature, %s.", ShowDouble(policy->temperature))));
				*propensity = score[chosen];
				break;
			}
		case ALG_LINTS:
			{
				/*
				 * theta_i ~ N(A_i^-1 b_i, v^2 A_i^-1) matters only through the
				 * score x . theta_i ~ N(x . A_i^-1 b_i, v^2 x' A_i^-1 x), the
				 * arms independent: one normal draw per arm is exactly the draw
				 * of theta followed by x . theta, and its winner's probability
				 * is normal_prob_best's quadrature of these normals.
				 */
				double	   *mean = palloc(sizeof(double) * n);
				double	   *sd = palloc(sizeof(double) * n);
				double	   *prob = palloc(sizeof(double) * n);

				score = palloc(sizeof(double) * n);
				for (int i = 0; i < n; i++)
				{
					double		variance;

					CHECK_FOR_INTERRUPTS();
					mean[i] = LinUcbMeanVariance(arms[i].a_inv, arms[i].theta, context->features, policy->dim,
												 &variance);
					sd[i] = policy->v * sqrt(variance);
					score[i] = mean[i] + sd[i] * gsl_ran_ugaussian(rng);
					if (!isfinite(score[i]) || !isfinite(sd[i]))
						ereport(ERROR,
								(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
								 errmsg("the score of arm \"%s\" of policy \"%s\" is out of range",
										arms[i].name, policy->name),
								 errhint("The context's features are too large for what the arm has learned.")));
				}
				chosen = ArgMaxRandomTies(score, n, &ties);
				NormalProbBest(mean, sd, n, prob);
				*propensity = prob[chosen];
				break;
			}
		default:
			/* UCB1 and LinUCB are deterministic but for ties */
			score = ArmScores(policy, arms, n, context);
			chosen = ArgMaxRandomTies(score, n, &ties);
			*propensity = 1.0 / ties;
			break;
	}
	/* logged, and weighs every off-policy estimate: a probability or an error */
	if (!(*propensity >= 0 && *propensity <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the propensity of arm \"%s\" of policy \"%s\" is out of range, got %s",
						arms[chosen].name, policy->name, ShowDouble(*propensity))));
	return chosen;
}

/* Returns one row from a function declared RETURNS TABLE. */
static Datum
ReturnRows(FunctionCallInfo fcinfo, int nrows, int ncolumns, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	for (int r = 0; r < nrows; r++)
		tuplestore_putvalues(store, tupdesc, values + r * ncolumns, nulls + r * ncolumns);
	MemoryContextSwitchTo(old);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(bandit_choose);

/*
 * choose(policy, context): the arm to serve, logged as a decision.  Shadow
 * mode serves the default arm and logs the policy's own choice beside it.
 */
Datum
bandit_choose(PG_FUNCTION_ARGS)
{
	int			nest;
	char	   *name;
	Jsonb	   *json = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	Policy		policy;
	Context		context;
	const char *served;
	const char *policy_arm = NULL;
	const char *canary_of = NULL;
	double		propensity = 1,
				policy_propensity = 0;
	Datum		args[8];
	char		arg_nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	bool		isnull;
	int64		decision_id;
	MemoryContext caller = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("policy must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	nest = SpiBegin();
	PreparePlans();
	LoadPolicy(name, &policy);
	/*
	 * A canary (bandit.start_canary) serves its share of the calls as
	 * choose(candidate) would, drawn from the session's generator (set_seed
	 * replays it); the application needs use on this policy only.  Only an
	 * active policy has one: shadow and off serve the default arm (off is
	 * the kill switch), and so does a policy whose candidate is gone or not
	 * active (which would serve its own default arm).
	 */
	if (policy.mode == MODE_ACTIVE)
	{
		args[0] = CStringGetTextDatum(name);
		if (SPI_execute_plan(plan_canary, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading the canary of policy \"%s\" failed", name);
		if (SPI_processed > 0 &&
			gsl_rng_uniform(BanditRng()) < TupleFloat8(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, 0))
		{
			char	   *candidate = TupleText(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			/* the names are the policy's, whoever serves the call */
			memset(&context, 0, sizeof(Context));
			ParseEligible(json, &context);
			if (context.has_list)
				CheckListed(&policy, &context, ArmCacheRefresh(&policy));
			canary_of = policy.name;
			LoadPolicyAs(candidate, name, &policy);
		}
	}
choose:
	ParseContext(json, &policy, &context);
	ParseEligible(json, &context);
	served = policy.default_arm;
	policy_arm = NULL;
	propensity = 1;
	policy_propensity = 0;
	if (policy.mode != MODE_OFF)
	{
		int			n;
		Arm		   *arms = LoadArms(&policy, &context, &n, canary_of == NULL);

		/* when no eligible arm fits the budget, the default arm is served */
		if (n > 0)
		{
			int			chosen;

			if (policy.algorithm == ALG_EPSILON_GREEDY && policy.epsilon_decay != 1)
				CountDecision(&policy);
			chosen = ChooseArm(&policy, arms, n, &context, &policy_propensity);

			policy_arm = arms[chosen].name;
			if (policy.mode == MODE_ACTIVE)
			{
				served = policy_arm;
				propensity = policy_propensity;
			}
		}
	}

	/*
	 * The default arm is served only if the context allows it (retired it
	 * never is: retire_arm refuses it); a canary's candidate that would
	 * serve its own leaves the call to the policy.
	 */
	if (policy_arm != served && !Allowed(&context, served))
	{
		if (canary_of)
		{
			canary_of = NULL;
			LoadPolicy(name, &policy);
			goto choose;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" would serve its default arm \"%s\", which the context does not allow",
						policy.name, served),
				 policy.mode == MODE_ACTIVE ?
				 errdetail("No arm the context allows is active and fits its budget.") :
				 errdetail("Policy \"%s\" is in %s mode: it serves its default arm.", policy.name,
						   policy.mode == MODE_SHADOW ? "shadow" : "off")));
	}

	/*
	 * The candidate had the policy's active arms at start_canary; an arm it
	 * gained since, or one the policy retired, is not the policy's to serve:
	 * the policy serves this call itself.
	 */
	if (canary_of)
	{
		args[0] = CStringGetTextDatum(canary_of);
		args[1] = CStringGetTextDatum(served);
		if (SPI_execute_plan(plan_active_arm, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading arm \"%s\" of policy \"%s\" failed", served, canary_of);
		if (SPI_processed == 0)
		{
			canary_of = NULL;
			LoadPolicy(name, &policy);
			goto choose;
		}
	}

	args[0] = CStringGetTextDatum(policy.name);
	args[1] = CStringGetTextDatum(served);
	args[2] = Float8GetDatum(propensity);
	args[3] = policy_arm ? CStringGetTextDatum(policy_arm) : (Datum) 0;
	arg_nulls[3] = policy_arm ? ' ' : 'n';
	args[4] = Float8GetDatum(policy_propensity);
	arg_nulls[4] = policy_arm ? ' ' : 'n';
	args[5] = CStringGetTextDatum(policy.mode == MODE_ACTIVE ? "active" :
								  policy.mode == MODE_SHADOW ? "shadow" : "off");
	args[6] = json ? JsonbPGetDatum(json) : (Datum) 0;
	arg_nulls[6] = json ? ' ' : 'n';
	args[7] = canary_of ? CStringGetTextDatum(canary_of) : (Datum) 0;
	arg_nulls[7] = canary_of ? ' ' : 'n';
	if (SPI_execute_plan(plan_insert_decision, args, arg_nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "logging the decision failed");
	decision_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/* the arm's name lives in SPI's memory, which SpiEnd frees */
	served = MemoryContextStrdup(caller, served);
	SpiEnd(nest);

	values[0] = Int64GetDatum(decision_id);
	values[1] = CStringGetTextDatum(served);
	values[2] = Float8GetDatum(propensity);
	return ReturnRows(fcinfo, 1, 3, values, nulls);
}

/*
 * Rewards are at most REWARD_MAX in magnitude, so that no mean of them nor
 * any UCB1 upper bound on it (c <= 1e100 too) can overflow; Thompson
 * sampling learns from rewards in [0, 1].
 */
#define REWARD_MAX 1e100

static void
CheckReward(const Policy *policy, double reward)
{
	if (policy->algorithm == ALG_THOMPSON)
	{
		if (!(reward >= 0 && reward <= 1))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("reward must be between 0 and 1 for thompson policy \"%s\", got %s",
							policy->name, ShowDouble(reward))));
	}
	else
		CheckRange(reward, -REWARD_MAX, REWARD_MAX, "reward");
}

/*
 * An arm's learned state {alpha, beta, weight, mean_reward, m2} after one
 * reward: existing evidence is discounted (weighted Welford for the mean and
 * m2); alpha and beta follow the reward only when posterior is true.  The
 * one copy of this arithmetic: bandit.learn_step (reward's UPDATE) and
 * bandit.learn_fold (learn_pending's) both call it, so batched learning
 * ends where immediate learning would.  A state out of range is 22003.
 */
static void
LearnStep(double state[5], double reward, double prior_alpha, double prior_beta, double discount, bool posterior)
{
	double		alpha = state[0],
				beta = state[1];

	/* Welford/West with weight 1, after the old evidence is discounted */
	state[2] = discount * state[2] + 1;
	state[4] = discount * state[4];
	MomentsAdd(&state[3], NULL, &state[4], reward, 1, state[2]);
	state[0] = posterior ? prior_alpha + discount * (alpha - prior_alpha) + reward : alpha;
	state[1] = posterior ? prior_beta + discount * (beta - prior_beta) + (1 - reward) : beta;
	for (int i = 0; i < 5; i++)
	{
		if (!isfinite(state[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("reward %s would take the arm's learned state out of range", ShowDouble(reward))));
	}
}

/* Alpha and beta learn from rewards in [0, 1] (Thompson's are all such). */
static inline bool
RewardIsProbability(double reward)
{
	return reward >= 0 && reward <= 1;
}

/*
 * A budget estimate (cost or latency) after an observation: the
 * exponentially weighted mean est + s (obs - est); the first observation
 * sets it.  Both are finite and not negative and s is in (0, 1] (22003
 * otherwise), so it stays so.
 */
static double
BudgetStep(double estimate, bool has_estimate, double observed, double smoothing)
{
	if (has_estimate && !(isfinite(estimate) && estimate >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a budget estimate must be finite and not negative, got %s", ShowDouble(estimate))));
	if (!(isfinite(observed) && observed >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("an observed cost or latency must be finite and not negative, got %s", ShowDouble(observed))));
	if (!(smoothing > 0 && smoothing <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("budget_smoothing must be in (0, 1], got %s", ShowDouble(smoothing))));
	return has_estimate ? estimate + smoothing * (observed - estimate) : observed;
}

PG_FUNCTION_INFO_V1(bandit_learn_step);

/*
 * learn_step(alpha, beta, weight, mean_reward, m2, reward, prior_alpha,
 * prior_beta, discount, posterior): LearnStep as SQL, for the reward's
 * UPDATE, which writes what this returns (checked here: float8 operators in
 * SQL would raise underflow errors on harmless decays and strand the arm).
 */
Datum
bandit_learn_step(PG_FUNCTION_ARGS)
{
	double		state[5];

	for (int i = 0; i < 5; i++)
		state[i] = PG_GETARG_FLOAT8(i);
	LearnStep(state, PG_GETARG_FLOAT8(5), PG_GETARG_FLOAT8(6), PG_GETARG_FLOAT8(7), PG_GETARG_FLOAT8(8),
			  PG_GETARG_BOOL(9));
	PG_RETURN_DATUM(Float8ArrayDatum(state, 5));
}

PG_FUNCTION_INFO_V1(bandit_learn_budget);

/* learn_budget(estimate, observed, smoothing): BudgetStep; NULL observed keeps the estimate. */
Datum
bandit_learn_budget(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("smoothing must not be NULL")));
	PG_RETURN_FLOAT8(BudgetStep(PG_ARGISNULL(0) ? 0 : PG_GETARG_FLOAT8(0), !PG_ARGISNULL(0),
								PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2)));
}

/*
 * The state of bandit.learn_fold: an arm's learned state (LearnStep's five),
 * its budget estimates and reward_sum, as the rewards folded so far left it.
 */
typedef struct FoldState
{
	double		state[5];
	double		cost,
				latency,
				reward_sum;
	bool		has_cost,
				has_latency;
} FoldState;

#define FOLD_START_LENGTH 8

PG_FUNCTION_INFO_V1(bandit_learn_fold_step);

/*
 * learn_fold(start, reward, cost, latency_ms, prior_alpha, prior_beta,
 * discount, smoothing ORDER BY ...): the transition of learn_pending's
 * aggregate.  start is the arm's row as {alpha, beta, weight, mean_reward,
 * m2, cost, latency_ms, reward_sum} (cost and latency_ms may be NULL),
 * read once, at the first reward; each reward then moves the state exactly
 * as the reward's UPDATE would (LearnStep, BudgetStep, reward_sum + reward).
 */
Datum
bandit_learn_fold_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggregate;
	FoldState  *fold;
	double		reward;

	if (!AggCheckCallContext(fcinfo, &aggregate))
		elog(ERROR, "bandit.learn_fold_step called in a non-aggregate context");
	for (int i = 1; i < 9; i++)
		if (PG_ARGISNULL(i) && i != 3 && i != 4)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("learn_fold takes NULL only for cost and latency_ms")));
	if (PG_ARGISNULL(0))
	{
		ArrayType  *start = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *values;
		bool	   *nulls;
		int			n;

		deconstruct_array(start, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &values, &nulls, &n);
		if (ARR_NDIM(start) != 1 || n != FOLD_START_LENGTH)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("learn_fold's start must hold %d numbers, got %d", FOLD_START_LENGTH, n)));
		for (int i = 0; i < FOLD_START_LENGTH; i++)
			if (nulls[i] && i != 5 && i != 6)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("learn_fold's start may hold NULL only for cost and latency_ms")));
		fold = MemoryContextAllocZero(aggregate, sizeof(FoldState));
		for (int i = 0; i < 5; i++)
			fold->state[i] = DatumGetFloat8(values[i]);
		fold->has_cost = !nulls[5];
		fold->cost = fold->has_cost ? DatumGetFloat8(values[5]) : 0;
		fold->has_latency = !nulls[6];
		fold->latency = fold->has_latency ? DatumGetFloat8(values[6]) : 0;
		fold->reward_sum = DatumGetFloat8(values[7]);
	}
	else
		fold = (FoldState *) PG_GETARG_POINTER(0);
	reward = PG_GETARG_FLOAT8(2);
	LearnStep(fold->state, reward, PG_GETARG_FLOAT8(5), PG_GETARG_FLOAT8(6), PG_GETARG_FLOAT8(7),
			  RewardIsProbability(reward));
	if (!PG_ARGISNULL(3))
	{
		fold->cost = BudgetStep(fold->cost, fold->has_cost, PG_GETARG_FLOAT8(3), PG_GETARG_FLOAT8(8));
		fold->has_cost = true;
	}
	if (!PG_ARGISNULL(4))
	{
		fold->latency = BudgetStep(fold->latency, fold->has_latency, PG_GETARG_FLOAT8(4), PG_GETARG_FLOAT8(8));
		fold->has_latency = true;
	}
	fold->reward_sum += reward;
	if (!isfinite(fold->reward_sum))
		StatisticOverflow("reward_sum");
	PG_RETURN_POINTER(fold);
}

PG_FUNCTION_INFO_V1(bandit_learn_fold_final);

/* learn_fold's result: {alpha, beta, weight, mean_reward, m2, cost, latency_ms, reward_sum}. */
Datum
bandit_learn_fold_final(PG_FUNCTION_ARGS)
{
	FoldState  *fold;
	Datum		values[FOLD_START_LENGTH];
	bool		nulls[FOLD_START_LENGTH] = {false};
	int			dims[1] = {FOLD_START_LENGTH};
	int			lbs[1] = {1};

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "bandit.learn_fold_final called in a non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	fold = (FoldState *) PG_GETARG_POINTER(0);
	for (int i = 0; i < 5; i++)
		values[i] = Float8GetDatum(fold->state[i]);
	values[5] = Float8GetDatum(fold->cost);
	nulls[5] = !fold->has_cost;
	values[6] = Float8GetDatum(fold->latency);
	nulls[6] = !fold->has_latency;
	values[7] = Float8GetDatum(fold->reward_sum);
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 1, dims, lbs, FLOAT8OID, sizeof(float8),
											 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* A decision's observed cost and latency (NULL: not observed). */
typedef struct Observed
{
	const double *cost,
			   *latency;
} Observed;

static void
CheckObserved(const Observed *observed)
{
	if (observed->cost && !(isfinite(*observed->cost) && *observed->cost >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("cost must be finite and not negative, got %s", ShowDouble(*observed->cost))));
	if (observed->latency && !(isfinite(*observed->latency) && *observed->latency >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("latency_ms must be finite and not negative, got %s", ShowDouble(*observed->latency))));
}

/* Checks a reward for a decision of a loaded policy (LinUCB: and its context). */
static void
CheckDecisionReward(const Policy *policy, double reward, Jsonb *context_json, Context *context)
{
	CheckReward(policy, reward);
	if (IS_LINEAR(policy))
	{
		if (context_json == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s policy \"%s\" learns from the context of a decision: reward by decision_id",
							policy->algorithm == ALG_LINTS ? "lints" : "linucb", policy->name)));
		ParseContext(context_json, policy, context);
	}
}

/*
 * Credits one reward to one arm of a loaded policy (inside SPI), from the
 * decision decision_id with context context_json (LinUCB) if any: a
 * decision's reward (decision_id not 0) counts in rewarded and reward_sum,
 * and its observed cost and latency move the budget estimates.
 */
static void
LearnReward(const Policy *policy, const char *arm, double reward, int64 decision_id, Jsonb *context_json,
			const Observed *observed)
{
	Datum		args[11];
	char		nulls[11] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Context		context;

	CheckDecisionReward(policy, reward, context_json, &context);
	if (IS_LINEAR(policy))
	{
		LinUcbLearn(policy->name, arm, policy->dim, policy->discount, reward, context.features, decision_id,
					observed->cost, observed->latency, policy->budget_smoothing);
		return;
	}
	args[0] = CStringGetTextDatum(policy->name);
	args[1] = CStringGetTextDatum(arm);
	args[2] = Float8GetDatum(reward);
	args[3] = Float8GetDatum(policy->prior_alpha);
	args[4] = Float8GetDatum(policy->prior_beta);
	args[5] = Float8GetDatum(policy->discount);
	args[6] = BoolGetDatum(RewardIsProbability(reward));
	args[7] = observed->cost ? Float8GetDatum(*observed->cost) : (Datum) 0;
	nulls[7] = observed->cost ? ' ' : 'n';
	args[8] = observed->latency ? Float8GetDatum(*observed->latency) : (Datum) 0;
	nulls[8] = observed->latency ? ' ' : 'n';
	args[9] = Float8GetDatum(policy->budget_smoothing);
	args[10] = BoolGetDatum(decision_id != 0);
	if (SPI_execute_plan(plan_update_arm, args, nulls, false, 1) != SPI_OK_UPDATE)
		elog(ERROR, "updating an arm failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("arm \"%s\" does not exist in policy \"%s\"", arm, policy->name)));
}

/*
 * Credits a logged decision exactly once (inside SPI), with its observed
 * cost and latency.  A batched policy's reward is checked as an immediate
 * one would be and recorded on the decision only (to_learn): its arm's row
 * is neither read nor locked; bandit.learn_pending learns it later.
 */
static void
RewardDecision(int64 decision_id, double reward, const Observed *observed)
{
	Datum		args[4] = {Int64GetDatum(decision_id), Float8GetDatum(reward)};
	char		nulls[4] = {' ', ' ', ' ', ' '};
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull,
				recorded,
				expired;
	char	   *rewarded_at;
	Datum		context;
	Jsonb	   *context_json;
	Policy		policy;
	char	   *policy_name,
			   *arm,
			   *canary_of;

	CheckFinite(reward, "reward");
	CheckObserved(observed);
	args[2] = observed->cost ? Float8GetDatum(*observed->cost) : (Datum) 0;
	nulls[2] = observed->cost ? ' ' : 'n';
	args[3] = observed->latency ? Float8GetDatum(*observed->latency) : (Datum) 0;
	nulls[3] = observed->latency ? ' ' : 'n';
	if (SPI_execute_plan(plan_reward_decision, args, nulls, false, 1) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "rewarding decision " INT64_FORMAT " failed", decision_id);
	if (SPI_processed == 0)
	{
		if (SPI_execute_plan(plan_decision_state, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading decision " INT64_FORMAT " failed", decision_id);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("decision " INT64_FORMAT " does not exist", decision_id)));
		/* read before RequirePrivilege's own statements replace SPI_tuptable */
		expired = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		rewarded_at = TupleText(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		/* whether it was rewarded is for those who may reward it */
		RequirePrivilege("policy", TupleText(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "use", false);
		if (expired)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("decision " INT64_FORMAT " expired and was credited its policy's default_reward at %s",
							decision_id, rewarded_at),
					 errhint("Its reward came after the policy's reward_wait; a decision takes exactly one reward.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("decision " INT64_FORMAT " was already rewarded", decision_id),
				 errhint("A decision takes exactly one reward.")));
	}
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	policy_name = TupleText(tuple, desc, 1);
	arm = TupleText(tuple, desc, 2);
	context = SPI_getbinval(tuple, desc, 3, &isnull);
	context_json = isnull ? NULL : DatumGetJsonbPCopy(context);
	recorded = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull)) && !isnull;
	/* a canary's decision is rewarded by the application of the policy it served */
	canary_of = TupleText(tuple, desc, 5);
	LoadPolicyAs(policy_name, canary_of ? canary_of : policy_name, &policy);
	if (recorded)
	{
		Context		parsed;

		CheckDecisionReward(&policy, reward, context_json, &parsed);
	}
	else
		LearnReward(&policy, arm, reward, decision_id, context_json, observed);
}

PG_FUNCTION_INFO_V1(bandit_reward_decision);

/* reward(decision_id, reward) */
Datum
bandit_reward_decision(PG_FUNCTION_ARGS)
{
	int			nest;
	Observed	observed = {NULL, NULL};

	nest = SpiBegin();
	PreparePlans();
	RewardDecision(PG_GETARG_INT64(0), PG_GETARG_FLOAT8(1), &observed);
	SpiEnd(nest);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(bandit_reward_observed);

/* reward(decision_id, reward, cost, latency_ms): NULL cost or latency, not observed */
Datum
bandit_reward_observed(PG_FUNCTION_ARGS)
{
	int			nest;
	double		cost,
				latency;
	Observed	observed = {NULL, NULL};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("decision_id and reward must not be NULL")));
	if (!PG_ARGISNULL(2))
	{
		cost = PG_GETARG_FLOAT8(2);
		observed.cost = &cost;
	}
	if (!PG_ARGISNULL(3))
	{
		latency = PG_GETARG_FLOAT8(3);
		observed.latency = &latency;
	}
	nest = SpiBegin();
	PreparePlans();
	RewardDecision(PG_GETARG_INT64(0), PG_GETARG_FLOAT8(1), &observed);
	SpiEnd(nest);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(bandit_reward_arm);

/* reward(policy, arm, reward): credit an arm without a logged decision. */
Datum
bandit_reward_arm(PG_FUNCTION_ARGS)
{
	int			nest;
	Policy		policy;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *arm = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Observed	observed = {NULL, NULL};

	nest = SpiBegin();
	PreparePlans();
	LoadPolicy(name, &policy);
	LearnReward(&policy, arm, PG_GETARG_FLOAT8(2), 0, NULL, &observed);
	SpiEnd(nest);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(bandit_learn_recorded);

/*
 * learn_recorded(decision_ids): learns the rewards recorded on these
 * decisions, in the order given, as reward would have; for
 * bandit.learn_pending, which picked them (to_learn), locked them and
 * their arms (in a fixed order) and cleared to_learn in this transaction.
 * A decision without a reward is skipped.  Each decision is learned in an
 * SPI connection of its own, so that what one learning allocates (its
 * tuple tables, LinUCB's loads and folds) is freed before the next: memory
 * stays that of one decision however many are learned.
 */
Datum
bandit_learn_recorded(PG_FUNCTION_ARGS)
{
	int			nest;
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *id_datums;
	bool	   *id_nulls;
	int			n;
	Policy		policy;
	MemoryContext keep;
	int64		learned = 0;

	deconstruct_array(ids, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &id_datums, &id_nulls, &n);
	nest = SpiBegin();
	PreparePlans();
	keep = CurrentMemoryContext;
	policy.name = NULL;
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tuple;
		TupleDesc	desc;
		bool		isnull;
		char	   *name;
		char	   *arm;
		Datum		context;
		double		reward,
					cost,
					latency;
		Observed	observed = {NULL, NULL};

		if (id_nulls[i])
			continue;
		SPI_connect();
		if (SPI_execute_plan(plan_recorded_decision, &id_datums[i], NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading decision " INT64_FORMAT " failed", DatumGetInt64(id_datums[i]));
		if (SPI_processed == 0)
		{
			SPI_finish();
			continue;
		}
		tuple = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		name = TupleText(tuple, desc, 1);
		arm = TupleText(tuple, desc, 2);
		context = SPI_getbinval(tuple, desc, 3, &isnull);
		context = isnull ? (Datum) 0 : PointerGetDatum(DatumGetJsonbPCopy(context));
		reward = TupleFloat8(tuple, desc, 4, NAN);
		cost = TupleFloat8(tuple, desc, 5, NAN);
		latency = TupleFloat8(tuple, desc, 6, NAN);
		observed.cost = isnan(cost) ? NULL : &cost;
		observed.latency = isnan(latency) ? NULL : &latency;
		if (policy.name == NULL || strcmp(policy.name, name) != 0)
		{
			/* its strings outlive this decision's connection */
			LoadPolicy(name, &policy);
			policy.name = MemoryContextStrdup(keep, policy.name);
			if (policy.default_arm)
				policy.default_arm = MemoryContextStrdup(keep, policy.default_arm);
		}
		LearnReward(&policy, arm, reward, DatumGetInt64(id_datums[i]),
					context ? DatumGetJsonbP(context) : NULL, &observed);
		SPI_finish();
		learned++;
		CHECK_FOR_INTERRUPTS();
	}
	SpiEnd(nest);
	PG_RETURN_INT64(learned);
}

/* Decisions one reward(decision_ids, rewards) credits at most (54000 beyond). */
#define REWARD_BATCH_MAX 10000000

typedef struct PendingReward
{
	int64		decision_id;
	double		reward;
	int			order;			/* position in (policy, arm, id) order */
} PendingReward;

static int
CompareDecisionIds(const void *a, const void *b)
{
	int64		x = ((const PendingReward *) a)->decision_id;
	int64		y = ((const PendingReward *) b)->decision_id;

	return (x > y) - (x < y);
}

static int
CompareOrder(const void *a, const void *b)
{
	return ((const PendingReward *) a)->order - ((const PendingReward *) b)->order;
}

PG_FUNCTION_INFO_V1(bandit_reward_batch);

/*
 * reward(decision_ids[], rewards[]): many decisions in one statement, in
 * decision order, so that concurrent batches lock rows in the same order;
 * any bad element fails the whole statement and changes nothing.
 */
Datum
bandit_reward_batch(PG_FUNCTION_ARGS)
{
	int			nest;
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(0);
	int			n_rewards,
				n_ids;
	double	   *rewards = CheckFloat8Array(PG_GETARG_ARRAYTYPE_P(1), "rewards", &n_rewards);
	Datum	   *id_datums;
	bool	   *id_nulls;
	PendingReward *pending;

	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("decision_ids must be a one-dimensional array")));
	/* beyond it the work arrays would pass palloc's 1 GB */
	if (ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)) > REWARD_BATCH_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a batch credits at most %d decisions, got %d",
						REWARD_BATCH_MAX, ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)))));
	deconstruct_array(ids, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &id_datums, &id_nulls, &n_ids);
	if (n_ids != n_rewards)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("decision_ids and rewards must have the same length, got %d and %d", n_ids, n_rewards)));
	pending = palloc(sizeof(PendingReward) * Max(n_ids, 1));
	for (int i = 0; i < n_ids; i++)
	{
		if (id_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("decision_ids must not contain NULL elements")));
		pending[i].decision_id = DatumGetInt64(id_datums[i]);
		pending[i].reward = rewards[i];
	}
	qsort(pending, n_ids, sizeof(PendingReward), CompareDecisionIds);
	nest = SpiBegin();
	PreparePlans();

	/*
	 * Credit in (policy, arm) order, so that concurrent batches lock arm rows
	 * in the same order and cannot deadlock.  Unknown ids sort first and fail.
	 */
	for (int i = 0; i < n_ids; i++)
		pending[i].order = -1;
	if (SPI_execute_plan(plan_decision_order, (Datum[]) {PointerGetDatum(ids)}, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading decisions failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		PendingReward key;
		PendingReward *match;

		key.decision_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		match = bsearch(&key, pending, n_ids, sizeof(PendingReward), CompareDecisionIds);
		/* duplicates in the batch: all copies sort together; the second fails */
		while (match > pending && match[-1].decision_id == key.decision_id)
			match--;
		for (; match < pending + n_ids && match->decision_id == key.decision_id; match++)
			match->order = (int) r;
	}
	qsort(pending, n_ids, sizeof(PendingReward), CompareOrder);
	for (int i = 0; i < n_ids; i++)
	{
		Observed	observed = {NULL, NULL};

		/* a connection of its own frees what one reward allocated (tuple tables: kBs each) */
		SPI_connect();
		RewardDecision(pending[i].decision_id, pending[i].reward, &observed);
		SPI_finish();
		CHECK_FOR_INTERRUPTS();
	}
	SpiEnd(nest);
	PG_RETURN_INT32(n_ids);
}

typedef struct Ranked
{
	const char *arm;
	double		score;
} Ranked;

static int
CompareRanked(const void *a, const void *b)
{
	const Ranked *x = a,
			   *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return strcmp(x->arm, y->arm);
}

PG_FUNCTION_INFO_V1(bandit_recommend);

/*
 * recommend(policy, k, context): the top k arms that the context allows and
 * that fit its budget, ranked by what the policy values, without logging a
 * decision.  Thompson ranks by the probability to be best (exact, so the
 * ranking is reproducible), UCB1 and LinUCB by their upper confidence bounds,
 * epsilon-greedy by the mean, softmax by its choice probability.
 */
Datum
bandit_recommend(PG_FUNCTION_ARGS)
{
	int			nest;
	char	   *name;
	int32		k;
	Jsonb	   *json = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Policy		policy;
	Context		context;
	Arm		   *arms;
	Ranked	   *ranked;
	double	   *score;
	int			n;
	Datum	   *values;
	bool	   *nulls;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext old;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("policy and k must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	k = PG_GETARG_INT32(1);
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("k must be at least 1, got %d", k)));
	nest = SpiBegin();
	PreparePlans();
	LoadPolicy(name, &policy);
	ParseContext(json, &policy, &context);
	ParseEligible(json, &context);
	arms = LoadArms(&policy, &context, &n, true);
	if (policy.algorithm == ALG_THOMPSON)
		score = n > 0 ? ArmsProbBest(arms, n) : NULL;
	else
	{
		score = ArmScores(&policy, arms, n, &context);
		if (policy.algorithm == ALG_SOFTMAX)
			SoftmaxProbabilities(&policy, score, n);
	}
	ranked = palloc(sizeof(Ranked) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		ranked[i].arm = arms[i].name;
		ranked[i].score = score[i];
	}
	qsort(ranked, n, sizeof(Ranked), CompareRanked);
	n = Min(n, k);

	/* the rows outlive SPI's memory, which SpiEnd frees */
	old = MemoryContextSwitchTo(caller);
	values = palloc(sizeof(Datum) * 3 * Max(n, 1));
	nulls = palloc0(sizeof(bool) * 3 * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		values[3 * i] = CStringGetTextDatum(ranked[i].arm);
		/* an unpulled UCB1 arm has no bound yet (+Infinity inside): NULL, ranked first */
		values[3 * i + 1] = Float8GetDatum(ranked[i].score);
		nulls[3 * i + 1] = isinf(ranked[i].score);
		values[3 * i + 2] = Int32GetDatum(i + 1);
	}
	MemoryContextSwitchTo(old);
	SpiEnd(nest);
	return ReturnRows(fcinfo, n, 3, values, nulls);
}

PG_FUNCTION_INFO_V1(bandit_arm_written);

/*
 * The policy of an arm renamed or moved to another policy by hand: its old
 * key leaves no stamp, so its policy's arms_stamp is renewed (see ArmCache).
 */
static void
TouchPolicy(Datum policy)
{
	Oid			argtype = TEXTOID;
	int			nest = SpiBegin();

	if (SPI_execute_with_args("UPDATE bandit.policy SET updated_at = pg_catalog.now(), arms_stamp = DEFAULT"
							  " WHERE name OPERATOR(pg_catalog.=) $1",
							  1, &argtype, &policy, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "touching a policy failed");
	SpiEnd(nest);
}

/* A column of the trigger's table, of the type bandit.arm gives it. */
static int
ArmColumn(const TriggerData *trigger, const char *name, Oid type)
{
	TupleDesc	desc = trigger->tg_relation->rd_att;
	int			column = SPI_fnumber(desc, name);

	if (column <= 0 || TupleDescAttr(desc, column - 1)->atttypid != type)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("bandit.arm_written() needs a column %s of type %s in table \"%s\"",
						name, format_type_be(type), RelationGetRelationName(trigger->tg_relation))));
	return column;
}

/* Whether an UPDATE changes a NOT NULL text column of the row. */
static bool
TextColumnChanged(const TriggerData *trigger, int column)
{
	TupleDesc	desc = trigger->tg_relation->rd_att;
	bool		isnull;
	Datum		old_value = heap_getattr(trigger->tg_trigtuple, column, desc, &isnull),
				new_value = heap_getattr(trigger->tg_newtuple, column, desc, &isnull);

	return !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, old_value, new_value));
}

/*
 * arm_written(): BEFORE INSERT OR UPDATE row trigger of bandit.arm, which
 * stamps the row with its top transaction for ArmCache; as an AFTER DELETE
 * row trigger, it touches the deleted arm's policy row (the statement
 * trigger arms_deleted does that at once for a statement, but a logical
 * replication subscriber's apply worker fires row triggers only).
 */
Datum
bandit_arm_written(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			column;
	Datum		stamp;
	bool		stamp_null = false,
				isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
		!(TRIGGER_FIRED_BEFORE(trigger->tg_event) ?
		  TRIGGER_FIRED_BY_INSERT(trigger->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) :
		  TRIGGER_FIRED_BY_DELETE(trigger->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("bandit.arm_written() must be called as a BEFORE INSERT OR UPDATE or an AFTER DELETE row trigger")));
	desc = trigger->tg_relation->rd_att;
	if (TRIGGER_FIRED_BY_DELETE(trigger->tg_event))
	{
		TouchPolicy(heap_getattr(trigger->tg_trigtuple, ArmColumn(trigger, "policy", TEXTOID), desc, &isnull));
		return PointerGetDatum(NULL);
	}
	column = ArmColumn(trigger, "changed_xid", XID8OID);
	ArmCacheNoteWrite();
	tuple = trigger->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(trigger->tg_event))
	{
		int			policy = ArmColumn(trigger, "policy", TEXTOID);

		if (TextColumnChanged(trigger, policy) || TextColumnChanged(trigger, ArmColumn(trigger, "arm", TEXTOID)))
			TouchPolicy(heap_getattr(tuple, policy, desc, &isnull));
		tuple = trigger->tg_newtuple;
	}
	stamp = FullTransactionIdGetDatum(GetTopFullTransactionId());
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 1, &column, &stamp, &stamp_null));
}
