/*-------------------------------------------------------------------------
 *
 * cohort_table.c
 *	  The cohort matrix behind retention.cohort_table: for every cohort
 *	  (start period) its size and the retained users at each period
 *	  offset, in one pass over the events.
 *
 * Four layouts, chosen by the aggregate's mode argument:
 *	 classic			cohort = the user's first start period F; retained at
 *						k = active in F + k
 *	 unbounded			retained at k = active in F + k or later
 *	 recurring			every active period c of a user is a cohort the user
 *						belongs to; retained at k = active in c + k
 *	 recurring_unbounded	likewise, active in c + k or later
 * Cells whose period is after the latest event's period are censored and
 * come out NULL, exactly the periods retention_rate would not count.
 *
 * Stage two over retention.activity values, cohort_matrix(activity, mode),
 * keeps a bigint[] state sized by periods, not users (for Citus); it is
 * at the end of this file.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "activity.h"
#include "period_states.h"
#include "retention_state.h"

/* cohorts x periods cells at most (a 256 MB matrix) */
#define MAX_CELLS ((int64) 1 << 25)


static const RetentionArgs cohort_args = {1, 2, -1, 3, 5, 6, 4};

/* Transition of cohort_matrix(user_id, ts, period, mode, is_start, is_return). */
PG_FUNCTION_INFO_V1(cohort_matrix_trans);
Datum
cohort_matrix_trans(PG_FUNCTION_ARGS)
{
	RetentionState *state = RetentionTransition(fcinfo, &cohort_args);

	if (state == NULL)
		PG_RETURN_NULL();
	if ((state->mode == COHORT_RECURRING || state->mode == COHORT_RECURRING_UNBOUNDED) &&
		((!PG_ARGISNULL(5) && !PG_GETARG_BOOL(5)) || (!PG_ARGISNULL(6) && !PG_GETARG_BOOL(6)) ||
		 PG_ARGISNULL(5) || PG_ARGISNULL(6)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recurring cohorts take no start or return event filter"),
				 errdetail("In recurring mode every active period of a user is a cohort of its own.")));
	PG_RETURN_POINTER(state);
}

/*
 * Counts user u into the row of cohort c: retained at each offset, or for
 * unbounded rows a difference array (retained from 0 to the last activity).
 */
static inline void
CountRow(const UserEntry *u, int32 c, bool unbounded, int64 *row)
{
	if (unbounded)
	{
		if (u->nbits > 0 && UserLastActive(u) >= c)
		{
			row[0]++;
			row[UserLastActive(u) - c + 1]--;
		}
	}
	else
		FOREACH_ACTIVE(u, p, {
			if (p >= c)
				row[p - c]++;
		});
}

/*
 * Counts every user into the cohort sizes and the rows of cells (cohort c
 * at row c - lo, "stride" cells each).  Unbounded rows hold a difference
 * array, summed up by CohortRows.
 */
static void
CountCohorts(RetentionState *state, bool recurring, bool unbounded, int64 lo,
			 int64 stride, int64 *size, int64 *cell)
{
	UserTableIter *iter;
	UserEntry  *u;

	iter = UserTableIterBegin(RetentionUsers(state));
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (recurring)
		{
			FOREACH_ACTIVE(u, c, {
				size[c - lo]++;
				CountRow(u, c, unbounded, cell + (c - lo) * stride);
			});
		}
		else if (u->first_start != NO_START)
		{
			size[u->first_start - lo]++;
			CountRow(u, u->first_start, unbounded, cell + (u->first_start - lo) * stride);
		}
	}
	pfree(iter);
}

