/*-------------------------------------------------------------------------
 *
 * train_rows.c
 *	  The rows a training aggregate keeps in memory (train_rows.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/mman.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "train_rows.h"

static TrainRows *
NewState(MemoryContext ctx, const TrainRowsSpec *spec, Jsonb *options)
{
	TrainRows  *state = MemoryContextAllocZero(ctx, sizeof(TrainRows));

	state->spec = spec;
	state->k = -1;
	if (options != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);

		state->options = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(options));
		MemoryContextSwitchTo(old);
	}
	/* reject bad options at the first row, not after a long scan */
	state->max_bytes = spec->memory_mb(state->options) * 1024.0 * 1024.0;
	return state;
}

/*
 * whether two options values (NULL: none) are the same jsonb, by their
 * bytes: either may have a short header (a row's value, read in place
 * rather than copied for every row)
 */
static bool
SameOptions(const struct varlena *a, const struct varlena *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

static void
OptionsChanged(const TrainRowsSpec *spec)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s options changed within a group", spec->name),
			 errhint("Pass the same options for every row of a group.")));
}

TrainRows *
TrainRowsAccumBegin(FunctionCallInfo fcinfo, const TrainRowsSpec *spec,
					MemoryContext *aggctx, Datum *features)
{
	TrainRows  *state;

	if (!AggCheckCallContext(fcinfo, aggctx))
		elog(ERROR, "%s_accum called in non-aggregate context", spec->name);

	if (PG_ARGISNULL(0))
		state = NewState(*aggctx, spec, (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? PG_GETARG_JSONB_P(3) : NULL);
	else
	{
		state = (TrainRows *) PG_GETARG_POINTER(0);
		/* the options are the group's, every row's */
		if (!SameOptions((struct varlena *) state->options,
						 (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(3)) : NULL))
			OptionsChanged(spec);
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		state->n_skipped++;
		*features = (Datum) 0;
	}
	else
		*features = PG_GETARG_DATUM(2);	/* not detoasted: the caller knows how */
	return state;
}

/* the rows max_bytes holds, at most max_rows (max_bytes may be huge, even infinite) */
static int64
RowLimit(const TrainRows *s)
{
	double		rows = floor(s->max_bytes / TrainRowsRowBytes(s));

	if (rows >= (double) s->spec->max_rows)
		return s->spec->max_rows;
	return (int64) rows;
}

/* errors unless "rows" rows in all fit max_rows and max_bytes */
static void
CheckRows(const TrainRows *s, int64 rows)
{
	if (rows > s->spec->max_rows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s takes at most " INT64_FORMAT " rows", s->spec->name, s->spec->max_rows)));
	if (rows > RowLimit(s))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s needs more than its memory limit of %g MB",
						s->spec->name, s->max_bytes / (1024.0 * 1024.0)),
				 errdetail("Keeping " INT64_FORMAT " rows of %d features takes %zu bytes per row.",
						   rows, s->k, TrainRowsRowBytes(s)),
				 errhint("%s", s->spec->memory_hint)));
}

/*
 * Maps the pages of a fresh buffer about to be filled in one call, instead
 * of one page fault per 4 kB written (a fifth of the leader's time with
 * parallel workers).  Only a hint: where the kernel lacks it, nothing
 * changes.  For buffers of the exact size only: every page gets used.
 */
void
TrainRowsPopulate(void *p, Size len)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t	start = TYPEALIGN(4096, (uintptr_t) p);
	uintptr_t	end = TYPEALIGN_DOWN(4096, (uintptr_t) p + len);

	if (len >= 1024 * 1024 && end > start)
		(void) madvise((void *) start, end - start, MADV_POPULATE_WRITE);
#endif
}

