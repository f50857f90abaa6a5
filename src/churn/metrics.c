/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Exact, order-independent metrics of a binary classifier: roc_auc,
 *	  log_loss, classification_report and the threshold choosers
 *	  threshold_max_f1 and threshold_for_recall.
 *
 * roc_auc and the threshold choosers need every score: their internal state
 * keeps (score, positives, negatives) triples (24 bytes each) and the final
 * function sorts them.  Each has a second form over pre-aggregated counts,
 * roc_auc(score, positives, negatives), so that a distributed query can
 * count per distinct score on its nodes (an ordinary GROUP BY) and ship
 * only those counts.  All counting is done in integers, so the result does not
 * depend on row order or the number of parallel workers: AUC is the
 * Mann-Whitney statistic with tied scores given their average rank (ties
 * count one half, as in scikit-learn's roc_auc_score), computed as twice the
 * rank sum so that it stays an integer.
 *
 * log_loss and classification_report keep a few sums in a float8[] or
 * bigint[] state, which Citus can ship between nodes.  log_loss adds its
 * terms in fixed point (see LogLossAdd), since float8 sums would round
 * differently in another grouping of the rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "common/int.h"
#include "utils/memutils.h"

#include "agg_context.h"
#include "float_array.h"
#include "model_json.h"
#include "state_reader.h"

/* scikit-learn's log_loss clips probabilities to [eps, 1 - eps] */
#define LOG_LOSS_EPS 1e-15

/*
 * One score with its number of positive and negative rows: 1 and 0 for a
 * raw (score, label) row, any counts for the pre-aggregated form that lets
 * a distributed query count per score on its workers.
 */
typedef struct ScoredLabel
{
	double		score;
	int64		pos;
	int64		neg;
} ScoredLabel;

/*
 * Products of counts: exact in 128 bits; without int128, long double keeps
 * 64 bits of mantissa, exact for any count a table can hold in practice.
 */
#ifdef HAVE_INT128
typedef int128 wide;
#else
typedef long double wide;
#endif

typedef struct ScoredLabels
{
	int64		n;
	int64		capacity;
	double		target;			/* threshold_for_recall's target, else NaN */
	ScoredLabel *items;
} ScoredLabels;

/*
 * The most scores a state may hold: 1 GB of them (44.7 million), which is
 * also what a parallel worker can hand to the leader.  Beyond that, count
 * per score first and use the counts form.
 */
#define MAX_SCORED_LABELS ((int64) (MaxAllocSize / sizeof(ScoredLabel)))

static void
ReservePairs(MemoryContext ctx, ScoredLabels *s, int64 n)
{
	int64		cap;

	if (n <= s->capacity)
		return;
	if (n > MAX_SCORED_LABELS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rows for an exact ROC or threshold computation"),
				 errdetail("At most " INT64_FORMAT " scored rows fit in memory.", MAX_SCORED_LABELS),
				 errhint("Count churners and non-churners per score with GROUP BY and use the counts form, e.g. roc_auc(score, positives, negatives), or evaluate a sample.")));
	/* start small: with GROUP BY there is one state per group */
	cap = Min(Max(n, Max(s->capacity * 2, 16)), MAX_SCORED_LABELS);
	if (s->items == NULL)
		s->items = MemoryContextAllocHuge(ctx, sizeof(ScoredLabel) * cap);
	else
		s->items = repalloc_huge(s->items, sizeof(ScoredLabel) * cap);
	s->capacity = cap;
}

/*
 * Returns the state with one more score: the transition of the aggregates
 * over (score, label) and over (score, positives, negatives), each with an
 * optional target recall as the last argument.  Rows with a NULL are skipped.
 */
static Datum ScoredLabelsAccum(FunctionCallInfo fcinfo, bool counts);

PG_FUNCTION_INFO_V1(scored_labels_accum);
Datum
scored_labels_accum(PG_FUNCTION_ARGS)
{
	return ScoredLabelsAccum(fcinfo, get_fn_expr_argtype(fcinfo->flinfo, 2) == INT8OID);
}

