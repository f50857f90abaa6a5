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
#include "utils/memutils.h"

#include "retention_rate.h"
#include "state_reader.h"

/*
 * The stored form.  Version 1 begins with ACTIVITY_MAGIC; 0.1.0 stored the
 * same fields without magic and version, beginning with the period kind
 * (1..3), which the magic can never be, so both forms are read.
 */
#define ACTIVITY_MAGIC 0x52414354	/* "RACT" */
#define ACTIVITY_VERSION 1

typedef struct ActivityData
{
	int32		vl_len_;
	int32		magic;
	int32		version;
	int32		kind;
	int32		first_start;	/* NO_START when the user has no start event */
	int32		last_event;
	int32		base;
	int32		nbits;
	uint8		bits[FLEXIBLE_ARRAY_MEMBER];
} ActivityData;

/* 0.1.0's unversioned form */
typedef struct ActivityDataV0
{
	int32		vl_len_;
	int32		kind;
	int32		first_start;
	int32		last_event;
	int32		base;
	int32		nbits;
	uint8		bits[FLEXIBLE_ARRAY_MEMBER];
} ActivityDataV0;

#define ACTIVITY_SIZE(nbits) (offsetof(ActivityData, bits) + ((nbits) + 7) / 8)

/* An activity as every function reads it: validated, whatever its version. */
typedef struct Activity
{
	int32		kind;
	int32		first_start;
	int32		last_event;
	int32		base;
	int32		nbits;
	const uint8 *bits;
} Activity;

static inline bool
ActivityBit(const Activity *a, int64 p)
{
	int64		off = p - a->base;

	if (off < 0 || off >= a->nbits)
		return false;
	return (a->bits[off >> 3] >> (off & 7)) & 1;
}

/* The last active period, or first - 1 when there is none. */
static inline int64
ActivityLast(const Activity *a, int64 first)
{
	return a->nbits > 0 ? (int64) a->base + a->nbits - 1 : first - 1;
}

static ActivityData *
ActivityAlloc(int32 nbits)
{
	ActivityData *a = palloc0(ACTIVITY_SIZE(nbits));

	SET_VARSIZE(a, ACTIVITY_SIZE(nbits));
	a->magic = ACTIVITY_MAGIC;
	a->version = ACTIVITY_VERSION;
	a->nbits = nbits;
	return a;
}

static void
BadActivity(int code, const char *field, const char *fmt, int64 value)
{
	char		detail[160];

	snprintf(detail, sizeof(detail), fmt, (long long) value);
	ereport(ERROR,
			(errcode(code),
			 errmsg("invalid retention.activity value: %s %s", field, detail)));
}

/*
 * The one validator of an activity's fields, shared by text input, binary
 * input and every reader of a stored value, so that recv accepts exactly
 * what in accepts.  "code" is 22P02 (text), 22P03 (binary) or XX001
 * (stored).  "bytes" is the length of the bitmap given.
 */
static void
ActivityCheck(const Activity *a, int64 bytes, int code)
{
	if (a->kind < PERIOD_DAY || a->kind > PERIOD_MONTH)
		BadActivity(code, "period kind", "%lld is not 1 (day), 2 (week) or 3 (month)", a->kind);
	if (a->nbits < 0 || a->nbits > MAX_USER_SPAN)
		BadActivity(code, "nbits", "%lld is negative or more than 2^20", a->nbits);
	if (bytes != (a->nbits + 7) / 8)
		BadActivity(code, "bitmap", "has %lld bytes, not the ones nbits calls for", bytes);
	if (!PeriodInSpan(a->kind, a->last_event))
		BadActivity(code, "last_event", "%lld is outside the periods of timestamptz", a->last_event);
	if (a->first_start != NO_START &&
		(!PeriodInSpan(a->kind, a->first_start) || a->first_start > a->last_event))
		BadActivity(code, "first_start", "%lld is not a period at or before last_event", a->first_start);
	if (!PeriodInSpan(a->kind, a->base))
		BadActivity(code, "base", "%lld is outside the periods of timestamptz", a->base);
	if (a->nbits == 0)
	{
		/* unused; 0 as written, or at most last_event + 1 as 0.1.0 read it */
		if (a->base != 0 && (int64) a->base > (int64) a->last_event + 1)
			BadActivity(code, "base", "%lld of an empty bitmap is neither 0 nor at most last_event + 1", a->base);
		return;
	}
	if ((int64) a->base + a->nbits - 1 > a->last_event)
		BadActivity(code, "base", "%lld puts an active period after last_event", a->base);
	if (!ActivityBit(a, a->base) || !ActivityBit(a, (int64) a->base + a->nbits - 1))
		BadActivity(code, "bitmap", "must start and end with an active period (nbits %lld)", a->nbits);
	if ((a->nbits & 7) != 0 && (a->bits[a->nbits >> 3] >> (a->nbits & 7)) != 0)
		BadActivity(code, "bitmap", "has bits set past nbits %lld", a->nbits);
}

