/*-------------------------------------------------------------------------
 *
 * logreg_train.c
 *	  The logreg_train(label, features [, options]) aggregates: exact
 *	  logistic regression in one scan.
 *
 * The aggregate keeps the valid rows in memory (8 * (k + 1) bytes each plus
 * a label byte, capped by the max_memory_mb option, 1024 MB by default) and
 * runs every Newton pass (logreg_newton.c) over that copy in the final
 * function, with helper processes when the fit is large (logreg_passes.c).
 * Parallel workers each gather a share of the rows and send it sorted; the
 * leader keeps the shares where it read them and merges them.
 * For data larger than memory or distributed tables, see the multi-pass
 * form in logreg_step.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "agg_state.h"
#include "float_array.h"
#include "linalg.h"
#include "logreg_model.h"
#include "logreg_newton.h"
#include "logreg_options.h"
#include "logreg_passes.h"
#include "row_order.h"
#include "train_rows.h"

static double
MemoryLimitMb(Jsonb *options)
{
	LogregOptions opts;

	LogregParseOptions(options, &opts);
	return opts.max_memory_mb;
}

/* the kept rows: a leading 1, then the features */
static const TrainRowsSpec logreg_rows = {
	.name = "logreg_train",
	.lead = 1,
	.max_rows = PG_INT64_MAX,
	.memory_mb = MemoryLimitMb,
	.memory_hint = "Raise the max_memory_mb option, or train with retention.logreg_train_multipass, which reads the table once per iteration in constant memory.",
	.parallel_hint = "Set max_parallel_workers_per_gather = 0 for this query, or train with retention.logreg_train_multipass."
};

/*
 * Copies the rows, in the order of keys, into rows and labels: sequential
 * writes, reads prefetched a few rows ahead.
 */
static void
GatherInOrder(const TrainRowsChunk *all, const RowKey *keys, int64 n, int width,
			  double *rows, bool *labels)
{
	Size		row_bytes = sizeof(double) * width;

	for (int64 i = 0; i < n; i++)
	{
		if (i + 8 < n)
			__builtin_prefetch(RowKeyRow(all, keys[i + 8].index, width));
		memcpy(rows + i * width, RowKeyRow(all, keys[i].index, width), row_bytes);
		labels[i] = RowKeyLabel(all, keys[i].index);
		if ((i & 0x3FF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The order is that of a 64-bit hash of each row (label included), ties
 * broken by comparing the rows: the 16-byte keys are radix-sorted, then the
 * rows gathered in that order into dest, the helpers' shared copy, when
 * there is one, leaving the state as it is.  Otherwise the state's rows end
 * up as one buffer in the canonical order: gathered into a new array when
 * the memory limit leaves room for a second copy, else permuted in place,
 * cycle by cycle, with one row of scratch.
 */
static void
SortBuffer(TrainRows *state, const TrainRowsChunk *all, int n_chunks,
		   double *dest, bool *dest_labels)
{
	int			width = state->k + 1;
	Size		row_bytes = sizeof(double) * width;
	int64		n = state->n;
	RowKey	   *buf = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RowKey) * n);
	RowKey	   *spare = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RowKey) * n);
	RowKey	   *keys;

	if (dest != NULL)
	{
		keys = RowKeysInOrder(buf, spare, all, n_chunks, n, width);
		GatherInOrder(all, keys, n, width, dest, dest_labels);
		pfree(buf);
		pfree(spare);
		return;
	}
	if ((double) (state->capacity + state->n_chunked + n) * TrainRowsRowBytes(state) <= state->max_bytes)
	{
		MemoryContext cxt = GetMemoryChunkContext(state);
		double	   *rows = MemoryContextAllocHuge(cxt, row_bytes * n);
		bool	   *labels = MemoryContextAllocHuge(cxt, sizeof(bool) * n);

		keys = RowKeysInOrder(buf, spare, all, n_chunks, n, width);
		GatherInOrder(all, keys, n, width, rows, labels);
		for (int c = 0; c < n_chunks; c++)
		{
			if (all[c].rows != NULL)
				pfree(all[c].rows);
			if (all[c].labels != NULL)
				pfree(all[c].labels);
			if (all[c].hashes != NULL)
				pfree(all[c].hashes);
		}
		state->rows = rows;
		state->hashes = NULL;
		state->labels = labels;
		state->capacity = n;
		state->n_chunked = 0;
		state->n_chunks = 0;
		pfree(buf);
		pfree(spare);
		return;
	}

	/* no room for a second copy: one buffer, permuted in place */
	TrainRowsContiguous(state);
	{
		TrainRowsChunk one = {state->rows, state->labels, n};

		keys = RowKeysInOrder(buf, spare, &one, 1, n, width);
	}
	{
		double	   *tmp = palloc(row_bytes);

		for (int64 i = 0; i < n; i++)
			state->rows[i * width] = state->labels[i] ? 1.0 : 0.0;
		/* row i goes to place p where keys[p].index == i: follow each cycle once */
		for (int64 start = 0; start < n; start++)
		{
			int64		p = start;

			if (keys[start].index < 0 || keys[start].index == start)
				continue;
			memcpy(tmp, state->rows + start * width, row_bytes);
			for (;;)
			{
				int64		from = keys[p].index;

				keys[p].index = -1;
				if (from == start)
				{
					memcpy(state->rows + p * width, tmp, row_bytes);
					break;
				}
				memcpy(state->rows + p * width, state->rows + from * width, row_bytes);
				p = from;
			}
		}
		for (int64 i = 0; i < n; i++)
		{
			state->labels[i] = state->rows[i * width] != 0.0;
			state->rows[i * width] = 1.0;
		}
		pfree(tmp);
	}
	pfree(buf);
	pfree(spare);
}

