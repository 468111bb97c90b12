# Shared by test/demo, test/run and test/suite.sh: install what a fresh Debian
# machine lacks, then build and install the extension.  Sourced, not run.

PG_MAJOR=${PG_MAJOR:-15}
SYSTEM_PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PACKAGES="make gcc postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-common
libgsl-dev python3 python3-scipy python3-statsmodels python3-psycopg2 valgrind"
# Wanted but not required: without them test/multinode_test.py skips its PL/Proxy
# parts and test/cron_test.py (scheduling with pg_cron) skips
OPTIONAL_PACKAGES="postgresql-$PG_MAJOR-plproxy postgresql-$PG_MAJOR-cron"

# The throwaway clusters and the Python tests speak UTF-8 whatever the
# caller's locale (LANG is often unset in containers and login shells, which
# would make the cluster SQL_ASCII); C.UTF-8 is always present on Debian.
export LC_ALL=C.UTF-8

NEEDS_ROOT="installing needs root: run as root or install sudo"

# Whether we are root or have sudo; as_root runs a command as root.
can_be_root() {
    [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1
}
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
    local missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        if ! can_be_root; then
            echo "missing packages:$missing; $NEEDS_ROOT" >&2
            return 1
        fi
        echo "installing:$missing"
        as_root apt-get update -qq || return 1
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || return 1
    fi
    export PG_CONFIG=${PG_CONFIG:-$SYSTEM_PG_CONFIG}
}

# test/run: installs what OPTIONAL_PACKAGES lacks if it can; says what it could not;
# always succeeds.
ensure_optional_packages() {
    local p
    for p in $OPTIONAL_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
        if can_be_root && { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq "$p" >/dev/null; }; then
            echo "installed: $p"
        else
            echo "could not install $p: the tests that need it will skip those parts" >&2
        fi
    done
}

# Builds with -Werror (the build has zero warnings) and installs with
# $PG_CONFIG: as the caller when its directories are writable (a private
# PostgreSQL), else as root.  Says which step failed; returns 1 when the build
# failed, 2 when only the installation did.
build_install() {
    make -s clean >/dev/null
    if ! make -s WERROR=1 PG_CONFIG="$PG_CONFIG"; then
        echo "build failed" >&2
        return 1
    fi
    local libdir extdir
    libdir=$("$PG_CONFIG" --pkglibdir) && extdir=$("$PG_CONFIG" --sharedir)/extension || return 2
    if [ -w "$libdir" ] && [ -w "$extdir" ]; then
        make -s install PG_CONFIG="$PG_CONFIG" >/dev/null && return 0
    elif ! can_be_root; then
        echo "build succeeded; $NEEDS_ROOT (into $libdir and $extdir)" >&2
        return 2
    elif as_root make -s install PG_CONFIG="$PG_CONFIG" >/dev/null; then
        return 0
    fi
    echo "build succeeded; installing into $libdir and $extdir failed" >&2
    return 2
}

# The throwaway clusters (pg_virtualenv) run the system's PostgreSQL, which
# only sees an extension installed with the system's pg_config.
check_throwaway_pg_config() {
    if [ "$PG_CONFIG" != "$SYSTEM_PG_CONFIG" ]; then
        echo "PG_CONFIG=$PG_CONFIG is not the system's $SYSTEM_PG_CONFIG, which the throwaway cluster runs;" \
             "set PGDATABASE (and PGHOST, PGPORT) to a server of that installation instead" >&2
        return 1
    fi
}