/* Reads a stored activity of either version, validated. */
static void
ActivityRead(Datum d, Activity *a)
{
	struct varlena *v = PG_DETOAST_DATUM(d);
	int64		size = VARSIZE_ANY_EXHDR(v);
	const char *p = VARDATA_ANY(v);
	int32		word;
	int			hdr;

	if (size < (int64) sizeof(int32))
		BadActivity(ERRCODE_DATA_CORRUPTED, "length", "%lld is too short", size);
	memcpy(&word, p, sizeof(int32));
	if (word == ACTIVITY_MAGIC)
	{
		int32		version;

		hdr = 7;
		if (size < hdr * (int64) sizeof(int32))
			BadActivity(ERRCODE_DATA_CORRUPTED, "length", "%lld is too short", size);
		memcpy(&version, p + sizeof(int32), sizeof(int32));
		if (version != ACTIVITY_VERSION)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("retention.activity value of version %d is not readable by this version of retention", version),
					 errhint("Update the extension's library.")));
		p += 2 * sizeof(int32);
	}
	else
	{
		hdr = 5;
		if (size < hdr * (int64) sizeof(int32))
			BadActivity(ERRCODE_DATA_CORRUPTED, "length", "%lld is too short", size);
	}
	memcpy(&a->kind, p, sizeof(int32));
	memcpy(&a->first_start, p + 4, sizeof(int32));
	memcpy(&a->last_event, p + 8, sizeof(int32));
	memcpy(&a->base, p + 12, sizeof(int32));
	memcpy(&a->nbits, p + 16, sizeof(int32));
	a->bits = (const uint8 *) p + 20;
	ActivityCheck(a, size - hdr * (int64) sizeof(int32), ERRCODE_DATA_CORRUPTED);
}

/* A new stored activity of the current version from validated fields. */
static ActivityData *
ActivityWrite(const Activity *a)
{
	ActivityData *d = ActivityAlloc(a->nbits);

	d->kind = a->kind;
	d->first_start = a->first_start;
	d->last_event = a->last_event;
	d->base = a->base;
	if (a->nbits > 0)
		memcpy(d->bits, a->bits, (a->nbits + 7) / 8);
	return d;
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
	Activity	a;
	uint8	   *bits;
	size_t		nbits;

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
	a.kind = ParsePeriodKind(fields[0]);
	a.first_start = strcmp(fields[1], "-") == 0 ? NO_START : pg_strtoint32(fields[1]);
	a.last_event = pg_strtoint32(fields[2]);
	a.base = pg_strtoint32(fields[3]);
	nbits = strlen(fields[4]);
	if (nbits > MAX_USER_SPAN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("activity bitmap of %zu periods exceeds the limit of %d", nbits, MAX_USER_SPAN)));
	a.nbits = (int32) nbits;
	bits = palloc0((nbits + 7) / 8);
	for (size_t i = 0; i < nbits; i++)
	{
		if (fields[4][i] == '1')
			bits[i >> 3] |= 1 << (i & 7);
		else if (fields[4][i] != '0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"", "retention.activity", str),
					 errdetail("The bitmap must consist of 0 and 1.")));
	}
	a.bits = bits;
	ActivityCheck(&a, (nbits + 7) / 8, ERRCODE_INVALID_TEXT_REPRESENTATION);
	PG_RETURN_POINTER(ActivityWrite(&a));
}

