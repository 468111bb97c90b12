"""The machinery of test/fuzz_test.py: the catalog of schema bandit, hostile and
valid values per argument type and name, a fixture of valid objects, and one
call run with its checks (crash, XX000, NaN/Infinity from finite inputs, text
round trip of every produced value, state changed by a failed call, learned
state that is no longer finite).  Every value is a SQL expression, so each
call is one SQL line that reproduces it."""
import io
import os
import re
import signal
import struct
import threading
import time

import psycopg2
import psycopg2.extensions

# --------------------------------------------------------------------------
# values

class V:
    """A SQL expression of a known type; finite is false when NaN or an
    infinity is in it anywhere (so a non-finite result is not a defect)."""
    __slots__ = ('sql', 'finite', 'huge')

    def __init__(self, sql, finite=True, huge=False):
        self.sql, self.finite, self.huge = sql, finite, huge


def lit(s):
    return "'" + s.replace("'", "''") + "'"


NONFINITE_F = ['NaN', 'Infinity', '-Infinity']
HOSTILE_F = ['1e308', '-1e308', '1.7976931348623157e308', '-1.7976931348623157e308', '5e-324',
             '-5e-324', '1e-320', '2.2250738585072014e-308', '1e-300', '1e300', '1e200', '-1e200',
             '0', '-0', '-1', '1', '0.5', '2', '1e15', '-1e15', '9007199254740993',
             '0.9999999999999999', '1.0000000000000002', '1e-10', '100000', '1e7']
HOSTILE_I8 = ['9223372036854775807', '-9223372036854775808', '9223372036854775806', '0', '-1', '1',
              '2', '2147483647', '2147483648', '4294967296', '-2147483649', '1000000000000']
HOSTILE_I4 = ['2147483647', '-2147483648', '0', '-1', '1', '2', '100000', '1000000', '65536', '5000']
HOSTILE_TEXT = ["''", "' '", "'nope'", "'NaN'", "'Infinity'", "'NULL'", "'two-sided '", "'TWO-SIDED'",
                "'a,b'", "'\"'", "'\\'", "'{}'", "'('", "'a|b=c'", "'é日本🙂'", "'\u202egnol'",
                "'\u200b'", "'x' || chr(1)", "repeat('x', 100000)", "repeat('é', 30000)",
                "repeat('🙂', 10000)", "'%s%n%x'", "'-1'", "'1e308'", "'{\"a\":1}'",
                "'  leading'", "'fz_thompson'", "'fz_exp'", "'fz_agent'", "'fz_scope'"]
HOSTILE_JSON_LEAF = ['1e308', '-1e308', '1e-320', '5e-324', '0', '-1', '1e400', '-1e400',
                     '123456789012345678901234567890', '9223372036854775808', '0.5', '2',
                     '"NaN"', '"Infinity"', '"-Infinity"', '"1"', '""', 'null', 'true', '[]', '{}',
                     '[1e308]', '{"a":1}', '"' + 'x' * 300 + '"', '-0', '1.5', '100000', '1e7']
NONFINITE_JSON_LEAF = {'"NaN"', '"Infinity"', '"-Infinity"'}
HOSTILE_JSONB = ["'null'", "'[]'", "'{}'", "'1'", "'\"x\"'", "'true'", "'[1,2]'", "'{\"\":1}'",
                 "'{\"features\":[]}'", "'{\"features\":null}'", "'{\"features\":[1e308,1e308,1e308]}'",
                 "'{\"features\":[1e200,0,0]}'", "'{\"features\":[\"NaN\",1,1]}'",
                 "'{\"features\":[1,2,3,4,5,6,7,8,9]}'", "'{\"features\":[[1],[2],[3]]}'",
                 "'{\"features\":{\"a\":1}}'", "'{\"a\":1e308,\"b\":-1e308}'", "'{\"a\":1e-320}'",
                 "'{\"arms\":[],\"exclude\":[\"a\",\"b\",\"c\",\"x\",\"y\"]}'",
                 "'{\"a\":\"' || repeat('é', 20000) || '\"}'",
                 "(repeat('[', 10000) || repeat(']', 10000))::jsonb",
                 "(repeat('{\"a\":', 5000) || '1' || repeat('}', 5000))::jsonb",
                 "(SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 500) i)",
                 "(SELECT jsonb_object_agg('k' || i, i * 1e300) FROM generate_series(1, 500) i)",
                 "(SELECT jsonb_build_object('features', jsonb_agg(1e300)) FROM generate_series(1, 3))",
                 "(SELECT jsonb_build_object('features', jsonb_agg(0.5)) FROM generate_series(1, 100000))",
                 "(SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 20000) i)"]
