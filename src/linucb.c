/*
 * src/linucb.c
 *
 * LinUCB's state: A^-1 (dim x dim, row-major) and b per arm, learned by
 * Sherman-Morrison; LinTS (policy.c) chooses from the same state.  A reward
 * does not write A^-1 back (512 KB at dim 256): it appends its rank-one
 * update to bandit.linucb_pending as the decision it rewards and the reward,
 * and every (2 dim)-th reward of an arm (sooner with a discount, see
 * LinUcbFoldEvery) folds the arm's pending updates into the stored a_inv
 * and b in one write.  Reading
 * an arm's state is the stored state plus its pending updates applied in
 * order; each backend caches that (LinUcbState), so it applies each update
 * once.
 *
 * A pending row holds no x: x is derived again from the decision's context
 * by LinUcbContextFeatures (policy.c), the function reward derived it with,
 * so it is the same x bit for bit.  The decision row is already durable,
 * its context is never changed and bandit deletes no decision; one deleted
 * by hand before its arm folds is an error (XX001) wherever the update is
 * read.
 *
 * Why this is exactly the committed state:
 * - A pending row names the stored state it applies to by the arm's
 *   state_stamp, which every write of a_inv or b renews (fold, restore, a
 *   new arm): rows of an older state never apply to a newer one.
 * - A reward updates the arm row first (pulls, weight, mean, m2; a_inv and
 *   b unchanged, so their TOAST is not rewritten), taking its row lock to
 *   commit; only then does it read the pending rows (a new statement: under
 *   READ COMMITTED a new snapshot, which sees every committed reward of the
 *   arm, since each held that lock to its commit) and insert its own or
 *   fold.  So the rewards of an arm are serialized: seq order is commit
 *   order, and a fold, which deletes the rows it folded in its transaction,
 *   happens exactly once per row.
 * - choose reads the arms with the seqs of their pending rows in one
 *   statement (one snapshot), then fetches the updates its cache lacks; if
 *   a fold committed between the two, rows are missing and the arms are
 *   read again (LinUcbFinishLoad returns false).
 *
 * WAL of a reward: the arm row's update, a pending row and its key, ~200
 * bytes whatever dim is (x, 8 dim bytes, was logged there too, and again
 * as whole pages when a fold after a checkpoint deleted it), and a share of
 * the folds: every 2 dim rewards 8 dim^2 bytes, 4 dim per reward (8 dim
 * right after a checkpoint, when the A^-1 a fold replaces is logged whole
 * as it is deleted).  At most 2 dim - 1 updates wait to be applied.
 */
#include "linucb.h"
#include "numeric.h"

#include <gsl/gsl_linalg.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/*
 * Rewards of an arm between folds.  A fold writes 8 dim^2 bytes and deletes
 * the A^-1 it replaces, whose pages are logged whole again if a checkpoint
 * came since the previous fold: every 2 dim rewards, that is 4 to 8 dim
 * bytes per reward.  A backend that has not read an arm since its fold
 * applies up to 2 dim - 1 updates, each ~4 dim^2 flops and its decision's
 * features read again.
 */
#define LINUCB_FOLD_EVERY(dim) (2 * (dim))

/*
 * Forgetting (discount gamma < 1): each reward is A <- gamma A + x x' (by
 * Sherman-Morrison on A^-1 / gamma), which decays the prior I too; the
 * fold puts it back, A <- A + (1 - gamma^k) I after the k rewards since
 * the last fold, so at every fold A = I + sum gamma^age x x' exactly.
 * Folding every F = min(2 dim, floor(ln 2 / -ln gamma)) rewards (at least
 * 1) keeps the prior's share at gamma^(F-1) > 1/2 in between: A >= I/2, the
 * floor, and A^-1 <= 2 I.  The refresh is a full-rank change, one Cholesky
 * solve of dim^3 flops, every F rewards.
 */
static int
LinUcbFoldEvery(int dim, double discount)
{
	double		every;

	if (discount >= 1)
		return LINUCB_FOLD_EVERY(dim);
	every = floor(log(2) / -log(discount));
	return (int) Max(1, Min(every, LINUCB_FOLD_EVERY(dim)));
}

/*
 * A^-1 <- (A + c I)^-1 = (I + c A^-1)^-1 A^-1, by a Cholesky factor of
 * I + c A^-1 (eigenvalues 1 + c mu >= 1: well conditioned); symmetric
 * exactly, as LinUcbStep keeps it.  False if not finite or not positive
 * definite (a state written by hand).
 */
