-- Access control's own functions: grant, revoke, set_owner, caller, holds,
-- and what a dropped owner leaves.  (Every function by every role:
-- sql/privileges.sql and test/privilege_test.py.)
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN EXECUTE sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$;
CREATE ROLE regress_access_owner;
CREATE ROLE regress_access_heir;
CREATE ROLE regress_access_app;
GRANT USAGE ON SCHEMA bandit TO regress_access_owner, regress_access_heir, regress_access_app;
GRANT EXECUTE ON FUNCTION bandit.create_policy(text, text, text[], jsonb) TO regress_access_owner;
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO PUBLIC;
SET ROLE regress_access_owner;
SELECT bandit.caller();                                                   -- regress_access_owner
SELECT bandit.create_policy('acc', 'thompson', ARRAY['a', 'b']);
RESET ROLE;
-- the internal check creates only agents and scopes on first use
SELECT pg_temp.err($$SELECT bandit.require('policy', 'acc2', 'use', true)$$);
SELECT count(*) AS objects FROM bandit.object WHERE name = 'acc2';        -- 0
SET ROLE regress_access_owner;
SELECT pg_temp.err($$SELECT bandit.require('agent', 'x', 'use', true)$$);   -- not for PUBLIC
-- bad arguments: 22023 for kind, privilege and the role '-'; 42704 for an unknown object or role
SELECT pg_temp.err($$SELECT bandit.grant('table', 'acc', 'regress_access_app', 'use')$$);
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'acc', 'regress_access_app', 'select')$$);
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'acc', '-', 'use')$$);
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'nope', 'regress_access_app', 'use')$$);
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'acc', 'regress_access_nobody', 'use')$$);
SELECT pg_temp.err($$SELECT bandit.grant('priors', 'x', 'regress_access_app', 'use')$$);
SELECT bandit.grant('policy', 'acc', NULL, 'use') IS NULL AS strict_null;
SELECT count(*) AS grants FROM bandit.permission;                         -- 0: nothing granted by a failed call
-- granting twice is one grant; revoking twice, or what was never granted, changes nothing
SELECT bandit.grant('policy', 'acc', 'regress_access_app', 'use');
SELECT bandit.grant('policy', 'acc', 'regress_access_app', 'use');
SELECT kind, name, grantee, privilege, granted_by FROM bandit.privileges;   -- one row, granted by the owner
SELECT bandit.revoke('policy', 'acc', 'regress_access_app', 'read');
SELECT bandit.revoke('policy', 'acc', 'regress_access_app', 'use');
SELECT bandit.revoke('policy', 'acc', 'regress_access_app', 'use');
SELECT count(*) AS grants FROM bandit.privileges;                         -- 0
-- holds: the caller's own role, not another
SELECT bandit.holds('regress_access_owner') AS own_role, bandit.holds('regress_access_app') AS other_role;
-- set_owner: only the owner, and only to a role it may act as
SELECT pg_temp.err($$SELECT bandit.set_owner('policy', 'acc', 'regress_access_heir')$$);
RESET ROLE;
GRANT regress_access_heir TO regress_access_owner;
SET ROLE regress_access_owner;
SELECT bandit.grant('policy', 'acc', 'regress_access_app', 'use');
SELECT bandit.set_owner('policy', 'acc', 'regress_access_heir');
SELECT kind, name, owner FROM bandit.object WHERE kind = 'policy';        -- heir
SELECT grantee, privilege FROM bandit.privileges;                         -- the grant stays
SET ROLE regress_access_app;
SELECT pg_temp.err($$SELECT bandit.set_owner('policy', 'acc', 'regress_access_app')$$);
SELECT pg_temp.err($$SELECT bandit.set_owner('agent', 'nope', 'regress_access_app')$$);
SELECT pg_temp.err($$SELECT bandit.grant('agent', 'nope', 'regress_access_app', 'use')$$);
SELECT pg_temp.err($$SELECT bandit.revoke('agent', 'nope', 'regress_access_app', 'use')$$);
-- CREATE EXTENSION makes the priors' row, so pg_dump could not carry another owner
SELECT pg_temp.err($$SELECT bandit.set_owner('priors', '*', 'regress_access_app')$$);
SELECT pg_temp.err($$SELECT bandit.set_owner('policy', 'acc', '-')$$);
RESET ROLE;
-- a dropped owner: its objects are left to superusers (holds is false for it)
REVOKE regress_access_heir FROM regress_access_owner;
DROP OWNED BY regress_access_heir;
DROP ROLE regress_access_heir;
SELECT count(*) AS owner_is_dangling FROM bandit.object o
WHERE o.kind = 'policy' AND NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = o.owner::oid);   -- 1
SET ROLE regress_access_owner;
SELECT count(*) AS rows_seen FROM bandit.arm;                              -- 0: no longer its owner
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'acc', 'regress_access_owner', 'manage')$$);
RESET ROLE;
SELECT bandit.set_owner('policy', 'acc', 'regress_access_owner');          -- a superuser may
SET ROLE regress_access_owner;
SELECT count(*) AS rows_seen FROM bandit.arm;                              -- 2
-- a grant to a role that does not exist (regrole reads any number as an OID): 42704
SELECT pg_temp.err($$SELECT bandit.grant('policy', 'acc', '99999', 'use')$$);
-- the audit names the calling role, not the extension's owner the functions run as
SELECT bandit.set_mode('acc', 'shadow');
SELECT action, by_user FROM bandit.audit WHERE policy = 'acc' ORDER BY id DESC LIMIT 1;   -- mode, regress_access_owner
RESET ROLE;