/*
 * The same for each form by name: Citus calls a pushed-down transition
 * function without an expression to read the argument types from.
 */
PG_FUNCTION_INFO_V1(scored_bools_accum);
Datum
scored_bools_accum(PG_FUNCTION_ARGS)
{
	return ScoredLabelsAccum(fcinfo, false);
}

PG_FUNCTION_INFO_V1(scored_counts_accum);
Datum
scored_counts_accum(PG_FUNCTION_ARGS)
{
	return ScoredLabelsAccum(fcinfo, true);
}

static Datum
ScoredLabelsAccum(FunctionCallInfo fcinfo, bool counts)
{
	MemoryContext aggctx;
	ScoredLabels *s;
	int			target_arg = counts ? 4 : 3;
	int64		pos;
	int64		neg;

	aggctx = AggregateContext(fcinfo, "scored_labels_accum");
	if (PG_ARGISNULL(0))
	{
		s = MemoryContextAllocZero(aggctx, sizeof(ScoredLabels));
		s->target = NAN;
		if (PG_NARGS() > target_arg)
		{
			double		target = PG_ARGISNULL(target_arg) ? NAN : PG_GETARG_FLOAT8(target_arg);

			if (!(target > 0.0 && target <= 1.0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("target recall must be in (0, 1]")));
			s->target = target;
		}
	}
	else
		s = (ScoredLabels *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || (counts && PG_ARGISNULL(3)))
		PG_RETURN_POINTER(s);
	if (isnan(PG_GETARG_FLOAT8(1)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score must not be NaN")));
	if (counts)
	{
		pos = PG_GETARG_INT64(2);
		neg = PG_GETARG_INT64(3);
		if (pos < 0 || neg < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("counts of positives and negatives must not be negative")));
		if (pos == 0 && neg == 0)
			PG_RETURN_POINTER(s);
	}
	else
	{
		pos = PG_GETARG_BOOL(2) ? 1 : 0;
		neg = 1 - pos;
	}
	ReservePairs(aggctx, s, s->n + 1);
	s->items[s->n].score = PG_GETARG_FLOAT8(1);
	s->items[s->n].pos = pos;
	s->items[s->n].neg = neg;
	s->n++;
	PG_RETURN_POINTER(s);
}

/* Returns the union of two states of scored labels. */
PG_FUNCTION_INFO_V1(scored_labels_combine);
Datum
scored_labels_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	ScoredLabels *a = PG_ARGISNULL(0) ? NULL : (ScoredLabels *) PG_GETARG_POINTER(0);
	ScoredLabels *b = PG_ARGISNULL(1) ? NULL : (ScoredLabels *) PG_GETARG_POINTER(1);

	aggctx = AggregateContext(fcinfo, "scored_labels_combine");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		a = MemoryContextAllocZero(aggctx, sizeof(ScoredLabels));
		a->target = b->target;
	}
	if (isnan(a->target))
		a->target = b->target;
	if (b->n > 0)
	{
		ReservePairs(aggctx, a, a->n + b->n);
		memcpy(a->items + a->n, b->items, sizeof(ScoredLabel) * b->n);
		a->n += b->n;
	}
	PG_RETURN_POINTER(a);
}

typedef struct PairsHeader
{
	int64		n;
	double		target;
} PairsHeader;

/* Returns a state of scored labels as bytea. */
PG_FUNCTION_INFO_V1(scored_labels_serialize);
Datum
scored_labels_serialize(PG_FUNCTION_ARGS)
{
	ScoredLabels *s = (ScoredLabels *) PG_GETARG_POINTER(0);
	PairsHeader hdr = {s->n, s->target};
	Size		bytes = VARHDRSZ + sizeof(hdr) + sizeof(ScoredLabel) * s->n;
	bytea	   *result;

	if (bytes > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("state of a parallel worker exceeds 1 GB"),
				 errhint("Set max_parallel_workers_per_gather = 0 for this query.")));
	result = palloc(bytes);
	SET_VARSIZE(result, bytes);
	memcpy(VARDATA(result), &hdr, sizeof(hdr));
	if (s->n > 0)
		memcpy(VARDATA(result) + sizeof(hdr), s->items, sizeof(ScoredLabel) * s->n);
	PG_RETURN_BYTEA_P(result);
}