/* Returns the text form period:first_start:last_event:base:bits. */
PG_FUNCTION_INFO_V1(activity_out);
Datum
activity_out(PG_FUNCTION_ARGS)
{
	Activity	a;
	StringInfoData buf;

	ActivityRead(PG_GETARG_DATUM(0), &a);
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s:", PeriodKindName(a.kind));
	if (a.first_start == NO_START)
		appendStringInfoChar(&buf, '-');
	else
		appendStringInfo(&buf, "%d", a.first_start);
	appendStringInfo(&buf, ":%d:%d:", a.last_event, a.base);
	for (int i = 0; i < a.nbits; i++)
		appendStringInfoChar(&buf, ActivityBit(&a, (int64) a.base + i) ? '1' : '0');
	PG_RETURN_CSTRING(buf.data);
}

/*
 * Binary receive: magic, version, then the fields as text input reads them.
 * A message without the magic is 0.1.0's form, whose first field is the
 * period kind.
 */
PG_FUNCTION_INFO_V1(activity_recv);
Datum
activity_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		word = pq_getmsgint(buf, 4);
	Activity	a;

	if (word == ACTIVITY_MAGIC)
	{
		int32		version = pq_getmsgint(buf, 4);

		if (version != ACTIVITY_VERSION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("retention.activity binary value of version %d is not readable by this version of retention", version)));
		word = pq_getmsgint(buf, 4);
	}
	a.kind = word;
	a.first_start = pq_getmsgint(buf, 4);
	a.last_event = pq_getmsgint(buf, 4);
	a.base = pq_getmsgint(buf, 4);
	a.nbits = pq_getmsgint(buf, 4);
	if (a.nbits < 0 || a.nbits > MAX_USER_SPAN)
		BadActivity(ERRCODE_INVALID_BINARY_REPRESENTATION, "nbits",
					"%lld is negative or more than 2^20", a.nbits);
	a.bits = (const uint8 *) pq_getmsgbytes(buf, (a.nbits + 7) / 8);
	ActivityCheck(&a, (a.nbits + 7) / 8, ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_POINTER(ActivityWrite(&a));
}

/* Binary send: magic, version and the fields. */
PG_FUNCTION_INFO_V1(activity_send);
Datum
activity_send(PG_FUNCTION_ARGS)
{
	Activity	a;
	StringInfoData buf;

	ActivityRead(PG_GETARG_DATUM(0), &a);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, ACTIVITY_MAGIC);
	pq_sendint32(&buf, ACTIVITY_VERSION);
	pq_sendint32(&buf, a.kind);
	pq_sendint32(&buf, a.first_start);
	pq_sendint32(&buf, a.last_event);
	pq_sendint32(&buf, a.base);
	pq_sendint32(&buf, a.nbits);
	pq_sendbytes(&buf, (const char *) a.bits, (a.nbits + 7) / 8);
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
	ActivityData *a;

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

/* ---- the bigint[] states of stage two: one reader per layout ---- */

/* header field ranges shared by the layouts */
#define KIND_FIELD(name) {name, PERIOD_DAY, PERIOD_MONTH}
#define PERIOD_FIELD(name) {name, PERIOD_NUMBER_MIN, PERIOD_NUMBER_MAX}
/* the latest period seen, or PG_INT64_MIN before the first activity */
#define MAX_FIELD(name) {name, PG_INT64_MIN, PERIOD_NUMBER_MAX}

static void
CheckMaxField(const StateLayout *layout, PeriodKind kind, int64 max)
{
	if (max != PG_INT64_MIN && !PeriodInSpan(kind, max))
		StateInvalid(layout, "latest period", "is %lld, not a %s period of timestamptz's range",
					 (long long) max, PeriodKindName(kind));
}

/* lo .. lo + n - 1 must be periods of the kind, and at or before "limit" */
static void
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

