/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  Growth accounting (new, returning, resurrecting, dormant users per
 *	  period) and stickiness (how many days of each week or month users
 *	  were active), from the same per-user bitmaps as retention_rate.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

#include "retention_rate.h"

/* periods x columns at most in the returned matrix */
#define MAX_PERIODS (1 << 22)

static const RetentionArgs lifecycle_args = {1, 2, -1, 3, -1, -1, -1};
static const RetentionArgs stickiness_args = {1, 2, -1, -1, -1, -1, -1};

/* Transition of lifecycle_matrix(user_id, ts, period). */
PG_FUNCTION_INFO_V1(lifecycle_trans);
Datum
lifecycle_trans(PG_FUNCTION_ARGS)
{
	RetentionState *state = RetentionTransition(fcinfo, &lifecycle_args);

	if (state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(state);
}

/*
 * Transition of stickiness_matrix(user_id, ts, period): activity is kept by
 * day; "period" (week or month) is how days are grouped, kept in the mode.
 */
PG_FUNCTION_INFO_V1(stickiness_trans);
Datum
stickiness_trans(PG_FUNCTION_ARGS)
{
	RetentionState *state;
	PeriodKind	group;

	if (PG_ARGISNULL(3))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	state = RetentionTransition(fcinfo, &stickiness_args);
	if (state == NULL)
		PG_RETURN_NULL();
	if (state->mode == 0)
	{
		group = ParsePeriodKind(text_to_cstring(PG_GETARG_TEXT_PP(3)));
		if (group == PERIOD_DAY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stickiness counts active days per \"week\" or \"month\", not per \"day\"")));
		state->mode = (int32) group;
	}
	PG_RETURN_POINTER(state);
}

static ArrayType *
MatrixToArray(int64 *cells, int64 nrows, int width)
{
	Datum	   *values = MemoryContextAllocHuge(CurrentMemoryContext, nrows * width * sizeof(Datum));
	int			dims[2] = {(int) nrows, width};
	int			lbs[2] = {1, 1};

	for (int64 i = 0; i < nrows * width; i++)
		values[i] = Int64GetDatum(cells[i]);
	return construct_md_array(values, NULL, 2, dims, lbs, INT8OID,
							  sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

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
 * Returns one row per period from the earliest first period to the latest
 * event's: {period start as days since 2000-01-01, new, returning,
 * resurrecting, -dormant}.
 */
PG_FUNCTION_INFO_V1(lifecycle_final);
Datum
lifecycle_final(PG_FUNCTION_ARGS)
{
	RetentionState *state = PG_ARGISNULL(0) ? NULL : (RetentionState *) PG_GETARG_POINTER(0);
	UserTableIter *iter;
	UserEntry  *u;
	int64		lo = PG_INT64_MAX;
	int64		nperiods;
	int64	   *cells;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();
	iter = UserTableIterBegin(RetentionUsers(state));
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
		if (u->nbits > 0)
			lo = Min(lo, u->base);
	if (lo == PG_INT64_MAX)
		PG_RETURN_NULL();
	nperiods = state->max_period - lo + 1;
	if (nperiods > MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("lifecycle over %lld periods is too long", (long long) nperiods),
				 errhint("Use a longer period or a shorter time range.")));
	cells = palloc0(nperiods * 5 * sizeof(int64));
	for (int64 i = 0; i < nperiods; i++)
		cells[i * 5] = PeriodStartDate(state->kind, (int32) (lo + i));

	iter = UserTableIterBegin(state->users);
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		FOREACH_ACTIVE(u, p, {
			int64 *row = cells + (p - lo) * 5;

			if (p == u->base)
				row[1]++;		/* new: first seen now */
			else if (UserActiveIn(u, p - 1))
				row[2]++;		/* returning: active now and before */
			else
				row[3]++;		/* resurrecting: back after a gap */
			/* dormant next period: active now, not then */
			if (p < state->max_period && !UserActiveIn(u, p + 1))
				cells[(p + 1 - lo) * 5 + 4]--;
		});
	}
	PG_RETURN_ARRAYTYPE_P(MatrixToArray(cells, nperiods, 5));
}

/*
 * Returns one row per week or month between the first and the latest
 * event: {period start as days since 2000-01-01, users active on exactly 1
 * day, on 2 days, ..., on 7 (week) or 31 (month) days}.
 */
PG_FUNCTION_INFO_V1(stickiness_final);
Datum
stickiness_final(PG_FUNCTION_ARGS)
{
	RetentionState *state = PG_ARGISNULL(0) ? NULL : (RetentionState *) PG_GETARG_POINTER(0);
	UserTableIter *iter;
	UserEntry  *u;
	PeriodKind	group;
	int			width;
	int64		lo_day = PG_INT64_MAX;
	int32		lo;
	int64		nperiods;
	int64	   *cells;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();
	group = (PeriodKind) state->mode;
	width = 1 + (group == PERIOD_WEEK ? 7 : 31);
	iter = UserTableIterBegin(RetentionUsers(state));
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
		if (u->nbits > 0)
			lo_day = Min(lo_day, u->base);
	if (lo_day == PG_INT64_MAX)
		PG_RETURN_NULL();
	lo = PeriodOfDay(group, (int32) lo_day);
	nperiods = (int64) PeriodOfDay(group, state->max_period) - lo + 1;
	if (nperiods > MAX_PERIODS / width)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("stickiness over %lld periods is too long", (long long) nperiods)));
	cells = palloc0(nperiods * width * sizeof(int64));
	for (int64 i = 0; i < nperiods; i++)
		cells[i * width] = PeriodStartDate(group, (int32) (lo + i));

	iter = UserTableIterBegin(state->users);
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
	{
		int32		current = PG_INT32_MIN;
		int			days = 0;

		CHECK_FOR_INTERRUPTS();
		/* days come in increasing order: count the run within each period */
		FOREACH_ACTIVE(u, day, {
			int32 g = PeriodOfDay(group, day);

			if (g != current)
			{
				if (days > 0)
					cells[(current - lo) * width + days]++;
				current = g;
				days = 0;
			}
			days++;
		});
		if (days > 0)
			cells[(current - lo) * width + days]++;
	}
	PG_RETURN_ARRAYTYPE_P(MatrixToArray(cells, nperiods, width));
}