static bool
LinUcbAddRidge(double *a_inv, int d, double c)
{
	gsl_matrix *m = gsl_matrix_alloc(d, d);
	gsl_matrix *x = gsl_matrix_alloc(d, d);
	gsl_matrix_view stored = gsl_matrix_view_array(a_inv, d, d);
	bool		ok;

	if (m == NULL || x == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory refreshing a LinUCB prior at dim %d", d)));
	gsl_matrix_memcpy(m, &stored.matrix);
	gsl_matrix_scale(m, c);
	for (int i = 0; i < d; i++)
		*gsl_matrix_ptr(m, i, i) += 1;
	ok = gsl_linalg_cholesky_decomp1(m) == GSL_SUCCESS &&
		gsl_linalg_cholesky_solve_mat(m, &stored.matrix, x) == GSL_SUCCESS;
	for (int i = 0; i < d && ok; i++)
		for (int j = 0; j <= i && ok; j++)
		{
			double		v = gsl_matrix_get(x, i, j) / 2 + gsl_matrix_get(x, j, i) / 2;

			ok = isfinite(v);
			a_inv[i * d + j] = a_inv[j * d + i] = v;
		}
	gsl_matrix_free(m);
	gsl_matrix_free(x);
	return ok;
}

static SPIPlanPtr plan_linucb_arms,
			plan_arm_state,
			plan_pending,
			plan_learn,
			plan_fold,
			plan_fold_delete,
			plan_insert_pending,
			plan_linucb_policy;

/* The pending seqs of the arm row a, in order (NULL: none). */
#define PENDING_SEQS \
	"(SELECT array_agg(q.seq ORDER BY q.seq) FROM bandit.linucb_pending q" \
	"  WHERE q.stamp = a.state_stamp AND q.policy = a.policy AND q.arm = a.arm)"

void
LinUcbPreparePlans(void)
{
	Oid			text1[] = {TEXTOID};
	Oid			text2[] = {TEXTOID, TEXTOID};
	Oid			pending_types[] = {INT8ARRAYOID, INT8ARRAYOID};
	Oid			learn_types[] = {TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID};
	Oid			fold_types[] = {TEXTOID, TEXTOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID};
	Oid			delete_types[] = {TEXTOID, TEXTOID, INT8OID};
	Oid			insert_types[] = {TEXTOID, TEXTOID, INT8OID, INT8OID, FLOAT8OID};

	/* the last one: a failure half way prepares all again */
	if (plan_linucb_policy != NULL)
		return;
	plan_linucb_arms = PrepareSafely(
		"SELECT a.arm, a.alpha, a.beta, a.pulls, a.weight, a.mean_reward, a.cost, a.latency_ms, a.retired,"
		"  a.a_inv, a.b, a.state_stamp, " PENDING_SEQS
		"  FROM bandit.arm a WHERE a.policy = $1 AND NOT a.retired ORDER BY a.arm COLLATE \"C\"", 1, text1);
	plan_arm_state = PrepareSafely(
		"SELECT a.a_inv, a.b, a.state_stamp, " PENDING_SEQS
		"  FROM bandit.arm a WHERE a.policy = $1 AND a.arm = $2", 2, text2);
	/*
	 * Each update with its decision's context, by primary keys; context NULL
	 * when the decision is gone, or its id was reused (another arm or reward).
	 */
	plan_pending = PrepareSafely(
		"SELECT q.seq, d.context, q.reward, q.decision FROM unnest($1, $2) k(stamp, seq)"
		"  JOIN bandit.linucb_pending q ON q.stamp = k.stamp AND q.seq = k.seq"
		"  LEFT JOIN bandit.decision d ON d.id = q.decision AND d.policy = q.policy AND d.arm = q.arm"
		"   AND d.reward = q.reward ORDER BY q.seq", 2, pending_types);

	/*
	 * The reward's first statement: the arm's row lock, held to commit.  a_inv
	 * and b are left as they are (their TOAST pointers are reused).  $3 is
	 * the discount; the observed cost and latency ($5, $6; NULL: not
	 * observed) move the budget estimates by budget_smoothing ($7), as
	 * policy.c's plan_update_arm does.
	 */
	plan_learn = PrepareSafely(
		"UPDATE bandit.arm SET (weight, mean_reward, m2) ="
		"  (SELECT s[3], s[4], s[5] FROM"
		"   (SELECT bandit.learn_step(alpha, beta, weight, mean_reward, m2, $4, 1, 1, $3, false)) t(s)),"
		"  cost = bandit.learn_budget(cost, $5, $7), latency_ms = bandit.learn_budget(latency_ms, $6, $7),"
		"  rewarded = rewarded + 1, reward_sum = reward_sum + $4,"
		"  pulls = pulls + 1, last_update = now()"
		" WHERE policy = $1 AND arm = $2", 7, learn_types);
	/* a new A^-1 and b: a new state_stamp, which the pending rows of the old one do not name */
	plan_fold = PrepareSafely(
		"UPDATE bandit.arm SET a_inv = $3, b = $4, state_stamp = DEFAULT WHERE policy = $1 AND arm = $2",
		4, fold_types);
	plan_fold_delete = PrepareSafely(
		"DELETE FROM bandit.linucb_pending WHERE stamp = $3 AND policy = $1 AND arm = $2", 3, delete_types);
	plan_insert_pending = PrepareSafely(
		"INSERT INTO bandit.linucb_pending (policy, arm, stamp, decision, reward) VALUES ($1, $2, $3, $4, $5)",
		5, insert_types);
	plan_linucb_policy = PrepareSafely(
		"SELECT algorithm, params FROM bandit.policy WHERE name = $1", 1, text1);
}

SPIPlanPtr
LinUcbArmsPlan(void)
{
	return plan_linucb_arms;
}

PG_FUNCTION_INFO_V1(bandit_state_stamp);

/*
 * state_stamp(): 64 random bits from the strong source, never from the
 * session's generator, which bandit.set_seed makes repeat.
 */
Datum
bandit_state_stamp(PG_FUNCTION_ARGS)
{
	int64		stamp;

	if (!pg_strong_random(&stamp, sizeof(stamp)))
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not generate a random state stamp")));
	PG_RETURN_INT64(stamp);
}

/* == the arithmetic */

/* x . y, in four independent sums (a quarter of the dependency chain) */
static inline double
Dot(const double *x, const double *y, int n)
{
	double		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		s0 += x[i] * y[i];
		s1 += x[i + 1] * y[i + 1];
		s2 += x[i + 2] * y[i + 2];
		s3 += x[i + 3] * y[i + 3];
	}
	for (; i < n; i++)
		s0 += x[i] * y[i];
	return (s0 + s1) + (s2 + s3);
}