/* room for "rows" rows in the buffer (besides the chunks' rows) */
void
TrainRowsReserve(MemoryContext ctx, TrainRows *s, int64 rows)
{
	int64		cap;
	int			width = s->k + s->spec->lead;

	if (rows <= s->capacity)
		return;
	CheckRows(s, s->n_chunked + rows);
	/* start small: with GROUP BY there is one state per group */
	cap = Max(rows, Max(s->capacity * 2, 16));
	/* grow to the limit, not row by row (each step copies everything) */
	cap = Min(cap, RowLimit(s) - s->n_chunked);
	Assert(cap >= rows);
	if (s->rows == NULL)
	{
		s->rows = MemoryContextAllocHuge(ctx, sizeof(double) * width * cap);
		s->labels = MemoryContextAllocHuge(ctx, sizeof(bool) * cap);
	}
	else
	{
		s->rows = repalloc_huge(s->rows, sizeof(double) * width * cap);
		s->labels = repalloc_huge(s->labels, sizeof(bool) * cap);
	}
	s->capacity = cap;
}

/* the buffer is about to change */
static inline void
ForgetHashes(TrainRows *s)
{
	if (s->hashes != NULL)
	{
		pfree(s->hashes);
		s->hashes = NULL;
	}
}

double *
TrainRowsAppend(MemoryContext ctx, TrainRows *s, int k)
{
	if (s->k < 0)
		s->k = k;
	ForgetHashes(s);
	TrainRowsReserve(ctx, s, s->n - s->n_chunked + 1);
	return s->rows + (Size) (s->k + s->spec->lead) * (s->n - s->n_chunked);
}

void
TrainRowsCheckWidth(int have, int got)
{
	if (have >= 0 && have != got)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but earlier rows have %d", got, have),
				 errhint("Every row must have the same features in the same order.")));
}

static Jsonb *
CopyOptions(MemoryContext ctx, const Jsonb *options)
{
	Jsonb	   *copy = MemoryContextAlloc(ctx, VARSIZE(options));

	memcpy(copy, options, VARSIZE(options));
	return copy;
}

TrainRowsChunk *
TrainRowsAllChunks(const TrainRows *s, int *n_chunks)
{
	TrainRowsChunk *all = palloc(sizeof(TrainRowsChunk) * (s->n_chunks + 1));

	all[0].rows = s->rows;
	all[0].labels = s->labels;
	all[0].n = s->n - s->n_chunked;
	all[0].hashes = s->hashes;
	for (int c = 0; c < s->n_chunks; c++)
		all[c + 1] = s->chunks[c];
	*n_chunks = s->n_chunks + 1;
	return all;
}

/* copies the rows of "src" (buffer, then chunks) to rows and labels, as bytes */
static void
CopyRows(const TrainRows *src, void *rows_out, void *labels_out)
{
	int			width = src->k + src->spec->lead;
	char	   *rows = rows_out;
	char	   *labels = labels_out;
	int			n_chunks;
	TrainRowsChunk *all = TrainRowsAllChunks(src, &n_chunks);

	for (int c = 0; c < n_chunks; c++)
	{
		if (all[c].n == 0)
			continue;
		memcpy(rows, all[c].rows, sizeof(double) * width * all[c].n);
		memcpy(labels, all[c].labels, sizeof(bool) * all[c].n);
		rows += sizeof(double) * width * all[c].n;
		labels += sizeof(bool) * all[c].n;
	}
	pfree(all);
}

void
TrainRowsContiguous(TrainRows *s)
{
	int			width = s->k + s->spec->lead;
	int64		n_buffer = s->n - s->n_chunked;
	MemoryContext ctx;

	if (s->n_chunks == 0)
		return;
	ctx = GetMemoryChunkContext(s->chunks[0].rows);
	if (s->rows == NULL)
	{
		s->rows = MemoryContextAllocHuge(ctx, sizeof(double) * width * s->n);
		s->labels = MemoryContextAllocHuge(ctx, sizeof(bool) * s->n);
	}
	else
	{
		s->rows = repalloc_huge(s->rows, sizeof(double) * width * s->n);
		s->labels = repalloc_huge(s->labels, sizeof(bool) * s->n);
	}
	for (int c = 0; c < s->n_chunks; c++)
	{
		memcpy(s->rows + (Size) width * n_buffer, s->chunks[c].rows,
			   sizeof(double) * width * s->chunks[c].n);
		memcpy(s->labels + n_buffer, s->chunks[c].labels, sizeof(bool) * s->chunks[c].n);
		n_buffer += s->chunks[c].n;
		pfree(s->chunks[c].rows);
		pfree(s->chunks[c].labels);
		if (s->chunks[c].hashes != NULL)
			pfree(s->chunks[c].hashes);
	}
	ForgetHashes(s);
	s->capacity = s->n;
	s->n_chunked = 0;
	s->n_chunks = 0;
}