/* Returns a state of scored labels from bytea, checking its length. */
PG_FUNCTION_INFO_V1(scored_labels_deserialize);
Datum
scored_labels_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(data);
	PairsHeader hdr;
	ScoredLabels *s;

	if (len < sizeof(hdr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid scored-labels state: %zu bytes, fewer than its header", len)));
	memcpy(&hdr, VARDATA_ANY(data), sizeof(hdr));
	if (hdr.n < 0 || hdr.n > MAX_SCORED_LABELS ||
		len != sizeof(hdr) + sizeof(ScoredLabel) * (Size) hdr.n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid scored-labels state: %zu bytes for " INT64_FORMAT " pairs",
						len, hdr.n)));
	/* NaN: no target (roc_auc, threshold_max_f1); else as the transition checks it */
	if (!isnan(hdr.target) && !(hdr.target > 0.0 && hdr.target <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid scored-labels state: field \"target recall\" is %g, outside (0, 1]",
						hdr.target)));
	s = palloc0(sizeof(ScoredLabels));
	s->target = hdr.target;
	if (hdr.n > 0)
	{
		int64		pos = 0;
		int64		neg = 0;

		ReservePairs(CurrentMemoryContext, s, hdr.n);
		memcpy(s->items, VARDATA_ANY(data) + sizeof(hdr), sizeof(ScoredLabel) * hdr.n);
		s->n = hdr.n;
		/* as the transition makes them, and totals that fit (the finals add them up) */
		for (int64 i = 0; i < s->n; i++)
		{
			const ScoredLabel *item = &s->items[i];

			if (isnan(item->score) || item->pos < 0 || item->neg < 0 ||
				(item->pos == 0 && item->neg == 0) ||
				pg_add_s64_overflow(pos, item->pos, &pos) ||
				pg_add_s64_overflow(neg, item->neg, &neg))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid scored-labels state: pair " INT64_FORMAT " has score %g, "
								INT64_FORMAT " positives and " INT64_FORMAT " negatives",
								i + 1, item->score, item->pos, item->neg),
						 errdetail("Scores are not NaN, counts are non-negative, not both zero, and sum to at most 2^63 - 1.")));
		}
	}
	PG_RETURN_POINTER(s);
}

static int
CompareScoreDesc(const void *a, const void *b)
{
	double		x = ((const ScoredLabel *) a)->score;
	double		y = ((const ScoredLabel *) b)->score;

	return (x < y) ? 1 : (x > y) ? -1 : 0;
}

/* sort descending by score and count the positives and negatives */
static void
SortPairs(ScoredLabels *s, int64 *n_pos, int64 *n_neg)
{
	*n_pos = 0;
	*n_neg = 0;
	qsort(s->items, s->n, sizeof(ScoredLabel), CompareScoreDesc);
	for (int64 i = 0; i < s->n; i++)
	{
		if (pg_add_s64_overflow(*n_pos, s->items[i].pos, n_pos) ||
			pg_add_s64_overflow(*n_neg, s->items[i].neg, n_neg))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("counts of positives and negatives overflow bigint")));
	}

	/*
	 * Past 2^61 rows in all, the sums below (rank sums in 128 bits, 2 tp +
	 * fp + fn in 64) could overflow and give a wrong number instead.
	 */
	if (*n_pos > (INT64CONST(1) << 61) - *n_neg)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("cannot rank more than 2^61 positives and negatives in all")));
}

