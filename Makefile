# bandit: PGXS build. Every src/*.c is compiled, every src/*.sql is part of
# the install script, every sql/*.sql is a regression test.
EXTENSION = bandit
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = bandit
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is generated from the per-capability SQL in src/:
# the common part, node-unique ids and access control first, then the summary
# type that others use.
SQL_FIRST = src/bandit.sql src/node.sql src/access.sql src/summary.sql
# access_final.sql comes last: it takes back what default privileges granted.
SQL_LAST = src/access_final.sql
SQL_SOURCES = $(SQL_FIRST) $(filter-out $(SQL_FIRST) $(SQL_LAST),$(sort $(wildcard src/*.sql))) $(SQL_LAST)
# Released versions' scripts are frozen beside it (bandit--0.1.0.sql), with an
# upgrade script to each next version (bandit--0.1.0--0.2.0.sql).
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard $(EXTENSION)--*.sql))

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
# UTF-8 with C collation whatever the cluster's locale
REGRESS_OPTS = --load-extension=$(EXTENSION) --encoding=UTF8 --no-locale

# Isolation specs: test/specs/<name>.spec, expected output test/expected/<name>.out.
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=output_iso --load-extension=$(EXTENSION) --encoding=UTF8 --no-locale

SHLIB_LINK += -lgsl -lgslcblas -lm
# the library checks that the installed SQL is its own version
PG_CPPFLAGS += -DBANDIT_VERSION=\"$(EXTVERSION)\"
PG_CFLAGS += -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
ifdef WERROR
PG_CFLAGS += -Werror
endif

EXTRA_CLEAN = $(DATA_built)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES) Makefile
	( echo '-- generated from src/*.sql by make; do not edit'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  for f in $(SQL_SOURCES); do echo; echo "-- $$f"; cat $$f; done ) > $@
