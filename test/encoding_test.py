#!/usr/bin/python3
"""bandit in databases of other server encodings: SQL_ASCII, LATIN1 and
EUC_JP (multibyte, not UTF-8) beside UTF-8, all with the C locale.

In each: install, run an experiment, a policy and a Q-learning agent whose
names the encoding can hold (ASCII everywhere, Latin-1 letters in LATIN1,
Japanese in EUC_JP), and call report and the functions that return text made
from those names, or fail with a message naming them.  Each is read through
a UTF8 client and through a client in the database's own encoding.  Checks:
no error; the text decodes; report's bars are drawn by characters, with box
drawing in UTF-8 and ASCII elsewhere, every line as long as in UTF-8 (the
UTF-8 report against bars computed here from scipy's t quantiles); the
other results and error messages equal UTF-8's.  A second LATIN1 database
gets 0.2.0 by ALTER EXTENSION UPDATE from 0.1.0.  The install scripts are
ASCII, which every server encoding reads alike.  Drops its databases."""
import glob
import json
import math
import os
import sys

import psycopg2
from scipy import stats

from testlib import ok, report

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
WIDTH = 40
ALPHA = 0.05
UNITS = ['u%d' % i for i in range(1, 301)]
BASE = [5.0, 6.0, 5.5]        # by variant position: control, then treatments

# UTF-8 box drawing of report and its ASCII stand-ins
GLYPHS = {'\u2501': '=', '\u25cf': 'o', '\u2502': '|', '\u251c': '|', '\u2500': '-', '\u2524': '|',
          '\u2014': '-'}
ASCII_OF = str.maketrans(GLYPHS)

NAMES = {
    'ascii': dict(experiment='shop', variants=['control', 'bigger', 'smaller'], metric='revenue',
                  hypothesis='bigger buttons sell more', policy='menu', arms=['tea', 'coffee', 'cocoa'],
                  agent='walker', states=['start', 'hall'], actions=['left', 'right'], key='country',
                  value='France'),
    'latin': dict(experiment='caf\u00e9', variants=['contr\u00f4le', 'grand_\u00e9', 'na\u00efve'],
                  metric='recette_\u00e0', hypothesis='un caf\u00e9 plus grand pla\u00eet',
                  policy='men\u00fa', arms=['cr\u00e8me', 'br\u00fbl\u00e9e', '\u00f1and\u00fa'],
                  agent='ag\u00ebnt', states=['d\u00e9but', 'entr\u00e9e'],
                  actions=['\u00e0_gauche', '\u00e0_droite'], key='pa\u00eds', value='Espa\u00f1a'),
    'kana': dict(experiment='\u5b9f\u9a13', variants=['\u5bfe\u7167', '\u5927\u304d\u3044', '\u5c0f\u3055\u3044'],
                 metric='\u58f2\u4e0a', hypothesis='\u5927\u304d\u3044\u30dc\u30bf\u30f3\u304c\u58f2\u308c\u308b',
                 policy='\u65b9\u91dd', arms=['\u8d64', '\u9752', '\u7dd1'], agent='\u6b69\u884c\u8005',
                 states=['\u5165\u53e3', '\u5e83\u9593'], actions=['\u5de6', '\u53f3'], key='\u56fd',
                 value='\u65e5\u672c'),
}
# database -> (server encoding, name sets it holds, install); UTF-8 first: the others are compared to it
FRESH = ['CREATE EXTENSION bandit']
UPGRADED = ["CREATE EXTENSION bandit VERSION '0.1.0'", 'ALTER EXTENSION bandit UPDATE']
DATABASES = [('bandit_enc_utf8', 'UTF8', ['ascii', 'latin', 'kana'], FRESH),
             ('bandit_enc_sql_ascii', 'SQL_ASCII', ['ascii', 'latin', 'kana'], FRESH),
             ('bandit_enc_latin1', 'LATIN1', ['ascii', 'latin'], FRESH),
             ('bandit_enc_latin1_upgraded', 'LATIN1', ['ascii', 'latin'], UPGRADED),
             ('bandit_enc_euc_jp', 'EUC_JP', ['ascii', 'kana'], FRESH)]