HUGE_MARK = ('100000', '20000', '10000', '5000', '30000')
BIG_INT_FOR_HUGE = ['100000', '1000000', '2147483647', '5000']


def is_huge(sql):
    return any(m in sql for m in HUGE_MARK)


class Types:
    """Type facts from pg_type (by oid): name as format_type, kind, element, fields."""

    def __init__(self, cur):
        cur.execute("""SELECT t.oid, format_type(t.oid, NULL), t.typtype, t.typelem, t.typrelid,
                              t.typbasetype, t.typnamespace = 'bandit'::regnamespace
                       FROM pg_type t""")
        self.info = {}
        for oid, name, kind, elem, relid, base, ours in cur.fetchall():
            self.info[oid] = dict(name=name, kind=kind, elem=elem, relid=relid, base=base, ours=ours)
        self.by_name = {v['name']: oid for oid, v in self.info.items()}
        cur.execute("""SELECT t.oid, array_agg(a.atttypid ORDER BY a.attnum), array_agg(a.attname::text ORDER BY a.attnum)
                       FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
                       WHERE t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped
                         AND t.typnamespace IN ('bandit'::regnamespace, 'pg_catalog'::regnamespace)
                       GROUP BY t.oid""")
        self.fields = {oid: list(zip(names, types)) for oid, types, names in cur.fetchall()}

    def name(self, oid):
        return self.info[oid]['name']

    def is_array(self, oid):
        i = self.info[oid]
        return i['elem'] != 0 and i['kind'] == 'b' and i['name'].endswith('[]')


# --------------------------------------------------------------------------
# the catalog of schema bandit

class Func:
    def __init__(self, row):
        (self.oid, self.name, self.sig, self.kind, self.volatile, self.strict, self.retset,
         self.rettype, self.argtypes, self.argnames, self.combine, self.transtype) = row
        self.argtypes = list(self.argtypes or [])
        self.argnames = list(self.argnames or [])
        while len(self.argnames) < len(self.argtypes):
            self.argnames.append('arg%d' % (len(self.argnames) + 1))
        self.qname = 'bandit.' + (self.name if re.match(r'^[a-z_][a-z0-9_]*$', self.name)
                                  and self.name not in ('analyze',) else '"%s"' % self.name)


def load_catalog(cur):
    """Every function and aggregate of schema bandit, with its IN argument names."""
    cur.execute("""
        SELECT p.oid, p.proname::text, p.oid::regprocedure::text, p.prokind, p.provolatile, p.proisstrict,
               p.proretset, p.prorettype, p.proargtypes::oid[],
               CASE WHEN p.proargmodes IS NULL THEN p.proargnames
                    ELSE ARRAY(SELECT n FROM unnest(p.proargnames, p.proargmodes) u(n, m)
                               WHERE m IN ('i', 'b', 'v')) END,
               a.aggcombinefn <> 0, a.aggtranstype
        FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
        WHERE p.pronamespace = 'bandit'::regnamespace
        ORDER BY p.oid""")
    return [Func(r) for r in cur.fetchall()]


# --------------------------------------------------------------------------
# connection that returns every value as its text output

_RAW = None


def raw_connect(dbname):
    """A connection whose fetched values are the server's text output, untouched."""
    global _RAW
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    cur = conn.cursor()
    if _RAW is None:
        cur.execute('SELECT array_agg(oid::int) FROM pg_type')
        oids = tuple(cur.fetchone()[0])
        _RAW = psycopg2.extensions.new_type(oids, 'FUZZRAW', lambda s, c: s)
    psycopg2.extensions.register_type(_RAW, conn)
    return conn


# --------------------------------------------------------------------------
# non-finite detection in text outputs

NONFINITE_TOKEN = re.compile(r'(?<![A-Za-z_])-?(NaN|Infinity)(?![A-Za-z_])')
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
FLOAT_TYPES = {'double precision', 'real', 'numeric'}


def nonfinite_in(typename, text, types, typeoid):
    """True when a float inside this output (of this type) is NaN or infinite."""
    if text is None:
        return False
    if typename in FLOAT_TYPES:
        return text in ('NaN', 'Infinity', '-Infinity')
    info = types.info.get(typeoid)
    if info is None:
        return False
    if typename in ('double precision[]', 'real[]', 'numeric[]'):
        return bool(NONFINITE_TOKEN.search(text))
    if info['ours'] or typename.endswith('[]') and typename.startswith('bandit.') or info['kind'] == 'c':
        # a state type or composite: floats outside double-quoted strings
        return bool(NONFINITE_TOKEN.search(QUOTED.sub('""', text)))
    return False


# what a column of this name must satisfy (a garbage answer from a crafted state, an overflow, ...)
UNIT = {'p_value', 'adjusted_p_value', 'prob_best', 'srm_p_value', 'propensity', 'confidence',
        'relative_p_value', 'policy_propensity', 'power'}
