#!/usr/bin/python3
"""valgrind memcheck over the whole pg_regress suite: a throwaway cluster
whose postmaster (and so every backend, forked) runs under valgrind runs
every sql/*.sql, every isolation spec of test/specs, and
test/valgrind_paths.sql (paths that would take the server down in the suite's
own cluster).  Fails on every valgrind error record with a frame in bandit.so
(in the error's stack or in the stacks of the block it touched) and on every
server process that died of a signal.  PostgreSQL is not built with
USE_VALGRIND, so its own harmless noise is suppressed by test/valgrind.supp,
and records without a bandit.so frame are only listed.  Outputs are judged by
the native run of the suite, not here (timings differ under valgrind).

Prints one FAIL line per bandit.so record (kind, the test whose backend made
it, the stack) and closes with "N passed, N failed": passed = test files run
without a bandit.so record, failed = bandit.so records + crashes.
A regress file or spec whose first lines say "valgrind: skip" (and why) is
not run here: only for tests that do nothing but time long loops.
VALGRIND_KEEP=1 keeps the cluster directory (logs) for a look."""
import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratch_cluster import Cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
OBJECT = 'bandit.so'
REGRESS_TIMEOUT = 1200


def valgrind_command(logdir):
    # text logs, one per process (valgrind reopens a %p log file in a forked
    # child, but not an XML one); full source paths tell our frames apart
    return ['valgrind', '--tool=memcheck', '--quiet',
            '--trace-children=yes', '--trace-children-skip=*/sh,*/bash,*/dash,/bin/*,/usr/bin/*',
            '--num-callers=20', '--read-var-info=no', '--track-origins=no', '--leak-check=no',
            '--error-limit=no', '--fullpath-after=', '--gen-suppressions=all',
            '--suppressions=' + os.path.join(HERE, 'valgrind.supp'),
            '--log-file=' + os.path.join(logdir, '%p.log')]


SOURCES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(TOP, 'src', '*.[ch]')))
FRAME = re.compile(r'^\s+(?:at|by) 0x[0-9A-Fa-f]+: (.*?) \((?:in (.*)|(.*?)(?::(\d+))?)\)$')


def is_ours(frame):
    """A frame of bandit.so: without line info its object, with line info a
    source file of src/ (PostgreSQL's own policy.c is in src/backend)."""
    if frame['obj']:
        return frame['obj'].endswith('/' + OBJECT)
    return any(frame['file'].endswith('/src/' + name) or frame['file'] == 'src/' + name for name in SOURCES)


def parse_errors(path):
    """The error records of one process's log (a record ends at an empty line:
    one that a killed process left unfinished is taken as it is)."""
    pid = int(re.search(r'(\d+)\.log$', path).group(1))
    records = []
    current = None
    with open(path, errors='replace') as f:
        for raw in f:
            m = re.match(r'^==\d+== ?(.*)$', raw.rstrip('\n'))
            if m is None:
                continue  # a generated suppression
            line = m.group(1)
            if line == '':
                current = None
                continue
            frame = FRAME.match(line)
            if current is None:
                if frame is not None:
                    continue
                current = {'pid': pid, 'what': line.strip(), 'aux': [], 'stacks': [[]]}
                records.append(current)
            elif frame is not None:
                fn, obj, file, lineno = frame.groups()
                current['stacks'][-1].append({'fn': fn, 'obj': obj or '', 'file': file or '',
                                              'line': lineno or ''})
            else:
                current['aux'].append(line.strip())
                current['stacks'].append([])
    for r in records:
        r['kind'] = re.sub(r'0x[0-9A-Fa-f]+|[0-9,]+', 'N', r['what'])
        r['ours'] = any(is_ours(f) for s in r['stacks'] for f in s)
    return records


def show_frame(f):
    if f['file']:
        where = '%s:%s' % (os.path.relpath(f['file'], TOP) if f['file'].startswith(TOP + '/') else f['file'],
                           f['line'])
    else:
        where = os.path.basename(f['obj'])
    return '%s (%s)' % (f['fn'], where)


def show(record, test):
    lines = ['%s [%s, pid %d]' % (record['what'], test, record['pid'])]
    for i, stack in enumerate(record['stacks']):
        if i > 0:
            lines.append('  -- %s' % record['aux'][i - 1])
        lines += ['    ' + show_frame(f) for f in stack[:12]]
    return '\n'.join(lines)