/* the positives and negatives of the tie group starting at *i; advances *i */
static void
NextTieGroup(const ScoredLabels *s, int64 *i, int64 *pos, int64 *neg)
{
	double		t = s->items[*i].score;

	*pos = 0;
	*neg = 0;
	while (*i < s->n && s->items[*i].score == t)
	{
		*pos += s->items[*i].pos;
		*neg += s->items[*i].neg;
		(*i)++;
	}
}

/* Returns the area under the ROC curve, NULL unless both classes occur. */
PG_FUNCTION_INFO_V1(roc_auc_final);
Datum
roc_auc_final(PG_FUNCTION_ARGS)
{
	ScoredLabels *s = PG_ARGISNULL(0) ? NULL : (ScoredLabels *) PG_GETARG_POINTER(0);
	int64		n_pos;
	int64		n_neg;
	int64		above = 0;		/* rows with a higher score */
	wide		twice_rank_sum = 0;
	wide		n;

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	SortPairs(s, &n_pos, &n_neg);
	if (n_pos == 0 || n_neg == 0)
		PG_RETURN_NULL();
	n = (wide) n_pos + n_neg;

	/*
	 * Ranks ascend with the score, so a group of t tied rows below "above"
	 * rows of higher score holds ascending ranks n - above - t + 1 .. n -
	 * above; twice their average is 2 (n - above) - t + 1.
	 */
	for (int64 i = 0; i < s->n;)
	{
		int64		pos;
		int64		neg;

		NextTieGroup(s, &i, &pos, &neg);
		twice_rank_sum += (wide) pos * (2 * (n - above) - (pos + neg) + 1);
		above += pos + neg;
	}
	/* U = R - n1 (n1 + 1) / 2, AUC = U / (n1 n0) */
	PG_RETURN_FLOAT8((double) (twice_rank_sum - (wide) n_pos * (n_pos + 1)) /
					 (2.0 * (double) n_pos * (double) n_neg));
}

/*
 * The thresholds of the threshold choosers, highest first: each distinct
 * score in turn, with the positives (tp) and negatives (fp) at or above it.
 */
typedef struct ThresholdWalk
{
	const ScoredLabels *s;
	int64		n_pos;
	int64		n_neg;
	int64		i;				/* the next tie group */
	double		threshold;
	int64		tp;
	int64		fp;
} ThresholdWalk;

/* sorts the state; false (no threshold to choose) without rows or positives */
static bool
StartThresholdWalk(ScoredLabels *s, ThresholdWalk *w)
{
	if (s == NULL || s->n == 0)
		return false;
	SortPairs(s, &w->n_pos, &w->n_neg);
	if (w->n_pos == 0)
		return false;
	w->s = s;
	w->i = 0;
	w->tp = 0;
	w->fp = 0;
	return true;
}

/* moves to the next lower threshold; false after the lowest */
static bool
NextThreshold(ThresholdWalk *w)
{
	int64		pos;
	int64		neg;

	if (w->i >= w->s->n)
		return false;
	w->threshold = w->s->items[w->i].score;
	NextTieGroup(w->s, &w->i, &pos, &neg);
	w->tp += pos;
	w->fp += neg;
	return true;
}

/* a rate that is undefined (0/0) is null */
static void
AppendJsonNumber(StringInfo buf, const char *key, double x, bool first)
{
	appendStringInfo(buf, "%s\"%s\": ", first ? "" : ", ", key);
	ModelJsonAppendFloat8(buf, x);
}

