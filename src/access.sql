-- Access control: owners, grants of use/read/manage, and the filter that
-- row-level security puts on every state table (src/access.c).

CREATE TABLE bandit.object (
    kind text NOT NULL CHECK (kind IN ('policy', 'experiment', 'agent', 'scope', 'priors')),
    name text NOT NULL,
    owner regrole NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (kind, name)
);
COMMENT ON TABLE bandit.object IS
    'Every policy, experiment, Q-learning agent and tuning scope, and the priors (one object named *), with its owner: the role that created it, holding every privilege on it';

CREATE TABLE bandit.permission (
    kind text NOT NULL,
    name text NOT NULL,
    grantee regrole NOT NULL,
    privilege text NOT NULL CHECK (privilege IN ('use', 'read', 'manage')),
    granted_by regrole NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (kind, name, grantee, privilege),
    FOREIGN KEY (kind, name) REFERENCES bandit.object (kind, name) ON DELETE CASCADE
);
COMMENT ON TABLE bandit.permission IS
    'Privileges granted on objects by bandit.grant: use (the application''s calls), read (statistics and the object''s rows), manage (everything else; implies use and read)';

-- The priors are one object, owned by the extension's owner; CREATE EXTENSION
-- makes the row, so pg_dump leaves it out.
INSERT INTO bandit.object (kind, name, owner)
SELECT 'priors', '*', e.extowner::regrole FROM pg_catalog.pg_extension e WHERE e.extname = 'bandit';
SELECT pg_catalog.pg_extension_config_dump('bandit.object', $$WHERE kind <> 'priors'$$);
SELECT pg_catalog.pg_extension_config_dump('bandit.permission', '');

CREATE FUNCTION bandit.caller() RETURNS regrole
AS 'MODULE_PATHNAME', 'bandit_caller' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION bandit.caller() IS
    'The role bandit checks privileges for: the role the session runs as (SET ROLE counts), not the owner of a SECURITY DEFINER function in between';

CREATE FUNCTION bandit.require(kind text, name text, privilege text, create_missing boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'bandit_require' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION bandit.require(text, text, text, boolean) IS
    'Internal: raises 42501 unless the caller holds privilege (use, read, manage) on the object, 42704 if it does not exist (an agent not yet created passes; with create_missing an agent or scope is created owned by the caller)';
REVOKE ALL ON FUNCTION bandit.require(text, text, text, boolean) FROM PUBLIC;

CREATE FUNCTION bandit.grant(kind text, name text, grantee regrole, privilege text) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_grant' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.grant(text, text, regrole, text) IS
    'Grants use, read or manage on a policy, experiment, agent, scope or the priors (name *) to a role (and its members); granting twice changes nothing. Privilege: manage on the object.';

CREATE FUNCTION bandit.revoke(kind text, name text, grantee regrole, privilege text) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_revoke' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.revoke(text, text, regrole, text) IS
    'Revokes a privilege granted by bandit.grant (revoking manage leaves use and read granted separately); revoking what was not granted changes nothing. Privilege: manage on the object.';

CREATE FUNCTION bandit.holds(role regrole) RETURNS boolean
AS 'MODULE_PATHNAME', 'bandit_holds' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bandit.holds(regrole) IS
    'Whether the caller (bandit.caller()) has the privileges of role, as a member inheriting them or as a superuser; false for a dropped role';

CREATE FUNCTION bandit.set_owner(kind text, name text, new_owner regrole) RETURNS void
AS 'MODULE_PATHNAME', 'bandit_set_owner' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION bandit.set_owner(text, text, regrole) IS
    'Gives an object to another owner, as ALTER ... OWNER TO does (before DROP ROLE of its owner, say): grants stay; the priors always belong to the extension''s owner (0A000). Privilege: ownership of the object (or superuser), and membership in new_owner.';

-- The filter of row-level security: called once per query (a hashed subplan).
CREATE FUNCTION bandit.readable(kind text DEFAULT NULL) RETURNS TABLE (kind text, name text)
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.kind, o.name FROM bandit.object o
    WHERE ($1 IS NULL OR o.kind = $1)
      AND (bandit.holds(o.owner)
           OR EXISTS (SELECT FROM bandit.permission p
                      WHERE p.kind = o.kind AND p.name = o.name AND p.privilege IN ('read', 'manage')
                        AND bandit.holds(p.grantee)))
$$;
COMMENT ON FUNCTION bandit.readable(text) IS
    'The objects (of a kind, or all) that the caller may read: owned, or read or manage granted; the row-level security of every state table';

GRANT SELECT ON bandit.object, bandit.permission TO PUBLIC;
ALTER TABLE bandit.object ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.object FOR SELECT USING ((kind, name) IN (SELECT * FROM bandit.readable()));
ALTER TABLE bandit.permission ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON bandit.permission FOR SELECT
    USING ((kind, name) IN (SELECT * FROM bandit.readable())
           OR bandit.holds(grantee));

CREATE VIEW bandit.privileges WITH (security_invoker = true) AS
SELECT kind, name, grantee, privilege, granted_by, granted_at FROM bandit.permission;
COMMENT ON VIEW bandit.privileges IS
    'The grants the caller may see: those on objects it may read, and those to roles it belongs to';
GRANT SELECT ON bandit.privileges TO PUBLIC;

-- Whether the caller may manage a policy (without raising).
CREATE FUNCTION bandit.may_manage(policy text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM bandit.object o
                   WHERE o.kind = 'policy' AND o.name = $1
                     AND (bandit.holds(o.owner)
                          OR EXISTS (SELECT FROM bandit.permission g
                                     WHERE g.kind = 'policy' AND g.name = $1 AND g.privilege = 'manage'
                                       AND bandit.holds(g.grantee))))
$$;
COMMENT ON FUNCTION bandit.may_manage(text) IS
    'Internal: whether the caller holds manage on the policy (owner, member of the owner or of a role granted manage, superuser); picks the policies of bandit.learn_pending(), bandit.expire_decisions() and bandit.refresh_metrics() without a policy';
REVOKE ALL ON FUNCTION bandit.may_manage(text) FROM PUBLIC;
