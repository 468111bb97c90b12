-- Runs after every capability's SQL.  Default privileges (ALTER DEFAULT
-- PRIVILEGES of the installing role) and, on an update, grants made by hand
-- for 0.1.0 may have given other roles privileges on bandit's objects; a
-- TRIGGER, TRUNCATE or CREATE among them would let a role act as the
-- extension's owner.  Only what the scripts grant stays: SELECT on tables and
-- views and USAGE on the schema for PUBLIC, EXECUTE on the functions as each
-- file decided.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT c.oid::regclass AS rel, c.relkind, a.grantee, a.privilege_type
        FROM pg_catalog.pg_class c
        CROSS JOIN LATERAL (SELECT x.grantee, x.privilege_type FROM pg_catalog.aclexplode(c.relacl) x
                            UNION ALL
                            SELECT x.grantee, x.privilege_type
                            FROM pg_catalog.pg_attribute t, pg_catalog.aclexplode(t.attacl) x
                            WHERE t.attrelid = c.oid) a
        WHERE c.relnamespace = 'bandit'::regnamespace AND a.grantee <> c.relowner
          AND NOT (a.grantee = 0 AND a.privilege_type = 'SELECT' AND c.relkind IN ('r', 'v'))
    LOOP
        EXECUTE pg_catalog.format('REVOKE %s ON %s %s FROM %s', r.privilege_type,
                                  CASE WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.rel,
                                  CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END);
    END LOOP;
    FOR r IN
        SELECT DISTINCT p.oid::regprocedure AS fn, a.grantee
        FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
        WHERE p.pronamespace = 'bandit'::regnamespace AND a.grantee NOT IN (0, p.proowner)
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.fn,
                                  pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)));
    END LOOP;
    FOR r IN
        SELECT DISTINCT a.grantee, a.privilege_type
        FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
        WHERE n.nspname = 'bandit' AND a.grantee <> n.nspowner AND NOT (a.grantee = 0 AND a.privilege_type = 'USAGE')
    LOOP
        EXECUTE pg_catalog.format('REVOKE %s ON SCHEMA bandit FROM %s', r.privilege_type,
                                  CASE WHEN r.grantee = 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END);
    END LOOP;
END
$$;
