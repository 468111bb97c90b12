# Shared by test/demo and test/run: install what a fresh Debian machine lacks,
# then build and install the extension.  Sourced, not run.

PG_MAJOR=${PG_MAJOR:-15}
PACKAGES="make gcc postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-common
libgsl-dev python3 python3-scipy python3-statsmodels python3-psycopg2 valgrind"

# The throwaway clusters and the Python tests speak UTF-8 whatever the
# caller's locale (LANG is often unset in containers and login shells, which
# would make the cluster SQL_ASCII); C.UTF-8 is always present on Debian.
export LC_ALL=C.UTF-8

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
    local missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "installing:$missing"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
    export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
}

# Builds with -Werror (the build has zero warnings) and installs.
build_install() {
    make -s clean >/dev/null
    make -s WERROR=1 PG_CONFIG="$PG_CONFIG" || return 1
    as_root make -s install PG_CONFIG="$PG_CONFIG" >/dev/null || return 1
}
