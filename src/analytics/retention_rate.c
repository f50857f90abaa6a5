/*-------------------------------------------------------------------------
 *
 * retention_rate.c
 *	  retention_rate and retention_rate_unbounded: R = S / N over the users
 *	  of a group, in one pass over their events.
 *
 * Each user's first event (or first "start" event) fixes their start period
 * F.  N counts the users whose period F + n is observable, i.e. not later
 * than the period of the group's latest event; S counts those of them active
 * in period F + n (classic) or in F + n or later (unbounded).  Because rows
 * come in any order, F is only known at the end, so the state keeps every
 * user's activity bitmap (see user_activity.h) and counts in the final
 * function.
 *
 * Stage two over retention.activity values, retention_rate(activity, n)
 * and its unbounded twin, keeps a plain bigint[] state (so Citus can ship
 * it as text and combine partial states): per start period F, how many
 * users started in F and how many of them were retained at F + n, plus the
 * latest period seen.  Which start periods are observable is only known at
 * the end, hence the per-F counts rather than two totals.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"

#include "activity.h"
#include "period_states.h"
#include "retention_state.h"

static const RetentionArgs rate_args = {1, 2, 3, 4, -1, -1, -1};
static const RetentionArgs rate_day_args = {1, 2, 3, -1, -1, -1, -1};
static const RetentionArgs rate_filter_args = {1, 2, 3, 4, 5, 6, -1};

/* Transition of retention_rate(user_id, ts, n, period) and its unbounded twin. */
PG_FUNCTION_INFO_V1(retention_rate_trans);
Datum
retention_rate_trans(PG_FUNCTION_ARGS)
{
	return RetentionTransitionDatum(fcinfo, PG_NARGS() == 4 ? &rate_day_args : &rate_args);
}

/* Transition of retention_rate(user_id, ts, n, period, is_start, is_return). */
PG_FUNCTION_INFO_V1(retention_rate_filter_trans);
Datum
retention_rate_filter_trans(PG_FUNCTION_ARGS)
{
	return RetentionTransitionDatum(fcinfo, &rate_filter_args);
}

