/*-------------------------------------------------------------------------
 *
 * activity.c
 *	  The retention.activity type and the two-stage (distributed) form of
 *	  retention_rate.
 *
 * Stage one, retention.user_activity(ts, period), runs grouped by user id and
 * condenses a user's events into one small value: the first period with a
 * start event, the period of the latest event, and a bitmap of the periods
 * with a return event.  Grouped by the distribution column, it runs on each
 * Citus worker next to the data.
 *
 * Stage two, retention.retention_rate(activity, n) and its unbounded twin,
 * keeps a state that is a plain bigint[] (so Citus can ship it as text and
 * combine partial states): per start period F, how many users started in F
 * and how many of them were retained at F + n, plus the latest period seen.
 * Which start periods are observable is only known at the end, hence the
 * per-F counts rather than two totals.
 *
 * Text form of an activity:  period:first_start:last_event:base:bits
 * e.g. month:276:279:276:1001 is a user who started in period 276 (January
 * 2023), was active in 276 and 279, and whose latest event is in 279; "-"
 * stands for "no start event".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "retention_rate.h"

typedef struct Activity
{
	int32		vl_len_;
	int32		kind;
	int32		first_start;	/* NO_START when the user has no start event */
	int32		last_event;
	int32		base;
	int32		nbits;
	uint8		bits[FLEXIBLE_ARRAY_MEMBER];
} Activity;

#define ACTIVITY_SIZE(nbits) (offsetof(Activity, bits) + ((nbits) + 7) / 8)

static inline bool
ActivityBit(const Activity *a, int64 p)
{
	int64		off = p - a->base;

	if (off < 0 || off >= a->nbits)
		return false;
	return (a->bits[off >> 3] >> (off & 7)) & 1;
}

static Activity *
ActivityAlloc(int32 nbits)
{
	Activity   *a = palloc0(ACTIVITY_SIZE(nbits));

	SET_VARSIZE(a, ACTIVITY_SIZE(nbits));
	a->nbits = nbits;
	return a;
}

static void
ActivityValidate(const Activity *a, Size size)
{
	if (size < offsetof(Activity, bits) || a->nbits < 0 || a->nbits > MAX_USER_SPAN ||
		size != ACTIVITY_SIZE(a->nbits) ||
		a->kind < PERIOD_DAY || a->kind > PERIOD_MONTH ||
		(a->nbits > 0 && (int64) a->base + a->nbits - 1 > a->last_event) ||
		(a->first_start != NO_START && a->first_start > a->last_event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid retention.activity value")));
}

/* Parses period:first_start:last_event:base:bits. */
PG_FUNCTION_INFO_V1(activity_in);
Datum
activity_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *copy = pstrdup(str);
	char	   *fields[5];
	char	   *p = copy;
	Activity   *a;
	int			nbits;
	int32		first_start = NO_START;
	int32		last_event;
	int32		base;
	PeriodKind	kind;

	for (int i = 0; i < 5; i++)
	{
		fields[i] = p;
		p = strchr(p, ':');
		if ((p == NULL) != (i == 4))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"", "retention.activity", str),
					 errdetail("Expected period:first_start:last_event:base:bits.")));
		if (p)
			*p++ = '\0';
	}
	kind = ParsePeriodKind(fields[0]);
	if (strcmp(fields[1], "-") != 0)
		first_start = pg_strtoint32(fields[1]);
	last_event = pg_strtoint32(fields[2]);
	base = pg_strtoint32(fields[3]);
	nbits = strlen(fields[4]);
	if (nbits > MAX_USER_SPAN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("activity bitmap of %d periods exceeds the limit of %d", nbits, MAX_USER_SPAN)));
	a = ActivityAlloc(nbits);
	a->kind = kind;
	a->first_start = first_start;
	a->last_event = last_event;
	a->base = base;
	for (int i = 0; i < nbits; i++)
	{
		if (fields[4][i] == '1')
			a->bits[i >> 3] |= 1 << (i & 7);
		else if (fields[4][i] != '0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"", "retention.activity", str),
					 errdetail("The bitmap must consist of 0 and 1.")));
	}
	if ((nbits > 0 && (!ActivityBit(a, base) || !ActivityBit(a, (int64) base + nbits - 1))) ||
		(int64) base + nbits - 1 > last_event ||
		(first_start != NO_START && first_start > last_event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"", "retention.activity", str),
				 errdetail("The bitmap must start and end with an active period, and no period may follow the latest event.")));
	PG_RETURN_POINTER(a);
}