/*
 * score = theta.x + alpha sqrt(x' A^-1 x), theta = A^-1 b (kept with the
 * state); the quadratic form from the lower triangle of A^-1 (symmetric).
 */
double
LinUcbScore(const double *a_inv, const double *theta, const double *x, int dim, double alpha)
{
	double		variance;
	double		mean = LinUcbMeanVariance(a_inv, theta, x, dim, &variance);

	return alpha == 0 ? mean : mean + alpha * sqrt(variance);
}

/* theta.x and x' A^-1 x (at least 0), as LinUcbScore and LinTS use them. */
double
LinUcbMeanVariance(const double *a_inv, const double *theta, const double *x, int dim, double *variance)
{
	double		q = 0;

	for (int i = 0; i < dim; i++)
		q += x[i] * (2 * Dot(&a_inv[i * dim], x, i) + a_inv[i * dim + i] * x[i]);
	*variance = Max(q, 0);
	return Dot(theta, x, dim);
}

/*
 * row - (ui u) r, element by element in this order (so that A^-1 stays
 * exactly symmetric), into row when write; whether every element is finite
 * (t - t is 0 but for infinities and NaNs).  In four independent sums, as
 * Dot, so that the compiler vectorizes it.
 */
static inline bool
RowUpdate(double *restrict row, const double *restrict u, double ui, double r, int n, bool write)
{
	double		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			j = 0;

	for (; j + 4 <= n; j += 4)
	{
		double		t0 = row[j] - (ui * u[j]) * r,
					t1 = row[j + 1] - (ui * u[j + 1]) * r,
					t2 = row[j + 2] - (ui * u[j + 2]) * r,
					t3 = row[j + 3] - (ui * u[j + 3]) * r;

		s0 += t0 - t0;
		s1 += t1 - t1;
		s2 += t2 - t2;
		s3 += t3 - t3;
		if (write)
		{
			row[j] = t0;
			row[j + 1] = t1;
			row[j + 2] = t2;
			row[j + 3] = t3;
		}
	}
	for (; j < n; j++)
	{
		double		t = row[j] - (ui * u[j]) * r;

		s0 += t - t;
		if (write)
			row[j] = t;
	}
	return (s0 + s1) + (s2 + s3) == 0;
}

