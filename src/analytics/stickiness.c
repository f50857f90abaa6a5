/*-------------------------------------------------------------------------
 *
 * stickiness.c
 *	  Stickiness: how many days of each week or month users were active,
 *	  from the same per-user bitmaps as retention_rate (one stage), and
 *	  from retention.activity values by day (stage two, for Citus).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "activity.h"
#include "period_states.h"
#include "retention_state.h"

static const RetentionArgs stickiness_args = {1, 2, -1, -1, -1, -1, -1};
static const RetentionArgs stickiness_hour_args = {1, 2, -1, -1, -1, -1, -1, PERIOD_HOUR};

/* The grouping of stickiness: week, month or quarter (of days), day (of hours). */
static PeriodKind
StickinessGroup(text *arg)
{
	PeriodKind	group = ParsePeriodKind(text_to_cstring(arg));

	if (group == PERIOD_HOUR)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stickiness takes the period \"day\", \"week\", \"month\" or \"quarter\", not \"hour\""),
				 errdetail("It counts the active hours of each day, or the active days of each week, month or quarter.")));
	return group;
}

/*
 * Transition of stickiness_matrix(user_id, ts, period): activity is kept by
 * unit (hours for "day", days otherwise); "period" is how units are
 * grouped, kept in the mode.
 */
PG_FUNCTION_INFO_V1(stickiness_trans);
Datum
stickiness_trans(PG_FUNCTION_ARGS)
{
	RetentionState *state;
	PeriodKind	group;

	if (PG_ARGISNULL(3))
		return KeepState(fcinfo);
	if (PG_ARGISNULL(0) || ((RetentionState *) PG_GETARG_POINTER(0))->mode == 0)
		group = StickinessGroup(PG_GETARG_TEXT_PP(3));
	else
	{
		RetentionState *last = (RetentionState *) PG_GETARG_POINTER(0);
		PeriodKind	now;

		group = (PeriodKind) last->mode;
		if (!RetentionSameText(&last->period_text, PG_GETARG_TEXT_PP(3)) &&
			(now = StickinessGroup(PG_GETARG_TEXT_PP(3))) != group)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("period changed from \"%s\" to \"%s\" within a group",
							PeriodKindName(group), PeriodKindName(now)),
					 errhint("Pass the same period for every row of a group.")));
	}
	state = RetentionTransition(fcinfo, group == PERIOD_DAY ? &stickiness_hour_args : &stickiness_args);
	if (state == NULL)
		PG_RETURN_NULL();
	state->mode = (int32) group;
	PG_RETURN_POINTER(state);
}

/*
 * Returns one row per period between the first and the latest event:
 * {period start as days since 2000-01-01, users active on exactly 1 unit,
 * on 2 units, ..., on 24 hours (day), 7 days (week), 31 (month) or 92
 * (quarter)}.
 */
