"""Upgrades: the oldest installable version of bandit, updated through every
upgrade script, has exactly the catalog of a fresh install of the default
version, and state written under the old version keeps working.

The catalog is compared object by object (every member of the extension):
function definitions with their volatility, strictness, parallel safety,
SET clauses and security, aggregates' support functions, ACLs, comments,
columns in order with types, defaults and NOT NULL, constraints, indexes,
triggers, row-level security policies, types, and what pg_dump dumps."""
import sys

import psycopg2

from testlib import ok, report, query_helpers

# (description, definition) of every member object, and of what hangs off it.
CATALOG = r"""
WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_catalog.pg_extension WHERE extname = 'bandit'),
members AS (
  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
  WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT pg_catalog.pg_describe_object(m.classid, m.objid, 0) AS what,
       concat_ws(E'\n',
         'comment: ' || pg_catalog.obj_description(m.objid, m.classid::regclass::text),
         CASE m.classid
           WHEN 'pg_catalog.pg_proc'::regclass THEN (
             SELECT concat_ws(E'\n', 'acl: ' || p.proacl::text,
                      CASE WHEN p.prokind = 'a' THEN (
                        SELECT concat_ws(' ', 'aggregate', a.aggkind, a.aggtransfn::regprocedure, a.aggfinalfn,
                                         a.aggcombinefn, a.aggserialfn, a.aggdeserialfn, a.aggmtransfn,
                                         a.aggminvtransfn, a.aggmfinalfn, a.aggfinalextra, a.aggfinalmodify,
                                         a.aggsortop, a.aggtranstype::regtype, a.aggtransspace, a.agginitval,
                                         a.aggminitval, p.proparallel, p.provolatile,
                                         pg_catalog.pg_get_function_arguments(p.oid),
                                         pg_catalog.pg_get_function_result(p.oid))
                        FROM pg_catalog.pg_aggregate a WHERE a.aggfnoid = p.oid)
                      ELSE pg_catalog.pg_get_functiondef(p.oid) END)
             FROM pg_catalog.pg_proc p WHERE p.oid = m.objid)
           WHEN 'pg_catalog.pg_class'::regclass THEN (
             SELECT concat_ws(E'\n', 'kind: ' || c.relkind::text, 'acl: ' || c.relacl::text,
                      'rls: ' || c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text,
                      'options: ' || c.reloptions::text,
                      'dumped: ' || (SELECT coalesce(ext.extcondition[i], '') FROM ext,
                                     generate_subscripts(ext.extconfig, 1) i WHERE ext.extconfig[i] = c.oid),
                      (SELECT string_agg(format('column %s %s%s%s%s%s', a.attname,
                                pg_catalog.format_type(a.atttypid, a.atttypmod),
                                CASE WHEN a.attnotnull THEN ' not null' END,
                                ' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
                                CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text END,
                                CASE WHEN a.attgenerated <> '' THEN ' generated' END)
                              || coalesce(' -- ' || pg_catalog.col_description(c.oid, a.attnum), '')
                              || coalesce(' acl ' || a.attacl::text, ''), E'\n' ORDER BY a.attnum)
                       FROM pg_catalog.pg_attribute a
                       LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                      (SELECT string_agg(format('constraint %s %s', co.conname, pg_catalog.pg_get_constraintdef(co.oid)),
                                         E'\n' ORDER BY co.conname)
                       FROM pg_catalog.pg_constraint co WHERE co.conrelid = c.oid),
                      (SELECT string_agg('index ' || pg_catalog.pg_get_indexdef(i.indexrelid), E'\n' ORDER BY 1)
                       FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid),
                      (SELECT string_agg('trigger ' || pg_catalog.pg_get_triggerdef(t.oid), E'\n' ORDER BY 1)
                       FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
                      (SELECT string_agg(format('policy %s %s %s %s %s', po.polname, po.polcmd, po.polpermissive,
                                                po.polroles::regrole[]::text,
                                                concat_ws(' check ', pg_catalog.pg_get_expr(po.polqual, po.polrelid),
                                                          pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid))),
                                         E'\n' ORDER BY po.polname)
                       FROM pg_catalog.pg_policy po WHERE po.polrelid = c.oid),
                      (SELECT format('sequence %s %s %s %s %s %s', s.seqtypid::regtype, s.seqstart, s.seqincrement,
                                     s.seqmax, s.seqmin, s.seqcycle)
                       FROM pg_catalog.pg_sequence s WHERE s.seqrelid = c.oid))
             FROM pg_catalog.pg_class c WHERE c.oid = m.objid)
           WHEN 'pg_catalog.pg_type'::regclass THEN (
             SELECT concat_ws(' ', 'type', t.typtype, t.typinput, t.typoutput, t.typreceive, t.typsend,
                              t.typlen, t.typalign, t.typstorage, t.typacl::text,
                              (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                               FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid))
             FROM pg_catalog.pg_type t WHERE t.oid = m.objid)
           WHEN 'pg_catalog.pg_namespace'::regclass THEN (
             SELECT 'acl: ' || n.nspacl::text FROM pg_catalog.pg_namespace n WHERE n.oid = m.objid)
         END) AS definition
FROM members m
ORDER BY 1
"""