/*
 * One reward: A <- discount A + x x' by Sherman-Morrison on A^-1, and
 * b <- discount b + reward x.  A^-1 is updated in memory order and stays
 * exactly symmetric (u_i u_j is u_j u_i bit for bit; a stored A^-1 is made
 * symmetric when read).  Returns false, having written nothing or part of
 * it, if anything would not be finite (a feature too large): only a copy,
 * or a cache entry then dropped, is ever passed.  With write false
 * (discount 1 only) it only checks, computing exactly what a write would,
 * so a checked reward applies later without fail.  u: dim doubles of
 * scratch.
 */
static bool
LinUcbStep(double *a_inv, double *b, const double *x, double reward, double discount, int d,
		   double *u, bool write)
{
	double		denominator = 1,
				r;
	bool		finite = true;

	Assert(write || discount == 1);
	if (discount != 1)
		for (int i = 0; i < d * d; i++)
			a_inv[i] /= discount;
	for (int i = 0; i < d; i++)
	{
		u[i] = Dot(&a_inv[i * d], x, d);
		denominator += x[i] * u[i];
	}
	/* 1 + x' A^-1 x >= 1: anything else is overflow */
	if (!(denominator >= 1 && isfinite(denominator)))
		return false;
	r = 1 / denominator;
	for (int i = 0; i < d && finite; i++)
	{
		finite = RowUpdate(&a_inv[i * d], u, u[i], r, d, write);
	}
	for (int i = 0; i < d && finite; i++)
	{
		double		v = discount * b[i] + reward * x[i];

		finite = isfinite(v);
		if (write)
			b[i] = v;
	}
	return finite;
}

/* Makes a stored A^-1 exactly symmetric, as LinUcbStep keeps it (by hand, it may not be). */
static void
Symmetrize(double *a_inv, int d)
{
	for (int i = 0; i < d; i++)
		for (int j = 0; j < i; j++)
			if (a_inv[i * d + j] != a_inv[j * d + i])
				a_inv[i * d + j] = a_inv[j * d + i] = a_inv[i * d + j] / 2 + a_inv[j * d + i] / 2;
}

/* == the per-backend cache */

/*
 * An arm's state as this backend last read it: the stored state, named by
 * its state_stamp and the stored a_inv and b themselves, with the pending
 * updates applied so far (their seqs, in order), so that choose neither
 * detoasts dim^2 doubles per arm per call nor applies an update twice.
 * Entries that folds left behind are dropped all at once when the cache
 * outgrows its budget.
 *
 * The key is not the row version: a reward updates the arm row (pulls) and
 * leaves a_inv alone.  A TOASTed a_inv or b is known by its TOAST pointer
 * (a new value gets a new one; VACUUM FULL and CLUSTER keep it), a small one
 * inline by a 64-bit hash of its bytes; the stamp, which every write in
 * bandit renews, makes two states of one key as likely as a 64-bit
 * collision.
 */
#define LINUCB_CACHE_BYTES (16 * 1024 * 1024)

/* Hashed as bytes: every byte is a field, none is padding. */
typedef struct LinUcbKey
{
	int64		stamp;
	uint64		a_inv,
				b;
} LinUcbKey;

StaticAssertDecl(sizeof(LinUcbKey) == 24, "LinUcbKey has padding");

typedef struct LinUcbState
{
	LinUcbKey	key;			/* hash key */
	int			dim;
	int			applied;		/* pending updates applied, seqs in seqs[] */
	int			capacity;
	int64	   *seqs;
	double	   *a_inv,
			   *b,
			   *theta;			/* A^-1 b, when theta_valid */
	bool		theta_valid;
} LinUcbState;

static MemoryContext linucb_cache_context = NULL;
static HTAB *linucb_cache = NULL;
static Size linucb_cache_bytes = 0;
static bool linucb_cache_full = false;	/* a state did not fit: empty it next time */

/*
 * Empties the cache when a state did not fit.  Called only where no pointer
 * into it is held, never between a lookup and the use of its answer.
 */
