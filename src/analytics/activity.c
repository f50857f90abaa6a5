/*-------------------------------------------------------------------------
 *
 * activity.c
 *	  The retention.activity type (text and binary I/O, the one validator)
 *	  and stage one, retention.user_activity(ts, period), which makes it.
 *
 * Stage one runs grouped by user id and condenses a user's events into one
 * small value: the first period with a start event, the period of the
 * latest event, and a bitmap of the periods with a return event.  Grouped
 * by the distribution column, it runs on each Citus worker next to the
 * data.  The stage-two aggregates over activities sit beside their
 * one-stage siblings: retention_rate.c, cohort_table.c, lifecycle.c and
 * stickiness.c.
 *
 * Text form of an activity:  period:first_start:last_event:base:bits
 * e.g. month:276:279:276:1001 is a user who started in period 276 (January
 * 2023), was active in 276 and 279, and whose latest event is in 279; "-"
 * stands for "no start event".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "activity.h"
#include "retention_state.h"

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

ActivityData *
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
	if (a->kind < PERIOD_DAY || a->kind > PERIOD_KIND_MAX)
		BadActivity(code, "period kind", "%lld is not 1 (day), 2 (week), 3 (month), 4 (quarter) or 5 (hour)", a->kind);
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
void
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

void
ActivityCheckKind(int64 state_kind, int32 kind)
{
	if (state_kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activities of periods \"%s\" and \"%s\" cannot be combined",
						PeriodKindName(state_kind), PeriodKindName(kind))));
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
	return RetentionTransitionDatum(fcinfo, PG_NARGS() == 3 ? &activity_args : &activity_filter_args);
}

/* Returns the activity of the group's (single) user. */
PG_FUNCTION_INFO_V1(user_activity_final);
Datum
user_activity_final(PG_FUNCTION_ARGS)
{
	RetentionState *state = STATE_ARG(RetentionState, 0);
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
