/*-------------------------------------------------------------------------
 *
 * period_states.c
 *	  Checks shared by the bigint[] states counted per period, the counts
 *	  layout of lifecycle and stickiness, and the bigint matrices the
 *	  cohort, lifecycle and stickiness aggregates return.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/memutils.h"

#include "period_states.h"

void
CheckMaxField(const StateLayout *layout, PeriodKind kind, int64 max)
{
	if (max != PG_INT64_MIN && !PeriodInSpan(kind, max))
		StateInvalid(layout, "latest period", "is %lld, not a %s period of timestamptz's range",
					 (long long) max, PeriodKindName(kind));
}

void
CheckPeriodRange(const StateLayout *layout, PeriodKind kind, int64 lo, int64 n, int64 limit)
{
	if (n == 0)
		return;
	if (!PeriodInSpan(kind, lo) || !PeriodInSpan(kind, lo + n - 1))
		StateInvalid(layout, "lowest period", "%lld with %lld periods leaves the %s periods of timestamptz's range",
					 (long long) lo, (long long) n, PeriodKindName(kind));
	if (lo + n - 1 > limit)
		StateInvalid(layout, "lowest period", "%lld with %lld periods passes the latest period %lld",
					 (long long) lo, (long long) n, (long long) limit);
}

void
CheckCounts(const StateLayout *layout, const int64 *counts, int64 n)
{
	for (int64 i = 0; i < n; i++)
		if (counts[i] < 0)
			StateInvalid(layout, NULL, "count %lld of the body is negative (%lld)",
						 (long long) (i + 1), (long long) counts[i]);
}
static const StateField lifecycle_fields[] = {
	KIND_FIELD("period kind"),
	MAX_FIELD("latest period"),
	PERIOD_FIELD("lowest period"),
	{"number of periods", 0, LC_MAX_PERIODS / 4},
};
const StateLayout lifecycle_layout = {
	"lifecycle_matrix(activity) state", STATE_TAG(3, 1), lengthof(lifecycle_fields), lifecycle_fields
};

static const StateField stickiness_fields[] = {
	{"period kind", PERIOD_DAY, PERIOD_QUARTER},
	MAX_FIELD("latest day"),
	PERIOD_FIELD("lowest period"),
	{"number of periods", 0, LC_MAX_PERIODS / 32},
};
const StateLayout stickiness_layout = {
	"stickiness_matrix(activity) state", STATE_TAG(4, 1), lengthof(stickiness_fields), stickiness_fields
};

int
CountsWidth(const StateLayout *layout, int64 kind)
{
	if (layout == &lifecycle_layout)
		return 4;
	return 1 + StickinessUnits(kind);
}

static int64
CountsBody(const StateLayout *layout, const int64 *v)
{
	return v[LC_N] * CountsWidth(layout, v[LC_KIND]);
}

int64 *
CountsStateRead(ArrayType *arr, const StateLayout *layout, bool body)
{
	int64	   *v = Int8StateRead(arr, layout, CountsBody);

	if (layout == &lifecycle_layout)
	{
		CheckMaxField(layout, v[LC_KIND], v[LC_MAX]);
		/* up to the period after the latest event, where users turn dormant */
		CheckPeriodRange(layout, v[LC_KIND], v[LC_LO], v[LC_N],
						 v[LC_MAX] == PG_INT64_MIN ? PG_INT64_MIN : v[LC_MAX] + 1);
	}
	else
	{
		CheckMaxField(layout, StickinessUnit(v[LC_KIND]), v[LC_MAX]);
		CheckPeriodRange(layout, v[LC_KIND], v[LC_LO], v[LC_N],
						 v[LC_MAX] == PG_INT64_MIN ? PG_INT64_MIN :
						 StickinessGroupOf(v[LC_KIND], (int32) v[LC_MAX]));
	}
	if (body)
		CheckCounts(layout, v + LC_HDR, CountsBody(layout, v));
	return v;
}