def value(unit_index, position):
    return BASE[position] + (unit_index * 7919 % 101) / 25.0


def format_number(x):
    """Four significant digits, as report prints its axis ends (from 1e-4 to 1e9)."""
    return '%.*f' % (max(0, 3 - math.floor(math.log10(abs(x)))), x)


def expected_bars(groups):
    """Per variant the 40 characters between the frame, and the axis ends,
    from each variant's t interval on the axis from the lowest lower bound
    to the highest upper bound; None if a position sits on a cell edge."""
    intervals = []
    for xs in groups:
        n = len(xs)
        mean = sum(xs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
        half = stats.t.ppf(1 - ALPHA / 2, n - 1) * sd / math.sqrt(n)
        intervals.append((mean - half, mean, mean + half))
    lowest = min(i[0] for i in intervals)
    highest = max(i[2] for i in intervals)
    bars = []
    for lo, mean, hi in intervals:
        cells = []
        for x in (lo, mean, hi):
            at = (x - lowest) / (highest - lowest) * WIDTH
            if 1e-6 < at < WIDTH - 1e-6 and abs(at - round(at)) < 1e-6:
                return None, None
            cells.append(min(WIDTH, 1 + math.floor(at)))
        first, center, last = cells
        bar = [' '] * (first - 1) + ['\u2501'] * (last - first + 1) + [' '] * (WIDTH - last)
        bar[center - 1] = '\u25cf'
        bars.append(''.join(bar))
    return bars, (format_number(lowest), format_number(highest))


def connect(database, client_encoding):
    conn = psycopg2.connect(dbname=database)
    conn.autocommit = True
    conn.set_client_encoding(client_encoding)
    return conn


def run(cur, sql, args=()):
    """(rows, None) or (None, (SQLSTATE, message)); a text that does not
    decode in the client encoding is ('decode', the error)."""
    try:
        cur.execute(sql, args or None)
        return (cur.fetchall() if cur.description else []), None
    except psycopg2.Error as e:
        return None, (e.pgcode, e.diag.message_primary)
    except UnicodeError as e:
        return None, ('decode', str(e))


def setup(cur, s):
    """The experiment, policy and agent of name set s, the same numbers in every database."""
    params = json.dumps({'min_sample_size': 10, 'salt': 'enc', 'hypothesis': s['hypothesis']},
                        ensure_ascii=False)
    cur.execute('SELECT bandit.create_experiment(%s, %s, NULL, %s::jsonb)', (s['experiment'], s['variants'], params))
    cur.execute('SELECT bandit.start_experiment(%s)', (s['experiment'],))
    cur.execute('SELECT u, bandit.assign(%s, u) FROM unnest(%s::text[]) u', (s['experiment'], UNITS))
    positions = [s['variants'].index(v) for _, v in cur.fetchall()]
    cur.execute('SELECT bandit.record_metrics(%s, %s, %s, %s)',
                (s['experiment'], s['metric'], UNITS, [value(i, p) for i, p in enumerate(positions)]))
    cur.execute("SELECT bandit.create_policy(%s, 'thompson', %s, '{}')", (s['policy'], s['arms']))
    for i, arm in enumerate(s['arms']):
        for k in range(5):
            cur.execute('SELECT bandit.reward(%s, %s, %s)', (s['policy'], arm, float(k <= i)))
    cur.execute('SELECT bandit.q_learn(%s, %s, %s, 1, %s, 0.5, 0.9)',
                (s['agent'], s['states'][0], s['actions'][1], s['states'][1]))
    cur.execute('SELECT bandit.q_learn(%s, %s, %s, 2, NULL, 0.5, 0.9)',
                (s['agent'], s['states'][1], s['actions'][0]))
    return positions


def text_calls(s):
    """(what, sql, args, name): the functions that return text from the names, and
    calls that fail with a message showing the name given."""
    context = json.dumps({s['key']: s['value'], 'n': 3}, ensure_ascii=False)
    signal = json.dumps({'cluster_hash': s['value'], 'aggregation_round': 1, 'participant_count': 1,
                         'reward_signals': {s['arms'][0]: {'success_rate': 2}}}, ensure_ascii=False)
    e, m = s['experiment'], s['metric']
    return [
        ('analyze', 'SELECT variant, n, test, warning FROM bandit.analyze(%s, %s)', (e, m), None),
        ('decide', 'SELECT * FROM bandit.decide(%s, %s)', (e, m), None),
        ('assign', "SELECT bandit.assign(%s, 'u1')", (e,), None),
        ('assignment_counts', 'SELECT * FROM bandit.assignment_counts(%s) ORDER BY n', (e,), None),
        ('format_number', 'SELECT bandit.format_number(x) FROM unnest(%s::float8[]) x',
         ([1234.5678, -0.000012345, 2.5e12, 0, None],), None),
        # ordered by mean: arm_stats orders by name, which is byte order in the database's encoding
        ('arm_stats', 'SELECT arm, pulls, mean_reward FROM bandit.arm_stats(%s) ORDER BY mean_reward', (s['policy'],), None),
        ('choose', 'SELECT bandit.set_seed(7); SELECT arm, propensity FROM bandit.choose(%s)', (s['policy'],), None),
        ('recommend', 'SELECT arm, rank FROM bandit.recommend(%s, 3)', (s['policy'],), None),
        ('q_greedy', 'SELECT * FROM bandit.q_greedy(%s) ORDER BY q_value', (s['agent'],), None),
        ('q_select', 'SELECT bandit.q_select(%s, %s, %s, 0)', (s['agent'], s['states'][0], s['actions']), None),
        ('state_key', "SELECT bandit.state_key(%s::jsonb, '{}')", (context,), None),
        ('ensemble_choice', 'SELECT bandit.ensemble_choice(a, w) FROM unnest(%s::text[], %s::float8[]) x(a, w)',
         (s['arms'], [1.0, 2.5, 0.5]), None),
        ('validate_signal', 'SELECT bandit.validate_signal(%s::jsonb)', (signal,), None),
        ('error: report of a missing experiment', 'SELECT * FROM bandit.report(%s, %s)', (e + '_x', m), e + '_x'),
        ('error: experiment exists', 'SELECT bandit.create_experiment(%s, %s)', (e, s['variants']), e),
        ('error: reward of a missing arm', 'SELECT bandit.reward(%s, %s, 1)', (s['policy'], s['arms'][0] + '_x'), s['arms'][0] + '_x'),
        ('error: arms of a missing policy', 'SELECT * FROM bandit.arm_stats(%s)', (s['policy'] + '_x',), s['policy'] + '_x'),
    ]


def bar_lines(lines, variants):
    """The lines of report that draw a variant's bar, by variant."""
    return [next(l for l in lines if l.startswith(v + ' ')) for v in variants]


def main():
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    acur = admin.cursor()

    for path in sorted(glob.glob(os.path.join(ROOT, 'src', '*.sql'))) + \
            [os.path.join(ROOT, 'bandit--0.1.0--0.2.0.sql')]:
        with open(path, 'rb') as f:
            text = f.read()
        ok('install script %s is ASCII' % os.path.relpath(path, ROOT), all(b < 128 for b in text),
           'first non-ASCII byte at %d' % next((i for i, b in enumerate(text) if b >= 128), -1))

    utf8 = {}               # (name set, what) -> result in the UTF-8 database
    try:
        for database, encoding, sets, install in DATABASES:
            acur.execute('DROP DATABASE IF EXISTS %s' % database)
            acur.execute("CREATE DATABASE %s TEMPLATE template0 ENCODING '%s' LC_COLLATE 'C' LC_CTYPE 'C'"
                         % (database, encoding))
            conn = connect(database, 'UTF8')
            cur = conn.cursor()
            for statement in install:
                _, error = run(cur, statement)
                ok('%s: %s' % (database, statement), error is None, error)
                if error:
                    break
            if error:
                continue
            cur.execute('SELECT getdatabaseencoding()')
            ok('%s: server encoding' % database, cur.fetchone()[0] == encoding)
            positions = {}
            for name in sets:
                positions[name] = setup(cur, NAMES[name])
            conn.close()

            for client in dict.fromkeys(['UTF8', encoding]):
                conn = connect(database, client)
                cur = conn.cursor()
                for name in sets:
                    s = NAMES[name]
                    where = '%s (client %s), %s names' % (database, client, name)
                    # SQL_ASCII knows bytes only: a client in it sends and gets ASCII
                    if client == 'SQL_ASCII' and name != 'ascii':
                        continue
                    rows, error = run(cur, 'SELECT * FROM bandit.report(%s, %s)', (s['experiment'], s['metric']))
                    ok('%s: report runs and decodes' % where, error is None, error)
                    if error:
                        continue
                    lines = [r[0] for r in rows]
                    bars = bar_lines(lines, s['variants'])
                    if encoding == 'UTF8':
                        groups = [[value(i, p) for i, p in enumerate(positions[name]) if p == k]
                                  for k in range(len(s['variants']))]
                        want, ends = expected_bars(groups)
                        ok('%s: data puts no interval end on a cell edge' % where, want is not None)
                        for v, line, bar in zip(s['variants'], bars, want or []):
                            ok('%s: bar of %s' % (where, v), line.endswith('\u2502' + bar + '\u2502'),
                               '\n%s\nwant ...\u2502%s\u2502' % (line, bar))
                        ok('%s: axis' % where, any(l.endswith('\u251c' + '\u2500' * WIDTH + '\u2524') for l in lines),
                           '\n'.join(lines))
                        if ends:
                            ok('%s: axis ends %s' % (where, ends),
                               any(l.split() == list(ends) for l in lines), '\n'.join(lines))
                        ok('%s: ends in a decision after a dash' % where, lines[-1].startswith('decision: ')
                           and ' \u2014 ' in lines[-1], lines[-1])
                        utf8[(name, 'report')] = lines
                        continue
                    ok('%s: ASCII outside UTF-8' % where,
                       not any(ch in GLYPHS or (name == 'ascii' and ch > '\x7f') for l in lines for ch in l)
                       and all(('=' in b and 'o' in b) for b in bars), '\n'.join(lines))
                    reference = utf8.get((name, 'report'), [])
                    if encoding == 'SQL_ASCII' and name != 'ascii':
                        # names count their bytes here: only the bars' ends line up
                        for line, ref in zip(bars, bar_lines(reference, s['variants'])):
                            ok('%s: bar drawn as in UTF-8' % where,
                               line[-(WIDTH + 2):] == ref[-(WIDTH + 2):].translate(ASCII_OF), '\n%s\n%s' % (line, ref))
                        continue
                    ok('%s: lines as long as in UTF-8' % where,
                       [len(l) for l in lines] == [len(l) for l in reference],
                       '\n%s\n%s' % ('\n'.join(lines), '\n'.join(reference)))
                    ok('%s: the UTF-8 report in ASCII' % where, lines == [l.translate(ASCII_OF) for l in reference],
                       '\n%s\n%s' % ('\n'.join(lines), '\n'.join(reference)))

                for name in sets:
                    if client == 'SQL_ASCII' and name != 'ascii':
                        continue
                    where = '%s (client %s), %s names' % (database, client, name)
                    for what, sql, args, named in text_calls(NAMES[name]):
                        rows, error = run(cur, sql, args)
                        got = ('error', error) if error else rows
                        if what.startswith('error'):
                            ok('%s: %s names it' % (where, what), error and error[0] != 'decode'
                               and error[0] != 'XX000' and named in error[1], error)
                        else:
                            ok('%s: %s runs and decodes' % (where, what), error is None, error)
                        if what == 'choose':
                            ok('%s: choose picks an arm' % where, rows and rows[0][0] in NAMES[name]['arms'], rows)
                        if encoding == 'UTF8':
                            utf8[(name, what)] = got
                        elif what == 'choose' and name == 'kana':
                            pass    # the seeded draws go to the arms in byte order, which EUC_JP changes
                        else:
                            ok('%s: %s as in UTF-8' % (where, what), got == utf8.get((name, what)),
                               '%r vs %r' % (got, utf8.get((name, what))))
                conn.close()
    finally:
        for database, _, _, _ in DATABASES:
            acur.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % database)
    acur.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'bandit\\_enc\\_%%'")
    ok('databases dropped', acur.fetchone()[0] == 0)
    admin.close()


main()
sys.exit(report())
