/*-------------------------------------------------------------------------
 *
 * period_states.h
 *	  What the bigint[] states counted per period have in common (the
 *	  stage-two aggregates over retention.activity values), the per-period
 *	  counts layout shared by lifecycle and stickiness, and the bigint
 *	  matrices the cohort, lifecycle and stickiness aggregates return.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_PERIOD_STATES_H
#define RETENTION_PERIOD_STATES_H

#include "fmgr.h"
#include "utils/array.h"

#include "periods.h"
#include "state_reader.h"

/* header field ranges shared by the layouts */
#define KIND_FIELD(name) {name, PERIOD_DAY, PERIOD_KIND_MAX}
#define PERIOD_FIELD(name) {name, PERIOD_NUMBER_MIN, PERIOD_NUMBER_MAX}
/* the latest period seen, or PG_INT64_MIN before the first activity */
#define MAX_FIELD(name) {name, PG_INT64_MIN, PERIOD_NUMBER_MAX}

/* "max" is PG_INT64_MIN or a period of the kind */
extern void CheckMaxField(const StateLayout *layout, PeriodKind kind, int64 max);
/* lo .. lo + n - 1 must be periods of the kind, and at or before "limit" */
extern void CheckPeriodRange(const StateLayout *layout, PeriodKind kind, int64 lo,
							 int64 n, int64 limit);
/* no count of the body is negative */
extern void CheckCounts(const StateLayout *layout, const int64 *counts, int64 n);

/*
 * Per-period counts: bigint[] {tag, kind, latest period, lo, n}, then for
 * periods lo .. lo + n - 1 "width" counts each.  Growth accounting keeps four
 * (new, returning, resurrecting, dormant: positive here, negated on output);
 * stickiness keeps one count per number of active units (1 + 24 hours for
 * days, 1 + 7 days for weeks, 1 + 31 for months, 1 + 92 for quarters), and
 * its latest period is a unit (an hour for days, else a day).  Each has its own tag.
 */
enum
{
	LC_KIND = STATE_FIELD(0),
	LC_MAX = STATE_FIELD(1),
	LC_LO = STATE_FIELD(2),
	LC_N = STATE_FIELD(3),
	LC_HDR
};

/* periods x columns at most in a lifecycle or stickiness matrix */
#define LC_MAX_PERIODS (1 << 22)

extern const StateLayout lifecycle_layout;
extern const StateLayout stickiness_layout;

extern int	CountsWidth(const StateLayout *layout, int64 kind);
extern int64 *CountsStateRead(ArrayType *arr, const StateLayout *layout, bool body);
/* A final function's state argument, read; NULL when it is NULL or counts no period. */
extern int64 *CountsFinalState(FunctionCallInfo fcinfo, const StateLayout *layout);
extern ArrayType *MakeCountsState(const StateLayout *layout, int64 kind, int64 max,
								  int64 lo, int64 n);
/* A copy of "old" covering periods lo .. hi as well (validated periods). */
extern ArrayType *CountsWiden(const StateLayout *layout, const int64 *old, int64 lo, int64 hi);
/* The combine function of a counts layout. */
extern Datum CountsCombine(FunctionCallInfo fcinfo, const StateLayout *layout);

/*
 * The Datum (and null) arrays of a rows x cols bigint matrix, sized with
 * overflow checks.
 */
extern Datum *MatrixValues(int64 rows, int64 cols, bool **nulls);
/* A two-dimensional bigint[] of rows x cols values, without NULLs. */
extern ArrayType *CellsToMatrix(const int64 *cells, int64 nrows, int width);
/* A two-dimensional bigint[] from MatrixValues' arrays. */
extern ArrayType *ValuesToMatrix(Datum *values, bool *nulls, int64 nrows, int64 width);

#endif							/* RETENTION_PERIOD_STATES_H */
