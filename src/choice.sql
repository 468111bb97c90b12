-- Selection aggregates: one row per arm, the chosen arm out (src/choice.c).
--
-- These draw from the session's generator, so unlike the project's other
-- aggregates they are PARALLEL RESTRICTED and have no combine function: the
-- generator is per backend, and a parallel worker's draws would neither
-- follow bandit.set_seed nor advance the leader's stream.  Being leader-only,
-- they keep an internal state (nothing to serialize).  Rows with a NULL
-- argument are skipped, as a strict aggregate would; no rows give NULL.

CREATE FUNCTION bandit.thompson_choice_accum(internal, text, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_thompson_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.thompson_choice_accum(internal, text, float8, float8) IS
    'Transition of bandit.thompson_choice: one Beta draw per row, keeps the arm of the largest';

CREATE FUNCTION bandit.epsilon_greedy_choice_accum(internal, text, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_epsilon_greedy_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.epsilon_greedy_choice_accum(internal, text, float8, float8) IS
    'Transition of bandit.epsilon_greedy_choice: decides on the first row whether to explore, then keeps a uniformly random arm or the best mean';

CREATE FUNCTION bandit.softmax_choice_accum(internal, text, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_softmax_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.softmax_choice_accum(internal, text, float8, float8) IS
    'Transition of bandit.softmax_choice: weighted reservoir sampling with weights exp((mean - max mean) / temperature)';

CREATE FUNCTION bandit.ucb1_choice_accum(internal, text, bigint, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_ucb1_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.ucb1_choice_accum(internal, text, bigint, float8) IS
    'Transition of bandit.ucb1_choice(arm, pulls, mean_reward): c = 1';

CREATE FUNCTION bandit.ucb1_choice_accum(internal, text, bigint, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bandit_ucb1_choice_accum' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.ucb1_choice_accum(internal, text, bigint, float8, float8) IS
    'Transition of bandit.ucb1_choice(arm, pulls, mean_reward, c): keeps the rows until the total pulls are known';

CREATE FUNCTION bandit.choice_final(internal) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_choice_final' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.choice_final(internal) IS
    'Final of bandit.thompson_choice, bandit.epsilon_greedy_choice and bandit.softmax_choice: the arm chosen';

CREATE FUNCTION bandit.ucb1_choice_final(internal) RETURNS text
    AS 'MODULE_PATHNAME', 'bandit_ucb1_choice_final' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.ucb1_choice_final(internal) IS
    'Final of bandit.ucb1_choice: an unpulled arm, else the largest mean + c sqrt(2 ln N / n), ties broken at random';

CREATE AGGREGATE bandit.thompson_choice(arm text, alpha float8, beta float8) (
    SFUNC = bandit.thompson_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.thompson_choice(text, float8, float8) IS
    'Thompson sampling over one row per arm: draws theta ~ Beta(alpha, beta) per row and returns the arm of the largest draw (ties at random). Constant memory. Random (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.epsilon_greedy_choice(arm text, mean_reward float8, epsilon float8) (
    SFUNC = bandit.epsilon_greedy_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.epsilon_greedy_choice(text, float8, float8) IS
    'Epsilon-greedy over one row per arm: with probability epsilon (in [0, 1], the same on every row) a uniformly random arm, else the arm of the best mean (ties at random). Constant memory. Random (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.softmax_choice(arm text, mean_reward float8, temperature float8) (
    SFUNC = bandit.softmax_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.softmax_choice(text, float8, float8) IS
    'Softmax (Boltzmann) choice over one row per arm: P(arm) proportional to exp(mean_reward / temperature), computed relative to the largest mean so nothing overflows; temperature > 0, the same on every row. Constant memory. Random (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.ucb1_choice(arm text, pulls bigint, mean_reward float8) (
    SFUNC = bandit.ucb1_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.ucb1_choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.ucb1_choice(text, bigint, float8) IS
    'UCB1 over one row per arm with c = 1: an arm with pulls = 0 first (at random among them; its mean_reward may be NULL), else the largest mean_reward + sqrt(2 ln N / pulls), N = total pulls of the rows (ties at random). Keeps the rows until N is known: O(arms) memory. Random ties (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; other rows with a NULL are skipped, no rows give NULL';

CREATE AGGREGATE bandit.ucb1_choice(arm text, pulls bigint, mean_reward float8, c float8) (
    SFUNC = bandit.ucb1_choice_accum,
    STYPE = internal,
    FINALFUNC = bandit.ucb1_choice_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE bandit.ucb1_choice(text, bigint, float8, float8) IS
    'UCB1 over one row per arm: an arm with pulls = 0 first (at random among them; its mean_reward may be NULL), else the largest mean_reward + c sqrt(2 ln N / pulls), N = total pulls of the rows, c >= 0 the same on every row (ties at random). Keeps the rows until N is known: O(arms) memory. Random ties (see bandit.set_seed), hence PARALLEL RESTRICTED without a combine function; other rows with a NULL are skipped, no rows give NULL';

-- Support functions are internal: PostgreSQL checks EXECUTE on the aggregate, not on them.
REVOKE EXECUTE ON FUNCTION bandit.thompson_choice_accum(internal, text, float8, float8),
    bandit.epsilon_greedy_choice_accum(internal, text, float8, float8),
    bandit.softmax_choice_accum(internal, text, float8, float8),
    bandit.ucb1_choice_accum(internal, text, bigint, float8),
    bandit.ucb1_choice_accum(internal, text, bigint, float8, float8),
    bandit.choice_final(internal), bandit.ucb1_choice_final(internal) FROM PUBLIC;
