/*-------------------------------------------------------------------------
 *
 * retention_state.h
 *	  The aggregate state shared by retention_rate, its variants, the cohort
 *	  table, lifecycle, stickiness and the per-user activity stage
 *	  (retention_state.c), so that none of them includes another's names.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_RETENTION_STATE_H
#define RETENTION_RETENTION_STATE_H

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "periods.h"
#include "user_activity.h"

/* n not given (the cohort table and the activity stage take none) */
#define NO_N (-1)

/* a short text argument, by content; len -1: none yet, or too long to keep */
typedef struct ArgText
{
	int			len;
	char		bytes[24];
} ArgText;

typedef struct RetentionState
{
	UserTable  *users;
	int32		n;				/* the period asked for, or NO_N */
	int32		mode;			/* cohort layout (COHORT_*), stickiness's grouping, or 0 */
	PeriodKind	kind;
	bool		have_max;
	int32		max_period;		/* period of the latest event of the group */
	PeriodCalc	calc;
	/* the period and mode arguments last parsed (RetentionSameText) */
	ArgText		period_text;
	ArgText		mode_text;
	/*
	 * A deserialised state's users, not yet merged into users (see
	 * retention_combine): the deserialise function's argument, read in place.
	 */
	StringInfoData blob;
} RetentionState;

/* The state's users, merging a pending deserialised blob first. */
extern UserTable *RetentionUsers(RetentionState *state);

/*
 * The serialised state, a bytea: its size, and writing it to dst (what
 * retention_serialize returns, without the copy when flattening an agg_state).
 */
extern Size RetentionFlatSize(void *state);
extern void RetentionFlatWrite(void *state, bytea *dst, Size size);

/*
 * Raises "invalid retention aggregate state" (22P03) with the detail: for a
 * final function given a state whose header it cannot read (one made by
 * another aggregate, or forged).
 */
extern void RetentionRefuseState(const char *detail) pg_attribute_noreturn();

/*
 * The earliest first active period of the state's users when "active", else
 * their earliest first start; PG_INT64_MAX when no user has one.
 */
extern int64 RetentionEarliest(RetentionState *state, bool active);

/*
 * Whether t is the text last parsed into "last", remembering it when it is
 * not: a setting must not change within a group, and comparing the bytes
 * costs less than parsing them every row.  (Not the Datum: a per-row value
 * may come at the address of the row before.)
 */
extern bool RetentionSameText(ArgText *last, text *t);

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
	PeriodKind	fixed_kind;		/* the periods when period_arg is -1 (0: days) */
} RetentionArgs;

/* The cohort layouts, the mode argument of cohort_matrix (cohort_table.c). */
#define COHORT_CLASSIC 1
#define COHORT_UNBOUNDED 2
#define COHORT_RECURRING 3
#define COHORT_RECURRING_UNBOUNDED 4

/* Parses 'classic', 'unbounded', 'recurring' or 'recurring_unbounded'. */
extern int32 ParseCohortMode(const char *name);

extern RetentionState *RetentionTransition(FunctionCallInfo fcinfo,
										   const RetentionArgs *args);

/* RetentionTransition as the whole transition function: NULL until a row counts. */
static inline Datum
RetentionTransitionDatum(FunctionCallInfo fcinfo, const RetentionArgs *args)
{
	RetentionState *state = RetentionTransition(fcinfo, args);

	if (state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(state);
}

#endif							/* RETENTION_RETENTION_STATE_H */
