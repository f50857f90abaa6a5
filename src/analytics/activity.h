/*-------------------------------------------------------------------------
 *
 * activity.h
 *	  The retention.activity type: one user's periods, condensed by stage one
 *	  (retention.user_activity) and read by every stage-two aggregate.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_ACTIVITY_H
#define RETENTION_ACTIVITY_H

#include "fmgr.h"

#include "agg_context.h"
#include "periods.h"
#include "state_reader.h"
#include "user_activity.h"

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

/* A new stored activity of the current version, its bitmap zeroed. */
extern ActivityData *ActivityAlloc(int32 nbits);

/* Reads a stored activity of either version, validated. */
extern void ActivityRead(Datum d, Activity *a);

/*
 * The start of a stage-two transition: checks that "aggregate" calls it and
 * reads the activity of argument 1; false when argument 1 or another one up
 * to "nargs" is NULL, and the row is skipped (return KeepState).
 */
static inline bool
ActivityTransArgs(FunctionCallInfo fcinfo, const char *aggregate, int nargs, Activity *a)
{
	AggContextOrError(fcinfo, aggregate);
	for (int i = 1; i <= nargs; i++)
		if (PG_ARGISNULL(i))
			return false;
	ActivityRead(PG_GETARG_DATUM(1), a);
	return true;
}

/* Errors unless a state of periods "state_kind" may take an activity of "kind". */
extern void ActivityCheckKind(int64 state_kind, int32 kind);

#endif							/* RETENTION_ACTIVITY_H */