static void
LinUcbCacheTrim(void)
{
	HASHCTL		ctl;

	if (linucb_cache != NULL && !linucb_cache_full)
		return;
	if (linucb_cache_context == NULL)
		linucb_cache_context = AllocSetContextCreate(TopMemoryContext, "bandit LinUCB state",
													 ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(linucb_cache_context);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(LinUcbKey);
	ctl.entrysize = sizeof(LinUcbState);
	ctl.hcxt = linucb_cache_context;
	linucb_cache = hash_create("bandit LinUCB state", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	linucb_cache_bytes = 0;
	linucb_cache_full = false;
}

/* What names a stored float8[] without detoasting it. */
static uint64
StoredValueId(Datum value)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(value);

	if (VARATT_IS_EXTERNAL_ONDISK(v))
	{
		struct varatt_external pointer;

		VARATT_EXTERNAL_GET_POINTER(pointer, v);
		return ((uint64) pointer.va_toastrelid << 32) | pointer.va_valueid;
	}
	return hash_bytes_extended((const unsigned char *) v, VARSIZE_ANY(v), 0x6c696e756362);
}

/* A float8[] column of exactly `length` elements, copied into `into`. */
static void
StoredVector(Datum value, int length, const char *what, double *into)
{
	int			n;
	double	   *values = CheckFloat8Array(DatumGetArrayTypeP(value), what, &n);

	if (n != length)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("LinUCB state %s in bandit.arm has %d elements, expected %d", what, n, length)));
	memcpy(into, values, sizeof(double) * length);
}

/*
 * An entry for key holding the stored state, no pending update applied;
 * past the budget a state of the caller's memory, not kept (a policy
 * larger than the budget would otherwise hold all its arms' state in every
 * backend).
 */
static LinUcbState *
LinUcbCacheStore(const LinUcbKey *key, int dim, Datum a_inv, Datum b)
{
	Size		size = sizeof(LinUcbState) + sizeof(double) * ((Size) dim * dim + 2 * dim) + sizeof(int64) * dim;
	bool		found;
	LinUcbState *state;
	MemoryContext context = linucb_cache_context;

	if (linucb_cache_bytes + size > LINUCB_CACHE_BYTES)
	{
		linucb_cache_full = true;
		state = palloc(sizeof(LinUcbState));
		state->key = *key;
		found = false;
		context = CurrentMemoryContext;
	}
	else
	{
		state = hash_search(linucb_cache, key, HASH_ENTER, &found);
		if (!found)
			linucb_cache_bytes += size;
	}
	/* never looked up until whole: an error on the way leaves applied = -1 */
	state->applied = -1;
	if (!found || state->dim != dim)
	{
		state->dim = 0;
		state->capacity = dim;
		state->seqs = MemoryContextAlloc(context, sizeof(int64) * dim);
		state->a_inv = MemoryContextAlloc(context, sizeof(double) * dim * dim);
		state->b = MemoryContextAlloc(context, sizeof(double) * dim);
		state->theta = MemoryContextAlloc(context, sizeof(double) * dim);
		state->dim = dim;
	}
	StoredVector(a_inv, dim * dim, "a_inv", state->a_inv);
	Symmetrize(state->a_inv, dim);
	StoredVector(b, dim, "b", state->b);
	state->theta_valid = false;
	state->applied = 0;
	return state;
}

/* == reading the state of arms */

/* One arm being read: its state so far and the pending seqs it needs. */
typedef struct LinUcbLoad
{
	const char *arm;
	LinUcbState *state;
	int64	   *seqs;			/* every pending seq of the stored state */
	int			nseqs;
	const double **a_inv,
			  **theta;			/* NULL: not wanted */
} LinUcbLoad;

static struct
{
	const char *policy;
	int			dim;
	double		discount;
	LinUcbLoad *arms;
	int			n,
				capacity;
} load;

void
LinUcbBeginLoad(const char *policy, int dim, double discount)
{
	LinUcbCacheTrim();
	load.policy = policy;
	load.dim = dim;
	load.discount = discount;
	load.n = 0;
	load.capacity = 16;
	load.arms = palloc(sizeof(LinUcbLoad) * load.capacity);
}

/*
 * Records an arm whose a_inv, b, state_stamp and pending seqs are the
 * columns from `column` on; its A^-1 and theta = A^-1 b go to *a_inv and
 * *theta (unless NULL) at LinUcbFinishLoad.  A cache entry that applied updates these seqs do not
 * start with (rolled back since) is read afresh.
 */