/*
 * Puts the kept rows in a canonical order, one that depends only on the set
 * of rows.  The Newton sums are floating-point sums over the rows, so their
 * last bits depend on the order of the rows; parallel workers hand over their
 * shares in whatever order they finish, and a table rewritten by VACUUM FULL
 * or an UPDATE is scanned in another order.  Sorted, the same rows always
 * give the same model, bit for bit.
 *
 * Parallel workers send their shares in that order (logreg_train_serialize):
 * they are merged where they lie, into pointers to the rows, without copying
 * them.  Otherwise the rows are sorted into one buffer (SortBuffer).
 * Reordering is safe for a final function that must not change its state:
 * the rows stay the same set.  With helpers, the rows are copied in order
 * into dest, their shared copy, and the pointers point there.
 */
static void
OrderRows(TrainRows *state, OrderedRows *out, double *dest, bool *dest_labels)
{
	int			width = state->k + 1;
	int64		n = state->n;
	int			n_chunks;
	TrainRowsChunk *all = TrainRowsAllChunks(state, &n_chunks);

	out->n = n;
	out->k = state->k;
	out->row = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double *) * n);
	out->labels = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(bool) * n);
	if (RowChunksMerge(all, n_chunks, width, out->row, out->labels))
	{
		/* the helpers read a copy of the rows in the merged order */
		if (dest != NULL)
		{
			for (int64 i = 0; i < n; i++)
			{
				memcpy(dest + i * width, out->row[i], sizeof(double) * width);
				out->row[i] = dest + i * width;
				if ((i & 0x3FF) == 0)
					CHECK_FOR_INTERRUPTS();
			}
			memcpy(dest_labels, out->labels, sizeof(bool) * n);
		}
	}
	else
	{
		double	   *sorted;
		bool	   *sorted_labels;

		SortBuffer(state, all, n_chunks, dest, dest_labels);
		sorted = dest != NULL ? dest : state->rows;
		sorted_labels = dest != NULL ? dest_labels : state->labels;
		for (int64 i = 0; i < n; i++)
			out->row[i] = sorted + i * width;
		memcpy(out->labels, sorted_labels, sizeof(bool) * n);
	}
	pfree(all);
}

