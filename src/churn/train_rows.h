/*-------------------------------------------------------------------------
 *
 * train_rows.h
 *	  The rows a training aggregate keeps in memory (logreg_train,
 *	  gbdt_train): growing them under the max_memory_mb option, the
 *	  transition prologue, the combine function and the parts of the
 *	  serialised form that both share.
 *
 * Each trainer describes itself in a TrainRowsSpec: its name for messages,
 * how many columns it keeps before the features of a row (logreg_train a
 * leading 1, so that every Newton term is a plain product), and its hints.
 * The serialised header and its checks stay each trainer's own: they are
 * formats already in use (logreg_train's inside retention.agg_state).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_TRAIN_ROWS_H
#define RETENTION_TRAIN_ROWS_H

#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "row_order.h"

typedef struct TrainRowsSpec
{
	const char *name;			/* the aggregate: "gbdt_train" */
	int			lead;			/* columns kept before a row's features */
	int64		max_rows;
	/* checks an options object (NULL: the defaults); returns its max_memory_mb */
	double		(*memory_mb) (Jsonb *options);
	const char *memory_hint;	/* when the rows outgrow max_memory_mb */
	const char *parallel_hint;	/* when a serialised state outgrows 1 GB */
} TrainRowsSpec;

/* rows taken over from another state by the combine function, not copied */
typedef RowChunk TrainRowsChunk;

/*
 * The rows are the buffer "rows" (n - n_chunked of them, where the
 * transition appends) and, after a combine, the chunks: parallel workers'
 * shares, each kept where it was read.  TrainRowsContiguous makes them one
 * buffer.
 */
typedef struct TrainRows
{
	const TrainRowsSpec *spec;
	int			k;				/* features; -1 until the first kept row */
	int64		n;				/* rows kept, chunks included */
	int64		n_skipped;
	int64		capacity;		/* rows of the buffer */
	double	   *rows;			/* (n - n_chunked) x (lead + k) */
	bool	   *labels;
	Jsonb	   *options;		/* NULL for the defaults */
	double		max_bytes;
	int64		n_chunked;		/* rows in chunks */
	int			n_chunks;
	int			max_chunks;
	TrainRowsChunk *chunks;
	/* read by a deserialise function: the combine may take over its memory */
	bool		adoptable;
	/* the buffer's rows' hashes (row_order.h), while known; else NULL */
	uint64	   *hashes;
} TrainRows;

/* the memory one kept row takes */
static inline Size
TrainRowsRowBytes(const TrainRows *s)
{
	return sizeof(double) * (s->k + s->spec->lead) + sizeof(bool);
}

/*
 * The transition prologue: the state (created, options checked, at the
 * first row) and the row's features, or NULL when the label or the features
 * are NULL (the row is then counted as skipped).  Arguments: state, label,
 * features [, options].
 */
extern TrainRows *TrainRowsAccumBegin(FunctionCallInfo fcinfo, const TrainRowsSpec *spec,
									  MemoryContext *aggctx, Datum *features);

/* room for one more row of k features; returns where it goes (lead first) */
extern double *TrainRowsAppend(MemoryContext ctx, TrainRows *s, int k);

/* keeps the row TrainRowsAppend made room for */
static inline void
TrainRowsKeep(TrainRows *s, bool label)
{
	s->labels[s->n - s->n_chunked] = label;
	s->n++;
}

/* the rows as one buffer, rows and labels, in the state's order */
extern void TrainRowsContiguous(TrainRows *s);

extern void TrainRowsReserve(MemoryContext ctx, TrainRows *s, int64 rows);

/* a hint: map the pages of a fresh buffer of len bytes about to be filled */
extern void TrainRowsPopulate(void *p, Size len);

/* a row of "got" features after rows of "have" (-1: none yet) is an error */
extern void TrainRowsCheckWidth(int have, int got);

/* The combine function: the union of two states. */
extern Datum TrainRowsCombine(FunctionCallInfo fcinfo, const TrainRowsSpec *spec);

/*
 * The serialised state: the trainer's header, then options, labels and rows
 * (in the canonical order of row_order.h when in_order, which makes them a
 * merge for the reader).
 */
extern bytea *TrainRowsSerialize(const TrainRows *s, void *hdr, Size hdr_size,
								 int32 *options_len_field, bool in_order);

/* the same in two steps: its size, then written where the caller wants it */
extern Size TrainRowsSerialSize(const TrainRows *s, Size hdr_size);
extern void TrainRowsSerializeInto(const TrainRows *s, void *hdr, Size hdr_size,
								   int32 *options_len_field, bool in_order,
								   bytea *result, Size size);

/* the buffer, then the chunks, as n_chunks + 1 chunks (palloc'd) */
extern TrainRowsChunk *TrainRowsAllChunks(const TrainRows *s, int *n_chunks);

/*
 * Reading it back: the header (*len gets the bytes after the varlena header;
 * returns what follows the header), then an empty state for its fields and
 * the options, labels and rows that follow it.
 */
extern const char *TrainRowsReadHeader(bytea *data, const TrainRowsSpec *spec,
									   void *hdr, Size hdr_size, Size *len);
extern TrainRows *TrainRowsEmpty(MemoryContext ctx, const TrainRowsSpec *spec, int k,
								 int64 n_skipped, double max_bytes);
typedef void (*TrainRowsCheck) (TrainRows *s, int64 first, int64 n);
extern void TrainRowsReadPayload(TrainRows *s, const char *p, int32 options_len, int64 n,
								 TrainRowsCheck check);

/*
 * The deserialise function's context: the aggregate's, where the combine
 * function may take the rows over instead of copying them (the state is then
 * marked adoptable); CurrentMemoryContext outside an aggregate.
 */
extern MemoryContext TrainRowsReadContext(FunctionCallInfo fcinfo);

#endif							/* RETENTION_TRAIN_ROWS_H */