int64 *
CountsFinalState(FunctionCallInfo fcinfo, const StateLayout *layout)
{
	int64	   *v;

	if (PG_ARGISNULL(0))
		return NULL;
	v = CountsStateRead(PG_GETARG_ARRAYTYPE_P(0), layout, true);
	return v[LC_N] == 0 ? NULL : v;
}

ArrayType *
MakeCountsState(const StateLayout *layout, int64 kind, int64 max, int64 lo, int64 n)
{
	int			width = CountsWidth(layout, kind);
	const int64 fields[] = {kind, max, lo, n};

	if (n > LC_MAX_PERIODS / width)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%lld periods are too many to report", (long long) n),
				 errhint("Use a longer period or a shorter time range.")));
	return Int8StateMake(layout, fields, n * width);
}

ArrayType *
CountsWiden(const StateLayout *layout, const int64 *old, int64 lo, int64 hi)
{
	int			width = CountsWidth(layout, old[LC_KIND]);
	int64		on = old[LC_N];
	int64		nlo = on ? Min(lo, old[LC_LO]) : lo;
	int64		nhi = on ? Max(hi, old[LC_LO] + on - 1) : hi;
	ArrayType  *arr = MakeCountsState(layout, old[LC_KIND], old[LC_MAX], nlo, Max(nhi - nlo + 1, 0));
	int64	   *v = (int64 *) ARR_DATA_PTR(arr);

	if (on)
		memcpy(v + LC_HDR + (old[LC_LO] - nlo) * width, old + LC_HDR, on * width * sizeof(int64));
	return arr;
}

Datum
CountsCombine(FunctionCallInfo fcinfo, const StateLayout *layout)
{
	int64	   *a = CountsStateRead(PG_GETARG_ARRAYTYPE_P(0), layout, true);
	int64	   *b = CountsStateRead(PG_GETARG_ARRAYTYPE_P(1), layout, true);
	int			width = CountsWidth(layout, a[LC_KIND]);
	ArrayType  *arr;
	int64	   *v;

	if (a[LC_KIND] != b[LC_KIND])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine states of different periods")));
	if (b[LC_N] == 0)
		arr = Int8StateCopy(PG_GETARG_ARRAYTYPE_P(0));
	else
		arr = CountsWiden(layout, a, b[LC_LO], b[LC_LO] + b[LC_N] - 1);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[LC_MAX] = Max(a[LC_MAX], b[LC_MAX]);
	if (b[LC_N] > 0)
		AddCounts(v + LC_HDR + (b[LC_LO] - v[LC_LO]) * width, b + LC_HDR, b[LC_N] * width, layout);
	PG_RETURN_ARRAYTYPE_P(arr);
}
Datum *
MatrixValues(int64 rows, int64 cols, bool **nulls)
{
	int64		cells = CheckedMul64(rows, cols, "number of matrix cells");

	if (cells > (int64) (MaxAllocSize / sizeof(Datum)) || rows > PG_INT32_MAX || cols > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a matrix of %lld rows and %lld columns is too large", (long long) rows, (long long) cols),
				 errhint("Use a longer period or a shorter time range.")));
	if (nulls)
		*nulls = palloc(cells * sizeof(bool));
	return palloc(cells * sizeof(Datum));
}
ArrayType *
ValuesToMatrix(Datum *values, bool *nulls, int64 nrows, int64 width)
{
	int			dims[2] = {(int) nrows, (int) width};
	int			lbs[2] = {1, 1};

	return construct_md_array(values, nulls, 2, dims, lbs, INT8OID,
							  sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

ArrayType *
CellsToMatrix(const int64 *cells, int64 nrows, int width)
{
	Datum	   *values = MemoryContextAllocHuge(CurrentMemoryContext, nrows * width * sizeof(Datum));

	for (int64 i = 0; i < nrows * width; i++)
		values[i] = Int64GetDatum(cells[i]);
	return ValuesToMatrix(values, NULL, nrows, width);
}