PG_FUNCTION_INFO_V1(stickiness_final);
Datum
stickiness_final(PG_FUNCTION_ARGS)
{
	RetentionState *state = STATE_ARG(RetentionState, 0);
	UserTableIter *iter;
	UserEntry  *u;
	PeriodKind	group;
	int			width;
	int64		lo_day;
	int32		lo;
	int64		nperiods;
	int64	   *cells;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();
	group = (PeriodKind) state->mode;
	/* days of weeks, months or quarters, or hours of days (stickiness_trans) */
	if (group < PERIOD_DAY || group > PERIOD_KIND_MAX || group == PERIOD_HOUR ||
		state->kind != (group == PERIOD_DAY ? PERIOD_HOUR : PERIOD_DAY))
		RetentionRefuseState("The state was not made by stickiness_matrix.");
	width = 1 + StickinessUnits(group);
	lo_day = RetentionEarliest(state, true);
	if (lo_day == PG_INT64_MAX)
		PG_RETURN_NULL();
	lo = StickinessGroupOf(group, (int32) lo_day);
	nperiods = (int64) StickinessGroupOf(group, state->max_period) - lo + 1;
	if (nperiods > LC_MAX_PERIODS / width)
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
		/* units come in increasing order: count the run within each period */
		FOREACH_ACTIVE(u, unit, {
			int32 g = StickinessGroupOf(group, unit);

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
	PG_RETURN_ARRAYTYPE_P(CellsToMatrix(cells, nperiods, width));
}

/* Transition of stickiness_matrix(activity, period): activities by day. */
PG_FUNCTION_INFO_V1(activity_stickiness_trans);
Datum
activity_stickiness_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	int64	   *v;
	Activity	a;
	PeriodKind	group;
	int			width;
	int64		lo;
	int64		hi;
	int32		current = PG_INT32_MIN;
	int			days = 0;

	if (!ActivityTransArgs(fcinfo, "retention.stickiness_matrix(activity, ...)", 2, &a))
		return KeepState(fcinfo);
	group = StickinessGroup(PG_GETARG_TEXT_PP(2));
	if (a.kind != StickinessUnit(group))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stickiness per \"%s\" counts activities by \"%s\", not by \"%s\"",
						PeriodKindName(group), PeriodKindName(StickinessUnit(group)), PeriodKindName(a.kind))));
	if (a.nbits > 0 && a.first_start != a.base)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stickiness takes activities without start or return event filters")));
	width = CountsWidth(&stickiness_layout, group);
	arr = PG_ARGISNULL(0) ? MakeCountsState(&stickiness_layout, group, PG_INT64_MIN, 0, 0)
		: PG_GETARG_ARRAYTYPE_P(0);
	v = CountsStateRead(arr, &stickiness_layout, false);
	if (v[LC_KIND] != group)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stickiness period changed within a group")));
	v[LC_MAX] = Max(v[LC_MAX], a.last_event);
	if (a.nbits == 0)
		PG_RETURN_ARRAYTYPE_P(arr);
	lo = StickinessGroupOf(group, a.base);
	hi = StickinessGroupOf(group, (int32) ActivityLast(&a, a.base));
	if (v[LC_N] == 0 || lo < v[LC_LO] || hi >= v[LC_LO] + v[LC_N])
	{
		arr = CountsWiden(&stickiness_layout, v, lo, hi);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	/* runs of active days within one week or month */
	for (int64 d = a.base; d < (int64) a.base + a.nbits; d++)
	{
		int32		g;

		if (!ActivityBit(&a, d))
			continue;
		g = StickinessGroupOf(group, (int32) d);
		if (g != current)
		{
			if (days > 0)
				v[LC_HDR + (current - v[LC_LO]) * width + days]++;
			current = g;
			days = 0;
		}
		days++;
	}
	if (days > 0)
		v[LC_HDR + (current - v[LC_LO]) * width + days]++;
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Combines two stickiness_matrix(activity, period) states. */
PG_FUNCTION_INFO_V1(activity_stickiness_combine);
Datum
activity_stickiness_combine(PG_FUNCTION_ARGS)
{
	return CountsCombine(fcinfo, &stickiness_layout);
}

/* Returns the stickiness matrix in the layout of stickiness_matrix(user_id, ts, period). */
PG_FUNCTION_INFO_V1(activity_stickiness_final);
Datum
activity_stickiness_final(PG_FUNCTION_ARGS)
{
	int64	   *v;
	int			width;
	int64		nrows;
	Datum	   *values;

	v = CountsFinalState(fcinfo, &stickiness_layout);
	if (v == NULL)
		PG_RETURN_NULL();
	width = CountsWidth(&stickiness_layout, v[LC_KIND]);
	/* validated: lo + n - 1 is at or before the latest day's period */
	nrows = StickinessGroupOf(v[LC_KIND], (int32) v[LC_MAX]) - v[LC_LO] + 1;
	values = MatrixValues(nrows, width, NULL);
	for (int64 r = 0; r < nrows; r++)
	{
		values[r * width] = Int64GetDatum(PeriodStartDate(v[LC_KIND], (int32) (v[LC_LO] + r)));
		for (int k = 1; k < width; k++)
			values[r * width + k] = Int64GetDatum(r < v[LC_N] ? v[LC_HDR + r * width + k] : 0);
	}
	PG_RETURN_ARRAYTYPE_P(ValuesToMatrix(values, NULL, nrows, width));
}