/* The non-empty cohorts as rows {start date, size, retained at 0 .. width - 1}. */
static ArrayType *
CohortRows(PeriodKind kind, bool unbounded, int64 lo, int64 ncohorts, int64 width,
		   int64 stride, const int64 *size, const int64 *cell)
{
	int64		nrows = 0;
	Datum	   *values;
	bool	   *nulls;
	int64		r = 0;

	for (int64 c = 0; c < ncohorts; c++)
		if (size[c] > 0)
			nrows++;

	values = MemoryContextAllocHuge(CurrentMemoryContext, nrows * (width + 2) * sizeof(Datum));
	nulls = MemoryContextAllocHuge(CurrentMemoryContext, nrows * (width + 2) * sizeof(bool));
	for (int64 c = 0; c < ncohorts; c++)
	{
		const int64 *row = cell + c * stride;
		Datum	   *v = values + r * (width + 2);
		bool	   *nl = nulls + r * (width + 2);
		int64		running = 0;

		if (size[c] == 0)
			continue;
		v[0] = Int64GetDatum(PeriodStartKey(kind, (int32) (lo + c)));
		nl[0] = false;
		v[1] = Int64GetDatum(size[c]);
		nl[1] = false;
		for (int64 k = 0; k < width; k++)
		{
			int64		count;

			/* censored: period lo + c + k lies after the latest event */
			nl[k + 2] = (c + k > ncohorts - 1);
			if (unbounded)
			{
				running += row[k];
				count = running;
			}
			else
				count = row[k];
			v[k + 2] = Int64GetDatum(count);
		}
		r++;
	}
	return ValuesToMatrix(values, nulls, nrows, width + 2);
}

/*
 * Returns the cohort matrix as a two-dimensional bigint[]: one row per
 * non-empty cohort, {cohort start date as days since 2000-01-01, cohort
 * size, retained at period 0, 1, ..., K} with K = latest period - earliest
 * cohort, NULL where the period is censored (after the latest event).
 */
PG_FUNCTION_INFO_V1(cohort_matrix_final);
Datum
cohort_matrix_final(PG_FUNCTION_ARGS)
{
	RetentionState *state = STATE_ARG(RetentionState, 0);
	bool		recurring;
	bool		unbounded;
	int64		lo;
	int64		ncohorts;
	int64		width;
	int64		stride;			/* width + 1: room for a difference's end */
	int64	   *size;
	int64	   *cell;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();
	if (state->mode < COHORT_CLASSIC || state->mode > COHORT_RECURRING_UNBOUNDED)
		RetentionRefuseState("The state was not made by cohort_matrix.");
	recurring = state->mode == COHORT_RECURRING || state->mode == COHORT_RECURRING_UNBOUNDED;
	unbounded = state->mode == COHORT_UNBOUNDED || state->mode == COHORT_RECURRING_UNBOUNDED;

	lo = RetentionEarliest(state, recurring);
	if (lo == PG_INT64_MAX)
		PG_RETURN_NULL();

	ncohorts = (int64) state->max_period - lo + 1;
	width = ncohorts;			/* offsets 0 .. max_period - lo */
	if (ncohorts * width > MAX_CELLS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cohort table of %lld cohorts by %lld periods is too large",
						(long long) ncohorts, (long long) width),
				 errhint("Use a longer period or a shorter time range.")));

	size = palloc0(ncohorts * sizeof(int64));
	stride = width + 1;
	cell = MemoryContextAllocHuge(CurrentMemoryContext, ncohorts * stride * sizeof(int64));
	memset(cell, 0, ncohorts * stride * sizeof(int64));
	CountCohorts(state, recurring, unbounded, lo, stride, size, cell);
	PG_RETURN_ARRAYTYPE_P(CohortRows(state->kind, unbounded, lo, ncohorts, width, stride,
									 size, cell));
}

/* ---- stage two of the cohort table: cohort_matrix(activity, mode) ---- */

/*
 * State: bigint[] {tag, kind, mode, latest period, lowest period, n}, then
 * for the periods lo .. lo + n - 1 the cohort sizes (n values) and the
 * retained counts (n x n, row = cohort, column = offset).  Its size depends
 * on the number of periods, not on the number of users.
 */
enum
{
	CM_KIND = STATE_FIELD(0),
	CM_MODE = STATE_FIELD(1),
	CM_MAX = STATE_FIELD(2),
	CM_LO = STATE_FIELD(3),
	CM_N = STATE_FIELD(4),
	CM_HDR
};

#define CM_MAX_PERIODS 4096		/* n x n cells: at most 128 MB */

