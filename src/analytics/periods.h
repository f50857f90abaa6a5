/*-------------------------------------------------------------------------
 *
 * periods.h
 *	  Calendar periods (hour, day, ISO week, month, quarter) of timestamps in
 *	  the session time zone, numbered as integers so that consecutive periods
 *	  differ by 1.
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
 *	 quarter i = quarters since January 2000 (January, April, July, October)
 *	 hour	i = local hours since 2000-01-01 00:00, as date_trunc('hour') on
 *			the local time counts them: an hour repeated when clocks go back
 *			is one period, an hour skipped when they go forward is none
 * The numbers of the kinds are stored in values and states (0.1.0 knew 1..3).
 */
typedef enum PeriodKind
{
	PERIOD_DAY = 1,
	PERIOD_WEEK = 2,
	PERIOD_MONTH = 3,
	PERIOD_QUARTER = 4,
	PERIOD_HOUR = 5
} PeriodKind;

#define PERIOD_KIND_MAX PERIOD_HOUR

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

/* Parse 'hour', 'day', 'week', 'month' or 'quarter' (case-insensitive). */
extern PeriodKind ParsePeriodKind(const char *name);
extern const char *PeriodKindName(PeriodKind kind);

extern void PeriodCalcInit(PeriodCalc *calc, PeriodKind kind);

/* The period index of a finite timestamptz in the session time zone. */
extern int32 PeriodIndex(PeriodCalc *calc, TimestampTz ts);

/*
 * The period index of a local date (days since 2000-01-01); for hours, the
 * day's first hour.
 */
extern int32 PeriodOfDay(PeriodKind kind, int32 day);

/*
 * The period numbers a timestamptz can fall in, for any kind: the local
 * dates of timestamptz's range, a day of time zone offset wider on each side.
 * PeriodInSpan checks a number against its kind's part of that range, so
 * that arithmetic on validated period numbers never leaves int32.  Hours
 * are held to the same numbers: from 1720 to 14177 AD.
 */
#define PERIOD_NUMBER_MIN (-2451546)
#define PERIOD_NUMBER_MAX 106751983
extern bool PeriodInSpan(PeriodKind kind, int64 period);

/* The first local date of period "index"; an error for hours. */
extern DateADT PeriodStartDate(PeriodKind kind, int32 index);

/*
 * The start of period "index" as the first column of a cohort or lifecycle
 * matrix names it: its first local date (days since 2000-01-01), or for
 * hours the index itself (local hours since 2000-01-01 00:00).
 */
static inline int64
PeriodStartKey(PeriodKind kind, int32 index)
{
	return kind == PERIOD_HOUR ? index : PeriodStartDate(kind, index);
}

/*
 * Stickiness counts the active units of each period "group": the days of a
 * week, month or quarter, the hours of a day.
 */
static inline PeriodKind
StickinessUnit(PeriodKind group)
{
	return group == PERIOD_DAY ? PERIOD_HOUR : PERIOD_DAY;
}

/* The most units a group has (stickiness's columns). */
static inline int
StickinessUnits(PeriodKind group)
{
	return group == PERIOD_DAY ? 24 : group == PERIOD_WEEK ? 7 : group == PERIOD_MONTH ? 31 : 92;
}

/* The group period of a stickiness unit (validated). */
extern int32 StickinessGroupOf(PeriodKind group, int32 unit);

/* Errors unless the kind's periods begin on a date (not hours). */
extern void PeriodCheckDated(PeriodKind kind, const char *what);

#endif							/* RETENTION_PERIODS_H */
