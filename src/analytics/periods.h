/*-------------------------------------------------------------------------
 *
 * periods.h
 *	  Calendar periods (day, ISO week, month) of timestamps in the session
 *	  time zone, numbered as integers so that consecutive periods differ by 1.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_PERIODS_H
#define RETENTION_PERIODS_H

#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/date.h"

/*
 * Period numbering, chosen so that the start of period i is cheap to recover:
 *	 day	i = the local date as a DateADT (days since 2000-01-01)
 *	 week	i = ISO weeks since Monday 2000-01-03 (negative before it)
 *	 month	i = months since January 2000
 */
typedef enum PeriodKind
{
	PERIOD_DAY = 1,
	PERIOD_WEEK = 2,
	PERIOD_MONTH = 3
} PeriodKind;

/* Remembered stretches of UTC time over which the zone's offset is constant. */
#define PERIOD_CACHE_SLOTS 4

typedef struct OffsetWindow
{
	TimestampTz lo;				/* first instant known to have this offset */
	TimestampTz hi;				/* next transition (exclusive) */
	int64		offset_usec;	/* local minus UTC */
} OffsetWindow;

typedef struct PeriodCalc
{
	PeriodKind	kind;
	pg_tz	   *tz;				/* the zone the cache was filled for */
	int			nwindows;
	int			next_victim;
	OffsetWindow windows[PERIOD_CACHE_SLOTS];
	/* the last local date and its month, for month periods */
	int32		last_date;
	int32		last_month;
} PeriodCalc;

/* Parse 'day', 'week' or 'month' (case-insensitive); errors name the value. */
extern PeriodKind ParsePeriodKind(const char *name);
extern const char *PeriodKindName(PeriodKind kind);

extern void PeriodCalcInit(PeriodCalc *calc, PeriodKind kind);

/* The period index of a finite timestamptz in the session time zone. */
extern int32 PeriodIndex(PeriodCalc *calc, TimestampTz ts);

/* The period index of a local date (days since 2000-01-01). */
extern int32 PeriodOfDay(PeriodKind kind, int32 day);

/*
 * The period numbers a timestamptz can fall in, for any kind: the local
 * dates of timestamptz's range, a day of time zone offset wider on each side.
 * PeriodInSpan checks a number against its kind's part of that range, so
 * that arithmetic on validated period numbers never leaves int32.
 */
#define PERIOD_NUMBER_MIN (-2451546)
#define PERIOD_NUMBER_MAX 106751983
extern bool PeriodInSpan(PeriodKind kind, int64 period);

/* The first local date of period "index". */
extern DateADT PeriodStartDate(PeriodKind kind, int32 index);

#endif							/* RETENTION_PERIODS_H */
