"""A throwaway PostgreSQL cluster for the tests that must not touch the
suite's own (valgrind_test.py, crash_test.py): initdb in a temporary
directory from the installed binaries (`pg_config --bindir`, PG_CONFIG
honoured), a Unix socket in that directory only, and a server that runs as
user postgres when the test runs as root (PostgreSQL refuses root)."""
import os
import pwd
import random
import shutil
import subprocess
import tempfile
import time

import psycopg2


def bindir():
    pg_config = os.environ.get('PG_CONFIG') or shutil.which('pg_config') or \
        '/usr/lib/postgresql/15/bin/pg_config'
    return subprocess.run([pg_config, '--bindir'], capture_output=True, text=True,
                          check=True).stdout.strip()


class Cluster:
    """initdb'd at construction; start() (optionally under a wrapper such as
    valgrind), stop(), crash and restart through pg_ctl, remove()."""

    def __init__(self, name, settings=None):
        self.bin = bindir()
        self.root = tempfile.mkdtemp(prefix='bandit-%s-' % name)
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, 'data')
        self.logfile = os.path.join(self.root, 'server.log')
        # the socket lives in our own directory, so the port only has to differ
        # from the other scratch clusters' for the shared memory keys
        self.port = random.randint(40000, 49999)
        self.run_as = []
        if os.geteuid() == 0:
            self.run_as = ['runuser', '-u', 'postgres', '--']
            pw = pwd.getpwnam('postgres')
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        # the server's log, written by the server's user (through pg_ctl -l too)
        open(self.logfile, 'a').close()
        if self.run_as:
            os.chown(self.logfile, pw.pw_uid, pw.pw_gid)
        self.process = None
        self.command(['initdb', '-D', self.data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8',
                      '--locale=C', '--no-sync'], check=True)
        conf = {
            'port': self.port,
            'listen_addresses': "''",
            'unix_socket_directories': "'%s'" % self.root,
            'max_connections': 40,
            'max_prepared_transactions': 10,
            'shared_buffers': "'16MB'",
            'fsync': 'off',
            'jit': 'off',
            'autovacuum': 'off',
            'log_line_prefix': "'%m [%p] '",
            'log_connections': 'on',
            'lc_messages': "'C'",
        }
        conf.update(settings or {})
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as f:
            for key, value in conf.items():
                f.write('%s = %s\n' % (key, value))

    def env(self):
        """libpq settings of a client of this cluster."""
        env = dict(os.environ)
        env.update(PGHOST=self.root, PGPORT=str(self.port), PGUSER='postgres',
                   PGDATABASE='postgres')
        env.pop('PGPASSWORD', None)
        env.pop('PGSERVICE', None)
        return env

    def command(self, argv, check=False, **kw):
        """Runs a PostgreSQL program of bindir as the server's user."""
        argv = [os.path.join(self.bin, argv[0])] + argv[1:]
        return subprocess.run(self.run_as + ['env', 'PATH=%s:%s' % (self.bin, os.environ.get('PATH', ''))] + argv,
                              capture_output=True, text=True, check=check, **kw)

    def connect(self, dbname='postgres', **kw):
        return psycopg2.connect(host=self.root, port=self.port, user='postgres', dbname=dbname, **kw)

    def wait_ready(self, timeout):
        """True once the server accepts connections."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.connect(connect_timeout=10).close()
                return True
            except psycopg2.OperationalError:
                if self.process is not None and self.process.poll() is not None:
                    return False
                time.sleep(0.5)
        return False

    def start(self, wrapper=(), timeout=60):
        """Starts the postmaster directly (so that a wrapper such as valgrind
        runs it), its output appended to server.log."""
        log = open(self.logfile, 'a')
        self.process = subprocess.Popen(self.run_as + list(wrapper) + [os.path.join(self.bin, 'postgres'),
                                                                      '-D', self.data],
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        return self.wait_ready(timeout)

    def pg_ctl_start(self, timeout=120):
        """Starts (or restarts after a crash: recovery first) through pg_ctl."""
        self.process = None
        run = self.command(['pg_ctl', '-D', self.data, '-l', self.logfile, '-w', '-t', str(timeout), 'start'])
        if run.returncode != 0:
            print('pg_ctl start failed: %s%s' % (run.stdout, run.stderr))
            return False
        return self.wait_ready(timeout)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, 'postmaster.pid')) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self, timeout=300):
        self.command(['pg_ctl', '-D', self.data, '-m', 'fast', '-w', '-t', str(timeout), 'stop'])
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def server_log(self):
        with open(self.logfile, errors='replace') as f:
            return f.read()

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)