static void
CheckCounts(const StateLayout *layout, const int64 *counts, int64 n)
{
	for (int64 i = 0; i < n; i++)
		if (counts[i] < 0)
			StateInvalid(layout, NULL, "count %lld of the body is negative (%lld)",
						 (long long) (i + 1), (long long) counts[i]);
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
	ArrayType  *arr;
	int64	   *v;

	if (nstarts > MAX_STARTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("start periods span more than %lld periods", (long long) MAX_STARTS)));
	arr = Int8StateAlloc(&rate_layout, 2 * nstarts);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[S_KIND] = kind;
	v[S_N] = n;
	v[S_UNBOUNDED] = unbounded;
	v[S_MAX] = max;
	v[S_MIN_START] = min_start;
	v[S_NSTARTS] = nstarts;
	return arr;
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

	AggContextOrError(fcinfo, "retention.retention_rate(activity, ...)");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	ActivityRead(PG_GETARG_DATUM(1), &a);
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
	if (v[S_KIND] != a.kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activities of periods \"%s\" and \"%s\" cannot be combined",
						PeriodKindName(v[S_KIND]), PeriodKindName(a.kind))));
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
	ArrayType  *arr;
	int64	   *v;

	if (n > CM_MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cohort table over %lld periods is too large", (long long) n),
				 errhint("Use a longer period or a shorter time range.")));
	arr = Int8StateAlloc(&cohort_layout, n + n * n);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[CM_KIND] = kind;
	v[CM_MODE] = mode;
	v[CM_MAX] = max;
	v[CM_LO] = lo;
	v[CM_N] = n;
	return arr;
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

	AggContextOrError(fcinfo, "retention.cohort_matrix(activity, ...)");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	ActivityRead(PG_GETARG_DATUM(1), &a);
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

/*
 * The Datum and null arrays of a rows x cols bigint matrix, sized with
 * overflow checks.
 */
static Datum *
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
	int			dims[2];
	int			lbs[2] = {1, 1};

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
		CHECK_FOR_INTERRUPTS();
	}
	dims[0] = (int) nrows;
	dims[1] = (int) (width + 2);
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 2, dims, lbs, INT8OID,
											 sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---- stage two of lifecycle and stickiness over activities ---- */

/*
 * Counts per period: bigint[] {tag, kind, latest period, lo, n}, then for
 * periods lo .. lo + n - 1 "width" counts each.  Growth accounting keeps four
 * (new, returning, resurrecting, dormant: positive here, negated on output);
 * stickiness keeps one count per number of active days (1 + 7 for weeks,
 * 1 + 31 for months), and its latest period is a day.  Each has its own tag.
 */
enum
{
	LC_KIND = STATE_FIELD(0),
	LC_MAX = STATE_FIELD(1),
	LC_LO = STATE_FIELD(2),
	LC_N = STATE_FIELD(3),
	LC_HDR
};

#define LC_MAX_PERIODS (1 << 22)

static const StateField lifecycle_fields[] = {
	KIND_FIELD("period kind"),
	MAX_FIELD("latest period"),
	PERIOD_FIELD("lowest period"),
	{"number of periods", 0, LC_MAX_PERIODS / 4},
};
static const StateLayout lifecycle_layout = {
	"lifecycle_matrix(activity) state", STATE_TAG(3, 1), lengthof(lifecycle_fields), lifecycle_fields
};

static const StateField stickiness_fields[] = {
	{"period kind", PERIOD_WEEK, PERIOD_MONTH},
	MAX_FIELD("latest day"),
	PERIOD_FIELD("lowest period"),
	{"number of periods", 0, LC_MAX_PERIODS / 32},
};
static const StateLayout stickiness_layout = {
	"stickiness_matrix(activity) state", STATE_TAG(4, 1), lengthof(stickiness_fields), stickiness_fields
};

static inline int
CountsWidth(const StateLayout *layout, int64 kind)
{
	if (layout == &lifecycle_layout)
		return 4;
	return 1 + (kind == PERIOD_WEEK ? 7 : 31);
}

static int64
CountsBody(const StateLayout *layout, const int64 *v)
{
	return v[LC_N] * CountsWidth(layout, v[LC_KIND]);
}

static int64 *
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
		CheckMaxField(layout, PERIOD_DAY, v[LC_MAX]);
		CheckPeriodRange(layout, v[LC_KIND], v[LC_LO], v[LC_N],
						 v[LC_MAX] == PG_INT64_MIN ? PG_INT64_MIN :
						 PeriodOfDay(v[LC_KIND], (int32) v[LC_MAX]));
	}
	if (body)
		CheckCounts(layout, v + LC_HDR, CountsBody(layout, v));
	return v;
}

static ArrayType *
MakeCountsState(const StateLayout *layout, int64 kind, int64 max, int64 lo, int64 n)
{
	int			width = CountsWidth(layout, kind);
	ArrayType  *arr;
	int64	   *v;

	if (n > LC_MAX_PERIODS / width)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%lld periods are too many to report", (long long) n),
				 errhint("Use a longer period or a shorter time range.")));
	arr = Int8StateAlloc(layout, n * width);
	v = (int64 *) ARR_DATA_PTR(arr);
	v[LC_KIND] = kind;
	v[LC_MAX] = max;
	v[LC_LO] = lo;
	v[LC_N] = n;
	return arr;
}