def signature(record):
    """The record without addresses: kind and the bandit.so frames of each stack."""
    return (record['kind'], tuple(tuple(show_frame(f) for f in s if is_ours(f)) for s in record['stacks']))


SKIPPED = []


def opted_out(path):
    """A test whose first lines say "valgrind: skip" (with why: a test that only
    times long loops, say) is not run here."""
    with open(path, errors='replace') as f:
        head = ''.join(f.readline() for _ in range(10))
    if 'valgrind: skip' in head:
        SKIPPED.append(os.path.basename(path))
        return True
    return False


def run_regress(cluster, outdir, log):
    """pg_regress over sql/, pg_isolation_regress over test/specs: the test names run."""
    pgxs = os.path.dirname(subprocess.run([os.path.join(cluster.bin, 'pg_config'), '--pgxs'],
                                          capture_output=True, text=True).stdout.strip())
    pgxs = os.path.dirname(os.path.dirname(pgxs))  # .../pgxs
    env = cluster.env()
    regress = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(TOP, 'sql', '*.sql'))
                     if not opted_out(p))
    specs = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(HERE, 'specs', '*.spec'))
                   if not opted_out(p))
    common = ['--bindir=' + cluster.bin, '--load-extension=bandit', '--host=' + cluster.root,
              '--port=%d' % cluster.port, '--user=postgres']
    ran = []
    for argv, names in (([os.path.join(pgxs, 'src/test/regress/pg_regress'), '--inputdir=' + TOP,
                          '--outputdir=' + os.path.join(outdir, 'regress'), '--dbname=contrib_regression']
                         + common, regress),
                        ([os.path.join(pgxs, 'src/test/isolation/pg_isolation_regress'), '--inputdir=' + HERE,
                          '--outputdir=' + os.path.join(outdir, 'isolation'), '--dbname=isolation_regression']
                         + common, specs)):
        os.makedirs(argv[2].split('=', 1)[1], exist_ok=True)
        try:
            run = subprocess.run(argv + names, capture_output=True, text=True, env=env, cwd=outdir,
                                 timeout=REGRESS_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            print('FAIL %s ran over %d s' % (os.path.basename(argv[0]), REGRESS_TIMEOUT))
            log.write(str(e.stdout or ''))
            ran.append('timeout')
            continue
        log.write(run.stdout + run.stderr)
        print('\n'.join(l for l in run.stdout.splitlines() if re.search(r'^(not )?ok|^test |\.\.\. |tests', l)))
        ran += names
    return ran


def run_paths(cluster, log):
    """test/valgrind_paths.sql: its setup, then each case in a session of its
    own (a case may take the server down; the next waits for it to be back)."""
    env = cluster.env()
    psql = [os.path.join(cluster.bin, 'psql'), '-X', '-v', 'VERBOSITY=sqlstate']
    subprocess.run(psql + ['-c', 'CREATE DATABASE valgrind_paths'], env=env, capture_output=True)
    with open(os.path.join(HERE, 'valgrind_paths.sql')) as f:
        chunks = re.split(r'^-- case: ', f.read(), flags=re.M)
    subprocess.run(psql + ['-d', 'valgrind_paths', '-c', 'CREATE EXTENSION bandit'], env=env, capture_output=True)
    names = []
    for i, chunk in enumerate(chunks):
        name = 'valgrind_paths' if i == 0 else 'valgrind_paths/' + re.sub(r'\W+', '_', chunk.split('\n', 1)[0])[:40]
        if not cluster.wait_ready(300):
            log.write('server not back before %s\n' % name)
            break
        env['PGAPPNAME'] = name
        run = subprocess.run(psql + ['-d', 'valgrind_paths', '-e'], input=chunk if i == 0 else '-- ' + chunk,
                             capture_output=True, text=True,
                             env=env)
        log.write('== %s\n%s%s' % (name, run.stdout, run.stderr))
        names.append(name.split('/')[-1])
    return names


def main():
    if shutil.which('valgrind') is None:
        print('FAIL valgrind is not installed')
        print('0 passed, 1 failed')
        return 1
    started = time.time()
    cluster = Cluster('valgrind', {'synchronous_commit': 'off', 'full_page_writes': 'off',
                                   'wal_level': 'minimal', 'max_wal_senders': 0,
                                   'checkpoint_timeout': "'1h'", 'max_connections': 20})
    logdir = os.path.join(cluster.root, 'valgrind')
    os.mkdir(logdir)
    os.chmod(logdir, 0o777)
    failed = 0
    tests = []
    log = open(os.path.join(cluster.root, 'client.log'), 'w')
    try:
        if not cluster.start(valgrind_command(logdir), timeout=300):
            print('FAIL the server did not start under valgrind\n' + cluster.server_log()[-3000:])
            print('0 passed, 1 failed')
            return 1
        print('server up under valgrind after %.0f s' % (time.time() - started))
        tests += run_regress(cluster, cluster.root, log)
        print('regress and isolation done after %.0f s' % (time.time() - started))
        if cluster.wait_ready(300):
            tests += run_paths(cluster, log)
        else:
            print('FAIL the server did not come back after the regress run')
            failed += 1
    finally:
        log.close()
        cluster.stop()
    print('server stopped after %.0f s' % (time.time() - started))
    failed += tests.count('timeout')
    tests = [t for t in tests if t != 'timeout']

    server_log = cluster.server_log()
    # the test of each backend, from its connection line (pg_regress names its
    # sessions pg_regress/<test>; isolationtester's are named after the spec)
    test_of = {}
    for pid, app in re.findall(r'\[(\d+)\] LOG:  connection authorized: .*?application_name=(\S+)', server_log):
        test_of[int(pid)] = app.split('/')[-1]
    crashes = re.findall(r'LOG:  ([a-z ]+process) \(PID (\d+)\) was terminated by signal (\d+)', server_log)

    records = []
    for path in sorted(glob.glob(os.path.join(logdir, '*.log'))):
        records += parse_errors(path)
    ours = [r for r in records if r['ours']]
    theirs = [r for r in records if not r['ours']]
    dirty = set()
    for r in ours:
        test = test_of.get(r['pid'], 'pid %d' % r['pid'])
        dirty.add(test)
        print('FAIL ' + show(r, test))
    failed += len(ours)
    # a crash counts once: as valgrind's record of the fatal signal, if it has one in bandit.so
    fatal = {r['pid'] for r in ours if r['what'].startswith('Process terminating')}
    for _, pid, sig in crashes:
        if int(pid) not in fatal:
            print('FAIL server process %s (%s) was terminated by signal %s' % (pid, test_of.get(int(pid), '?'), sig))
            failed += 1
    print('%d valgrind error records with a frame in %s, %d elsewhere (not counted)'
          % (len(ours), OBJECT, len(theirs)))
    for r in theirs:
        print('  not ours: %s [%s] at %s' % (r['what'], test_of.get(r['pid'], 'pid %d' % r['pid']),
                                            ' < '.join(show_frame(f) for f in r['stacks'][0][:4])))
    # one line per distinct record: where it happens, what freed the memory, who allocated it
    distinct = collections.OrderedDict()
    for r in ours:
        distinct.setdefault(signature(r), []).append(test_of.get(r['pid'], 'pid %d' % r['pid']))
    print('%d distinct:' % len(distinct))
    for (kind, stacks), tests_of in distinct.items():
        print('  %d x %s: %s  [%s]' % (len(tests_of), kind, ' | '.join(' < '.join(s[:2]) for s in stacks if s),
                                      ', '.join(sorted(set(tests_of)))))
    diffs = os.path.join(cluster.root, 'regress', 'regression.diffs')
    if os.path.exists(diffs):
        print('(outputs under valgrind differ from expected in %d lines: not counted, the native run judges them)'
              % sum(1 for _ in open(diffs, errors='replace')))
    passed = len([t for t in tests if t not in dirty])
    print('valgrind run: %.0f s' % (time.time() - started))
    if os.environ.get('VALGRIND_KEEP'):
        print('logs kept in ' + cluster.root)
    else:
        cluster.remove()
    if SKIPPED:
        print('not run under valgrind (they say "valgrind: skip"): ' + ', '.join(SKIPPED))
    print('%d passed, %d failed%s' % (passed, failed, ', %d skipped' % len(SKIPPED) if SKIPPED else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