static TrainRows *
CopyState(MemoryContext ctx, const TrainRows *src)
{
	TrainRows  *dst = MemoryContextAllocZero(ctx, sizeof(TrainRows));

	dst->spec = src->spec;
	dst->k = src->k;
	dst->n_skipped = src->n_skipped;
	dst->max_bytes = src->max_bytes;
	if (src->options != NULL)
		dst->options = CopyOptions(ctx, src->options);
	if (src->n > 0)
	{
		TrainRowsReserve(ctx, dst, src->n);
		CopyRows(src, dst->rows, dst->labels);
		dst->n = src->n;
	}
	return dst;
}

static void
AddChunk(MemoryContext ctx, TrainRows *s, double *rows, bool *labels, int64 n, uint64 *hashes)
{
	if (n == 0)
		return;
	if (s->n_chunks == s->max_chunks)
	{
		s->max_chunks = Max(4, s->max_chunks * 2);
		if (s->chunks == NULL)
			s->chunks = MemoryContextAlloc(ctx, sizeof(TrainRowsChunk) * s->max_chunks);
		else
			s->chunks = repalloc(s->chunks, sizeof(TrainRowsChunk) * s->max_chunks);
	}
	s->chunks[s->n_chunks].rows = rows;
	s->chunks[s->n_chunks].labels = labels;
	s->chunks[s->n_chunks].n = n;
	s->chunks[s->n_chunks].hashes = hashes;
	s->n_chunks++;
	s->n_chunked += n;
}

/*
 * Adds the rows of b to a: a deserialised state's rows are taken over where
 * they are (a parallel worker's share is read once, not copied again and
 * again into one growing buffer); others are copied, into a's buffer when
 * it has room, else into a chunk of their own.
 */
static void
AddRows(MemoryContext ctx, TrainRows *a, TrainRows *b)
{
	int			width = a->k + a->spec->lead;
	int64		n = b->n;

	CheckRows(a, a->n + n);
	if (b->adoptable && GetMemoryChunkContext(b) == ctx)
	{
		if (b->n > b->n_chunked)
			AddChunk(ctx, a, b->rows, b->labels, b->n - b->n_chunked, b->hashes);
		for (int c = 0; c < b->n_chunks; c++)
			AddChunk(ctx, a, b->chunks[c].rows, b->chunks[c].labels, b->chunks[c].n,
					 b->chunks[c].hashes);
		/* b is gone: nothing may free or reorder the rows through it */
		b->rows = NULL;
		b->labels = NULL;
		b->hashes = NULL;
		b->n = b->n_chunked = b->capacity = 0;
		b->n_chunks = 0;
	}
	else if (a->capacity - (a->n - a->n_chunked) >= n)
	{
		ForgetHashes(a);
		CopyRows(b, a->rows + (Size) width * (a->n - a->n_chunked),
				 a->labels + (a->n - a->n_chunked));
	}
	else
	{
		double	   *rows = MemoryContextAllocHuge(ctx, sizeof(double) * width * b->n);
		bool	   *labels = MemoryContextAllocHuge(ctx, sizeof(bool) * b->n);

		CopyRows(b, rows, labels);
		AddChunk(ctx, a, rows, labels, b->n, NULL);
	}
	a->n += n;
}