static ArrayType *
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

static Datum
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

/* Transition of lifecycle_matrix(activity). */
PG_FUNCTION_INFO_V1(activity_lifecycle_trans);
Datum
activity_lifecycle_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	int64	   *v;
	Activity	a;
	int64		last;

	AggContextOrError(fcinfo, "retention.lifecycle_matrix(activity)");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	ActivityRead(PG_GETARG_DATUM(1), &a);
	arr = PG_ARGISNULL(0) ? MakeCountsState(&lifecycle_layout, a.kind, PG_INT64_MIN, 0, 0)
		: PG_GETARG_ARRAYTYPE_P(0);
	v = CountsStateRead(arr, &lifecycle_layout, false);
	if (v[LC_KIND] != a.kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activities of periods \"%s\" and \"%s\" cannot be combined",
						PeriodKindName(v[LC_KIND]), PeriodKindName(a.kind))));
	if (a.nbits > 0 && a.first_start != a.base)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lifecycle takes activities without start or return event filters")));
	v[LC_MAX] = Max(v[LC_MAX], a.last_event);
	if (a.nbits == 0)
		PG_RETURN_ARRAYTYPE_P(arr);
	last = ActivityLast(&a, a.base);
	/* up to the period after the last activity, where the user turns dormant */
	if (v[LC_N] == 0 || a.base < v[LC_LO] || last + 1 >= v[LC_LO] + v[LC_N])
	{
		arr = CountsWiden(&lifecycle_layout, v, a.base, last + 1);
		v = (int64 *) ARR_DATA_PTR(arr);
	}
	for (int64 p = a.base; p <= last; p++)
	{
		int64	   *row = v + LC_HDR + (p - v[LC_LO]) * 4;

		if (!ActivityBit(&a, p))
			continue;
		if (p == a.base)
			row[0]++;
		else if (ActivityBit(&a, p - 1))
			row[1]++;
		else
			row[2]++;
		if (!ActivityBit(&a, p + 1))
			row[4 + 3]++;		/* dormant in the next period */
	}
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* Combines two lifecycle_matrix(activity) states. */
PG_FUNCTION_INFO_V1(activity_lifecycle_combine);
Datum
activity_lifecycle_combine(PG_FUNCTION_ARGS)
{
	return CountsCombine(fcinfo, &lifecycle_layout);
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
	v = CountsStateRead(PG_GETARG_ARRAYTYPE_P(0), &lifecycle_layout, true);
	if (v[LC_N] == 0)
		PG_RETURN_NULL();
	/* the first period with a new user, to the latest event's period */
	while (first < v[LC_N] && v[LC_HDR + first * 4] == 0)
		first++;
	nrows = v[LC_MAX] - (v[LC_LO] + first) + 1;
	if (first == v[LC_N] || nrows <= 0)
		PG_RETURN_NULL();		/* no new user in any period */
	values = MatrixValues(nrows, 5, NULL);
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
	ArrayType  *arr;
	int64	   *v;
	Activity	a;
	PeriodKind	group;
	int			width;
	int64		lo;
	int64		hi;
	int32		current = PG_INT32_MIN;
	int			days = 0;

	AggContextOrError(fcinfo, "retention.stickiness_matrix(activity, ...)");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	ActivityRead(PG_GETARG_DATUM(1), &a);
	group = ParsePeriodKind(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	if (group == PERIOD_DAY || a.kind != PERIOD_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stickiness counts active days per \"week\" or \"month\" from activities by \"day\"")));
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
	lo = PeriodOfDay(group, a.base);
	hi = PeriodOfDay(group, (int32) ActivityLast(&a, a.base));
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
	int			dims[2];
	int			lbs[2] = {1, 1};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	v = CountsStateRead(PG_GETARG_ARRAYTYPE_P(0), &stickiness_layout, true);
	if (v[LC_N] == 0)
		PG_RETURN_NULL();
	width = CountsWidth(&stickiness_layout, v[LC_KIND]);
	/* validated: lo + n - 1 is at or before the latest day's period */
	nrows = PeriodOfDay(v[LC_KIND], (int32) v[LC_MAX]) - v[LC_LO] + 1;
	values = MatrixValues(nrows, width, NULL);
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
