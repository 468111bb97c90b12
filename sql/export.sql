-- export_policy / import_policy (issue 13): the document, a round trip under
-- another name, and every kind of bad document as a clean error that imports
-- nothing.  test/export_test.py carries policies between two databases.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
-- the policy's rows as text, to show that a failed import changed nothing
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $f$
    SELECT md5(string_agg(x, ';' ORDER BY x)) FROM (
        SELECT p::text x FROM bandit.policy p UNION ALL SELECT a::text FROM bandit.arm a
        UNION ALL SELECT s::text FROM bandit.snapshot s UNION ALL SELECT o::text FROM bandit.object o
        UNION ALL SELECT c::text FROM bandit.arm_count c UNION ALL SELECT u::text FROM bandit.audit u) t
$f$;

-- == the document: alpha 1 + 1 = 2 and beta 1 + 0 = 1 after a reward of 1;
-- pulls 1, weight 1, mean 1, m2 0; b untouched
SELECT bandit.create_policy('ex', 'thompson', '{b,a}', '{"prior_alpha": 1, "epsilon": 0.25}');
SELECT bandit.reward('ex', 'a', 1);
SELECT bandit.set_arm_budget('ex', 'b', 0.5, 10);
SELECT jsonb_pretty(bandit.export_policy('ex') #- '{arms,0,added_at}' #- '{arms,1,added_at}' #- '{arms,0,last_update}')
       AS doc;
SELECT bandit.export_policy('ex')->'arms'->1->'last_update' = 'null' AS b_never_updated;
SELECT bandit.export_policy('ex') ? 'snapshots' AS with_snapshots, bandit.export_policy('ex', true)->'snapshots' AS none_yet;

-- == round trip under another name: the same document; audited with its source
SELECT bandit.import_policy(bandit.export_policy('ex'), 'ex2');
SELECT bandit.export_policy('ex2') - 'name' = bandit.export_policy('ex') - 'name' AS same_document;
SELECT action, detail FROM bandit.audit WHERE policy = 'ex2';
SELECT owner = current_user::regrole AS owned_by_caller FROM bandit.object WHERE kind = 'policy' AND name = 'ex2';
-- the document's own name by default; an existing name is 23505
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex'))$$);
SELECT bandit.import_policy(bandit.export_policy('ex') || '{"name": "ex3"}');

-- == floats: -0 is the string "-0"; 1e-300, subnormals, 1e308 and 17 digits as numbers
SELECT bandit.create_policy('fx', 'ucb1', '{a}');
UPDATE bandit.arm SET mean_reward = '-0', m2 = '1e-300', weight = '5e-324', alpha = '1e308', beta = '0.30000000000000004'
WHERE policy = 'fx';
SELECT e->'mean_reward' AS mean_reward, e->'beta' AS beta, (e->>'m2')::float8 AS m2, (e->>'weight')::float8 AS weight,
       (e->>'alpha')::float8 AS alpha
FROM jsonb_array_elements(bandit.export_policy('fx')->'arms') e;
SELECT bandit.import_policy(bandit.export_policy('fx'), 'fx2');
SELECT encode(float8send(mean_reward), 'hex') AS minus_zero, m2 = 1e-300 AS m2, weight = 5e-324 AS weight,
       alpha = 1e308 AS alpha, beta = 0.30000000000000004 AS beta
FROM bandit.arm WHERE policy = 'fx2';

-- == LinUCB: the state choose uses, pending rewards applied.  dim 1, x = 2,
-- reward 1: Sherman-Morrison A^-1 = 1 - (2 * 2) * (1 / (1 + 2 * 2)), in
-- doubles 1 - 4 * 0.2 = 0.19999999999999996 (Python); b = 1 * 2 = 2; still
-- pending (an arm folds at its 2 dim-th reward), so the stored a_inv is 1
SELECT bandit.create_policy('lx', 'linucb', '{a}', '{"dim": 1}');
SELECT bandit.reward(decision_id, 1) FROM bandit.choose('lx', '{"features": [2]}');
SELECT s.pending, a.a_inv AS stored_a_inv FROM bandit.linucb_state('lx', 'a') s, bandit.arm a WHERE a.policy = 'lx';
SELECT bandit.export_policy('lx')->'arms'->0->'a_inv' AS a_inv, bandit.export_policy('lx')->'arms'->0->'b' AS b;
SELECT bandit.import_policy(bandit.export_policy('lx'), 'lx2');
SELECT a_inv, b, pending FROM bandit.linucb_state('lx2', 'a');

-- == bad documents: a clean error each, nothing imported
SELECT bandit.snapshot('ex', 'one') > 0 AS snapshot;
SELECT pg_temp.state() AS before \gset
SELECT pg_temp.err($$SELECT bandit.import_policy(NULL)$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex'), 'x', NULL)$$);
SELECT pg_temp.err($$SELECT bandit.import_policy('[1]')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy('{}')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"format_version": 2}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"format_version": 1.5}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"format_version": "1"}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') - 'arms' - 'mode', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"decisions": -1}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"arms": []}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"arms": [1]}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"algorithm": "greedy"}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{params,epsilon}', '2'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{params,colour}', '1'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"mode": "loud"}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"default_arm": "z"}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"algorithm": "linucb"}', 'x')$$);
-- arms that do not match
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,arm}', '"a"'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,arm}', 'null'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') #- '{arms,1,m2}' #- '{arms,1,pulls}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,alpha}', '"NaN"'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,alpha}', '"Infinity"'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,beta}', '0'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,weight}', '-1'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,pulls}', '1.5'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,cost}', '-2'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,retired}', '"no"'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,added_at}', '"yesterday-ish"'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,m2}', '1e400'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex'), '{arms,1,a_inv}', '[1]'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('lx'), '{arms,0,a_inv}', '[1, 2]'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('lx'), '{arms,0,b}', '["x"]'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('lx'), '{params,dim}', '2'), 'x')$$);
-- snapshots
SELECT pg_temp.err($$SELECT bandit.import_policy(bandit.export_policy('ex') || '{"snapshots": {}}', 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex', true), '{snapshots,0,status}', '"gone"'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex', true), '{snapshots,0,parent}', '1'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex', true), '{snapshots,0,policy_row}', '[]'), 'x')$$);
SELECT pg_temp.err($$SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex', true), '{snapshots,0,arms,0,pulls}', '"many"'), 'x')$$);
SELECT pg_temp.state() = :'before' AS nothing_imported, count(*) AS policies_x FROM bandit.policy WHERE name = 'x';

-- == unknown keys: a NOTICE naming them, imported all the same
SELECT bandit.import_policy(jsonb_set(bandit.export_policy('ex', true) || '{"comment": "hi", "origin": 1}',
                                      '{arms,0,note}', '"n"'), 'ex4');
SELECT bandit.export_policy('ex4', true) - 'name' - 'snapshots' = bandit.export_policy('ex', true) - 'name' - 'snapshots' AS same;

-- == replace: the document's state, the log and owner kept, the old state restorable
SELECT bandit.import_policy(bandit.export_policy('fx'), 'ex2', true);
SELECT algorithm, (SELECT array_agg(arm) FROM bandit.arm WHERE policy = 'ex2') AS arms FROM bandit.policy WHERE name = 'ex2';
SELECT label, status FROM bandit.snapshot WHERE policy = 'ex2';
SELECT action, detail->'replaced' AS replaced FROM bandit.audit WHERE policy = 'ex2' ORDER BY id;
SELECT bandit.restore(id) FROM bandit.snapshot WHERE policy = 'ex2' AND label = 'before import_policy';
SELECT bandit.export_policy('ex2') - 'name' = bandit.export_policy('ex') - 'name' AS restored;
-- replace of a name not taken creates it
SELECT bandit.import_policy(bandit.export_policy('ex'), 'ex5', true);

-- == NULLs and unknown policies of export
SELECT pg_temp.err($$SELECT bandit.export_policy(NULL)$$);
SELECT pg_temp.err($$SELECT bandit.export_policy('nope')$$);
SELECT pg_temp.err($$SELECT bandit.export_policy('ex', NULL)$$);