-- a table owner's code that PostgreSQL runs for another role (index expressions
-- and materialized views, in ANALYZE, autovacuum, REFRESH) is not checked as that role
CREATE SCHEMA regress_access_own AUTHORIZATION regress_access_app;
SET ROLE regress_access_app;
CREATE FUNCTION regress_access_own.steal(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
    PERFORM bandit.grant('policy', 'acc', 'regress_access_app', 'manage');
    RETURN x;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'steal: %', SQLERRM;
    RETURN x;
END $f$;
CREATE TABLE regress_access_own.t (x int);
INSERT INTO regress_access_own.t VALUES (1), (2);
CREATE INDEX ON regress_access_own.t (regress_access_own.steal(x));   -- as itself: refused
CREATE MATERIALIZED VIEW regress_access_own.mv AS SELECT policy, arm FROM bandit.arm WITH NO DATA;
RESET ROLE;
ANALYZE regress_access_own.t;                                              -- as a superuser: refused
SELECT count(*) AS stolen FROM bandit.permission WHERE grantee = 'regress_access_app'::regrole AND privilege = 'manage';   -- 0
SELECT pg_temp.err($$REFRESH MATERIALIZED VIEW regress_access_own.mv$$);
DROP SCHEMA regress_access_own CASCADE;

-- a snapshot must hold its own policy's state: a row written by hand (as
-- 0.1.0's table grants allowed) that names another policy inside is refused
SELECT bandit.create_policy('other', 'thompson', ARRAY['x']);
INSERT INTO bandit.snapshot (policy, label, policy_row, arms)
SELECT 'acc', 'crafted', to_jsonb(p), (SELECT jsonb_agg(to_jsonb(a)) FROM bandit.arm a WHERE a.policy = 'other')
FROM bandit.policy p WHERE p.name = 'other';
SET ROLE regress_access_owner;
SELECT pg_temp.err(format('SELECT bandit.restore(%s)', (SELECT max(id) FROM bandit.snapshot)));
RESET ROLE;
SELECT arm, alpha FROM bandit.arm WHERE policy = 'other';                  -- x, 1: untouched

-- a dropped experiment's audit trail is not for the next owner of its name
GRANT EXECUTE ON FUNCTION bandit.create_experiment(text, text[], float8[], jsonb)
    TO regress_access_owner, regress_access_app;
SET ROLE regress_access_owner;
SELECT bandit.create_experiment('exp', ARRAY['c', 't'], NULL, '{"hypothesis": "secret"}');
SELECT bandit.drop_experiment('exp');
SET ROLE regress_access_app;
SELECT pg_sleep(0.01);                                                     -- a later creation time
SELECT bandit.create_experiment('exp', ARRAY['a', 'b']);
SELECT action, detail->'variants' AS variants FROM bandit.experiment_audit ORDER BY id;   -- its own creation only
RESET ROLE;
SELECT count(*) AS whole_trail FROM bandit.experiment_audit;               -- 3 for a superuser
SELECT bandit.drop_experiment('exp');
DELETE FROM bandit.experiment_audit;

DELETE FROM bandit.object WHERE kind = 'policy';
DELETE FROM bandit.snapshot; DELETE FROM bandit.audit; DELETE FROM bandit.arm; DELETE FROM bandit.policy;
DROP OWNED BY regress_access_owner, regress_access_app;
DROP ROLE regress_access_owner, regress_access_app;