/* Returns the text form period:first_start:last_event:base:bits. */
PG_FUNCTION_INFO_V1(activity_out);
Datum
activity_out(PG_FUNCTION_ARGS)
{
	Activity   *a = (Activity *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s:", PeriodKindName(a->kind));
	if (a->first_start == NO_START)
		appendStringInfoChar(&buf, '-');
	else
		appendStringInfo(&buf, "%d", a->first_start);
	appendStringInfo(&buf, ":%d:%d:", a->last_event, a->base);
	for (int i = 0; i < a->nbits; i++)
		appendStringInfoChar(&buf, ActivityBit(a, (int64) a->base + i) ? '1' : '0');
	PG_RETURN_CSTRING(buf.data);
}

/* Binary receive: the same fields, validated. */
PG_FUNCTION_INFO_V1(activity_recv);
Datum
activity_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		hdr[5];
	Activity   *a;

	for (int i = 0; i < 5; i++)
		hdr[i] = pq_getmsgint(buf, 4);
	if (hdr[4] < 0 || hdr[4] > MAX_USER_SPAN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid retention.activity value")));
	a = ActivityAlloc(hdr[4]);
	a->kind = hdr[0];
	a->first_start = hdr[1];
	a->last_event = hdr[2];
	a->base = hdr[3];
	pq_copymsgbytes(buf, (char *) a->bits, (hdr[4] + 7) / 8);
	ActivityValidate(a, VARSIZE(a));
	PG_RETURN_POINTER(a);
}

/* Binary send. */
PG_FUNCTION_INFO_V1(activity_send);
Datum
activity_send(PG_FUNCTION_ARGS)
{
	Activity   *a = (Activity *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, a->kind);
	pq_sendint32(&buf, a->first_start);
	pq_sendint32(&buf, a->last_event);
	pq_sendint32(&buf, a->base);
	pq_sendint32(&buf, a->nbits);
	pq_sendbytes(&buf, (char *) a->bits, (a->nbits + 7) / 8);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---- stage one: user_activity(ts, period [, is_start, is_return]) ---- */

static const RetentionArgs activity_args = {-1, 1, -1, 2, -1, -1, -1};
static const RetentionArgs activity_filter_args = {-1, 1, -1, 2, 3, 4, -1};

/* Transition of user_activity; the state is that of retention_rate. */
PG_FUNCTION_INFO_V1(user_activity_trans);
Datum
user_activity_trans(PG_FUNCTION_ARGS)
{
	RetentionState *state = RetentionTransition(fcinfo,
												PG_NARGS() == 3 ? &activity_args : &activity_filter_args);

	if (state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(state);
}

/* Returns the activity of the group's (single) user. */
PG_FUNCTION_INFO_V1(user_activity_final);
Datum
user_activity_final(PG_FUNCTION_ARGS)
{
	RetentionState *state = PG_ARGISNULL(0) ? NULL : (RetentionState *) PG_GETARG_POINTER(0);
	UserTableIter *iter;
	UserEntry  *u;
	Activity   *a;

	if (state == NULL || !state->have_max)
		PG_RETURN_NULL();

	iter = UserTableIterBegin(RetentionUsers(state));
	u = UserTableIterNext(state->users, iter);
	a = ActivityAlloc(u ? u->nbits : 0);
	a->kind = state->kind;
	a->last_event = state->max_period;
	a->first_start = u ? u->first_start : NO_START;
	if (u && u->nbits > 0)
	{
		const uint64 *w = UserWords(u);

		a->base = u->base;
		for (int i = 0; i < u->nbits; i++)
			if ((w[i >> 6] >> (i & 63)) & 1)
				a->bits[i >> 3] |= 1 << (i & 7);
	}
	PG_RETURN_POINTER(a);
}

/* ---- stage two: retention_rate(activity, n) ---- */

/*
 * State: bigint[] of STATE_HDR header fields, then for start periods
 * min_start .. min_start + nstarts - 1 the pairs (users, retained).
 */
enum
{
	S_KIND,
	S_N,
	S_UNBOUNDED,
	S_MAX,						/* latest period seen, or PG_INT64_MIN */
	S_MIN_START,
	S_NSTARTS,
	STATE_HDR
};

static ArrayType *
MakeState(int64 kind, int64 n, bool unbounded, int64 max, int64 min_start, int64 nstarts)
{
	int			len = STATE_HDR + 2 * nstarts;
	ArrayType  *arr;
	int64	   *v;

	if (nstarts > MAX_USER_SPAN * (int64) 16)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("start periods span more than %d periods", MAX_USER_SPAN * 16)));
	arr = palloc0(ARR_OVERHEAD_NONULLS(1) + len * sizeof(int64));
	SET_VARSIZE(arr, ARR_OVERHEAD_NONULLS(1) + len * sizeof(int64));
	arr->ndim = 1;
	arr->dataoffset = 0;
	arr->elemtype = INT8OID;
	ARR_DIMS(arr)[0] = len;
	ARR_LBOUND(arr)[0] = 1;
	v = (int64 *) ARR_DATA_PTR(arr);
	v[S_KIND] = kind;
	v[S_N] = n;
	v[S_UNBOUNDED] = unbounded;
	v[S_MAX] = max;
	v[S_MIN_START] = min_start;
	v[S_NSTARTS] = nstarts;
	return arr;
}

static int64 *
StateValues(ArrayType *arr)
{
	int64	   *v;

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID ||
		ARR_DIMS(arr)[0] < STATE_HDR)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid retention_rate(activity) state")));
	v = (int64 *) ARR_DATA_PTR(arr);
	if (v[S_NSTARTS] < 0 || ARR_DIMS(arr)[0] != STATE_HDR + 2 * v[S_NSTARTS] ||
		v[S_KIND] < PERIOD_DAY || v[S_KIND] > PERIOD_MONTH || v[S_N] < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid retention_rate(activity) state")));
	return v;
}

/* A copy of state "old" whose start range also covers lo..hi. */
static ArrayType *
Widen(int64 *old, int64 lo, int64 hi)
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
	MemoryContext aggcxt;
	ArrayType  *arr;
	int64	   *v;
	Activity   *a;
	int32		n;
	int64		slot;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this function can only be called by the aggregate retention.retention_rate(activity, ...)")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	a = (Activity *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	n = PG_GETARG_INT32(2);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period number n must not be negative, got %d", n)));

	if (PG_ARGISNULL(0))
		arr = MakeState(a->kind, n, unbounded, PG_INT64_MIN, 0, 0);
	else
		arr = PG_GETARG_ARRAYTYPE_P(0);
	v = StateValues(arr);
	if (v[S_KIND] != a->kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activities of periods \"%s\" and \"%s\" cannot be combined",
						PeriodKindName(v[S_KIND]), PeriodKindName(a->kind))));
	if (v[S_N] != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period number n changed from %d to %d within a group", (int) v[S_N], n),
				 errhint("Pass the same n for every row of a group.")));

	v[S_MAX] = Max(v[S_MAX], a->last_event);
	if (a->first_start == NO_START)
		PG_RETURN_ARRAYTYPE_P(arr);

	if (v[S_NSTARTS] == 0 || a->first_start < v[S_MIN_START] ||
		a->first_start >= v[S_MIN_START] + v[S_NSTARTS])
	{
		arr = Widen(v, a->first_start, a->first_start);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	slot = STATE_HDR + 2 * (a->first_start - v[S_MIN_START]);
	v[slot]++;
	if (unbounded ? (a->nbits > 0 && (int64) a->base + a->nbits - 1 >= (int64) a->first_start + n)
		: ActivityBit(a, (int64) a->first_start + n))
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
	int64	   *a = StateValues(PG_GETARG_ARRAYTYPE_P(0));
	int64	   *b = StateValues(PG_GETARG_ARRAYTYPE_P(1));
	ArrayType  *arr;
	int64	   *v;

	if (a[S_KIND] != b[S_KIND] || a[S_N] != b[S_N] || a[S_UNBOUNDED] != b[S_UNBOUNDED])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine retention_rate(activity) states of different periods or n")));
	if (b[S_NSTARTS] == 0)
	{
		/* nothing to add but b's latest period: a copy of a */
		arr = MakeState(a[S_KIND], a[S_N], a[S_UNBOUNDED], a[S_MAX],
						a[S_MIN_START], a[S_NSTARTS]);
		memcpy(ARR_DATA_PTR(arr), a, (STATE_HDR + 2 * a[S_NSTARTS]) * sizeof(int64));
	}
	else
		arr = Widen(a, b[S_MIN_START], b[S_MIN_START] + b[S_NSTARTS] - 1);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[S_MAX] = Max(a[S_MAX], b[S_MAX]);
	for (int64 i = 0; i < b[S_NSTARTS]; i++)
	{
		int64		slot = STATE_HDR + 2 * (b[S_MIN_START] + i - v[S_MIN_START]);

		v[slot] += b[STATE_HDR + 2 * i];
		v[slot + 1] += b[STATE_HDR + 2 * i + 1];
	}
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
	v = StateValues(PG_GETARG_ARRAYTYPE_P(0));
	for (int64 i = 0; i < v[S_NSTARTS]; i++)
	{
		if (v[S_MIN_START] + i + v[S_N] > v[S_MAX])
			break;				/* this start period and later ones are censored */
		users += v[STATE_HDR + 2 * i];
		retained += v[STATE_HDR + 2 * i + 1];
	}
	if (users == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) retained / (double) users);
}