void
LinUcbLoadRow(HeapTuple tuple, TupleDesc desc, int column, const char *arm, const double **a_inv,
			  const double **theta)
{
	bool		a_null,
				b_null,
				isnull;
	Datum		a_value = SPI_getbinval(tuple, desc, column, &a_null);
	Datum		b_value = SPI_getbinval(tuple, desc, column + 1, &b_null);
	Datum		seqs = SPI_getbinval(tuple, desc, column + 3, &isnull);
	LinUcbKey	key;
	LinUcbLoad *l;
	LinUcbState *state;

	if (a_null || b_null)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("LinUCB state %s is missing from bandit.arm", a_null ? "a_inv" : "b")));
	if (load.n == load.capacity)
	{
		load.capacity *= 2;
		load.arms = repalloc(load.arms, sizeof(LinUcbLoad) * load.capacity);
	}
	l = &load.arms[load.n++];
	l->arm = arm;
	l->a_inv = a_inv;
	l->theta = theta;
	l->nseqs = 0;
	l->seqs = NULL;
	if (!isnull)
	{
		Datum	   *datums;

		deconstruct_array(DatumGetArrayTypeP(seqs), INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &datums, NULL, &l->nseqs);
		l->seqs = palloc(sizeof(int64) * Max(l->nseqs, 1));
		for (int i = 0; i < l->nseqs; i++)
			l->seqs[i] = DatumGetInt64(datums[i]);
	}
	key.stamp = DatumGetInt64(SPI_getbinval(tuple, desc, column + 2, &isnull));
	key.a_inv = StoredValueId(a_value);
	key.b = StoredValueId(b_value);
	state = hash_search(linucb_cache, &key, HASH_FIND, NULL);
	if (state == NULL || state->dim != load.dim || state->applied < 0 || state->applied > l->nseqs ||
		memcmp(state->seqs, l->seqs, sizeof(int64) * state->applied) != 0)
		state = LinUcbCacheStore(&key, load.dim, a_value, b_value);
	l->state = state;
}

/* Pending updates that cannot be applied were not written by bandit: 22003 all the same. */
static void
PendingOutOfRange(const char *arm)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the pending LinUCB updates of arm \"%s\" of policy \"%s\" take its state out of range",
					arm, load.policy)));
}

/*
 * Fetches the pending updates the arms' states lack and applies them in
 * seq order; false if some were gone (folded since the arms were read).
 */
