# retention: PGXS build.
#
#   make && make install        build and install into the server of $(PG_CONFIG)
#   make installcheck           pg_regress suites (sql/ + expected/) against a running server
#   ./scripts/test              everything, on a throwaway cluster (see README)

EXTENSION = retention
MODULE_big = retention
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# sql/ holds both the install scripts and the pg_regress inputs.
DATA = $(sort $(wildcard sql/retention--*.sql))
REGRESS = $(filter-out retention--%,$(basename $(notdir $(sort $(wildcard sql/*.sql)))))
REGRESS_OPTS = --load-extension=retention

PG_CONFIG ?= pg_config

# -Wextra warns about unused parameters and signed/unsigned comparisons that
# PostgreSQL's own headers and fmgr macros trigger; keep the rest.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-cast-function-type

# Only the similarity kernels are allowed to reassociate floating-point sums,
# which is what lets the compiler vectorise them.  Every other file keeps
# strict IEEE semantics (compensated sums, log-sum-exp, NaN checks).
VECTORIZE_CFLAGS = -ftree-vectorize -fassociative-math -fno-signed-zeros -fno-trapping-math
src/similarity.o: CFLAGS += $(VECTORIZE_CFLAGS)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
