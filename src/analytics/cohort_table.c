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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "retention_rate.h"

#define MODE_CLASSIC 1
#define MODE_UNBOUNDED 2
#define MODE_RECURRING 3
#define MODE_RECURRING_UNBOUNDED 4

/* cohorts x periods cells at most (a 256 MB matrix) */
#define MAX_CELLS ((int64) 1 << 25)

int32
ParseCohortMode(const char *name)
{
	if (strcmp(name, "classic") == 0)
		return MODE_CLASSIC;
	if (strcmp(name, "unbounded") == 0)
		return MODE_UNBOUNDED;
	if (strcmp(name, "recurring") == 0)
		return MODE_RECURRING;
	if (strcmp(name, "recurring_unbounded") == 0)
		return MODE_RECURRING_UNBOUNDED;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown cohort mode \"%s\"", name),
			 errhint("Use \"classic\", \"unbounded\", \"recurring\" or \"recurring_unbounded\".")));
	return 0;
}

static const RetentionArgs cohort_args = {1, 2, -1, 3, 5, 6, 4};

/* Transition of cohort_matrix(user_id, ts, period, mode, is_start, is_return). */
PG_FUNCTION_INFO_V1(cohort_matrix_trans);
Datum
cohort_matrix_trans(PG_FUNCTION_ARGS)
{
	RetentionState *state = RetentionTransition(fcinfo, &cohort_args);

	if (state == NULL)
		PG_RETURN_NULL();
	if ((state->mode == MODE_RECURRING || state->mode == MODE_RECURRING_UNBOUNDED) &&
		((!PG_ARGISNULL(5) && !PG_GETARG_BOOL(5)) || (!PG_ARGISNULL(6) && !PG_GETARG_BOOL(6)) ||
		 PG_ARGISNULL(5) || PG_ARGISNULL(6)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recurring cohorts take no start or return event filter"),
				 errdetail("In recurring mode every active period of a user is a cohort of its own.")));
	PG_RETURN_POINTER(state);
}

/* Iterate over the set bits of a user's bitmap as absolute periods. */
#define FOREACH_ACTIVE(u, p, body) \
	do { \
		const uint64 *w_ = UserWords(u); \
		for (int i_ = 0; i_ < ((u)->nbits + 63) / 64; i_++) \
		{ \
			uint64		x_ = w_[i_]; \
			while (x_) \
			{ \
				int32		p = (u)->base + i_ * 64 + __builtin_ctzll(x_); \
				x_ &= x_ - 1; \
				body; \
			} \
		} \
	} while (0)

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
	RetentionState *state = PG_ARGISNULL(0) ? NULL : (RetentionState *) PG_GETARG_POINTER(0);
	bool		recurring;
	bool		unbounded;
	int64		lo = PG_INT64_MAX;
	int64		ncohorts;
	int64		width;
	int64		stride;			/* width + 1: room for a difference's end */
	int64	   *size;
	int64	   *cell;
	UserTableIter *iter;
	UserEntry  *u;
	int64		nrows = 0;
	Datum	   *values;
	bool	   *nulls;
	int			dims[2];
	int			lbs[2] = {1, 1};
	int64		r;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();
	recurring = state->mode == MODE_RECURRING || state->mode == MODE_RECURRING_UNBOUNDED;
	unbounded = state->mode == MODE_UNBOUNDED || state->mode == MODE_RECURRING_UNBOUNDED;

	/* the earliest cohort */
	iter = UserTableIterBegin(RetentionUsers(state));
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
	{
		if (recurring)
		{
			if (u->nbits > 0)
				lo = Min(lo, u->base);
		}
		else if (u->first_start != NO_START)
			lo = Min(lo, u->first_start);
	}
	pfree(iter);
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
	/* unbounded: a difference array along each row, summed up below */
	stride = width + 1;
	cell = MemoryContextAllocHuge(CurrentMemoryContext, ncohorts * stride * sizeof(int64));
	memset(cell, 0, ncohorts * stride * sizeof(int64));

	iter = UserTableIterBegin(RetentionUsers(state));
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (recurring)
		{
			FOREACH_ACTIVE(u, c, {
				int64 *row = cell + (c - lo) * stride;

				size[c - lo]++;
				if (unbounded)
				{
					row[0]++;
					row[UserLastActive(u) - c + 1]--;
				}
				else
					FOREACH_ACTIVE(u, p, {
						if (p >= c)
							row[p - c]++;
					});
			});
		}
		else if (u->first_start != NO_START)
		{
			int32		f = u->first_start;
			int64	   *row = cell + (f - lo) * stride;

			size[f - lo]++;
			if (unbounded)
			{
				if (u->nbits > 0 && UserLastActive(u) >= f)
				{
					row[0]++;
					row[UserLastActive(u) - f + 1]--;
				}
			}
			else
				FOREACH_ACTIVE(u, p, {
					if (p >= f)
						row[p - f]++;
				});
		}
	}
	pfree(iter);

	for (int64 c = 0; c < ncohorts; c++)
		if (size[c] > 0)
			nrows++;

	values = MemoryContextAllocHuge(CurrentMemoryContext, nrows * (width + 2) * sizeof(Datum));
	nulls = MemoryContextAllocHuge(CurrentMemoryContext, nrows * (width + 2) * sizeof(bool));
	r = 0;
	for (int64 c = 0; c < ncohorts; c++)
	{
		int64	   *row = cell + c * stride;
		Datum	   *v = values + r * (width + 2);
		bool	   *nl = nulls + r * (width + 2);
		int64		running = 0;

		if (size[c] == 0)
			continue;
		v[0] = Int64GetDatum(PeriodStartDate(state->kind, (int32) (lo + c)));
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

	dims[0] = (int) nrows;
	dims[1] = (int) (width + 2);
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 2, dims, lbs, INT8OID,
											 sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