bool
LinUcbFinishLoad(void)
{
	int			d = load.dim;
	int			needed = 0,
				k = 0;
	Datum	   *stamps,
			   *seqs;
	SPITupleTable *table;
	double	   *u = palloc(sizeof(double) * d);

	for (int i = 0; i < load.n; i++)
		needed += load.arms[i].nseqs - load.arms[i].state->applied;
	if (needed > 0)
	{
		Datum		args[2];

		stamps = palloc(sizeof(Datum) * needed);
		seqs = palloc(sizeof(Datum) * needed);
		for (int i = 0; i < load.n; i++)
		{
			LinUcbLoad *l = &load.arms[i];

			for (int s = l->state->applied; s < l->nseqs; s++, k++)
			{
				stamps[k] = Int64GetDatum(l->state->key.stamp);
				seqs[k] = Int64GetDatum(l->seqs[s]);
			}
		}
		args[0] = PointerGetDatum(construct_array(stamps, needed, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
												  TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(seqs, needed, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
												  TYPALIGN_DOUBLE));
		if (SPI_execute_plan(plan_pending, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading pending LinUCB updates failed");
		if (SPI_processed != needed)
			return false;
		table = SPI_tuptable;

		/* rows in seq order; each arm's seqs ascend, so one merge pass finds them */
		for (int i = 0; i < load.n; i++)
		{
			LinUcbLoad *l = &load.arms[i];
			LinUcbState *state = l->state;

			for (int s = state->applied; s < l->nseqs; s++)
			{
				int			lo = 0,
							hi = needed - 1;
				bool		isnull;
				Datum		context;
				Jsonb	   *json;
				double	   *x;
				double		reward;

				/* the row of seq l->seqs[s] */
				while (lo < hi)
				{
					int			mid = (lo + hi) / 2;

					if (DatumGetInt64(SPI_getbinval(table->vals[mid], table->tupdesc, 1, &isnull)) < l->seqs[s])
						lo = mid + 1;
					else
						hi = mid;
				}
				context = SPI_getbinval(table->vals[lo], table->tupdesc, 2, &isnull);
				if (isnull)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("a pending LinUCB update of arm \"%s\" of policy \"%s\" names decision " INT64_FORMAT ", which is gone or not the decision it rewarded",
									l->arm, load.policy,
									DatumGetInt64(SPI_getbinval(table->vals[lo], table->tupdesc, 4, &isnull))),
							 errhint("A pending update takes its features from its decision: keep the decisions of bandit.linucb_pending.")));
				json = DatumGetJsonbP(context);
				x = LinUcbContextFeatures(json, load.policy, d);
				reward = DatumGetFloat8(SPI_getbinval(table->vals[lo], table->tupdesc, 3, &isnull));
				if (state->applied == state->capacity)
				{
					state->capacity *= 2;
					state->seqs = repalloc(state->seqs, sizeof(int64) * state->capacity);
				}
				if (!LinUcbStep(state->a_inv, state->b, x, reward, load.discount, d, u, true))
				{
					/* half written: never looked up again */
					state->applied = -1;
					PendingOutOfRange(l->arm);
				}
				state->seqs[state->applied++] = l->seqs[s];
				state->theta_valid = false;
				/* a new backend may apply thousands */
				pfree(x);
				if ((Pointer) json != DatumGetPointer(context))
					pfree(json);
				CHECK_FOR_INTERRUPTS();
			}
		}
	}
	for (int i = 0; i < load.n; i++)
	{
		LinUcbState *state = load.arms[i].state;

		*load.arms[i].a_inv = state->a_inv;
		if (load.arms[i].theta == NULL)
			continue;
		if (!state->theta_valid)
		{
			for (int r = 0; r < d; r++)
				state->theta[r] = Dot(&state->a_inv[r * d], state->b, d);
			state->theta_valid = true;
		}
		*load.arms[i].theta = state->theta;
	}
	return true;
}

/*
 * The current state of one arm, read under its row lock or in the caller's
 * snapshot; the number of pending updates in *pending.
 */
static void
LinUcbArmState(const char *policy, const char *arm, int dim, double discount, const double **a_inv,
			   const double **b, int *pending)
{
	Datum		key[2] = {CStringGetTextDatum(policy), CStringGetTextDatum(arm)};

	do
	{
		LinUcbBeginLoad(policy, dim, discount);
		if (SPI_execute_plan(plan_arm_state, key, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading a LinUCB arm failed");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("arm \"%s\" does not exist in policy \"%s\"", arm, policy)));
		LinUcbLoadRow(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, arm, a_inv, NULL);
	} while (!LinUcbFinishLoad());
	*b = load.arms[0].state->b;
	*pending = load.arms[0].nseqs;
}

/* == learning */

/* A reward whose update of A^-1 or b would overflow is refused: 22003. */
static void
LinUcbOutOfRange(const char *policy, const char *arm, double reward)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("reward %s with this context would take the LinUCB state of arm \"%s\" of policy \"%s\" out of range",
					ShowDouble(reward), arm, policy),
			 errhint("The context's features are too large.")));
}

/*
 * Credits a reward to a LinUCB arm (inside SPI), for decision `decision`
 * whose context has features x: the arm row's counts and budget estimates
 * (observed cost and latency, NULL: not observed) now, the update as a
 * pending row naming the decision, or, as the arm's (2 dim)-th update since
 * the last fold, all of them folded into a_inv and b.
 */