/* Returns the training state with one more row (or one more skipped row). */
PG_FUNCTION_INFO_V1(logreg_train_accum);
Datum
logreg_train_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	TrainRows  *state;
	Datum		value;
	Float8ArrayPeek features;
	int			n;
	bool		usable;
	double	   *row;

	state = TrainRowsAccumBegin(fcinfo, &logreg_rows, &aggctx, &value);
	if (value == (Datum) 0)
		PG_RETURN_POINTER(state);
	/* a table's small arrays are read where they are, not copied per row */
	PeekFloat8Array(value, &features);
	n = LogregTrainingPeek(&features, state->k, &usable);
	if (!usable)
	{
		state->n_skipped++;
		PG_RETURN_POINTER(state);
	}
	row = TrainRowsAppend(aggctx, state, n);
	row[0] = 1.0;
	memcpy(row + 1, features.data, sizeof(double) * n);
	TrainRowsKeep(state, PG_GETARG_BOOL(1));
	PG_RETURN_POINTER(state);
}

/* Returns the union of two training states (parallel aggregation). */
PG_FUNCTION_INFO_V1(logreg_train_combine);
Datum
logreg_train_combine(PG_FUNCTION_ARGS)
{
	return TrainRowsCombine(fcinfo, &logreg_rows);
}

/* the serialised header; inside retention.agg_state, so never change it */
typedef struct SerialHeader
{
	int32		k;
	int32		options_len;
	int64		n;
	int64		n_skipped;
	double		max_bytes;
} SerialHeader;

static void
FillHeader(const TrainRows *state, SerialHeader *hdr)
{
	hdr->k = state->k;
	hdr->n = state->n;
	hdr->n_skipped = state->n_skipped;
	hdr->max_bytes = state->max_bytes;
}

/* Returns a training state as bytea, for parallel workers. */
PG_FUNCTION_INFO_V1(logreg_train_serialize);
Datum
logreg_train_serialize(PG_FUNCTION_ARGS)
{
	TrainRows  *state = (TrainRows *) PG_GETARG_POINTER(0);
	SerialHeader hdr;

	FillHeader(state, &hdr);
	/* a parallel worker's share in order: the leader merges the shares */
	PG_RETURN_BYTEA_P(TrainRowsSerialize(state, &hdr, sizeof(hdr), &hdr.options_len,
										 IsInParallelMode()));
}

/*
 * The same in two steps, for retention.agg_state to write a state straight
 * into the value a parallel worker sends: its size, then the bytes.
 */
Size
logreg_train_serial_size(void *state)
{
	return TrainRowsSerialSize((TrainRows *) state, sizeof(SerialHeader));
}

void
logreg_train_serialize_into(void *state, bytea *result, Size size)
{
	SerialHeader hdr;

	FillHeader((TrainRows *) state, &hdr);
	/* a parallel worker's share in order: the leader merges the shares */
	TrainRowsSerializeInto((TrainRows *) state, &hdr, sizeof(hdr), &hdr.options_len,
						   IsInParallelMode(), result, size);
}

/*
 * Rows as the transition keeps them: a leading 1, then finite features.  A
 * branch-free pass first; the one that names the row only when it fails.
 * Their hashes too, while they are in the cache: a parallel worker's share
 * is merged by them (row_order.h).
 */
