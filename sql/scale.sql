-- Policies at scale (issue 11).  add_arm checks the arm limits against the
-- count kept in bandit.arm_count instead of counting the arms, so that
-- adding an arm costs the same at 100 or 100,000 arms.  The count
-- follows every way arms come and go: create_policy, add_arm (also when it
-- fails), retire_arm (a retired arm still counts), restore.  Expected
-- counts are the arms named in each step.  arm_stats aggregates the arms
-- unsorted: each probability must still land on its arm.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE FUNCTION pg_temp.counts(name text) RETURNS text LANGUAGE sql AS $f$
SELECT format('arm_count %s, arms %s', (SELECT c.arms FROM bandit.arm_count c WHERE c.policy = $1),
              (SELECT count(*) FROM bandit.arm a WHERE a.policy = $1)) $f$;

SELECT bandit.create_policy('sc', 'thompson', '{a,b,c}');
SELECT pg_temp.counts('sc');
SELECT bandit.add_arm('sc', 'd');
SELECT pg_temp.counts('sc');
-- failed calls leave the count as it was
SELECT pg_temp.err($$SELECT bandit.add_arm('sc', 'd')$$);
SELECT pg_temp.err($$SELECT bandit.add_arm('sc', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.add_arm('sc', 'e', -1)$$);
SELECT pg_temp.err($$SELECT bandit.add_arm('nosuch', 'e')$$);
SELECT pg_temp.counts('sc');
SELECT bandit.retire_arm('sc', 'b');
SELECT pg_temp.counts('sc');
-- adding an arm leaves the policy row alone (its version keys the backends'
-- arm caches)
SELECT xmin AS policy_xmin FROM bandit.policy WHERE name = 'sc' \gset
SELECT bandit.add_arm('sc', 'x');
SELECT xmin = :'policy_xmin' AS policy_row_unchanged FROM bandit.policy WHERE name = 'sc';
SELECT pg_temp.counts('sc');
-- a policy whose count is missing (written by hand) is counted once
DELETE FROM bandit.arm_count WHERE policy = 'sc';
SELECT bandit.add_arm('sc', 'y');
SELECT pg_temp.counts('sc');
-- restore puts back the arms of the snapshot, and their number
SELECT bandit.snapshot('sc', 'six') AS six \gset
SELECT bandit.add_arm('sc', 'e');
SELECT bandit.add_arm('sc', 'f');
SELECT pg_temp.counts('sc');
SELECT bandit.restore(:six);
SELECT pg_temp.counts('sc');

-- 100000 arms is the most: the last one is taken, one more is 54000 and
-- changes nothing
SELECT bandit.create_policy('sc_big', 'ucb1', ARRAY(SELECT 'a' || i FROM generate_series(1, 99999) i));
SELECT bandit.add_arm('sc_big', 'last');
SELECT pg_temp.err($$SELECT bandit.add_arm('sc_big', 'one more')$$);
SELECT pg_temp.counts('sc_big');

-- LinUCB: at most 268435456 numbers of state, arms x dim^2.  At dim 52 that
-- is 99273 arms (268435456 / 2704 = 99273.1).  The count is set by hand to
-- stand for 99272 arms (2 GiB of them would not fit a test): the 99273rd
-- passes, the next is 54000 and names 99274 arms
SELECT bandit.create_policy('sc_lin', 'linucb', '{a}', '{"dim": 52}');
UPDATE bandit.arm_count SET arms = 99272 WHERE policy = 'sc_lin';
SELECT bandit.add_arm('sc_lin', 'b');
SELECT pg_temp.err($$SELECT bandit.add_arm('sc_lin', 'c')$$);
SELECT arms FROM bandit.arm_count WHERE policy = 'sc_lin';

-- arm_stats: each arm's probability to be best lands on that arm, whatever
-- the order of the rows (arms created in reverse, rows moved by updates,
-- a retired arm between).  X ~ Beta(2, 1) (density 2x), Y ~ Beta(1, 1),
-- Z ~ Beta(1, 2) (CDF 2x - x^2):
--   P(X best) = int 2x * x * (2x - x^2) dx = 1 - 2/5 = 3/5
--   P(Y best) = int x^2 * (2x - x^2) dx = 1/2 - 1/5 = 3/10
--   P(Z best) = int 2(1 - x) * x^2 * x dx = 2 (1/4 - 1/5) = 1/10
SELECT bandit.create_policy('sc_order', 'thompson', '{d,c,b,a}');
UPDATE bandit.arm SET alpha = 2 WHERE policy = 'sc_order' AND arm = 'c';
UPDATE bandit.arm SET beta = 2 WHERE policy = 'sc_order' AND arm = 'd';
SELECT bandit.retire_arm('sc_order', 'b');
SELECT arm, alpha, beta, round(prob_best::numeric, 9) AS prob_best, retired FROM bandit.arm_stats('sc_order');

DELETE FROM bandit.policy WHERE name LIKE 'sc%';
SELECT count(*) AS counts_left FROM bandit.arm_count WHERE policy LIKE 'sc%';
DELETE FROM bandit.snapshot WHERE policy LIKE 'sc%';
DELETE FROM bandit.audit WHERE policy LIKE 'sc%';
DELETE FROM bandit.object WHERE kind = 'policy' AND name LIKE 'sc%';