Datum
TrainRowsCombine(FunctionCallInfo fcinfo, const TrainRowsSpec *spec)
{
	MemoryContext aggctx;
	TrainRows  *a = PG_ARGISNULL(0) ? NULL : (TrainRows *) PG_GETARG_POINTER(0);
	TrainRows  *b = PG_ARGISNULL(1) ? NULL : (TrainRows *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "%s_combine called in non-aggregate context", spec->name);
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* a deserialised state becomes the state itself */
		if (b->adoptable && GetMemoryChunkContext(b) == aggctx)
		{
			b->adoptable = false;
			PG_RETURN_POINTER(b);
		}
		PG_RETURN_POINTER(CopyState(aggctx, b));
	}

	/* a partial state's options are its group's too */
	if (!SameOptions((struct varlena *) a->options, (struct varlena *) b->options))
		OptionsChanged(spec);
	a->n_skipped += b->n_skipped;
	if (b->n == 0)
		PG_RETURN_POINTER(a);
	if (a->k < 0)
		a->k = b->k;
	else
		TrainRowsCheckWidth(a->k, b->k);
	AddRows(aggctx, a, b);
	PG_RETURN_POINTER(a);
}

/*
 * The options as JSON text (NULL: none): a state may come from outside (the
 * text of a retention.agg_state), and text goes back through jsonb_in, which
 * checks it, where a binary jsonb would be trusted as it is.
 */
static char *
OptionsText(const TrainRows *s)
{
	if (s->options == NULL)
		return NULL;
	return JsonbToCString(NULL, &s->options->root, VARSIZE(s->options));
}

/*
 * The labels, then the rows, as bytes at p; in the canonical order when
 * in_order (a parallel worker sorts its share, so that the leader merges
 * instead of sorting them all).
 */
static void
WriteRows(const TrainRows *s, char *p, bool in_order)
{
	int			width = s->k + s->spec->lead;
	Size		row_bytes = sizeof(double) * width;
	int			n_chunks;
	TrainRowsChunk *all;
	RowKey	   *buf;
	RowKey	   *spare;
	RowKey	   *keys;
	char	   *out;

	if (!in_order)
	{
		CopyRows(s, p + sizeof(bool) * s->n, p);
		return;
	}

	/* the label stands for the lead column in the order's hash */
	Assert(s->spec->lead == 1);
	all = TrainRowsAllChunks(s, &n_chunks);
	buf = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RowKey) * s->n);
	spare = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RowKey) * s->n);
	keys = RowKeysInOrder(buf, spare, all, n_chunks, s->n, width);
	out = p + sizeof(bool) * s->n;
	for (int64 i = 0; i < s->n; i++)
	{
		if (i + 8 < s->n)
			__builtin_prefetch(RowKeyRow(all, keys[i + 8].index, width));
		p[i] = RowKeyLabel(all, keys[i].index);
		memcpy(out + row_bytes * i, RowKeyRow(all, keys[i].index, width), row_bytes);
	}
	pfree(buf);
	pfree(spare);
	pfree(all);
}

/*
 * Serialised state: the trainer's header, the options as JSON text, the
 * labels and the rows, copied as bytes.
 */
Size
TrainRowsSerialSize(const TrainRows *s, Size hdr_size)
{
	char	   *options = OptionsText(s);
	double		total;

	total = (double) VARHDRSZ + hdr_size + (options ? strlen(options) : 0) +
		(double) s->n * (sizeof(bool) + sizeof(double) * (s->k + s->spec->lead));
	if (options)
		pfree(options);
	if (total > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s state of a parallel worker exceeds 1 GB", s->spec->name),
				 errhint("%s", s->spec->parallel_hint)));
	return (Size) total;
}