/* the report of a confusion matrix as jsonb; rates of 0/0 are null */
static Datum
ReportJsonb(int64 tp, int64 fp, int64 tn, int64 fn, bool with_threshold, double threshold)
{
	StringInfoData buf;
	double		n = (double) (tp + fp + tn + fn);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (with_threshold)
		AppendJsonNumber(&buf, "threshold", threshold, true);
	AppendJsonNumber(&buf, "accuracy", (tp + tn) / n, !with_threshold);
	AppendJsonNumber(&buf, "precision", (double) tp / (double) (tp + fp), false);
	AppendJsonNumber(&buf, "recall", (double) tp / (double) (tp + fn), false);
	AppendJsonNumber(&buf, "f1", 2.0 * tp / (double) (2 * tp + fp + fn), false);
	appendStringInfo(&buf, ", \"tp\": " INT64_FORMAT ", \"fp\": " INT64_FORMAT
					 ", \"tn\": " INT64_FORMAT ", \"fn\": " INT64_FORMAT "}",
					 tp, fp, tn, fn);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * Returns the threshold that maximises F1 (a row is positive when its score
 * is at least the threshold) with its report; NULL without positives.
 * Among equal F1 the highest threshold wins.
 */
PG_FUNCTION_INFO_V1(threshold_max_f1_final);
Datum
threshold_max_f1_final(PG_FUNCTION_ARGS)
{
	ScoredLabels *s = PG_ARGISNULL(0) ? NULL : (ScoredLabels *) PG_GETARG_POINTER(0);
	ThresholdWalk w;
	int64		best_tp = -1;
	int64		best_fp = 0;
	double		best_t = 0.0;

	if (!StartThresholdWalk(s, &w))
		PG_RETURN_NULL();
	while (NextThreshold(&w))
	{
		/*
		 * F1 = 2 tp / (tp + fp + n_pos); compare a / b > c / d as a d > c b,
		 * exactly
		 */
		if (best_tp < 0 ||
			(wide) w.tp * (best_tp + best_fp + w.n_pos) > (wide) best_tp * (w.tp + w.fp + w.n_pos))
		{
			best_tp = w.tp;
			best_fp = w.fp;
			best_t = w.threshold;
		}
	}
	PG_RETURN_DATUM(ReportJsonb(best_tp, best_fp, w.n_neg - best_fp, w.n_pos - best_tp, true, best_t));
}

/*
 * Returns the highest threshold whose recall reaches the target, with its
 * report (the fewest users flagged for that recall); NULL without positives.
 */
PG_FUNCTION_INFO_V1(threshold_for_recall_final);
Datum
threshold_for_recall_final(PG_FUNCTION_ARGS)
{
	ScoredLabels *s = PG_ARGISNULL(0) ? NULL : (ScoredLabels *) PG_GETARG_POINTER(0);
	ThresholdWalk w;

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	/* a state of roc_auc or threshold_max_f1 (same layout) passed by name */
	if (!(s->target > 0.0 && s->target <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("aggregate state holds no target recall"),
				 errdetail("threshold_for_recall_final reads a state of threshold_for_recall, not of roc_auc or threshold_max_f1.")));
	if (!StartThresholdWalk(s, &w))
		PG_RETURN_NULL();
	while (NextThreshold(&w))
		if ((double) w.tp >= s->target * (double) w.n_pos)
			PG_RETURN_DATUM(ReportJsonb(w.tp, w.fp, w.n_neg - w.fp, w.n_pos - w.tp, true, w.threshold));
	/* the lowest score flags everyone: recall 1 reaches any target */
	elog(ERROR, "target recall not reached");
	PG_RETURN_NULL();
}

/* ---------- log_loss: float8[] {n, four limbs of the fixed-point sum} ---------- */

/*
 * The sum of the -log likelihoods is kept in fixed point, as an integer
 * count of 2^-64 in four base-2^32 limbs (each an integer in a float8, least
 * significant first), so that adding is exact and the result the same for
 * every order and grouping of the rows (parallel workers, Citus shards).
 * A clipped term lies in [1e-15, 34.6], so rounding it to 2^-64 changes it by
 * at most 3e-20, less than its own float8 rounding; the top limb holds the
 * overflow of up to 2^53 rows.
 */
#define LOG_LOSS_STATE 5		/* n and the four limbs, after the tag */
#define LOG_LOSS_TAG FLOAT8_STATE_TAG(FLOAT8_LAYOUT_LOG_LOSS, 1)
#define LIMB 4294967296.0		/* 2^32 */

/* the aggregate's INITCOND {0,0,0,0,0} is untagged (0.1.0's): read as the empty state */

/* Carries every limb above 2^32 into the next one: the canonical form. */
static void
LogLossNormalise(double *limbs)
{
	for (int i = 0; i < 3; i++)
	{
		double		carry = floor(limbs[i] / LIMB);

		limbs[i] -= carry * LIMB;
		limbs[i + 1] += carry;
	}
}

/* Adds term (non-negative, below 2^6) to the limbs, exactly. */
static void
LogLossAdd(double *limbs, double term)
{
	/* scaling by a power of two and splitting at powers of two are exact */
	double		x = nearbyint(ldexp(term, 64));
	double		hi = floor(ldexp(x, -64));
	double		rest = x - ldexp(hi, 64);
	double		mid = floor(ldexp(rest, -32));

	limbs[0] += rest - ldexp(mid, 32);
	limbs[1] += mid;
	limbs[2] += hi;
	LogLossNormalise(limbs);
}

/*
 * The float8[] states below can reach us from SQL (a direct call, a state
 * shipped between Citus nodes as text), so a malformed one is a user error.
 * Each has one reader, used by its transition, combine and final functions.
 */

/*
 * The log-loss state {tag, n, four limbs} (or the untagged INITCOND) into
 * v[LOG_LOSS_STATE]: integers in range.
 */
static void
ReadLogLossState(ArrayType *state, double *v)
{
	Float8CountsRead(state, "log_loss", LOG_LOSS_TAG, LOG_LOSS_STATE, v,
					 "the state holds a row count and the four base-2^32 limbs of a fixed-point sum");
	for (int i = 1; i <= 3; i++)
		if (v[i] >= LIMB)
			Float8StateInvalid("log_loss", "element %d is %g, more than a base-2^32 limb holds",
							   i + 2, v[i]);
}

/* Returns the log-loss state {n, limbs of the sum of -log likelihoods} with one more row. */
PG_FUNCTION_INFO_V1(log_loss_accum);
Datum
log_loss_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	double		p = PG_GETARG_FLOAT8(1);
	bool		y = PG_GETARG_BOOL(2);
	double		v[LOG_LOSS_STATE];

	ReadLogLossState(state, v);
	if (!(p >= 0.0 && p <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("probability %g is not between 0 and 1", p)));
	p = Min(Max(p, LOG_LOSS_EPS), 1.0 - LOG_LOSS_EPS);
	v[0] += 1.0;
	LogLossAdd(v + 1, y ? -log(p) : -log1p(-p));
	PG_RETURN_ARRAYTYPE_P(Float8StateWrite(LOG_LOSS_TAG, v, LOG_LOSS_STATE));
}

