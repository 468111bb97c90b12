"""Shared by the test/*_test.py scripts: a tally of checks that ends in the
suite's "N passed, N failed" line, and a fresh database with the extension."""
import os

import psycopg2

_tally = {'passed': 0, 'failed': 0}


def ok(what, condition, detail=''):
    """Counts one check; prints a FAIL line with the detail when it fails."""
    if condition:
        _tally['passed'] += 1
    else:
        _tally['failed'] += 1
        print('FAIL %s %s' % (what, detail))


def close(what, got, want, rtol, atol=0.0):
    """ok() for |got - want| <= rtol |want| + atol; false for NaN and None."""
    ok(what, got is not None and abs(got - want) <= rtol * abs(want) + atol,
       'got %r, want %r' % (got, want))


def fresh_database(name):
    """Drops and creates database `name` with the extension; returns (admin, conn)."""
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('DROP DATABASE IF EXISTS ' + name)
    # UTF-8 with C collation whatever the cluster's locale (SQL_ASCII without LANG)
    admin.cursor().execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" % name)
    conn = psycopg2.connect(dbname=name)
    conn.autocommit = True
    conn.cursor().execute('CREATE EXTENSION bandit')
    return admin, conn


def login_credentials():
    """(key, value) of the user and password the tests log in with, where the
    environment sets them (pg_virtualenv in CI does), for a server that
    connects back: a subscription's conninfo, a postgres_fdw user mapping."""
    return [(key, os.environ[var]) for key, var in (('user', 'PGUSER'), ('password', 'PGPASSWORD'))
            if os.environ.get(var)]


def user_mapping_options():
    """OPTIONS of a postgres_fdw user mapping that logs in as the tests do."""
    options = ["%s '%s'" % (key, value.replace("'", "''")) for key, value in login_credentials()]
    return ' OPTIONS (%s)' % ', '.join(options) if options else ''


def query_helpers(cur):
    """(q, q1, sqlstate) on cur: every row, the first value, and the SQLSTATE
    of a statement expected to fail (None if it succeeds)."""
    def q(sql, *args):
        cur.execute(sql, args or None)
        return cur.fetchall()

    def q1(sql, *args):
        cur.execute(sql, args or None)
        return cur.fetchone()[0]

    def sqlstate(sql, *args):
        try:
            cur.execute(sql, args or None)
        except psycopg2.Error as e:
            return e.pgcode
        return None
    return q, q1, sqlstate


def report():
    """The closing line; the exit status says whether anything failed."""
    print('%d passed, %d failed' % (_tally['passed'], _tally['failed']))
    return 1 if _tally['failed'] else 0