def catalog(cur):
    cur.execute(CATALOG)
    return dict(cur.fetchall())


def versions(cur):
    """The installable versions, oldest first, and the default."""
    cur.execute("SELECT version FROM pg_catalog.pg_available_extension_versions WHERE name = 'bandit'")
    found = sorted((r[0] for r in cur.fetchall()), key=lambda v: tuple(int(x) for x in v.split('.')))
    cur.execute("SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'bandit'")
    return found, cur.fetchone()[0]


def database(admin, name):
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + name)
    admin.cursor().execute('CREATE DATABASE ' + name)
    conn = psycopg2.connect(dbname=name)
    conn.autocommit = True
    return conn


def main():
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    found, default = versions(admin.cursor())
    print('versions %s, default %s' % (' '.join(found), default))
    ok('the default version is the newest', found[-1] == default, str(found))

    fresh = database(admin, 'bandit_fresh')
    fresh.cursor().execute('CREATE EXTENSION bandit')
    want = catalog(fresh.cursor())
    ok('a fresh install has members', len(want) > 100, '%d members' % len(want))

    # Each older version, updated to the default, ends with the fresh catalog.
    for oldest in found[:-1]:
        conn = database(admin, 'bandit_upgraded')
        cur = conn.cursor()
        q, q1, sqlstate = query_helpers(cur)
        cur.execute("CREATE EXTENSION bandit VERSION '%s'" % oldest)
        # State written under the old version's SQL.  The library installed is
        # the new one, which refuses to plan over the old tables until the
        # update, with a clean error saying so.
        q1("SELECT bandit.set_seed(7)")
        q1("SELECT bandit.create_policy('old', 'thompson', ARRAY['a', 'b'])")
        q1("SELECT bandit.create_experiment('old_exp', ARRAY['control', 'treatment'])")
        q1("SELECT bandit.start_experiment('old_exp')")
        for call in ("SELECT * FROM bandit.choose('old')", "SELECT bandit.assign('old_exp', 'unit-1')"):
            ok('before the update, %s: 55000' % call, sqlstate(call) == '55000')

        path = q1("SELECT path FROM pg_catalog.pg_extension_update_paths('bandit') "
                  "WHERE source = %s AND target = %s", oldest, default)
        ok('an update path from %s to %s' % (oldest, default), path is not None)
        cur.execute('ALTER EXTENSION bandit UPDATE')
        ok('%s updates to %s' % (oldest, default),
           q1("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'bandit'") == default)

        got = catalog(cur)
        for what in sorted(set(want) | set(got)):
            ok('%s -> %s: %s' % (oldest, default, what), got.get(what) == want.get(what),
               '\n  updated: %r\n  fresh:   %r' % (got.get(what), want.get(what)))

        # the old state works under the new version
        decision = q1("SELECT decision_id FROM bandit.choose('old')")
        ok('old policy rewarded after the update',
           sqlstate("SELECT bandit.reward(%s::bigint, 1.0::float8)", decision) is None)
        ok('old policy learned the reward',
           q1("SELECT sum(pulls) FROM bandit.arm_stats('old')") == 1)
        variant = q1("SELECT bandit.assign('old_exp', 'unit-1')")
        ok('old experiment assigns, stickily, after the update',
           variant in ('control', 'treatment') and q1("SELECT bandit.assign('old_exp', 'unit-1')") == variant)
        conn.close()
    fresh.close()
    for name in ('bandit_fresh', 'bandit_upgraded'):
        admin.cursor().execute('DROP DATABASE IF EXISTS ' + name)
    return report()


if __name__ == '__main__':
    sys.exit(main())