/* Returns the sum of two log-loss states (parallel and distributed aggregation). */
PG_FUNCTION_INFO_V1(log_loss_combine);
Datum
log_loss_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	double		v[LOG_LOSS_STATE];
	double		w[LOG_LOSS_STATE];

	ReadLogLossState(a, v);
	ReadLogLossState(b, w);
	for (int i = 0; i < LOG_LOSS_STATE; i++)
		v[i] += w[i];
	LogLossNormalise(v + 1);
	PG_RETURN_ARRAYTYPE_P(Float8StateWrite(LOG_LOSS_TAG, v, LOG_LOSS_STATE));
}

/* Returns the mean log loss of a state, NULL for no rows. */
PG_FUNCTION_INFO_V1(log_loss_final);
Datum
log_loss_final(PG_FUNCTION_ARGS)
{
	double		v[LOG_LOSS_STATE];
	double		sum;

	ReadLogLossState(PG_GETARG_ARRAYTYPE_P(0), v);
	if (v[0] == 0)
		PG_RETURN_NULL();
	/* the limbs are canonical, so this rounds the same for every grouping */
	sum = ldexp(v[1], -64) + ldexp(v[2], -32);
	sum += v[3];
	sum += ldexp(v[4], 32);
	PG_RETURN_FLOAT8(sum / v[0]);
}

