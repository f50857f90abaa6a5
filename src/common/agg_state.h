/*-------------------------------------------------------------------------
 *
 * agg_state.h
 *	  retention.agg_state: an aggregate state that Citus can push down.
 *
 * Citus runs a custom aggregate's partial work on the workers only when its
 * state type is not a pseudo-type (internal), and it ships each worker's
 * state to the coordinator as text through the state type's output and
 * input functions.  agg_state wraps the internal state of one of our
 * aggregates ("a layout": the hash of users behind retention_rate, the
 * scored labels behind roc_auc, ...) in a PostgreSQL expanded object, so
 * that the transition function still updates the C state in place, and
 * flattens it through the layout's own serialise function only when the
 * state leaves the process.  Every flat value is validated by the layout's
 * deserialise and combine functions before it is used.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_AGG_STATE_H
#define RETENTION_AGG_STATE_H

#include "fmgr.h"

/* The state layouts; stored in every flat value, never renumber. */
typedef enum AggStateLayout
{
	AGG_LAYOUT_RETENTION = 1,	/* retention_rate, cohort, lifecycle, stickiness */
	AGG_LAYOUT_ROLLING = 2,		/* retention_rate_rolling */
	AGG_LAYOUT_LOGREG = 3,		/* logreg_train */
	AGG_LAYOUT_SCORED_LABELS = 4,	/* roc_auc, threshold_max_f1, threshold_for_recall */
	AGG_LAYOUT_ITEM_KNN = 5,	/* item_knn */
	AGG_LAYOUT_CUSTOMER_GROUPS = 6, /* bgnbd_fit, pareto_nbd_fit */
	AGG_LAYOUT_SPEND_GROUPS = 7,	/* gamma_gamma_fit */
	AGG_LAYOUT_OPPORTUNITY_GROUPS = 8,	/* bgbb_fit */
	AGG_LAYOUT_RENEWAL_GROUPS = 9,	/* sbg_fit */
	AGG_LAYOUT_SURVIVAL_GROUPS = 10	/* km_fit */
} AggStateLayout;

#define AGG_LAYOUT_FIRST AGG_LAYOUT_RETENTION
#define AGG_LAYOUT_LAST AGG_LAYOUT_SURVIVAL_GROUPS

/*
 * Run an internal-state support function ("inner") on an agg_state: the
 * transition, combine and final functions of the aggregates declared over
 * agg_state call these with the fcinfo they were given.
 */
extern Datum AggStateTransition(FunctionCallInfo fcinfo, AggStateLayout layout,
								PGFunction inner);
extern Datum AggStateCombine(FunctionCallInfo fcinfo, AggStateLayout layout);
extern Datum AggStateFinal(FunctionCallInfo fcinfo, AggStateLayout layout,
						   PGFunction inner);

/*
 * A layout may also write its serialised state straight into the flat
 * value, which saves a copy of a large state (logreg_train's rows): its
 * size, then the bytes (a varlena of that size).
 */
extern Size logreg_train_serial_size(void *state);
extern void logreg_train_serialize_into(void *state, bytea *result, Size size);

#endif							/* RETENTION_AGG_STATE_H */