static const StateField cohort_fields[] = {
	KIND_FIELD("period kind"),
	{"mode", 1, 4},
	MAX_FIELD("latest period"),
	PERIOD_FIELD("lowest period"),
	{"number of periods", 0, CM_MAX_PERIODS},
};
static const StateLayout cohort_layout = {
	"cohort_matrix(activity) state", STATE_TAG(2, 1), lengthof(cohort_fields), cohort_fields
};

static int64
CohortBody(const StateLayout *layout, const int64 *v)
{
	return v[CM_N] + v[CM_N] * v[CM_N];
}

static int64 *
CohortStateRead(ArrayType *arr, bool body)
{
	int64	   *v = Int8StateRead(arr, &cohort_layout, CohortBody);

	CheckMaxField(&cohort_layout, v[CM_KIND], v[CM_MAX]);
	CheckPeriodRange(&cohort_layout, v[CM_KIND], v[CM_LO], v[CM_N], v[CM_MAX]);
	if (body)
		CheckCounts(&cohort_layout, v + CM_HDR, CohortBody(&cohort_layout, v));
	return v;
}

static ArrayType *
MakeCohortState(int64 kind, int64 mode, int64 max, int64 lo, int64 n)
{
	const int64 fields[] = {kind, mode, max, lo, n};

	if (n > CM_MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cohort table over %lld periods is too large", (long long) n),
				 errhint("Use a longer period or a shorter time range.")));
	return Int8StateMake(&cohort_layout, fields, n + n * n);
}

/* A copy of "old" covering periods lo .. hi as well (validated periods). */
static ArrayType *
CohortWiden(const int64 *old, int64 lo, int64 hi)
{
	int64		on = old[CM_N];
	int64		nlo = on ? Min(lo, old[CM_LO]) : lo;
	int64		nhi = on ? Max(hi, old[CM_LO] + on - 1) : hi;
	int64		n = Max(nhi - nlo + 1, 0);
	ArrayType  *arr = MakeCohortState(old[CM_KIND], old[CM_MODE], old[CM_MAX], nlo, n);
	int64	   *v = (int64 *) ARR_DATA_PTR(arr);
	int64		shift = on ? old[CM_LO] - nlo : 0;

	for (int64 c = 0; c < on; c++)
	{
		v[CM_HDR + c + shift] = old[CM_HDR + c];
		/* offsets are relative to the cohort, so a row moves whole */
		memcpy(v + CM_HDR + n + (c + shift) * n, old + CM_HDR + on + c * on, on * sizeof(int64));
	}
	return arr;
}