NONNEGATIVE = {'std_error', 'sd', 'stddev', 'variance', 'n', 'df', 'pulls', 'ess', 'max_weight', 'expected_loss'}
PAIRS = [('ci_lower', 'ci_upper'), ('lower', 'upper'), ('diff_ci_lower', 'diff_ci_upper'),
         ('relative_ci_lower', 'relative_ci_upper')]
# functions whose result (a number or an array of numbers) lies in [0, 1]
UNIT_RESULT = {'prob_best', 'normal_prob_best', 'holm', 'beta_quantile', 'beta_sample', 'power_t_test',
               'power_proportions', 'nct_cdf', 'nct_sf', 'assignment_point', 'srm_check'}
NONNEGATIVE_RESULT = {'expected_loss', 'normal_expected_loss', 'variance', 'stddev', 'n'}


def _num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _nums(text):
    return [_num(x) for x in text.strip('{}').replace('{', '').replace('}', '').split(',') if _num(x) is not None]


def invariant_problems(fname, desc, row):
    """What in one result row breaks the rules above (NaN is left to the non-finite check)."""
    out = []
    byname = {}
    for (cname, _), val in zip(desc, row):
        byname[cname] = val
        if val is None:
            continue
        vals = _nums(val) if val.startswith('{') else [_num(val)]
        vals = [v for v in vals if v is not None and v == v]
        unit = cname in UNIT or cname == fname and fname in UNIT_RESULT
        nonneg = cname in NONNEGATIVE or cname == fname and fname in NONNEGATIVE_RESULT
        if unit and any(v < -1e-12 or v > 1 + 1e-12 for v in vals):
            out.append('%s = %s outside [0, 1]' % (cname, val[:80]))
        elif nonneg and any(v < 0 for v in vals):
            out.append('%s = %s negative' % (cname, val[:80]))
    for lo, hi in PAIRS:
        a, b = _num(byname.get(lo)), _num(byname.get(hi))
        if a is not None and b is not None and a == a and b == b and a > b:
            out.append('%s = %s above %s = %s' % (lo, byname[lo], hi, byname[hi]))
    return out


NUMBER_AFTER = r'(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)'


def imprecise_message(msg, argvals):
    """A number the message shows for an argument that is not the value passed (printed with %g,
    say; the rule is shortest round-trip form).  argvals: argument name -> float passed."""
    if not msg or not argvals:
        return None
    for name, x in argvals.items():
        if x is None or x != x or x == 0:
            continue
        shown = re.findall(r'\b%s\b.*?\bgot ' % re.escape(name) + NUMBER_AFTER, msg)
        shown += re.findall(r'\b%s:? ' % re.escape(name) + NUMBER_AFTER, msg)
        for t in shown:
            v = float(t)
            if v != x and abs(v / x - 1) <= 1e-5:
                return '%s: shows %s for %r' % (name, t, x)
    return None


# types whose output every input accepts (PostgreSQL's own scalars)
TRIVIAL_ROUNDTRIP = {'text', 'boolean', 'bigint', 'integer', 'smallint', 'double precision', 'real',
                     'timestamp with time zone', 'timestamp without time zone', 'date', 'void', 'name',
                     'bytea', 'interval', 'oid', '"char"', 'cstring', 'record', 'character varying',
                     'text[]', 'bigint[]', 'integer[]', 'boolean[]', 'double precision[]'}


# --------------------------------------------------------------------------
# the runner: one call, its outcome and checks

class Outcome:
    OK = 'ok'
    WRONG = 'wrong_answer'    # an answer that contradicts the state (an arm the policy lacks, ...)
    INVARIANT = 'invariant'   # a p-value above 1, a negative standard error, ci_lower > ci_upper, ...
    MESSAGE = 'message'       # an error message that shows a rounded value, not the one passed
    STALE = 'stale_cache'     # a session's answer differs from a fresh session's
    POISONED = 'poisoned'     # a call succeeded, and the policy it changed can no longer choose
    CONSTRAINT = 'constraint'  # bad input stopped by a table constraint, not by the function's own check
    UNSTABLE = 'unstable'     # an IMMUTABLE function that answers differently when asked again
    TIMEOUT = 'timeout'
    CRASH = 'crash'
    OVERRAN = 'overran'     # ran past statement_timeout + grace: no interrupt check
    XX000 = 'XX000'
    NAN = 'nonfinite'       # NaN/Infinity from finite inputs
    ROUNDTRIP = 'roundtrip'
    STATE = 'state_change'  # a failed call changed state
    STORED = 'stored_nonfinite'  # learned state no longer finite after a successful call


