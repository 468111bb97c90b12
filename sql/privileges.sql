-- Access control (issue 10; API.md section 10; the design in findings/ACCESS.md):
-- owners, bandit.grant / bandit.revoke, use / read / manage on each kind of object,
-- row-level security on the tables, no writes but through the API, internal helpers
-- and creating functions not executable by PUBLIC.  Roles:
--   owner      a plain role a DBA let create objects (EXECUTE on the creating functions)
--   app        use on P (the policy priv_p, experiment priv_e, agent priv_a, scope priv_s, priors)
--   analyst    read on P
--   other_app  use on Q (priv_q, priv_eq, priv_aq, priv_sq)
--   nobody     nothing
-- Every expected result is written in the matrices below from the design; each row
-- ends in as_designed, true when every cell is what the design says.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
-- the statement run as role regress_bandit_<who>, then rolled back (a state that
-- stays the same for every cell); 'ok' or 'SQLSTATE: message'
CREATE FUNCTION pg_temp.try_as(who text, sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    was text := current_setting('role');
BEGIN
    BEGIN
        PERFORM set_config('role', 'regress_bandit_' || who, true);
        EXECUTE sql;
        RAISE EXCEPTION USING ERRCODE = 'BXROK';
    EXCEPTION WHEN SQLSTATE 'BXROK' THEN
        PERFORM set_config('role', was, true);
        RETURN 'ok';
    WHEN OTHERS THEN
        RETURN SQLSTATE || ': ' || SQLERRM;
    END;
END $f$;
-- the same, kept (a grant, a revoke)
CREATE FUNCTION pg_temp.as_role(who text, sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    was text := current_setting('role');
BEGIN
    PERFORM set_config('role', 'regress_bandit_' || who, true);
    EXECUTE sql;
    PERFORM set_config('role', was, true);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $f$;
-- the message and the HINT of a refused statement run as regress_bandit_<who>
CREATE FUNCTION pg_temp.refusal(who text, sql text) RETURNS TABLE(error text, hint text) LANGUAGE plpgsql AS $f$
DECLARE
    h text;
BEGIN
    BEGIN
        PERFORM set_config('role', 'regress_bandit_' || who, true);
        EXECUTE sql;
        RAISE EXCEPTION USING ERRCODE = 'BXROK';
    EXCEPTION WHEN SQLSTATE 'BXROK' THEN
        error := 'ok';
    WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
        error := SQLSTATE || ': ' || SQLERRM;
        hint := nullif(h, '');
    END;
    RETURN NEXT;
END $f$;
-- a cell of a matrix: 'ok', 'lacks <privilege>' when the refusal is exactly the
-- design's message for this role and object (a scope is named 'tuning scope "s"',
-- the priors 'the priors'), or the whole result otherwise
CREATE FUNCTION pg_temp.cell(kind text, name text, who text, sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    r text := pg_temp.try_as(who, sql);
    m text[] := regexp_match(r, '^42501: permission denied for '
                                || CASE kind WHEN 'priors' THEN 'the priors'
                                             WHEN 'scope' THEN format('tuning scope "%s"', name)
                                             ELSE format('%s "%s"', kind, name) END
                                || format(': role "%s" lacks (use|read|manage)$', 'regress_bandit_' || who));
BEGIN
    RETURN CASE WHEN m IS NULL THEN r ELSE 'lacks ' || m[1] END;
END $f$;
-- every row of every bandit table, and with sequences the sequences' positions, as the superuser sees them
CREATE FUNCTION pg_temp.digest(sequences boolean) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    t record;
    acc text := '';
    part text;
BEGIN
    FOR t IN SELECT c.relname, c.relkind FROM pg_class c
             WHERE c.relnamespace = 'bandit'::regnamespace AND (c.relkind = 'r' OR sequences AND c.relkind = 'S')
             ORDER BY 1 LOOP
        IF t.relkind = 'S' THEN
            EXECUTE format('SELECT last_value || '','' || is_called FROM bandit.%I', t.relname) INTO part;
        ELSE
            EXECUTE format('SELECT md5(coalesce(string_agg(x::text, '';'' ORDER BY x::text), '''')) FROM bandit.%I x',
                           t.relname) INTO part;
        END IF;
        acc := acc || t.relname || ':' || part || ' ';
    END LOOP;
    RETURN md5(acc);
END $f$;

-- a role's name as shown here: the superuser that runs the tests is named whatever it is
CREATE FUNCTION pg_temp.who(r regrole) RETURNS text LANGUAGE sql AS $f$
    SELECT CASE WHEN r::text LIKE 'regress\_bandit\_%' THEN r::text
                WHEN (SELECT rolsuper FROM pg_roles WHERE oid = r) THEN 'a superuser' ELSE r::text END
$f$;

-- the sequences as they are, put back at the end: later tests count ids from them
CREATE TEMP TABLE sequences_before AS
SELECT sequencename, coalesce(last_value, start_value) AS last_value, last_value IS NOT NULL AS is_called
FROM pg_sequences WHERE schemaname = 'bandit';

CREATE ROLE regress_bandit_owner;
CREATE ROLE regress_bandit_app;
CREATE ROLE regress_bandit_analyst;
CREATE ROLE regress_bandit_other_app;
CREATE ROLE regress_bandit_nobody;
-- a DBA lets owner create objects
GRANT EXECUTE ON FUNCTION bandit.create_policy(text, text, text[], jsonb),
    bandit.create_experiment(text, text[], float8[], jsonb),
    bandit.define_tuning_value(text, text, float8, float8, float8, float8, integer),
    bandit.set_tuning_rate_limit(text, integer, interval) TO regress_bandit_owner;

-- with no grant at all, the pure functions work for anyone (0.1.0 refused even these)
SELECT pg_temp.try_as('nobody', $$SELECT bandit.prob_best('{1,2}', '{2,1}')$$) AS prob_best,
       pg_temp.try_as('nobody', $$SELECT bandit.beta_quantile(2, 2, 0.5)$$) AS beta_quantile,
       pg_temp.try_as('nobody', $$SELECT bandit.thompson_choice(a, 1, 1) FROM unnest('{x,y}'::text[]) a$$) AS aggregate;

-- owner creates P and Q of every kind; an agent is created by its first q_learn
SET ROLE regress_bandit_owner;
SELECT bandit.set_seed(10);
SELECT bandit.create_policy('priv_p', 'thompson', '{a,b}');
SELECT bandit.create_policy('priv_q', 'thompson', '{a,b}');
SELECT bandit.create_experiment('priv_e', '{control,treat}');
SELECT bandit.start_experiment('priv_e');
SELECT bandit.create_experiment('priv_ed', '{x,y}');     -- a draft, to start
SELECT bandit.create_experiment('priv_eq', '{control,treat}');
SELECT bandit.start_experiment('priv_eq');
SELECT bandit.q_learn('priv_a', 's0', 'a0', 1, 's1');
SELECT bandit.q_remember('priv_a', 's0', 'a1', 0, 's1');
SELECT bandit.q_learn('priv_aq', 's0', 'a0', 1, 's1');
SELECT bandit.define_tuning_value('priv_s', 'v', 500, 100, 2000, 50, 0);
SELECT bandit.define_tuning_value('priv_sq', 'v', 500, 100, 2000, 50, 0);
SELECT count(bandit.assign('priv_e', 'u' || i)) FROM generate_series(1, 20) i;
SELECT count(bandit.record_metric('priv_e', 'u' || i, 'conv', (i % 2)::float8)) FROM generate_series(1, 20) i;
SELECT count(bandit.record_metric('priv_e', 'u' || i, 'rev', i * 1.5)) FROM generate_series(1, 20) i;
SELECT kind, name, owner FROM bandit.object WHERE name LIKE 'priv\_%' ORDER BY kind, name;
-- owner gives the application use, the analyst read, on P; other_app use on Q
SELECT bandit.grant(kind, name, 'regress_bandit_app', 'use'),
       bandit.grant(kind, name, 'regress_bandit_analyst', 'read'),
       bandit.grant(kind, q, 'regress_bandit_other_app', 'use')
FROM (VALUES ('policy', 'priv_p', 'priv_q'), ('experiment', 'priv_e', 'priv_eq'), ('agent', 'priv_a', 'priv_aq'),
             ('scope', 'priv_s', 'priv_sq')) v(kind, name, q);
SELECT bandit.grant('experiment', 'priv_ed', 'regress_bandit_app', 'use'),
       bandit.grant('experiment', 'priv_ed', 'regress_bandit_analyst', 'read');
-- what the cells below need: a decision of P and of Q, snapshots, a Q-table document, a proposal
-- (kept as settings, which any role reads, so that the calls read the same whatever ran before)
SELECT bandit.snapshot('priv_p', 'before') AS snap \gset
SELECT bandit.snapshot_tuning('priv_s', 'before') AS tsnap \gset
SELECT set_config('priv.snap', :'snap', false) IS NOT NULL AS snap,
       set_config('priv.tsnap', :'tsnap', false) IS NOT NULL AS tsnap,
       set_config('priv.qdoc', bandit.q_export('priv_a')::text, false) IS NOT NULL AS qdoc,
       set_config('priv.prop', bandit.propose_value('priv_s', 'v', 600, 30)::text, false) IS NOT NULL AS prop;
SET ROLE regress_bandit_app;
SELECT set_config('priv.dp', decision_id::text, false) AS dp FROM bandit.choose('priv_p') \gset
SET ROLE regress_bandit_other_app;
SELECT set_config('priv.dq', decision_id::text, false) AS dq FROM bandit.choose('priv_q') \gset
RESET ROLE;
-- priors are one object, the extension owner's (here the superuser): owner does not hold it
SELECT kind, name, owner = (SELECT extowner FROM pg_extension WHERE extname = 'bandit')::regrole AS extension_owner
FROM bandit.object WHERE kind = 'priors';
SELECT pg_temp.cell('priors', '*', 'owner', $$SELECT bandit.cleanup_priors('7 days')$$) AS owner_cleans_priors;
SELECT bandit.grant('priors', '*', 'regress_bandit_owner', 'manage'),
       bandit.grant('priors', '*', 'regress_bandit_app', 'use'),
       bandit.grant('priors', '*', 'regress_bandit_analyst', 'read');
-- objects of another owner (the superuser), on which owner holds nothing
SELECT bandit.create_policy('priv_x', 'thompson', '{a,b}');
SELECT bandit.create_experiment('priv_ex', '{control,treat}');
SELECT bandit.start_experiment('priv_ex');
SELECT bandit.q_learn('priv_ax', 's0', 'a0', 1, 's1');
SELECT bandit.define_tuning_value('priv_sx', 'v', 500, 100, 2000, 50, 0);

-- the matrices: each statement run by each role and rolled back; nothing of it may remain
-- (but the sequences the calls that work draw from)
SELECT pg_temp.digest(false) AS before \gset
CREATE TEMP TABLE matrix (kind text, name text, call text, want text[], ord serial);
CREATE FUNCTION pg_temp.show(k text) RETURNS TABLE(call text, owner text, app text, analyst text, other_app text,
                                                  nobody text, as_designed boolean) LANGUAGE sql AS $f$
    SELECT call, c[1], c[2], c[3], c[4], c[5], c = want
    FROM (SELECT m.call, m.want, m.ord,
                 ARRAY(SELECT pg_temp.cell(m.kind, m.name, w, m.call)
                       FROM unnest('{owner,app,analyst,other_app,nobody}'::text[]) WITH ORDINALITY u(w, i) ORDER BY i) c
          FROM matrix m WHERE m.kind = k) s
    ORDER BY ord
$f$;
\set signal '{"aggregation_round": 1, "cluster_hash": "priv", "participant_count": 3, "reward_signals": {"priv_key": {"success_rate": 0.5, "avg_latency": 120, "quality_score": 0.9, "total_samples": 5}}}'
SELECT set_config('priv.signal', :'signal', false) IS NOT NULL AS signal;
-- policy: use = choose, reward (3 forms; by id the decision's policy), recommend; read = arm_stats;
-- manage = the rest, grant and revoke
INSERT INTO matrix (kind, name, call, want) VALUES
 ('policy', 'priv_p', $$SELECT bandit.choose('priv_p')$$,                    '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('policy', 'priv_p', $$SELECT bandit.choose('priv_p', '{"x": 1}')$$,        '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('policy', 'priv_p', $$SELECT bandit.reward(current_setting('priv.dp')::bigint, 1)$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('policy', 'priv_p', $$SELECT bandit.reward(ARRAY[current_setting('priv.dp')::bigint], ARRAY[1.0])$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('policy', 'priv_p', $$SELECT bandit.reward('priv_p', 'a', 1)$$,            '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('policy', 'priv_p', $$SELECT bandit.recommend('priv_p')$$,                 '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('policy', 'priv_p', $$SELECT bandit.arm_stats('priv_p')$$,                 '{ok,"lacks read",ok,"lacks read","lacks read"}'),
 ('policy', 'priv_p', $$SELECT bandit.add_arm('priv_p', 'c')$$,              '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('policy', 'priv_p', $$SELECT bandit.retire_arm('priv_p', 'b')$$,           '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('policy', 'priv_p', $$SELECT bandit.set_mode('priv_p', 'shadow')$$,        '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('policy', 'priv_p', $$SELECT bandit.set_arm_budget('priv_p', 'a', 1, 100)$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('policy', 'priv_p', $$SELECT bandit.snapshot('priv_p', 'x')$$,             '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('policy', 'priv_p', $$SELECT bandit.restore(current_setting('priv.snap')::bigint)$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('policy', 'priv_p', $$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_nobody', 'read')$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('policy', 'priv_p', $$SELECT bandit.revoke('policy', 'priv_p', 'regress_bandit_app', 'use')$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 -- Q: other_app's
 ('policy', 'priv_q', $$SELECT bandit.choose('priv_q')$$,                    '{ok,"lacks use","lacks use",ok,"lacks use"}'),
 ('policy', 'priv_q', $$SELECT bandit.reward(current_setting('priv.dq')::bigint, 1)$$, '{ok,"lacks use","lacks use",ok,"lacks use"}'),
 ('policy', 'priv_q', $$SELECT bandit.arm_stats('priv_q')$$,                 '{ok,"lacks read","lacks read","lacks read","lacks read"}'),
 -- another owner's: owner holds nothing on it
 ('policy', 'priv_x', $$SELECT bandit.choose('priv_x')$$,                    '{"lacks use","lacks use","lacks use","lacks use","lacks use"}'),
 ('policy', 'priv_x', $$SELECT bandit.arm_stats('priv_x')$$,                 '{"lacks read","lacks read","lacks read","lacks read","lacks read"}'),
 ('policy', 'priv_x', $$SELECT bandit.add_arm('priv_x', 'c')$$,              '{"lacks manage","lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('policy', 'priv_x', $$SELECT bandit.grant('policy', 'priv_x', 'regress_bandit_owner', 'manage')$$, '{"lacks manage","lacks manage","lacks manage","lacks manage","lacks manage"}'),
 -- an unknown policy is 42704 for anyone, as before
 ('policy', 'nope', $$SELECT bandit.choose('priv_nope')$$, '{"42704: policy \"priv_nope\" does not exist","42704: policy \"priv_nope\" does not exist","42704: policy \"priv_nope\" does not exist","42704: policy \"priv_nope\" does not exist","42704: policy \"priv_nope\" does not exist"}'),
 -- creating is a PostgreSQL privilege a DBA grants: only owner holds it
 ('policy', 'new', $$SELECT bandit.create_policy('priv_new', 'thompson', '{a,b}')$$,
   '{ok,"42501: permission denied for function create_policy","42501: permission denied for function create_policy","42501: permission denied for function create_policy","42501: permission denied for function create_policy"}');
SELECT * FROM pg_temp.show('policy');

-- experiment: use = assign (2), record_metric(s); read = analyze (2), decide, report, srm_check;
-- manage = start, stop, drop
INSERT INTO matrix (kind, name, call, want) VALUES
 ('experiment', 'priv_e', $$SELECT bandit.assign('priv_e', 'n1')$$,          '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('experiment', 'priv_e', $$SELECT bandit.assign('priv_e', 'n1', 's1')$$,    '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('experiment', 'priv_e', $$SELECT bandit.record_metric('priv_e', 'u1', 'conv', 1)$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('experiment', 'priv_e', $$SELECT bandit.record_metrics('priv_e', 'conv', '{u1,u2}', '{1,0}')$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('experiment', 'priv_e', $$SELECT bandit.analyze('priv_e', 'conv')$$,        '{ok,"lacks read",ok,"lacks read","lacks read"}'),
 ('experiment', 'priv_e', $$SELECT bandit.analyze('priv_e', 'conv', 'rev')$$, '{ok,"lacks read",ok,"lacks read","lacks read"}'),
 ('experiment', 'priv_e', $$SELECT bandit.decide('priv_e', 'conv')$$,         '{ok,"lacks read",ok,"lacks read","lacks read"}'),
 ('experiment', 'priv_e', $$SELECT bandit.report('priv_e', 'conv')$$,         '{ok,"lacks read",ok,"lacks read","lacks read"}'),
 ('experiment', 'priv_e', $$SELECT bandit.srm_check('priv_e')$$,              '{ok,"lacks read",ok,"lacks read","lacks read"}'),
 ('experiment', 'priv_e', $$SELECT bandit.stop_experiment('priv_e', 'done')$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('experiment', 'priv_e', $$SELECT bandit.drop_experiment('priv_e')$$,        '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('experiment', 'priv_e', $$SELECT bandit.grant('experiment', 'priv_e', 'regress_bandit_nobody', 'use')$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('experiment', 'priv_ed', $$SELECT bandit.start_experiment('priv_ed')$$,     '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('experiment', 'priv_eq', $$SELECT bandit.assign('priv_eq', 'n1')$$,         '{ok,"lacks use","lacks use",ok,"lacks use"}'),
 ('experiment', 'priv_eq', $$SELECT bandit.srm_check('priv_eq')$$,            '{ok,"lacks read","lacks read","lacks read","lacks read"}'),
 ('experiment', 'priv_ex', $$SELECT bandit.assign('priv_ex', 'n1')$$,         '{"lacks use","lacks use","lacks use","lacks use","lacks use"}'),
 ('experiment', 'priv_ex', $$SELECT bandit.stop_experiment('priv_ex')$$,      '{"lacks manage","lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('experiment', 'new', $$SELECT bandit.create_experiment('priv_enew', '{a,b}')$$,
   '{ok,"42501: permission denied for function create_experiment","42501: permission denied for function create_experiment","42501: permission denied for function create_experiment","42501: permission denied for function create_experiment"}');
SELECT * FROM pg_temp.show('experiment');

-- agent: use = q_select, q_learn, q_learn_batch, q_remember, q_replay, q_greedy; read = q_export;
-- manage = q_import, q_forget
INSERT INTO matrix (kind, name, call, want) VALUES
 ('agent', 'priv_a', $$SELECT bandit.q_select('priv_a', 's0', '{a0,a1}', 0)$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('agent', 'priv_a', $$SELECT bandit.q_learn('priv_a', 's0', 'a0', 1, 's1')$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('agent', 'priv_a', $$SELECT bandit.q_learn_batch('priv_a', '{s0}', '{a0}', '{1}', '{s1}')$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('agent', 'priv_a', $$SELECT bandit.q_remember('priv_a', 's0', 'a0', 1, 's1')$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('agent', 'priv_a', $$SELECT bandit.q_replay('priv_a', 1)$$,                  '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('agent', 'priv_a', $$SELECT bandit.q_greedy('priv_a')$$,                     '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('agent', 'priv_a', $$SELECT bandit.q_export('priv_a')$$,                     '{ok,"lacks read",ok,"lacks read","lacks read"}'),
 ('agent', 'priv_a', $$SELECT bandit.q_import('priv_a', current_setting('priv.qdoc')::jsonb, true)$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('agent', 'priv_a', $$SELECT bandit.q_forget('priv_a')$$,                     '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('agent', 'priv_aq', $$SELECT bandit.q_learn('priv_aq', 's0', 'a0', 1, 's1')$$, '{ok,"lacks use","lacks use",ok,"lacks use"}'),
 ('agent', 'priv_ax', $$SELECT bandit.q_learn('priv_ax', 's0', 'a0', 1, 's1')$$, '{"lacks use","lacks use","lacks use","lacks use","lacks use"}'),
 ('agent', 'priv_ax', $$SELECT bandit.q_forget('priv_ax')$$,                   '{"lacks manage","lacks manage","lacks manage","lacks manage","lacks manage"}'),
 -- an agent that does not exist yet: q_learn creates it (PUBLIC), reading it finds nothing
 ('agent', 'new', $$SELECT bandit.q_learn('priv_anew', 's0', 'a0', 1, 's1')$$, '{ok,ok,ok,ok,ok}'),
 ('agent', 'new', $$SELECT bandit.q_greedy('priv_anew')$$, '{ok,ok,ok,ok,ok}'),
 ('agent', 'new', $$SELECT bandit.q_export('priv_anew')$$, '{ok,ok,ok,ok,ok}');
SELECT * FROM pg_temp.show('agent');

-- scope: use = tuned_value; read = tuning_history; manage = the rest (set_tuning_rate_limit and
-- define_tuning_value also need EXECUTE, which only owner holds)
INSERT INTO matrix (kind, name, call, want) VALUES
 ('scope', 'priv_s', $$SELECT bandit.tuned_value('priv_s', 'v')$$,             '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('scope', 'priv_s', $$SELECT bandit.tuning_history('priv_s')$$,               '{ok,"lacks read",ok,"lacks read","lacks read"}'),
 ('scope', 'priv_s', $$SELECT bandit.validate_adjustment('priv_s', 'v', 520, 30)$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('scope', 'priv_s', $$SELECT bandit.propose_value('priv_s', 'v', 600, 30)$$,  '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('scope', 'priv_s', $$SELECT bandit.propose_adjustment('priv_s', 'v', 0.4, 30, 0.5)$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('scope', 'priv_s', $$SELECT bandit.apply_adjustment('priv_s', 'v', 520, 'why', 30)$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('scope', 'priv_s', $$SELECT bandit.apply_proposal(current_setting('priv.prop')::bandit.tuning_proposal)$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('scope', 'priv_s', $$SELECT bandit.snapshot_tuning('priv_s', 'x')$$,         '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('scope', 'priv_s', $$SELECT bandit.rollback_tuning(current_setting('priv.tsnap')::bigint)$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('scope', 'priv_s', $$SELECT bandit.set_tuning_rate_limit('priv_s', 100, '1 hour')$$,
   '{ok,"42501: permission denied for function set_tuning_rate_limit","42501: permission denied for function set_tuning_rate_limit","42501: permission denied for function set_tuning_rate_limit","42501: permission denied for function set_tuning_rate_limit"}'),
 ('scope', 'priv_s', $$SELECT bandit.define_tuning_value('priv_s', 'w', 1, 0, 2, 1, 0)$$,
   '{ok,"42501: permission denied for function define_tuning_value","42501: permission denied for function define_tuning_value","42501: permission denied for function define_tuning_value","42501: permission denied for function define_tuning_value"}'),
 ('scope', 'priv_sq', $$SELECT bandit.tuned_value('priv_sq', 'v')$$,           '{ok,"lacks use","lacks use",ok,"lacks use"}'),
 -- another owner's scope: owner may create scopes, not add to this one
 ('scope', 'priv_sx', $$SELECT bandit.define_tuning_value('priv_sx', 'w', 1, 0, 2, 1, 0)$$,
   '{"lacks manage","42501: permission denied for function define_tuning_value","42501: permission denied for function define_tuning_value","42501: permission denied for function define_tuning_value","42501: permission denied for function define_tuning_value"}'),
 ('scope', 'priv_sx', $$SELECT bandit.tuned_value('priv_sx', 'v')$$,           '{"lacks use","lacks use","lacks use","lacks use","lacks use"}');
SELECT * FROM pg_temp.show('scope');

-- priors (owner holds manage, app use, analyst read): use = apply_signal, prior_adjusted_score;
-- manage = cleanup_priors
INSERT INTO matrix (kind, name, call, want) VALUES
 ('priors', '*', $$SELECT bandit.apply_signal(current_setting('priv.signal')::jsonb)$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('priors', '*', $$SELECT bandit.prior_adjusted_score('priv_key', 0.5, 250, 0.8, 2)$$, '{ok,ok,"lacks use","lacks use","lacks use"}'),
 ('priors', '*', $$SELECT bandit.cleanup_priors('7 days')$$,                   '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}'),
 ('priors', '*', $$SELECT bandit.grant('priors', '*', 'regress_bandit_nobody', 'use')$$, '{ok,"lacks manage","lacks manage","lacks manage","lacks manage"}');
SELECT * FROM pg_temp.show('priors');

-- internal helpers are not executable by PUBLIC, whatever a role holds on the objects
INSERT INTO matrix (kind, name, call, want) VALUES
 ('internal', '', $$SELECT bandit.policy_row('priv_p')$$, array_fill('42501: permission denied for function policy_row'::text, '{5}')),
 ('internal', '', $$SELECT bandit.experiment_row('priv_e', false)$$, array_fill('42501: permission denied for function experiment_row'::text, '{5}')),
 ('internal', '', $$SELECT bandit.learn_step(1, 1, 0, 0, 0, 1, 1, 1, 1, false)$$, array_fill('42501: permission denied for function learn_step'::text, '{5}')),
 ('internal', '', $$SELECT bandit.state_stamp()$$, array_fill('42501: permission denied for function state_stamp'::text, '{5}')),
 ('internal', '', $$SELECT bandit.check_budget(1, 1)$$, array_fill('42501: permission denied for function check_budget'::text, '{5}')),
 ('internal', '', $$SELECT bandit.tuning_value_row('priv_s', 'v')$$, array_fill('42501: permission denied for function tuning_value_row'::text, '{5}')),
 ('internal', '', $$SELECT bandit.metric_summaries('priv_e', 'conv')$$, array_fill('42501: permission denied for function metric_summaries'::text, '{5}')),
 ('internal', '', $$SELECT bandit.assignment_counts('priv_e')$$, array_fill('42501: permission denied for function assignment_counts'::text, '{5}'));
SELECT * FROM pg_temp.show('internal');
-- and nothing of all this remained
SELECT pg_temp.digest(false) = :'before' AS unchanged;

-- the refusal names the object, the role and the privilege, and the grant that would allow it
SELECT * FROM pg_temp.refusal('app', $$SELECT bandit.arm_stats('priv_p')$$);
-- a reward by decision id is checked against the decision's policy
SELECT * FROM pg_temp.refusal('other_app', $$SELECT bandit.reward(current_setting('priv.dp')::bigint, 1)$$);
SELECT * FROM pg_temp.refusal('app', $$SELECT bandit.reward(ARRAY[current_setting('priv.dp'), current_setting('priv.dq')]::bigint[],
                                                          ARRAY[1.0, 1.0])$$);
-- restore and rollback_tuning by id: the snapshot's policy / scope
SELECT * FROM pg_temp.refusal('nobody', $$SELECT bandit.restore(current_setting('priv.snap')::bigint)$$);
SELECT * FROM pg_temp.refusal('app', $$SELECT bandit.rollback_tuning(current_setting('priv.tsnap')::bigint)$$);
SELECT * FROM pg_temp.refusal('other_app', $$SELECT bandit.apply_signal(current_setting('priv.signal')::jsonb)$$);
-- app cannot raise its own rights
SELECT * FROM pg_temp.refusal('app', $$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_app', 'manage')$$);
SELECT * FROM pg_temp.refusal('app', $$SELECT bandit.grant('policy', 'priv_q', 'regress_bandit_app', 'use')$$);

-- a refused call changes nothing (seen by the owner)
SET ROLE regress_bandit_owner;
SELECT arm, alpha, beta, pulls FROM bandit.arm WHERE policy = 'priv_p' ORDER BY arm;
SELECT count(*) AS decisions, count(reward) AS rewarded FROM bandit.decision WHERE policy = 'priv_p';
RESET ROLE;
SELECT pg_temp.digest(true) AS before \gset
SET ROLE regress_bandit_other_app;
SELECT bandit.reward(:dp, 1);
SELECT bandit.choose('priv_p');
SELECT bandit.add_arm('priv_p', 'z');
RESET ROLE;
-- not even a decision id drawn
SELECT pg_temp.digest(true) = :'before' AS unchanged;
SET ROLE regress_bandit_owner;
SELECT arm, alpha, beta, pulls FROM bandit.arm WHERE policy = 'priv_p' ORDER BY arm;
SELECT count(*) AS decisions, count(reward) AS rewarded FROM bandit.decision WHERE policy = 'priv_p';
-- app's own reward of it counts; app's signal too
SET ROLE regress_bandit_app;
SELECT bandit.reward(:dp, 1);
SELECT bandit.apply_signal(:'signal');
SET ROLE regress_bandit_owner;
SELECT sum(pulls) AS pulls, sum(alpha) AS alpha, sum(beta) AS beta FROM bandit.arm WHERE policy = 'priv_p';
RESET ROLE;

-- no writes but through the API: no role holds more than SELECT on a bandit table, so
-- app cannot INSERT, UPDATE, DELETE, TRUNCATE, or plant a trigger that would run as
-- whoever calls the API next
SELECT c.relname, r.rolname, p.priv
FROM pg_class c, pg_roles r, unnest('{INSERT,UPDATE,DELETE,TRUNCATE,TRIGGER,REFERENCES}'::text[]) p(priv)
WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind IN ('r', 'v', 'p')
  AND r.rolname LIKE 'regress\_bandit\_%' AND has_table_privilege(r.oid, c.oid, p.priv);
SELECT c.relname AS without_rls FROM pg_class c
WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'r' AND NOT c.relrowsecurity;
SET ROLE regress_bandit_app;
DO $$
DECLARE
    t text;
    col text;
    s text;
    tried int := 0;
    st text;
    msg text;
BEGIN
    FOR t, col IN SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1
                  WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'r' ORDER BY 1 LOOP
        FOREACH s IN ARRAY ARRAY[
            format('INSERT INTO bandit.%I DEFAULT VALUES', t),
            format('UPDATE bandit.%I SET %I = %I', t, col, col),
            format('DELETE FROM bandit.%I', t),
            format('TRUNCATE bandit.%I', t),
            format('CREATE TRIGGER regress_bandit_planted BEFORE INSERT OR UPDATE ON bandit.%I
                    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()', t)] LOOP
            tried := tried + 1;
            BEGIN
                EXECUTE s;
                RAISE NOTICE 'app could: %', s;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                IF st <> '42501' OR msg <> format('permission denied for table %s', t) THEN
                    RAISE NOTICE '%: % (%)', st, msg, s;
                END IF;
            END;
        END LOOP;
    END LOOP;
    -- the loop saw every table (more are added by new capabilities)
    RAISE NOTICE 'five statements on each of the schema''s tables, at least 24: %',
        tried = 5 * (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'bandit'::regnamespace AND c.relkind = 'r')
        AND tried >= 120;
END $$;
SELECT pg_temp.err($$UPDATE bandit.arm SET alpha = 1000 WHERE policy = 'priv_p'$$);
SELECT pg_temp.err($$CREATE TRIGGER regress_bandit_planted BEFORE UPDATE ON bandit.arm
                      FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()$$);
SELECT pg_temp.err($$SELECT nextval('bandit.decision_id_seq')$$);
RESET ROLE;

-- reads are plain SQL filtered to what the caller may read: the analyst sees P's rows only,
-- the application (use, not read) none, other_app none, owner its own (P and Q, not X)
INSERT INTO bandit.decision (policy, arm, propensity, mode, context, reward, rewarded_at) VALUES
    ('priv_p', 'a', 0.5, 'active', '{"ips": true}', 1, now()),
    ('priv_p', 'b', 0.5, 'active', '{"ips": true}', 0, now()),
    ('priv_q', 'a', 0.25, 'active', '{"ips": true}', 1, now()),
    ('priv_x', 'a', 0.1, 'active', '{"ips": true}', 1, now());
CREATE FUNCTION pg_temp.seen() RETURNS TABLE(tab text, objects text) LANGUAGE sql AS $f$
    SELECT 'policy', string_agg(DISTINCT name, ',') FROM bandit.policy WHERE name LIKE 'priv\_%'
    UNION ALL SELECT 'arm', string_agg(DISTINCT policy, ',') FROM bandit.arm WHERE policy LIKE 'priv\_%'
    UNION ALL SELECT 'decision', string_agg(DISTINCT policy, ',') FROM bandit.decision WHERE policy LIKE 'priv\_%'
    UNION ALL SELECT 'snapshot', string_agg(DISTINCT policy, ',') FROM bandit.snapshot WHERE policy LIKE 'priv\_%'
    UNION ALL SELECT 'experiment', string_agg(DISTINCT name, ',') FROM bandit.experiment WHERE name LIKE 'priv\_%'
    UNION ALL SELECT 'variant', string_agg(DISTINCT experiment, ',') FROM bandit.variant WHERE experiment LIKE 'priv\_%'
    UNION ALL SELECT 'assignment', string_agg(DISTINCT experiment, ',') FROM bandit.assignment WHERE experiment LIKE 'priv\_%'
    UNION ALL SELECT 'observation', string_agg(DISTINCT experiment, ',') FROM bandit.observation WHERE experiment LIKE 'priv\_%'
    UNION ALL SELECT 'q_table', string_agg(DISTINCT agent, ',') FROM bandit.q_table WHERE agent LIKE 'priv\_%'
    UNION ALL SELECT 'transition', string_agg(DISTINCT agent, ',') FROM bandit.transition WHERE agent LIKE 'priv\_%'
    UNION ALL SELECT 'tuning_value', string_agg(DISTINCT scope, ',') FROM bandit.tuning_value WHERE scope LIKE 'priv\_%'
    UNION ALL SELECT 'tuning_adjustment', string_agg(DISTINCT scope, ',') FROM bandit.tuning_adjustment WHERE scope LIKE 'priv\_%'
    UNION ALL SELECT 'tuning_snapshot', string_agg(DISTINCT scope, ',') FROM bandit.tuning_snapshot WHERE scope LIKE 'priv\_%'
    UNION ALL SELECT 'object', string_agg(DISTINCT name, ',') FROM bandit.object WHERE name LIKE 'priv\_%'
$f$;
SET ROLE regress_bandit_analyst;
SELECT * FROM pg_temp.seen();
-- an off-policy estimate straight from the log: P's two rows, (1/0.5 + 0/0.5) / 2 = 1
SELECT (e).n, (e).estimate FROM (SELECT bandit.ips(reward, 1, propensity) e FROM bandit.decision
                                 WHERE context @> '{"ips": true}') s;
SELECT count(*) AS prior_rows_seen FROM bandit.prior WHERE key = 'priv_key';
SET ROLE regress_bandit_app;
SELECT * FROM pg_temp.seen();
SELECT count(*) AS prior_rows_seen FROM bandit.prior WHERE key = 'priv_key';
SET ROLE regress_bandit_other_app;
SELECT * FROM pg_temp.seen();
SET ROLE regress_bandit_owner;
SELECT * FROM pg_temp.seen();
-- P's and Q's rows: (2 + 0 + 4) / 3 = 2
SELECT (e).n, (e).estimate FROM (SELECT bandit.ips(reward, 1, propensity) e FROM bandit.decision
                                 WHERE context @> '{"ips": true}') s;
SET ROLE regress_bandit_nobody;
SELECT * FROM pg_temp.seen();
SELECT count(*) AS prior_rows_seen FROM bandit.prior WHERE key = 'priv_key';
RESET ROLE;

-- bandit.privileges: the grants to the caller's roles and the grants on what it may read
SET ROLE regress_bandit_app;
SELECT kind, name, grantee, privilege, pg_temp.who(granted_by) AS granted_by FROM bandit.privileges WHERE name LIKE 'priv\_%' OR kind = 'priors'
ORDER BY 1, 2, 3, 4;
SET ROLE regress_bandit_analyst;
SELECT kind, name, grantee, privilege, pg_temp.who(granted_by) AS granted_by FROM bandit.privileges WHERE name LIKE 'priv\_%' OR kind = 'priors'
ORDER BY 1, 2, 3, 4;
SET ROLE regress_bandit_nobody;
SELECT count(*) AS nobody_sees FROM bandit.privileges;
SET ROLE regress_bandit_owner;
SELECT kind, name, grantee, privilege, pg_temp.who(granted_by) AS granted_by FROM bandit.privileges WHERE name LIKE 'priv\_%' OR kind = 'priors'
ORDER BY 1, 2, 3, 4;
RESET ROLE;

-- manage implies use and read; revoking it takes them away at the next statement
SELECT pg_temp.as_role('owner', $$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_nobody', 'manage')$$);
SELECT pg_temp.cell('policy', 'priv_p', 'nobody', $$SELECT bandit.choose('priv_p')$$) AS use,
       pg_temp.cell('policy', 'priv_p', 'nobody', $$SELECT bandit.arm_stats('priv_p')$$) AS read,
       pg_temp.cell('policy', 'priv_p', 'nobody', $$SELECT bandit.add_arm('priv_p', 'c')$$) AS manage,
       pg_temp.cell('policy', 'priv_p', 'nobody', $$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_analyst', 'use')$$) AS grant_on;
SET ROLE regress_bandit_nobody;
SELECT count(*) AS arm_rows_seen FROM bandit.arm WHERE policy = 'priv_p';
RESET ROLE;
SELECT pg_temp.as_role('owner', $$SELECT bandit.revoke('policy', 'priv_p', 'regress_bandit_nobody', 'manage')$$);
SELECT pg_temp.cell('policy', 'priv_p', 'nobody', $$SELECT bandit.choose('priv_p')$$) AS use,
       pg_temp.cell('policy', 'priv_p', 'nobody', $$SELECT bandit.arm_stats('priv_p')$$) AS read,
       pg_temp.cell('policy', 'priv_p', 'nobody', $$SELECT bandit.add_arm('priv_p', 'c')$$) AS manage;
SET ROLE regress_bandit_nobody;
SELECT count(*) AS arm_rows_seen FROM bandit.arm WHERE policy = 'priv_p';
RESET ROLE;

-- a revoke counts at app's next statement, within one transaction too
BEGIN;
SELECT pg_temp.cell('policy', 'priv_p', 'app', $$SELECT bandit.choose('priv_p')$$) AS before_revoke;
SELECT pg_temp.as_role('owner', $$SELECT bandit.revoke('policy', 'priv_p', 'regress_bandit_app', 'use')$$);
SELECT pg_temp.cell('policy', 'priv_p', 'app', $$SELECT bandit.choose('priv_p')$$) AS after_revoke;
SELECT pg_temp.as_role('owner', $$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_app', 'use')$$);
SELECT pg_temp.cell('policy', 'priv_p', 'app', $$SELECT bandit.choose('priv_p')$$) AS granted_again;
ROLLBACK;

-- granting twice or revoking what is not granted changes nothing and is no error
SELECT granted_at AS granted_at FROM bandit.permission
WHERE kind = 'policy' AND name = 'priv_p' AND grantee = 'regress_bandit_app'::regrole \gset
SELECT pg_temp.as_role('owner', $$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_app', 'use')$$) AS twice,
       pg_temp.as_role('owner', $$SELECT bandit.revoke('policy', 'priv_p', 'regress_bandit_app', 'read')$$) AS not_granted,
       pg_temp.as_role('owner', $$SELECT bandit.revoke('policy', 'priv_p', 'regress_bandit_nobody', 'use')$$) AS never;
SELECT privilege, granted_at = :'granted_at' AS same_grant FROM bandit.permission
WHERE kind = 'policy' AND name = 'priv_p' AND grantee = 'regress_bandit_app'::regrole;
-- bad arguments
SET ROLE regress_bandit_owner;
SELECT pg_temp.err($$SELECT bandit.grant('table', 'priv_p', 'regress_bandit_app', 'use')$$);
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_app', 'write')$$);
SELECT pg_temp.err($$SELECT bandit.revoke('policy', 'priv_p', 'regress_bandit_app', 'all')$$);
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'priv_nope', 'regress_bandit_app', 'use')$$);
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_no_such_role', 'use')$$);
SELECT bandit.grant('policy', 'priv_p', NULL, 'use') IS NULL AS strict;
RESET ROLE;

-- grants to a group role hold for the members that inherit its privileges; a member of the
-- owner role is an owner
CREATE ROLE regress_bandit_team;
CREATE ROLE regress_bandit_member IN ROLE regress_bandit_team;
CREATE ROLE regress_bandit_noinherit NOINHERIT IN ROLE regress_bandit_team;
CREATE ROLE regress_bandit_deputy IN ROLE regress_bandit_owner;
SELECT pg_temp.as_role('owner', $$SELECT bandit.grant('policy', 'priv_p', 'regress_bandit_team', 'use')$$);
SELECT who, pg_temp.cell('policy', 'priv_p', who, $$SELECT bandit.choose('priv_p')$$) AS choose,
       pg_temp.cell('policy', 'priv_p', who, $$SELECT bandit.arm_stats('priv_p')$$) AS arm_stats,
       pg_temp.cell('policy', 'priv_p', who, $$SELECT bandit.add_arm('priv_p', 'c')$$) AS add_arm
FROM unnest('{team,member,noinherit,deputy}'::text[]) WITH ORDINALITY u(who, i) ORDER BY i;
-- the member sees the group's grant in bandit.privileges
SET ROLE regress_bandit_member;
SELECT kind, name, grantee, privilege FROM bandit.privileges ORDER BY 1, 2, 3, 4;
RESET ROLE;
SELECT pg_temp.as_role('owner', $$SELECT bandit.revoke('policy', 'priv_p', 'regress_bandit_team', 'use')$$);
SELECT pg_temp.cell('policy', 'priv_p', 'member', $$SELECT bandit.choose('priv_p')$$) AS member_after_revoke;

-- owner makes objects of its own, and owns them; dropping an experiment drops its grants
SELECT pg_temp.as_role('owner', $$SELECT bandit.create_policy('priv_own', 'ucb1', '{a,b}')$$);
SELECT pg_temp.as_role('nobody', $$SELECT bandit.q_learn('priv_nobodys', 's0', 'a0', 1, 's1')$$);
SELECT kind, name, owner FROM bandit.object WHERE name IN ('priv_own', 'priv_nobodys') ORDER BY 1, 2;
SELECT pg_temp.as_role('owner', $$SELECT bandit.drop_experiment('priv_ed')$$);
SELECT count(*) AS rows_left FROM bandit.object WHERE name = 'priv_ed';
SELECT count(*) AS grants_left FROM bandit.permission WHERE name = 'priv_ed';
SELECT count(*) AS privileges_left FROM bandit.privileges WHERE name = 'priv_ed';

-- clean up: this cluster is shared by the other tests' databases
SELECT bandit.drop_experiment(name) FROM bandit.experiment WHERE name LIKE 'priv\_%';
DELETE FROM bandit.decision WHERE policy LIKE 'priv\_%';
DELETE FROM bandit.snapshot WHERE policy LIKE 'priv\_%';
DELETE FROM bandit.audit WHERE policy LIKE 'priv\_%';
DELETE FROM bandit.arm WHERE policy LIKE 'priv\_%';
DELETE FROM bandit.policy WHERE name LIKE 'priv\_%';
DELETE FROM bandit.q_table WHERE agent LIKE 'priv\_%';
DELETE FROM bandit.transition WHERE agent LIKE 'priv\_%';
DELETE FROM bandit.tuning_adjustment WHERE scope LIKE 'priv\_%';
DELETE FROM bandit.tuning_snapshot WHERE scope LIKE 'priv\_%';
DELETE FROM bandit.tuning_value WHERE scope LIKE 'priv\_%';
DELETE FROM bandit.tuning_scope WHERE scope LIKE 'priv\_%';
DELETE FROM bandit.object WHERE name LIKE 'priv\_%';
DELETE FROM bandit.permission WHERE kind = 'priors';
DELETE FROM bandit.prior WHERE key = 'priv_key';
DELETE FROM bandit.prior_signal WHERE cluster_hash = 'priv';
SELECT count(setval('bandit.' || quote_ident(sequencename), last_value, is_called)) AS sequences_put_back FROM sequences_before;
DROP OWNED BY regress_bandit_owner, regress_bandit_app, regress_bandit_analyst, regress_bandit_other_app,
    regress_bandit_nobody, regress_bandit_team, regress_bandit_member, regress_bandit_noinherit, regress_bandit_deputy;
DROP ROLE regress_bandit_deputy, regress_bandit_noinherit, regress_bandit_member, regress_bandit_team,
    regress_bandit_owner, regress_bandit_app, regress_bandit_analyst, regress_bandit_other_app, regress_bandit_nobody;
SELECT count(*) AS bandit_rows_left FROM bandit.permission p WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = p.grantee);