/* Transition of cohort_matrix(activity, mode). */
PG_FUNCTION_INFO_V1(activity_cohort_trans);
Datum
activity_cohort_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	int64	   *v;
	Activity	a;
	int64		mode;
	int64		lo;
	int64		hi;
	int64		n;
	int64		last;
	bool		recurring;
	bool		unbounded;

	if (!ActivityTransArgs(fcinfo, "retention.cohort_matrix(activity, ...)", 2, &a))
		return KeepState(fcinfo);
	mode = ParseCohortMode(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	recurring = mode >= 3;
	unbounded = mode == 2 || mode == 4;

	if (PG_ARGISNULL(0))
		arr = MakeCohortState(a.kind, mode, PG_INT64_MIN, 0, 0);
	else
		arr = PG_GETARG_ARRAYTYPE_P(0);
	v = CohortStateRead(arr, false);
	if (v[CM_KIND] != a.kind || v[CM_MODE] != mode)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activities of different periods or modes cannot be combined")));
	v[CM_MAX] = Max(v[CM_MAX], a.last_event);

	/* the cohorts this user belongs to: the first start, or every active period */
	if (recurring ? a.nbits == 0 : a.first_start == NO_START)
		PG_RETURN_ARRAYTYPE_P(arr);
	if (recurring && a.first_start != a.base)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recurring cohorts take no start or return event filter")));
	lo = recurring ? a.base : a.first_start;
	hi = a.last_event;
	if (v[CM_N] == 0 || lo < v[CM_LO] || hi >= v[CM_LO] + v[CM_N])
	{
		arr = CohortWiden(v, lo, hi);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	n = v[CM_N];
	/* validated: every active period is at or before last_event, inside the state */
	last = ActivityLast(&a, lo);

	for (int64 c = lo; c <= (recurring ? last : lo); c++)
	{
		int64	   *row;

		if (recurring && !ActivityBit(&a, c))
			continue;
		row = v + CM_HDR + n + (c - v[CM_LO]) * n;
		v[CM_HDR + c - v[CM_LO]]++;
		for (int64 p = c; p <= last; p++)
			if (unbounded || ActivityBit(&a, p))
				row[p - c]++;
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Adds two cohort_matrix(activity) states. */
PG_FUNCTION_INFO_V1(activity_cohort_combine);
Datum
activity_cohort_combine(PG_FUNCTION_ARGS)
{
	int64	   *a = CohortStateRead(PG_GETARG_ARRAYTYPE_P(0), true);
	int64	   *b = CohortStateRead(PG_GETARG_ARRAYTYPE_P(1), true);
	ArrayType  *arr;
	int64	   *v;
	int64		n;

	if (a[CM_KIND] != b[CM_KIND] || a[CM_MODE] != b[CM_MODE])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine cohort states of different periods or modes")));
	if (b[CM_N] == 0)
		arr = Int8StateCopy(PG_GETARG_ARRAYTYPE_P(0));
	else
		arr = CohortWiden(a, b[CM_LO], b[CM_LO] + b[CM_N] - 1);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[CM_MAX] = Max(a[CM_MAX], b[CM_MAX]);
	n = v[CM_N];
	for (int64 c = 0; c < b[CM_N]; c++)
	{
		int64		dc = c + b[CM_LO] - v[CM_LO];

		AddCounts(v + CM_HDR + dc, b + CM_HDR + c, 1, &cohort_layout);
		AddCounts(v + CM_HDR + n + dc * n, b + CM_HDR + b[CM_N] + c * b[CM_N], b[CM_N],
				  &cohort_layout);
	}
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Returns the cohort matrix in the layout of cohort_matrix(user_id, ts, ...). */
PG_FUNCTION_INFO_V1(activity_cohort_final);
Datum
activity_cohort_final(PG_FUNCTION_ARGS)
{
	int64	   *v;
	int64		n;
	int64		width;
	int64		first = 0;
	int64		nrows = 0;
	int64		r = 0;
	Datum	   *values;
	bool	   *nulls;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	v = CohortStateRead(PG_GETARG_ARRAYTYPE_P(0), true);
	n = v[CM_N];
	for (int64 c = 0; c < n; c++)
		if (v[CM_HDR + c] > 0)
			nrows++;
	if (nrows == 0)
		PG_RETURN_NULL();
	/* the earliest cohort to the latest period, as the one-stage aggregate */
	while (v[CM_HDR + first] == 0)
		first++;
	/* validated: lo + n - 1 <= latest period, so the width is at least 1 */
	width = v[CM_MAX] - (v[CM_LO] + first) + 1;
	values = MatrixValues(nrows, width + 2, &nulls);
	for (int64 c = 0; c < n; c++)
	{
		int64		period = v[CM_LO] + c;

		if (v[CM_HDR + c] == 0)
			continue;
		values[r * (width + 2)] = Int64GetDatum(PeriodStartKey(v[CM_KIND], (int32) period));
		nulls[r * (width + 2)] = false;
		values[r * (width + 2) + 1] = Int64GetDatum(v[CM_HDR + c]);
		nulls[r * (width + 2) + 1] = false;
		for (int64 k = 0; k < width; k++)
		{
			bool		censored = period + k > v[CM_MAX];

			nulls[r * (width + 2) + 2 + k] = censored;
			values[r * (width + 2) + 2 + k] =
				Int64GetDatum(censored || k >= n ? 0 : v[CM_HDR + n + c * n + k]);
		}
		r++;
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_ARRAYTYPE_P(ValuesToMatrix(values, nulls, nrows, width + 2));
}