void
TrainRowsSerializeInto(const TrainRows *s, void *hdr, Size hdr_size, int32 *options_len_field,
					   bool in_order, bytea *result, Size size)
{
	char	   *options = OptionsText(s);
	Size		options_len = options ? strlen(options) : 0;
	char	   *p;

	/* the header records the length of the text written below */
	*options_len_field = (int32) options_len;
	Assert(size == (Size) VARHDRSZ + hdr_size + options_len +
		   s->n * (sizeof(bool) + sizeof(double) * (s->k + s->spec->lead)));
	TrainRowsPopulate(result, size);
	SET_VARSIZE(result, size);
	p = VARDATA(result);
	memcpy(p, hdr, hdr_size);
	p += hdr_size;
	if (options_len > 0)
	{
		memcpy(p, options, options_len);
		p += options_len;
		pfree(options);
	}
	if (s->n > 0)
		WriteRows(s, p, in_order);
}

bytea *
TrainRowsSerialize(const TrainRows *s, void *hdr, Size hdr_size, int32 *options_len_field,
				   bool in_order)
{
	Size		size = TrainRowsSerialSize(s, hdr_size);
	bytea	   *result = palloc(size);

	TrainRowsSerializeInto(s, hdr, hdr_size, options_len_field, in_order, result, size);
	return result;
}

const char *
TrainRowsReadHeader(bytea *data, const TrainRowsSpec *spec, void *hdr, Size hdr_size,
					Size *len)
{
	*len = VARSIZE_ANY_EXHDR(data);
	if (*len < hdr_size)
		elog(ERROR, "invalid %s state: %zu bytes", spec->name, *len);
	memcpy(hdr, VARDATA_ANY(data), hdr_size);
	return VARDATA_ANY(data) + hdr_size;
}

TrainRows *
TrainRowsEmpty(MemoryContext ctx, const TrainRowsSpec *spec, int k, int64 n_skipped,
			   double max_bytes)
{
	TrainRows  *s = MemoryContextAllocZero(ctx, sizeof(TrainRows));

	s->spec = spec;
	s->k = k;
	s->n_skipped = n_skipped;
	s->max_bytes = max_bytes;
	return s;
}

MemoryContext
TrainRowsReadContext(FunctionCallInfo fcinfo)
{
	MemoryContext aggctx;

	if (AggCheckCallContext(fcinfo, &aggctx))
		return aggctx;
	return CurrentMemoryContext;
}

/*
 * The options, labels and rows after a header whose lengths the caller
 * checked; "check" (if not NULL) sees the rows as they are copied, a block at
 * a time, while they are in the cache.
 */
void
TrainRowsReadPayload(TrainRows *s, const char *p, int32 options_len, int64 n,
					 TrainRowsCheck check)
{
	if (options_len > 0)
	{
		char	   *text = palloc(options_len + 1);

		memcpy(text, p, options_len);
		text[options_len] = '\0';
		if (strlen(text) != (Size) options_len)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid %s state: options hold a NUL byte", s->spec->name)));
		/* jsonb_in checks the text; an object is checked where it is parsed */
		s->options = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
		pfree(text);
		p += options_len;
	}
	if (n > 0)
	{
		int			width = s->k + s->spec->lead;

		TrainRowsReserve(CurrentMemoryContext, s, n);
		TrainRowsPopulate(s->rows, sizeof(double) * width * n);
		memcpy(s->labels, p, sizeof(bool) * n);
		p += sizeof(bool) * n;
		s->n = n;

		/*
		 * A bool must hold 0 or 1: the compiler may use one as an index as
		 * it is.  Read the bytes as what they are, unsigned chars, to make
		 * them so (s->labels[i] != 0 on the bool itself may compile to
		 * nothing).  Before the rows: "check" may read the labels.
		 */
		for (int64 i = 0; i < n; i++)
		{
			unsigned char *byte = (unsigned char *) &s->labels[i];

			*byte = (*byte != 0);
		}
		for (int64 i = 0; i < n; i += 4096)
		{
			int64		nb = Min(4096, n - i);

			memcpy(s->rows + (Size) width * i, p + sizeof(double) * width * i,
				   sizeof(double) * width * nb);
			if (check != NULL)
				check(s, i, nb);
		}
	}
}
