"""The documentation's examples run as written.

- README.md: every SQL block of "Roles and grants" and "A taste of each
  capability" runs, in order, in a fresh database; a few of the values the
  comments quote are checked against scipy or the formula; the 42501 message
  and HINT shown are what the server says; the dump and restore of the state
  shown under DROP EXTENSION brings every row back and the sequences continue.
- doc/python.md: every Python block runs (once, in a fresh database) as its
  own program under /usr/bin/python3 and its asserts hold.
- Every `bandit.<name>` in README.md and doc/*.md, and every function named at
  the start of a row of the reference tables, exists in the catalog.

Role names of the examples (growth, web_app, ...) are cluster-wide; they are
run here with the prefix doc_ (doca_ for access.md's, which creates the same
names again) so that they cannot meet other tests' roles."""
import glob
import os
import re
import subprocess
import sys
import tempfile

import psycopg2
from scipy import integrate, stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch_cluster import bindir  # noqa: E402
from testlib import close, fresh_database, ok, query_helpers, report  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
ROLES = ['growth_team', 'growth', 'web_app', 'analysts', 'analyst', 'alice', 'bob']
ROLE_RE = re.compile(r'\b(%s)\b' % '|'.join(ROLES))


def prefixed(text, prefix='doc_'):
    return ROLE_RE.sub(lambda m: prefix + m.group(1), text)