static void
CheckKeptRows(TrainRows *s, int64 first, int64 n)
{
	int			width = s->k + 1;
	const double *rows = s->rows + (Size) width * first;
	bool		bad = false;
	RowChunk	chunk = {s->rows, s->labels, s->n, NULL};

	for (int64 i = 0; i < n; i++)
	{
		const double *row = rows + (Size) width * i;

		bad |= (row[0] != 1.0);
		for (int j = 1; j < width; j++)
			bad |= !isfinite(row[j]);
	}
	if (bad)
	{
		for (int64 i = 0; i < n; i++)
		{
			const double *row = rows + (Size) width * i;

			if (row[0] != 1.0)
				elog(ERROR, "invalid logreg_train state: row %lld does not start with 1", (long long) (first + i));
			for (int j = 1; j < width; j++)
				if (!isfinite(row[j]))
					elog(ERROR, "invalid logreg_train state: row %lld holds a non-finite feature", (long long) (first + i));
		}
	}
	if (first == 0)
		s->hashes = MemoryContextAllocHuge(GetMemoryChunkContext(s->rows), sizeof(uint64) * s->n);
	RowHashes(&chunk, first, n, width, s->hashes + first);
}

/* Returns a training state from its bytea form, checking every length. */
PG_FUNCTION_INFO_V1(logreg_train_deserialize);
Datum
logreg_train_deserialize(PG_FUNCTION_ARGS)
{
	SerialHeader hdr;
	Size		len;
	const char *p = TrainRowsReadHeader(PG_GETARG_BYTEA_PP(0), &logreg_rows,
										&hdr, sizeof(hdr), &len);
	TrainRows  *state;
	double		expected;
	MemoryContext old;

	if (hdr.k < -1 || hdr.k > LOGREG_MAX_FEATURES || hdr.n < 0 || hdr.n_skipped < 0 ||
		hdr.options_len < 0 || (hdr.n > 0 && hdr.k < 1) || !(hdr.max_bytes > 0.0))
		elog(ERROR, "invalid logreg_train state header");
	expected = (double) sizeof(hdr) + hdr.options_len +
		(double) hdr.n * (sizeof(bool) + sizeof(double) * (hdr.k + 1));
	if (expected != (double) len)
		elog(ERROR, "invalid logreg_train state: %zu bytes, expected %.0f", len, expected);

	/* where the combine function can take the rows over */
	old = MemoryContextSwitchTo(TrainRowsReadContext(fcinfo));
	state = TrainRowsEmpty(CurrentMemoryContext, &logreg_rows, hdr.k, hdr.n_skipped, hdr.max_bytes);
	TrainRowsReadPayload(state, p, hdr.options_len, hdr.n, CheckKeptRows);
	MemoryContextSwitchTo(old);
	state->adoptable = true;
	PG_RETURN_POINTER(state);
}

/*
 * The sums that do not depend on beta (rows, positives, class weights and
 * the feature sums), once: every pass copies them instead of adding them up
 * again.
 */