/* S / N for the state's n; NULL when N = 0. */
static Datum
RateFinal(FunctionCallInfo fcinfo, bool unbounded)
{
	RetentionState *state = STATE_ARG(RetentionState, 0);
	UserTableIter *iter;
	UserEntry  *u;
	int64		observable = 0;
	int64		retained = 0;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();
	if (state->n < 0)
		RetentionRefuseState("The state was not made by retention_rate.");

	iter = UserTableIterBegin(RetentionUsers(state));
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
	{
		int64		target;

		if (u->first_start == NO_START)
			continue;
		target = (int64) u->first_start + state->n;
		if (target > state->max_period)
			continue;			/* censored: period n not over yet */
		observable++;
		if (unbounded ? (u->nbits > 0 && UserLastActive(u) >= target)
			: UserActiveIn(u, (int32) target))
			retained++;
		if ((observable & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(iter);

	if (observable == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) retained / (double) observable);
}

/* Returns classic retention: the share of users active exactly in period n. */
PG_FUNCTION_INFO_V1(retention_rate_final);
Datum
retention_rate_final(PG_FUNCTION_ARGS)
{
	return RateFinal(fcinfo, false);
}

/* Returns unbounded retention: the share of users active in period n or later. */
PG_FUNCTION_INFO_V1(retention_rate_unbounded_final);
Datum
retention_rate_unbounded_final(PG_FUNCTION_ARGS)
{
	return RateFinal(fcinfo, true);
}

/* ---- stage two: retention_rate(activity, n) ---- */

/*
 * State: bigint[] {tag, kind, n, unbounded, latest period, lowest start,
 * number of starts}, then for start periods lowest .. lowest + starts - 1
 * the pairs (users, retained).
 */
enum
{
	S_KIND = STATE_FIELD(0),
	S_N = STATE_FIELD(1),
	S_UNBOUNDED = STATE_FIELD(2),
	S_MAX = STATE_FIELD(3),
	S_MIN_START = STATE_FIELD(4),
	S_NSTARTS = STATE_FIELD(5),
	STATE_HDR
};

#define MAX_STARTS (MAX_USER_SPAN * (int64) 16)

static const StateField rate_fields[] = {
	KIND_FIELD("period kind"),
	{"n", 0, PG_INT32_MAX},
	{"unbounded", 0, 1},
	MAX_FIELD("latest period"),
	PERIOD_FIELD("lowest start"),
	{"number of starts", 0, MAX_STARTS},
};
static const StateLayout rate_layout = {
	"retention_rate(activity) state", STATE_TAG(1, 1), lengthof(rate_fields), rate_fields
};

static int64
RateBody(const StateLayout *layout, const int64 *v)
{
	return 2 * v[S_NSTARTS];
}

/*
 * The one reader of the layout.  "body" also checks the counts, which
 * transition functions skip: their state can only be one we made.
 */
static int64 *
RateStateRead(ArrayType *arr, bool body)
{
	int64	   *v = Int8StateRead(arr, &rate_layout, RateBody);

	CheckMaxField(&rate_layout, v[S_KIND], v[S_MAX]);
	CheckPeriodRange(&rate_layout, v[S_KIND], v[S_MIN_START], v[S_NSTARTS], v[S_MAX]);
	if (body)
		for (int64 i = 0; i < v[S_NSTARTS]; i++)
		{
			int64		users = v[STATE_HDR + 2 * i];
			int64		retained = v[STATE_HDR + 2 * i + 1];

			if (users < 0 || retained < 0 || retained > users)
				StateInvalid(&rate_layout, NULL, "start period %lld has %lld users of whom %lld retained",
							 (long long) (v[S_MIN_START] + i), (long long) users, (long long) retained);
		}
	return v;
}

static ArrayType *
MakeState(int64 kind, int64 n, bool unbounded, int64 max, int64 min_start, int64 nstarts)
{
	const int64 fields[] = {kind, n, unbounded, max, min_start, nstarts};

	if (nstarts > MAX_STARTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("start periods span more than %lld periods", (long long) MAX_STARTS)));
	return Int8StateMake(&rate_layout, fields, 2 * nstarts);
}

/* A copy of state "old" whose start range also covers lo..hi (validated periods). */
static ArrayType *
Widen(const int64 *old, int64 lo, int64 hi)
{
	int64		new_lo = old[S_NSTARTS] ? Min(lo, old[S_MIN_START]) : lo;
	int64		new_hi = old[S_NSTARTS] ? Max(hi, old[S_MIN_START] + old[S_NSTARTS] - 1) : hi;
	ArrayType  *arr = MakeState(old[S_KIND], old[S_N], old[S_UNBOUNDED], old[S_MAX],
								new_lo, new_hi - new_lo + 1);
	int64	   *v = (int64 *) ARR_DATA_PTR(arr);

	if (old[S_NSTARTS])
		memcpy(v + STATE_HDR + 2 * (old[S_MIN_START] - new_lo), old + STATE_HDR,
			   2 * old[S_NSTARTS] * sizeof(int64));
	return arr;
}

static Datum
ActivityRateTrans(FunctionCallInfo fcinfo, bool unbounded)
{
	ArrayType  *arr;
	int64	   *v;
	Activity	a;
	int32		n;
	int64		slot;

	if (!ActivityTransArgs(fcinfo, "retention.retention_rate(activity, ...)", 2, &a))
		return KeepState(fcinfo);
	n = PG_GETARG_INT32(2);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period number n must not be negative, got %d", n)));

	if (PG_ARGISNULL(0))
		arr = MakeState(a.kind, n, unbounded, PG_INT64_MIN, 0, 0);
	else
		arr = PG_GETARG_ARRAYTYPE_P(0);
	v = RateStateRead(arr, false);
	ActivityCheckKind(v[S_KIND], a.kind);
	if (v[S_N] != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period number n changed from %d to %d within a group", (int) v[S_N], n),
				 errhint("Pass the same n for every row of a group.")));

	v[S_MAX] = Max(v[S_MAX], a.last_event);
	if (a.first_start == NO_START)
		PG_RETURN_ARRAYTYPE_P(arr);

	if (v[S_NSTARTS] == 0 || a.first_start < v[S_MIN_START] ||
		a.first_start >= v[S_MIN_START] + v[S_NSTARTS])
	{
		arr = Widen(v, a.first_start, a.first_start);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	slot = STATE_HDR + 2 * (a.first_start - v[S_MIN_START]);
	v[slot]++;
	if (unbounded ? ActivityLast(&a, a.first_start) >= (int64) a.first_start + n
		: ActivityBit(&a, (int64) a.first_start + n))
		v[slot + 1]++;
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Transition of retention_rate(activity, n): counts per start period. */
PG_FUNCTION_INFO_V1(activity_rate_trans);
Datum
activity_rate_trans(PG_FUNCTION_ARGS)
{
	return ActivityRateTrans(fcinfo, false);
}

/* Transition of retention_rate_unbounded(activity, n). */
PG_FUNCTION_INFO_V1(activity_rate_unbounded_trans);
Datum
activity_rate_unbounded_trans(PG_FUNCTION_ARGS)
{
	return ActivityRateTrans(fcinfo, true);
}

/* Combines two bigint[] states of retention_rate(activity, n). */
PG_FUNCTION_INFO_V1(activity_rate_combine);
Datum
activity_rate_combine(PG_FUNCTION_ARGS)
{
	int64	   *a = RateStateRead(PG_GETARG_ARRAYTYPE_P(0), true);
	int64	   *b = RateStateRead(PG_GETARG_ARRAYTYPE_P(1), true);
	ArrayType  *arr;
	int64	   *v;

	if (a[S_KIND] != b[S_KIND] || a[S_N] != b[S_N] || a[S_UNBOUNDED] != b[S_UNBOUNDED])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine retention_rate(activity) states of different periods or n")));
	if (b[S_NSTARTS] == 0)
		arr = Int8StateCopy(PG_GETARG_ARRAYTYPE_P(0));
	else
		arr = Widen(a, b[S_MIN_START], b[S_MIN_START] + b[S_NSTARTS] - 1);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[S_MAX] = Max(a[S_MAX], b[S_MAX]);
	if (b[S_NSTARTS] > 0)
		AddCounts(v + STATE_HDR + 2 * (b[S_MIN_START] - v[S_MIN_START]), b + STATE_HDR,
				  2 * b[S_NSTARTS], &rate_layout);
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Returns S / N from a retention_rate(activity, n) state; NULL when N = 0. */
PG_FUNCTION_INFO_V1(activity_rate_final);
Datum
activity_rate_final(PG_FUNCTION_ARGS)
{
	int64	   *v;
	int64		users = 0;
	int64		retained = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	v = RateStateRead(PG_GETARG_ARRAYTYPE_P(0), true);
	for (int64 i = 0; i < v[S_NSTARTS]; i++)
	{
		if (v[S_MIN_START] + i + v[S_N] > v[S_MAX])
			break;				/* this start period and later ones are censored */
		users = CheckedAdd64(users, v[STATE_HDR + 2 * i], "number of users");
		retained = CheckedAdd64(retained, v[STATE_HDR + 2 * i + 1], "number of retained users");
	}
	if (users == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) retained / (double) users);
}