/* ---------- classification_report: float8[] {tag, tp, fp, tn, fn} ---------- */

#define CLASSIFICATION_STATE 4
#define CLASSIFICATION_TAG FLOAT8_STATE_TAG(FLOAT8_LAYOUT_CLASSIFICATION, 1)

/* the aggregate's INITCOND {0,0,0,0} is untagged (0.1.0's): read as the empty state */

static bool
IsClassificationState(ArrayType *state)
{
	return ARR_NDIM(state) == 1 && !ARR_HASNULL(state) && ARR_ELEMTYPE(state) == FLOAT8OID &&
		ARR_DIMS(state)[0] >= 1 && ((double *) ARR_DATA_PTR(state))[0] == CLASSIFICATION_TAG;
}

/* The counts of a state (or of the INITCOND) into v: integers in 0 .. 2^53. */
static void
ReadClassificationState(ArrayType *state, double *v)
{
	Float8CountsRead(state, "classification_report", CLASSIFICATION_TAG, CLASSIFICATION_STATE, v,
					 "the state holds the counts of rows tp, fp, tn and fn");
}

/*
 * Returns the sum of two classification_report states; arrays that are not
 * (0.1.0 called this for any float8[] state) are added element-wise.
 */
PG_FUNCTION_INFO_V1(float8_state_add);
Datum
float8_state_add(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			n;
	double	   *v;

	if (IsClassificationState(a) || IsClassificationState(b))
	{
		double		x[CLASSIFICATION_STATE];
		double		y[CLASSIFICATION_STATE];

		ReadClassificationState(a, x);
		ReadClassificationState(b, y);
		for (int i = 0; i < CLASSIFICATION_STATE; i++)
			x[i] += y[i];
		PG_RETURN_ARRAYTYPE_P(Float8StateWrite(CLASSIFICATION_TAG, x, CLASSIFICATION_STATE));
	}
	n = Float8ArrayLength(a);
	if (n < 0 || n != Float8ArrayLength(b))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("cannot add aggregate states of different lengths")));
	v = palloc(sizeof(double) * n);
	for (int i = 0; i < n; i++)
		v[i] = ((double *) ARR_DATA_PTR(a))[i] + ((double *) ARR_DATA_PTR(b))[i];
	PG_RETURN_ARRAYTYPE_P(Float8ArrayFromValues(v, n));
}

/*
 * Returns the confusion counts with one more row, positive when the score is
 * at least the threshold.  Counts are kept as float8 (exact up to 2^53) so
 * that the state shares float8_state_add.
 */
PG_FUNCTION_INFO_V1(classification_accum);
Datum
classification_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	double		score = PG_GETARG_FLOAT8(1);
	bool		y = PG_GETARG_BOOL(2);
	double		threshold = PG_GETARG_FLOAT8(3);
	double		v[CLASSIFICATION_STATE];
	bool		predicted;

	ReadClassificationState(state, v);
	if (isnan(score) || isnan(threshold))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score and threshold must not be NaN")));
	predicted = score >= threshold;
	v[predicted ? (y ? 0 : 1) : (y ? 3 : 2)] += 1.0;
	PG_RETURN_ARRAYTYPE_P(Float8StateWrite(CLASSIFICATION_TAG, v, CLASSIFICATION_STATE));
}

/* Returns accuracy, precision, recall, F1 and the counts as jsonb. */
PG_FUNCTION_INFO_V1(classification_final);
Datum
classification_final(PG_FUNCTION_ARGS)
{
	double		v[CLASSIFICATION_STATE];

	ReadClassificationState(PG_GETARG_ARRAYTYPE_P(0), v);
	if (v[0] + v[1] + v[2] + v[3] == 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(ReportJsonb((int64) v[0], (int64) v[1], (int64) v[2], (int64) v[3],
								false, 0.0));
}