class Runner:
    def __init__(self, dbname, types, timeout_s=2.0, grace_s=4.0, log=print):
        self.dbname, self.types, self.timeout_s, self.grace_s, self.log = dbname, types, timeout_s, grace_s, log
        self.conn = None
        self.crashes = 0
        self.spent, self.phase = {}, 'other'   # seconds by phase (call, checksum, ...)
        self.history = []       # the statements this session ran, newest last (for a crash's report)
        self.connect()
        self.rt_cache = {}

    def connect(self):
        """(Re)connects, waiting out a crash recovery."""
        deadline = time.time() + 90
        while True:
            try:
                self.conn = raw_connect(self.dbname)
                self.cur = self.conn.cursor()
                self.cur.execute("SET statement_timeout = '%dms'" % int(self.timeout_s * 1000))
                self.cur.execute("SET client_min_messages = error")
                self.cur.execute('SELECT 1')
                self.pid = self.conn.get_backend_pid()
                return
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)

    def alive(self):
        return self.conn is not None and self.conn.closed == 0

    def _watchdog(self, pid, done):
        """Kills a backend that ignores statement_timeout (an uninterruptible loop)."""
        if not done.wait(self.timeout_s + self.grace_s):
            self.overran = True
            try:
                os.kill(pid, signal.SIGKILL)
            except (PermissionError, ProcessLookupError):
                try:
                    a = psycopg2.connect(dbname=self.dbname)
                    a.autocommit = True
                    a.cursor().execute('SELECT pg_terminate_backend(%s)', (pid,))
                    a.close()
                except psycopg2.Error:
                    pass

    def execute(self, sql, fetch=200, copy_data=None):
        """Runs one statement; returns (status, rows, description, sqlstate, message, seconds).
        status: 'ok', 'error', 'timeout', 'crash', 'overran'."""
        if not self.alive():
            self.connect()
        self.history = self.history[-4:] + [sql]
        self.overran = False
        done = threading.Event()
        wd = threading.Thread(target=self._watchdog, args=(self.pid, done), daemon=True)
        wd.start()
        t0 = time.time()
        rows, desc, state, msg = None, None, None, None
        try:
            if copy_data is not None:
                self.cur.copy_expert(sql, io.BytesIO(copy_data))
            else:
                self.cur.execute(sql)
            if self.cur.description is not None:
                desc = [(d.name, d.type_code) for d in self.cur.description]
                rows = self.cur.fetchmany(fetch)
            status = 'ok'
        except psycopg2.Error as e:
            state, msg = e.pgcode, (e.pgerror or str(e)).strip().split('\n')[0]
            if self.conn.closed or state is None and isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                status = 'overran' if self.overran else 'crash'
            elif state == '57014':
                status = 'timeout'
            else:
                status = 'error'
        except UnicodeDecodeError as e:
            status, state, msg = 'error', 'ENCODING', 'output not valid in the client encoding: %s' % e
        finally:
            done.set()
        secs = time.time() - t0
        if status in ('crash', 'overran'):
            self.conn = None
            t1 = time.time()
            # the postmaster is still killing every backend: a connection made now dies too
            time.sleep(1.0)
            self.connect()
            self.history = []
            self.spent['reconnect'] = self.spent.get('reconnect', 0) + time.time() - t1
        elif self.overran and status != 'ok':
            status = 'overran'
        self.spent[self.phase] = self.spent.get(self.phase, 0) + secs
        return status, rows, desc, state, msg, secs

    def scalar(self, sql):
        st, rows, _, state, msg, _ = self.execute(sql, fetch=1)
        if st != 'ok':
            raise RuntimeError('fuzzer housekeeping failed: %s: %s %s' % (sql[:200], state, msg))
        return rows[0][0] if rows else None

    def roundtrip(self, typename, text):
        """None when text (an output of typename) is accepted by the type's input and reproduces
        itself; else a description of what went wrong."""
        key = (typename, text)
        if key in self.rt_cache:
            return self.rt_cache[key]
        st, rows, _, state, msg, _ = self.execute('SELECT %s::%s::text' % (lit(text), typename), fetch=1)
        if st == 'ok':
            res = None if rows[0][0] == text else 'reads back as %s' % rows[0][0][:200]
        else:
            res = 'input rejects it: %s %s' % (state, msg)
        if len(self.rt_cache) < 100000:
            self.rt_cache[key] = res
        return res


# --------------------------------------------------------------------------
# binary COPY of one field (to reach a type's receive function)

def copy_binary(field):
    head = b'PGCOPY\n\xff\r\n\x00' + struct.pack('!ii', 0, 0)
    if field is None:
        tup = struct.pack('!hi', 1, -1)
    else:
        tup = struct.pack('!hi', 1, len(field)) + field
    return head + tup + struct.pack('!h', -1)