/* ---- stage two of the cohort table: cohort_matrix(activity, mode) ---- */

/*
 * State: bigint[] of CM_HDR header fields, then for the periods lo .. lo +
 * n - 1 the cohort sizes (n values) and the retained counts (n x n, row =
 * cohort, column = offset).  Its size depends on the number of periods,
 * not on the number of users.
 */
enum
{
	CM_KIND,
	CM_MODE,
	CM_MAX,						/* latest period seen */
	CM_LO,
	CM_N,
	CM_HDR
};

#define CM_MAX_PERIODS 4096		/* n x n cells: at most 128 MB */

static ArrayType *
MakeCohortState(int64 kind, int64 mode, int64 max, int64 lo, int64 n)
{
	int64		len;
	ArrayType  *arr;
	int64	   *v;

	if (n > CM_MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cohort table over %lld periods is too large", (long long) n),
				 errhint("Use a longer period or a shorter time range.")));
	len = CM_HDR + n + n * n;
	arr = palloc0(ARR_OVERHEAD_NONULLS(1) + len * sizeof(int64));
	SET_VARSIZE(arr, ARR_OVERHEAD_NONULLS(1) + len * sizeof(int64));
	arr->ndim = 1;
	arr->elemtype = INT8OID;
	ARR_DIMS(arr)[0] = (int) len;
	ARR_LBOUND(arr)[0] = 1;
	v = (int64 *) ARR_DATA_PTR(arr);
	v[CM_KIND] = kind;
	v[CM_MODE] = mode;
	v[CM_MAX] = max;
	v[CM_LO] = lo;
	v[CM_N] = n;
	return arr;
}

