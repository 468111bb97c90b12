CREATE FUNCTION bandit.set_seed(seed bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'bandit_set_seed'
    LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION bandit.set_seed(bigint) IS
    'Seed this session''s random generator: the same seed and the same sequence of calls give the same results';