static void
FixedSums(const OrderedRows *rows, int64 n_skipped, const LogregOptions *opts, int p,
		  double *s)
{
	int			k = rows->k;
	double	   *sx = SumsX(s);

	memset(s + 1, 0, sizeof(double) * (SumsLength(k, p) - 1));
	for (int64 i = 0; i < rows->n; i++)
	{
		const double *row = rows->row[i];

		for (int j = 0; j < k; j++)
			sx[j] += row[1 + j];
		if (rows->labels[i])
		{
			s[SUMS_N_POS] += 1.0;
			s[SUMS_W_POS] += opts->weight_pos;
		}
		else
			s[SUMS_W_NEG] += opts->weight_neg;
		if ((i & 0x3FF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	s[SUMS_N_ROWS] = (double) rows->n;
	s[SUMS_N_SKIPPED] = (double) n_skipped;
	s[SUMS_K] = k;
	s[SUMS_P] = p;
}

/* Returns the fitted model, or NULL when no row was usable. */
PG_FUNCTION_INFO_V1(logreg_train_final);
Datum
logreg_train_final(PG_FUNCTION_ARGS)
{
	TrainRows  *kept = PG_ARGISNULL(0) ? NULL : (TrainRows *) PG_GETARG_POINTER(0);
	OrderedRows rows;
	LogregOptions opts;
	int			k;
	int			p;
	double	   *beta;
	double	   *cand;
	double	   *d;
	double	   *s;
	double	   *s_cand;
	double	   *fixed;
	double		f;
	int			iter = 0;
	bool		converged = false;
	double		last_step = 0.0;
	LogregPasses *passes;
	double	   *shared_rows;
	bool	   *shared_labels;

	if (kept == NULL || kept->n == 0)
		PG_RETURN_NULL();

	LogregParseOptions(kept->options, &opts);
	k = kept->k;
	LogregCheckNames(&opts, k);
	p = k + (opts.fit_intercept ? 1 : 0);
	/* the helpers start first: they wait while the rows are put in order */
	passes = LogregPassesBegin(kept->n, k, p);
	shared_rows = LogregPassesSharedRows(passes, &shared_labels);
	OrderRows(kept, &rows, shared_rows, shared_labels);
	{
		int64		n_pos = 0;

		for (int64 i = 0; i < rows.n; i++)
			n_pos += rows.labels[i];
		LogregResolveClassWeights(&opts, (double) n_pos, (double) rows.n);
	}

	beta = palloc0(sizeof(double) * p);
	cand = palloc(sizeof(double) * p);

	/*
	 * Start at the intercept-only optimum, the log of the weighted odds: it
	 * saves a Newton step over starting at zero and changes nothing else.
	 */
	if (opts.fit_intercept)
	{
		double		w1 = 0.0;
		double		w0 = 0.0;

		for (int64 i = 0; i < rows.n; i++)
		{
			if (rows.labels[i])
				w1 += opts.weight_pos;
			else
				w0 += opts.weight_neg;
		}
		if (w1 > 0.0 && w0 > 0.0)
			beta[0] = log(w1 / w0);
	}
	d = palloc(sizeof(double) * p);
	s = LogregNewSums(k, p);
	s_cand = LogregNewSums(k, p);
	fixed = LogregNewSums(k, p);
	FixedSums(&rows, kept->n_skipped, &opts, p, fixed);
	LogregPassesEvaluate(passes, &rows, &opts, beta, fixed, s);
	f = LogregObjective(s, beta, p, &opts);

	while (iter < opts.max_iter)
	{
		double		crit;
		double		t = 1.0;
		double		fc = NAN;
		bool		accepted = false;
		int			bad_col;
		double	   *swap;

		if (!LogregNewtonDirection(s, beta, k, p, &opts, d, &crit, &bad_col))
		{
			if (iter == 0)
				LogregRaiseCollinear(bad_col, &opts);
			last_step = INFINITY;
			break;				/* the curvature vanished: separation */
		}
		for (int h = 0; h <= MAX_HALVINGS; h++)
		{
			for (int j = 0; j < p; j++)
				cand[j] = beta[j] - t * d[j];
			LogregPassesEvaluate(passes, &rows, &opts, cand, fixed, s_cand);
			fc = LogregObjective(s_cand, cand, p, &opts);
			if (isfinite(fc) && fc <= f + OBJECTIVE_SLACK * (fabs(f) + 1.0))
			{
				accepted = true;
				break;
			}
			t *= 0.5;
		}
		if (!accepted)
		{
			/* no step lowers the objective: we are at it, or stuck */
			converged = crit < opts.tol;
			break;
		}
		last_step = LogregRelativeStep(d, t, cand, p);
		swap = beta, beta = cand, cand = swap;
		swap = s, s = s_cand, s_cand = swap;
		f = fc;
		iter++;
		if (crit < opts.tol)
		{
			converged = true;
			break;
		}
	}

	LogregPassesEnd(passes);
	converged = LogregCheckFit(s, &opts, converged, iter, last_step);
	PG_RETURN_POINTER(LogregBuildModel(s, beta, k, p, &opts, iter, converged, kept->n_skipped));
}