def read(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


def section(markdown, heading):
    """The text of the '## heading' section, up to the next '## '."""
    start = markdown.index('\n## ' + heading)
    end = markdown.find('\n## ', start + 1)
    return markdown[start:end if end >= 0 else len(markdown)]


def blocks(markdown, language):
    return re.findall(r'^```%s\n(.*?)^```' % language, markdown, re.M | re.S)


def drop_roles(admin):
    cur = admin.cursor()
    for prefix in ('doc_', 'doca_'):
        for role in ROLES:
            cur.execute('DROP ROLE IF EXISTS ' + prefix + role)


def drop_databases(admin):
    for db in ('doc_readme', 'doc_restore', 'doc_python', 'doc_access'):
        admin.cursor().execute('DROP DATABASE IF EXISTS ' + db)


readme = read('README.md')
admin = psycopg2.connect(dbname='postgres')
admin.autocommit = True
drop_databases(admin)
drop_roles(admin)

# -- README: roles, then the taste, in one database --------------------------
_, conn = fresh_database('doc_readme')
cur = conn.cursor()
q, q1, sqlstate = query_helpers(cur)
role_blocks = blocks(section(readme, 'Roles and grants'), 'sql')
taste_blocks = blocks(section(readme, 'A taste of each capability'), 'sql')
ok('README has role and taste SQL', len(role_blocks) == 1 and len(taste_blocks) == 8,
   '%d role blocks, %d taste blocks' % (len(role_blocks), len(taste_blocks)))
for i, sql in enumerate(role_blocks + taste_blocks):
    try:
        cur.execute(prefixed(sql))
        ok('README block %d runs' % i, True)
    except psycopg2.Error as e:
        ok('README block %d runs' % i, False, '%s: %s\n%s' % (e.pgcode, e.pgerror, sql))
        cur.execute('RESET ROLE')

# the roles block: the grants it made, and the error it shows
def roles_block():
    ok('README grants listed',
       q("SELECT grantee::text, privilege FROM bandit.privileges WHERE name = 'signup_button' "
         "ORDER BY 1") == [('doc_analyst', 'read'), ('doc_web_app', 'use')])
    ok('README owner', q1("SELECT owner::text FROM bandit.object "
                          "WHERE kind = 'policy' AND name = 'signup_button'") == 'doc_growth')
    shown = re.search(r'^ERROR:  (.*)\nHINT:  (.*)$', section(readme, 'Roles and grants'), re.M)
    cur.execute('SET ROLE doc_analyst')
    try:
        cur.execute("SELECT * FROM bandit.choose('signup_button')")
        ok('README 42501 raised', False, 'choose as analyst worked')
    except psycopg2.Error as e:
        ok('README 42501 code', e.pgcode == '42501', e.pgcode)
        ok('README 42501 message', e.diag.message_primary == prefixed(shown.group(1)),
           repr(e.diag.message_primary))
        ok('README 42501 hint', e.diag.message_hint == prefixed(shown.group(2)),
           repr(e.diag.message_hint))
    cur.execute('RESET ROLE')
    cur.execute('SET ROLE doc_web_app')
    ok('README web_app chooses',
       q1("SELECT arm FROM bandit.choose('signup_button')") in ('blue', 'orange'))
    ok('README web_app sees no rows', q1('SELECT count(*) FROM bandit.decision') == 0)
    cur.execute('RESET ROLE')


try:
    roles_block()
except (psycopg2.Error, TypeError, AttributeError) as e:   # a missing row or a changed text
    ok('README roles checks', False, repr(e))
    cur.execute('RESET ROLE')

# values the taste's comments quote, from independent sources
want = integrate.quad(lambda x: stats.beta.pdf(x, 21, 81) * stats.beta.cdf(x, 13, 89), 0, 1,
                      epsabs=1e-12)[0]
got = q1('SELECT bandit.prob_best(ARRAY[13, 21], ARRAY[89, 81])')
close('prob_best B', got[1], want, 0, 1e-6)
ok('prob_best quoted', '{%.4f,%.4f}' % tuple(got) in readme, got)
close('t-test sample size quoted', q1('SELECT bandit.sample_size_t_test(0.5)'),
      63.77, 0, 0.005)
close('fisher quoted', q1('SELECT p_value FROM bandit.fisher_exact(3, 1, 1, 3)'),
      stats.fisher_exact([[3, 1], [1, 3]])[1], 1e-12)
ok('homepage decision 1 rewarded',
   q("SELECT reward, propensity FROM bandit.decision WHERE id = 1") == [(1.0, 1 / 3)])
close('q_learn quoted', q1("SELECT q_value FROM bandit.q_table WHERE agent = 'router'"),
      0.1 * 0.75, 1e-12)
close('prior score quoted',
      q1("SELECT bandit.prior_adjusted_score('small-model', 0.002, 400, 0.85, 0.1)"),
      0.8525, 0, 5e-5)
ok('signal replay quoted', q1('SELECT signals_replayed FROM bandit.prior_metrics') == 0
   and q1("""SELECT bandit.apply_signal(signal) FROM bandit.prior_signal ps,
             LATERAL (SELECT '{"aggregation_round": 7, "cluster_hash": "eu-1",
               "participant_count": 12, "reward_signals": {"small-model": {"success_rate": 0.92,
               "avg_latency": 340, "quality_score": 0.81, "total_samples": 500}}}'::jsonb
               AS signal) s""") == 0)
kinds = [k for (k,) in q("SELECT kind FROM bandit.tuning_history('router') ORDER BY id")]
ok('tuning history', kinds == ['define', 'adjust', 'rollback'], kinds)
close('tuned value after rollback', q1("SELECT bandit.tuned_value('router', "
                                       "'escalation_threshold')"), 0.7, 0)
close('tuned value quoted', q1("""SELECT new_value FROM bandit.tuning_history('router')
                                  WHERE kind = 'adjust'"""), 0.7 + 0.05 * 60 / 70, 1e-12)
n_experiment = q1("SELECT count(*) FROM bandit.assignment WHERE experiment = 'checkout'")
ok('experiment units', n_experiment == 5000, n_experiment)

# -- README: the dump of the state alone, restored into a new database -------
counts_sql = """SELECT string_agg(format('%s=%s', c.relname,
                    (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                     n.nspname, c.relname), false, true, '')))[1]), ' ' ORDER BY c.relname)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'bandit' AND c.relkind = 'r'"""
before = q1(counts_sql)
last_decision = q1('SELECT max(id) FROM bandit.decision')
with tempfile.TemporaryDirectory() as tmp:
    dump = os.path.join(tmp, 'bandit-state.dump')
    run = subprocess.run([os.path.join(bindir(), 'pg_dump'), '--schema=bandit', '--data-only',
                          '-Fc', '-f', dump, 'doc_readme'], capture_output=True, text=True)
    ok('pg_dump of the state', run.returncode == 0, run.stderr)
    _, restored = fresh_database('doc_restore')
    run = subprocess.run([os.path.join(bindir(), 'pg_restore'), '--data-only', '-d', 'doc_restore',
                          dump], capture_output=True, text=True)
    ok('pg_restore of the state', run.returncode == 0, run.stderr)
rq, rq1, _ = query_helpers(restored.cursor())
after = rq1(counts_sql)
ok('restored rows', after == before, '\n%s\n%s' % (before, after))
ok('decision ids continue',
   rq1("SELECT decision_id FROM bandit.choose('homepage')") > last_decision)
restored.close()

# -- access.md: the typical deployment ----
admin.cursor().execute('CREATE DATABASE doc_access')
access = psycopg2.connect(dbname='doc_access')
access.autocommit = True
acur = access.cursor()
aq, aq1, _ = query_helpers(acur)
access_md = read('doc/access.md')
for what, sql in (('deployment', blocks(section(access_md, 'A setup for a typical deployment'),
                                        'sql')[0]),):
    try:
        acur.execute('RESET ROLE')          # each block starts as the superuser
        acur.execute(prefixed(sql, 'doca_'))
        ok('access.md %s runs' % what, True)
    except psycopg2.Error as e:
        ok('access.md %s runs' % what, False, '%s: %s' % (e.pgcode, e.pgerror))
        acur.execute('RESET ROLE')
try:
    ok('access.md owners', aq("SELECT kind, name, owner::text FROM bandit.object "
                              "WHERE kind <> 'priors' ORDER BY 1") ==
       [('experiment', 'checkout_copy', 'doca_growth'), ('policy', 'signup_button', 'doca_growth')])
    ok('access.md grants', len(aq('SELECT * FROM bandit.privileges')) == 4)
    acur.execute('RESET ROLE')
    acur.execute('SET ROLE doca_bob')       # an analyst through membership of analysts
    ok('access.md member reads', aq("SELECT arm FROM bandit.arm_stats('signup_button') "
                                    "ORDER BY arm") == [('blue',), ('orange',)])
except (psycopg2.Error, TypeError) as e:
    ok('access.md checks', False, repr(e))
acur.execute('RESET ROLE')
access.close()

# -- every documented name exists --------------------------------------------
names = {n for (n,) in q("""SELECT proname FROM pg_proc WHERE pronamespace = 'bandit'::regnamespace
                            UNION SELECT relname FROM pg_class
                                  WHERE relnamespace = 'bandit'::regnamespace
                            UNION SELECT typname FROM pg_type
                                  WHERE typnamespace = 'bandit'::regnamespace
                            UNION SELECT substr(name, 8) FROM pg_settings
                                  WHERE name LIKE 'bandit.%'""")}   # settings, e.g. bandit.node_id
not_sql = {'so', 'h', 'c', 'control', 'md'}   # bandit.so, src/bandit.h, bandit.control ...
for path in ['README.md'] + sorted(os.path.relpath(p, ROOT)
                                   for p in glob.glob(os.path.join(ROOT, 'doc', '*.md'))):
    text = read(path)
    used = set(re.findall(r'\bbandit\.([a-z_][a-z0-9_]*)', text)) - not_sql
    # the first name of a table row, `name(` or `aggregate(s) name(` or `bandit.name(`
    used |= set(re.findall(r'^\| (?:aggregates? )?`(?:bandit\.)?([a-z_][a-z0-9_]*)\(',
                           text, re.M))
    missing = sorted(used - names)
    ok('%s names exist' % path, not missing, missing)

# -- access.md's table of privileges says what the functions' COMMENTs say ----
documented = {}
table = section(read('doc/access.md'), 'The privilege each function needs')
for cell, kind, privilege in re.findall(r'^\| (.*?) \| (\S+) \| (\S+) \|$', table, re.M):
    for name in re.findall(r'`([a-z_0-9]+)`', cell.split('(')[0] if '(' in cell else cell):
        documented.setdefault(name, set()).add((kind, privilege))
declared = {}
for name, comment in q("""SELECT proname, obj_description(oid, 'pg_proc') FROM pg_proc
                          WHERE pronamespace = 'bandit'::regnamespace"""):
    # 'Privilege: use on the policy.', or on an existing scope '... needs manage on the scope.'
    m = re.search(r'Privilege: .*?(use|read|manage) on the (policy|experiment|agent|priors|scope)',
                  comment or '')
    if m:
        declared.setdefault(name, set()).add((m.group(2), m.group(1)))
ok('functions with a Privilege sentence', len(declared) >= 40, sorted(declared))
for name in sorted(set(declared) | {n for n, kp in documented.items() if kp != {('—', '—')}}):
    if name in ('grant', 'revoke'):     # any kind: manage on the object named
        continue
    ok('access.md on %s' % name, documented.get(name) == declared.get(name),
       'access.md %s, COMMENT %s' % (documented.get(name), declared.get(name)))
creating = {n for (n,) in q("""SELECT proname FROM pg_proc WHERE pronamespace = 'bandit'::regnamespace
                               AND obj_description(oid, 'pg_proc') LIKE '%Privilege: EXECUTE%'""")}
ok('creating functions', creating == {'create_policy', 'create_experiment', 'define_tuning_value',
                                      'set_tuning_rate_limit', 'import_policy'}, creating)
conn.close()


def anchor(heading):
    """GitHub's anchor of a heading."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


# -- every relative link leads to a file, and to a heading in it --------------
for path in ['README.md'] + sorted(os.path.relpath(p, ROOT)
                                   for p in glob.glob(os.path.join(ROOT, 'doc', '*.md'))):
    text = read(path)
    bad = []
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'[a-z]+:', target):
            continue
        file, _, frag = target.partition('#')
        file = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(os.path.join(ROOT, file)):
            bad.append(target)
        elif frag and file.endswith('.md') and frag not in {
                anchor(h) for h in re.findall(r'^#+ (.*)$', read(file), re.M)}:
            bad.append(target)
    ok('%s links resolve' % path, not bad, bad)

# -- doc/python.md: each block a program, in a fresh database ----------------
python_blocks = blocks(read('doc/python.md'), 'python')
ok('python.md has examples', len(python_blocks) >= 4, len(python_blocks))
fresh_database('doc_python')[1].close()
env = dict(os.environ, PGDATABASE='doc_python')
for i, code in enumerate(python_blocks):
    with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f:
        f.write(prefixed(code))
    run = subprocess.run(['/usr/bin/python3', f.name], env=env, capture_output=True, text=True,
                         timeout=300)
    os.unlink(f.name)
    first = code.strip().splitlines()[-1][:60]
    ok('python example %d runs' % (i + 1), run.returncode == 0,
       '(%s)\n%s%s' % (first, run.stdout, run.stderr))
    if run.returncode == 0:
        print('python example %d: %s' % (i + 1, run.stdout.strip()[:300]))

drop_databases(admin)
drop_roles(admin)
sys.exit(report())