void
LinUcbLearn(const char *policy, const char *arm, int dim, double discount, double reward, const double *x,
			int64 decision, const double *cost, const double *latency, double smoothing)
{
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	const double *a_inv,
			   *b;
	int			pending;
	int			d = dim;
	double	   *u = palloc(sizeof(double) * d);
	int64		stamp;

	args[0] = CStringGetTextDatum(policy);
	args[1] = CStringGetTextDatum(arm);
	args[2] = Float8GetDatum(discount);
	args[3] = Float8GetDatum(reward);
	args[4] = cost ? Float8GetDatum(*cost) : (Datum) 0;
	nulls[4] = cost ? ' ' : 'n';
	args[5] = latency ? Float8GetDatum(*latency) : (Datum) 0;
	nulls[5] = latency ? ' ' : 'n';
	args[6] = Float8GetDatum(smoothing);
	if (SPI_execute_plan(plan_learn, args, nulls, false, 1) != SPI_OK_UPDATE)
		elog(ERROR, "updating a LinUCB arm failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("arm \"%s\" does not exist in policy \"%s\"", arm, policy)));
	/* under the row lock: every committed update of the arm is visible */
	LinUcbArmState(policy, arm, dim, discount, &a_inv, &b, &pending);
	stamp = load.arms[0].state->key.stamp;
	if (pending + 1 >= LinUcbFoldEvery(dim, discount))
	{
		double	   *new_a_inv = palloc(sizeof(double) * d * d);
		double	   *new_b = palloc(sizeof(double) * d);

		memcpy(new_a_inv, a_inv, sizeof(double) * d * d);
		memcpy(new_b, b, sizeof(double) * d);
		if (!LinUcbStep(new_a_inv, new_b, x, reward, discount, d, u, true) ||
			(discount < 1 && !LinUcbAddRidge(new_a_inv, d, 1 - pow(discount, pending + 1))))
			LinUcbOutOfRange(policy, arm, reward);
		args[2] = Float8ArrayDatum(new_a_inv, d * d);
		args[3] = Float8ArrayDatum(new_b, d);
		if (SPI_execute_plan(plan_fold, args, NULL, false, 1) != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "folding a LinUCB arm failed");
		args[2] = Int64GetDatum(stamp);
		if (SPI_execute_plan(plan_fold_delete, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "deleting folded LinUCB updates failed");
		if (SPI_processed != pending)
			elog(ERROR, "folded %d pending LinUCB updates but deleted " UINT64_FORMAT, pending, SPI_processed);
		return;
	}
	if (discount == 1)
	{
		if (!LinUcbStep((double *) a_inv, (double *) b, x, reward, 1, d, u, false))
			LinUcbOutOfRange(policy, arm, reward);
	}
	else
	{
		double	   *copy_a_inv = palloc(sizeof(double) * d * d);
		double	   *copy_b = palloc(sizeof(double) * d);

		memcpy(copy_a_inv, a_inv, sizeof(double) * d * d);
		memcpy(copy_b, b, sizeof(double) * d);
		if (!LinUcbStep(copy_a_inv, copy_b, x, reward, discount, d, u, true))
			LinUcbOutOfRange(policy, arm, reward);
	}
	args[2] = Int64GetDatum(stamp);
	args[3] = Int64GetDatum(decision);
	args[4] = Float8GetDatum(reward);
	if (SPI_execute_plan(plan_insert_pending, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "recording a pending LinUCB update failed");
}

PG_FUNCTION_INFO_V1(bandit_linucb_state);

/*
 * linucb_state(policy, arm): the arm's A^-1 and b as choose uses them (the
 * stored state with its pending updates applied), and how many are pending.
 */
Datum
bandit_linucb_state(PG_FUNCTION_ARGS)
{
	int			nest;
	char	   *policy,
			   *arm,
			   *algorithm;
	Datum		arg;
	Jsonb	   *params;
	double		dim,
				discount = 1;
	bool		isnull;
	const double *a_inv,
			   *b;
	int			pending;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext old;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("policy and arm must not be NULL")));
	policy = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arm = text_to_cstring(PG_GETARG_TEXT_PP(1));
	nest = SpiBegin();
	LinUcbPreparePlans();
	RequirePrivilege("policy", policy, "read", false);
	arg = CStringGetTextDatum(policy);
	if (SPI_execute_plan(plan_linucb_policy, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading policy \"%s\" failed", policy);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("policy \"%s\" does not exist", policy)));
	algorithm = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (strcmp(algorithm, "linucb") != 0 && strcmp(algorithm, "lints") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" is a %s policy, not linucb or lints", policy, algorithm)));
	params = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!JsonbObjectNumber(params, "dim", "parameter", &dim) ||
		!(dim >= 1 && dim <= LINUCB_MAX_DIM && dim == floor(dim)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("policy \"%s\" has no valid dim; LinUCB takes an integer from 1 to %d",
						policy, LINUCB_MAX_DIM)));
	JsonbObjectNumber(params, "discount", "parameter", &discount);
	LinUcbArmState(policy, arm, (int) dim, discount, &a_inv, &b, &pending);

	/* the result outlives SPI's memory, which SpiEnd frees */
	old = MemoryContextSwitchTo(caller);
	values[0] = Float8ArrayDatum(a_inv, (int) dim * (int) dim);
	values[1] = Float8ArrayDatum(b, (int) dim);
	values[2] = Int32GetDatum(pending);
	MemoryContextSwitchTo(old);
	SpiEnd(nest);
	return MakeResultTuple(fcinfo, values, nulls);
}
