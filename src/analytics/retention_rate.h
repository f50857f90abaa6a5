/*-------------------------------------------------------------------------
 *
 * retention_rate.h
 *	  The aggregate state shared by retention_rate, its variants, the cohort
 *	  table and the per-user activity stage.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_RETENTION_RATE_H
#define RETENTION_RETENTION_RATE_H

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "periods.h"
#include "user_activity.h"

/* n not given (the cohort table and the activity stage take none) */
#define NO_N (-1)

typedef struct RetentionState
{
	UserTable  *users;
	int32		n;				/* the period asked for, or NO_N */
	int32		mode;			/* cohort table layout (cohort_table.c), or 0 */
	PeriodKind	kind;
	bool		have_max;
	int32		max_period;		/* period of the latest event of the group */
	PeriodCalc	calc;
	Datum		period_datum;	/* the period argument last parsed */
	/* a deserialised state not yet merged into users (see retention_combine) */
	StringInfoData blob;
} RetentionState;

/* The state's users, merging a pending deserialised blob first. */
extern UserTable *RetentionUsers(RetentionState *state);

/* Arguments of one transition call, by position; -1 when absent. */
typedef struct RetentionArgs
{
	int			user_arg;
	int			ts_arg;
	int			n_arg;
	int			period_arg;
	int			start_arg;
	int			return_arg;
	int			mode_arg;		/* text argument parsed by ParseMode, or -1 */
} RetentionArgs;

/* Parses the mode argument of the cohort aggregate (cohort_table.c). */
extern int32 ParseCohortMode(const char *name);

extern RetentionState *RetentionTransition(FunctionCallInfo fcinfo,
										   const RetentionArgs *args);

#endif							/* RETENTION_RETENTION_RATE_H */