static int64 *
CohortStateValues(ArrayType *arr)
{
	int64	   *v;

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID ||
		ARR_DIMS(arr)[0] < CM_HDR)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cohort_matrix(activity) state")));
	v = (int64 *) ARR_DATA_PTR(arr);
	if (v[CM_N] < 0 || v[CM_N] > CM_MAX_PERIODS ||
		ARR_DIMS(arr)[0] != CM_HDR + v[CM_N] + v[CM_N] * v[CM_N] ||
		v[CM_KIND] < PERIOD_DAY || v[CM_KIND] > PERIOD_MONTH || v[CM_MODE] < 1 || v[CM_MODE] > 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cohort_matrix(activity) state")));
	return v;
}

/* A copy of "old" covering periods lo .. hi as well. */
static ArrayType *
CohortWiden(const int64 *old, int64 lo, int64 hi)
{
	int64		on = old[CM_N];
	int64		nlo = on ? Min(lo, old[CM_LO]) : lo;
	int64		nhi = on ? Max(hi, old[CM_LO] + on - 1) : hi;
	int64		n = nhi - nlo + 1;
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
	MemoryContext aggcxt;
	ArrayType  *arr;
	int64	   *v;
	Activity   *a;
	int64		mode;
	int64		lo;
	int64		hi;
	int64		n;
	bool		recurring;
	bool		unbounded;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this function can only be called by the aggregate retention.cohort_matrix(activity, ...)")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	a = (Activity *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	mode = ParseCohortMode(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	recurring = mode >= 3;
	unbounded = mode == 2 || mode == 4;

	if (PG_ARGISNULL(0))
		arr = MakeCohortState(a->kind, mode, PG_INT64_MIN, 0, 0);
	else
		arr = PG_GETARG_ARRAYTYPE_P(0);
	v = CohortStateValues(arr);
	if (v[CM_KIND] != a->kind || v[CM_MODE] != mode)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activities of different periods or modes cannot be combined")));
	v[CM_MAX] = Max(v[CM_MAX], a->last_event);

	/* the cohorts this user belongs to: the first start, or every active period */
	if (recurring ? a->nbits == 0 : a->first_start == NO_START)
		PG_RETURN_ARRAYTYPE_P(arr);
	if (recurring && a->first_start != a->base)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recurring cohorts take no start or return event filter")));
	lo = recurring ? a->base : a->first_start;
	hi = a->last_event;
	if (v[CM_N] == 0 || lo < v[CM_LO] || hi >= v[CM_LO] + v[CM_N])
	{
		arr = CohortWiden(v, lo, hi);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	n = v[CM_N];

	for (int64 c = lo; c <= (recurring ? (int64) a->base + a->nbits - 1 : lo); c++)
	{
		int64	   *row;
		int64		last = (int64) a->base + a->nbits - 1;

		if (recurring && !ActivityBit(a, c))
			continue;
		row = v + CM_HDR + n + (c - v[CM_LO]) * n;
		v[CM_HDR + c - v[CM_LO]]++;
		for (int64 p = c; p <= last; p++)
			if (unbounded || ActivityBit(a, p))
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
	int64	   *a = CohortStateValues(PG_GETARG_ARRAYTYPE_P(0));
	int64	   *b = CohortStateValues(PG_GETARG_ARRAYTYPE_P(1));
	ArrayType  *arr;
	int64	   *v;
	int64		n;

	if (a[CM_KIND] != b[CM_KIND] || a[CM_MODE] != b[CM_MODE])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine cohort states of different periods or modes")));
	if (b[CM_N] == 0)
		arr = CohortWiden(a, a[CM_N] ? a[CM_LO] : 0, a[CM_N] ? a[CM_LO] : -1);
	else
		arr = CohortWiden(a, b[CM_LO], b[CM_LO] + b[CM_N] - 1);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[CM_MAX] = Max(a[CM_MAX], b[CM_MAX]);
	n = v[CM_N];
	for (int64 c = 0; c < b[CM_N]; c++)
	{
		int64		dc = c + b[CM_LO] - v[CM_LO];

		v[CM_HDR + dc] += b[CM_HDR + c];
		for (int64 k = 0; k < b[CM_N]; k++)
			v[CM_HDR + n + dc * n + k] += b[CM_HDR + b[CM_N] + c * b[CM_N] + k];
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
	int64		nrows = 0;
	int64		r = 0;
	Datum	   *values;
	bool	   *nulls;
	int			dims[2];
	int			lbs[2] = {1, 1};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	v = CohortStateValues(PG_GETARG_ARRAYTYPE_P(0));
	n = v[CM_N];
	for (int64 c = 0; c < n; c++)
		if (v[CM_HDR + c] > 0)
			nrows++;
	if (nrows == 0)
		PG_RETURN_NULL();
	/* the earliest cohort to the latest period, as the one-stage aggregate */
	{
		int64		first = 0;

		while (v[CM_HDR + first] == 0)
			first++;
		width = v[CM_MAX] - (v[CM_LO] + first) + 1;
	}
	values = palloc(nrows * (width + 2) * sizeof(Datum));
	nulls = palloc(nrows * (width + 2) * sizeof(bool));
	for (int64 c = 0; c < n; c++)
	{
		int64		period = v[CM_LO] + c;

		if (v[CM_HDR + c] == 0)
			continue;
		values[r * (width + 2)] = Int64GetDatum(PeriodStartDate(v[CM_KIND], (int32) period));
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
	}
	dims[0] = (int) nrows;
	dims[1] = (int) (width + 2);
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 2, dims, lbs, INT8OID,
											 sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---- stage two of lifecycle and stickiness over activities ---- */

/*
 * Growth accounting state: bigint[] {kind, latest period, lo, n} then for
 * periods lo .. lo + n - 1 four counts each: new, returning, resurrecting,
 * dormant (positive here, negated on output).
 */
enum
{
	LC_KIND,
	LC_MAX,
	LC_LO,
	LC_N,
	LC_HDR
};

#define LC_MAX_PERIODS (1 << 22)

static ArrayType *
MakeCountsState(int64 kind, int64 max, int64 lo, int64 n, int width)
{
	int64		len;
	ArrayType  *arr;
	int64	   *v;

	if (n > LC_MAX_PERIODS / width)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%lld periods are too many to report", (long long) n),
				 errhint("Use a longer period or a shorter time range.")));
	len = LC_HDR + n * width;
	arr = palloc0(ARR_OVERHEAD_NONULLS(1) + len * sizeof(int64));
	SET_VARSIZE(arr, ARR_OVERHEAD_NONULLS(1) + len * sizeof(int64));
	arr->ndim = 1;
	arr->elemtype = INT8OID;
	ARR_DIMS(arr)[0] = (int) len;
	ARR_LBOUND(arr)[0] = 1;
	v = (int64 *) ARR_DATA_PTR(arr);
	v[LC_KIND] = kind;
	v[LC_MAX] = max;
	v[LC_LO] = lo;
	v[LC_N] = n;
	return arr;
}

static int64 *
CountsStateValues(ArrayType *arr, int width)
{
	int64	   *v;

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID ||
		ARR_DIMS(arr)[0] < LC_HDR)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid lifecycle or stickiness state")));
	v = (int64 *) ARR_DATA_PTR(arr);
	if (v[LC_N] < 0 || v[LC_N] > LC_MAX_PERIODS / width ||
		ARR_DIMS(arr)[0] != LC_HDR + v[LC_N] * width ||
		v[LC_KIND] < PERIOD_DAY || v[LC_KIND] > PERIOD_MONTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid lifecycle or stickiness state")));
	return v;
}

static ArrayType *
CountsWiden(const int64 *old, int64 lo, int64 hi, int width)
{
	int64		on = old[LC_N];
	int64		nlo = on ? Min(lo, old[LC_LO]) : lo;
	int64		nhi = on ? Max(hi, old[LC_LO] + on - 1) : hi;
	ArrayType  *arr = MakeCountsState(old[LC_KIND], old[LC_MAX], nlo, Max(nhi - nlo + 1, 0), width);
	int64	   *v = (int64 *) ARR_DATA_PTR(arr);

	if (on)
		memcpy(v + LC_HDR + (old[LC_LO] - nlo) * width, old + LC_HDR, on * width * sizeof(int64));
	return arr;
}

static Datum
CountsCombine(FunctionCallInfo fcinfo, int width)
{
	int64	   *a = CountsStateValues(PG_GETARG_ARRAYTYPE_P(0), width);
	int64	   *b = CountsStateValues(PG_GETARG_ARRAYTYPE_P(1), width);
	ArrayType  *arr;
	int64	   *v;

	if (a[LC_KIND] != b[LC_KIND])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine states of different periods")));
	if (b[LC_N] == 0)
		arr = CountsWiden(a, a[LC_N] ? a[LC_LO] : 0, a[LC_N] ? a[LC_LO] : -1, width);
	else
		arr = CountsWiden(a, b[LC_LO], b[LC_LO] + b[LC_N] - 1, width);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[LC_MAX] = Max(a[LC_MAX], b[LC_MAX]);
	for (int64 i = 0; i < b[LC_N] * width; i++)
		v[LC_HDR + (b[LC_LO] - v[LC_LO]) * width + i] += b[LC_HDR + i];
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Transition of lifecycle_matrix(activity). */
PG_FUNCTION_INFO_V1(activity_lifecycle_trans);
Datum
activity_lifecycle_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ArrayType  *arr;
	int64	   *v;
	Activity   *a;
	int64		last;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this function can only be called by the aggregate retention.lifecycle_matrix(activity, ...)")));
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	a = (Activity *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	arr = PG_ARGISNULL(0) ? MakeCountsState(a->kind, PG_INT64_MIN, 0, 0, 4) : PG_GETARG_ARRAYTYPE_P(0);
	v = CountsStateValues(arr, 4);
	if (v[LC_KIND] != a->kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activities of periods \"%s\" and \"%s\" cannot be combined",
						PeriodKindName(v[LC_KIND]), PeriodKindName(a->kind))));
	if (a->nbits > 0 && a->first_start != a->base)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lifecycle takes activities without start or return event filters")));
	v[LC_MAX] = Max(v[LC_MAX], a->last_event);
	if (a->nbits == 0)
		PG_RETURN_ARRAYTYPE_P(arr);
	last = (int64) a->base + a->nbits - 1;
	/* up to the period after the last activity, where the user turns dormant */
	if (v[LC_N] == 0 || a->base < v[LC_LO] || last + 1 >= v[LC_LO] + v[LC_N])
	{
		arr = CountsWiden(v, a->base, last + 1, 4);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	for (int64 p = a->base; p <= last; p++)
	{
		int64	   *row = v + LC_HDR + (p - v[LC_LO]) * 4;

		if (!ActivityBit(a, p))
			continue;
		if (p == a->base)
			row[0]++;
		else if (ActivityBit(a, p - 1))
			row[1]++;
		else
			row[2]++;
		if (!ActivityBit(a, p + 1))
			row[4 + 3]++;		/* dormant in the next period */
	}
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Combines two lifecycle_matrix(activity) states. */
PG_FUNCTION_INFO_V1(activity_lifecycle_combine);
Datum
activity_lifecycle_combine(PG_FUNCTION_ARGS)
{
	return CountsCombine(fcinfo, 4);
}

/* Returns the lifecycle matrix in the layout of lifecycle_matrix(user_id, ts, period). */
PG_FUNCTION_INFO_V1(activity_lifecycle_final);
Datum
activity_lifecycle_final(PG_FUNCTION_ARGS)
{
	int64	   *v;
	int64		first = 0;
	int64		nrows;
	Datum	   *values;
	int			dims[2];
	int			lbs[2] = {1, 1};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	v = CountsStateValues(PG_GETARG_ARRAYTYPE_P(0), 4);
	if (v[LC_N] == 0)
		PG_RETURN_NULL();
	/* the first period with a new user, to the latest event's period */
	while (first < v[LC_N] && v[LC_HDR + first * 4] == 0)
		first++;
	nrows = v[LC_MAX] - (v[LC_LO] + first) + 1;
	values = palloc(nrows * 5 * sizeof(Datum));
	for (int64 r = 0; r < nrows; r++)
	{
		int64		i = first + r;
		const int64 *row = v + LC_HDR + i * 4;

		values[r * 5] = Int64GetDatum(PeriodStartDate(v[LC_KIND], (int32) (v[LC_LO] + i)));
		for (int k = 0; k < 3; k++)
			values[r * 5 + 1 + k] = Int64GetDatum(i < v[LC_N] ? row[k] : 0);
		values[r * 5 + 4] = Int64GetDatum(i < v[LC_N] ? -row[3] : 0);
	}
	dims[0] = (int) nrows;
	dims[1] = 5;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, NULL, 2, dims, lbs, INT8OID,
											 sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Transition of stickiness_matrix(activity, period): activities by day. */
PG_FUNCTION_INFO_V1(activity_stickiness_trans);
Datum
activity_stickiness_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ArrayType  *arr;
	int64	   *v;
	Activity   *a;
	PeriodKind	group;
	int			width;
	int64		lo;
	int64		hi;
	int32		current = PG_INT32_MIN;
	int			days = 0;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this function can only be called by the aggregate retention.stickiness_matrix(activity, ...)")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	a = (Activity *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	group = ParsePeriodKind(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	if (group == PERIOD_DAY || a->kind != PERIOD_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stickiness counts active days per \"week\" or \"month\" from activities by \"day\"")));
	if (a->nbits > 0 && a->first_start != a->base)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stickiness takes activities without start or return event filters")));
	width = 1 + (group == PERIOD_WEEK ? 7 : 31);
	arr = PG_ARGISNULL(0) ? MakeCountsState(group, PG_INT64_MIN, 0, 0, width) : PG_GETARG_ARRAYTYPE_P(0);
	v = CountsStateValues(arr, width);
	if (v[LC_KIND] != group)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stickiness period changed within a group")));
	v[LC_MAX] = Max(v[LC_MAX], a->last_event);
	if (a->nbits == 0)
		PG_RETURN_ARRAYTYPE_P(arr);
	lo = PeriodOfDay(group, a->base);
	hi = PeriodOfDay(group, a->base + a->nbits - 1);
	if (v[LC_N] == 0 || lo < v[LC_LO] || hi >= v[LC_LO] + v[LC_N])
	{
		arr = CountsWiden(v, lo, hi, width);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	/* runs of active days within one week or month */
	for (int64 d = a->base; d < (int64) a->base + a->nbits; d++)
	{
		int32		g;

		if (!ActivityBit(a, d))
			continue;
		g = PeriodOfDay(group, (int32) d);
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
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	int64		group = ARR_DIMS(a)[0] >= LC_HDR ? ((int64 *) ARR_DATA_PTR(a))[LC_KIND] : 0;

	return CountsCombine(fcinfo, 1 + (group == PERIOD_WEEK ? 7 : 31));
}

/* Returns the stickiness matrix in the layout of stickiness_matrix(user_id, ts, period). */
PG_FUNCTION_INFO_V1(activity_stickiness_final);
Datum
activity_stickiness_final(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	int64	   *v;
	int			width;
	int64		nrows;
	Datum	   *values;
	int			dims[2];
	int			lbs[2] = {1, 1};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	arr = PG_GETARG_ARRAYTYPE_P(0);
	width = 1 + ((ARR_DIMS(arr)[0] >= LC_HDR && ((int64 *) ARR_DATA_PTR(arr))[LC_KIND] == PERIOD_WEEK) ? 7 : 31);
	v = CountsStateValues(arr, width);
	if (v[LC_N] == 0)
		PG_RETURN_NULL();
	nrows = PeriodOfDay(v[LC_KIND], (int32) v[LC_MAX]) - v[LC_LO] + 1;
	values = palloc(nrows * width * sizeof(Datum));
	for (int64 r = 0; r < nrows; r++)
	{
		values[r * width] = Int64GetDatum(PeriodStartDate(v[LC_KIND], (int32) (v[LC_LO] + r)));
		for (int k = 1; k < width; k++)
			values[r * width + k] = Int64GetDatum(r < v[LC_N] ? v[LC_HDR + r * width + k] : 0);
	}
	dims[0] = (int) nrows;
	dims[1] = width;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, NULL, 2, dims, lbs, INT8OID,
											 sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
