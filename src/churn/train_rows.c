/*-------------------------------------------------------------------------
 *
 * train_rows.c
 *	  The rows a training aggregate keeps in memory (train_rows.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
		state = (TrainRows *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		state->n_skipped++;
		*features = (Datum) 0;
	}
	else
		*features = PG_GETARG_DATUM(2);	/* not detoasted: the caller knows how */
	return state;
}

void
TrainRowsReserve(MemoryContext ctx, TrainRows *s, int64 rows)
{
	int64		cap;
	int			width = s->k + s->spec->lead;
	Size		row_bytes = TrainRowsRowBytes(s);

	if (rows <= s->capacity)
		return;
	if (rows > s->spec->max_rows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s takes at most " INT64_FORMAT " rows", s->spec->name, s->spec->max_rows)));
	/* start small: with GROUP BY there is one state per group */
	cap = Max(rows, Max(s->capacity * 2, 16));
	cap = Min(cap, s->spec->max_rows);
	if ((double) cap * row_bytes > s->max_bytes)
	{
		/* grow to the limit, not row by row (each step copies everything) */
		cap = (int64) (s->max_bytes / row_bytes);
		if (rows > cap)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s needs more than its memory limit of %g MB",
							s->spec->name, s->max_bytes / (1024.0 * 1024.0)),
					 errdetail("Keeping " INT64_FORMAT " rows of %d features takes %zu bytes per row.",
							   rows, s->k, row_bytes),
					 errhint("%s", s->spec->memory_hint)));
	}
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

double *
TrainRowsAppend(MemoryContext ctx, TrainRows *s, int k)
{
	if (s->k < 0)
		s->k = k;
	TrainRowsReserve(ctx, s, s->n + 1);
	return s->rows + (Size) (s->k + s->spec->lead) * s->n;
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
		memcpy(dst->rows, src->rows, sizeof(double) * (src->k + src->spec->lead) * src->n);
		memcpy(dst->labels, src->labels, sizeof(bool) * src->n);
		dst->n = src->n;
	}
	return dst;
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
		PG_RETURN_POINTER(CopyState(aggctx, b));

	a->n_skipped += b->n_skipped;
	if (a->options == NULL && b->options != NULL)
		a->options = CopyOptions(aggctx, b->options);
	if (b->n == 0)
		PG_RETURN_POINTER(a);
	if (a->k < 0)
		a->k = b->k;
	else
		TrainRowsCheckWidth(a->k, b->k);
	TrainRowsReserve(aggctx, a, a->n + b->n);
	memcpy(a->rows + (Size) (a->k + spec->lead) * a->n, b->rows,
		   sizeof(double) * (b->k + spec->lead) * b->n);
	memcpy(a->labels + a->n, b->labels, sizeof(bool) * b->n);
	a->n += b->n;
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
 * Serialised state: the trainer's header, the options as JSON text, the
 * labels and the rows, copied as bytes.
 */
bytea *
TrainRowsSerialize(const TrainRows *s, void *hdr, Size hdr_size, int32 *options_len_field)
{
	char	   *options = OptionsText(s);
	Size		options_len = options ? strlen(options) : 0;
	double		total;
	bytea	   *result;
	char	   *p;

	/* the header records the length of the text written below */
	*options_len_field = (int32) options_len;
	total = (double) VARHDRSZ + hdr_size + options_len +
		(double) s->n * (sizeof(bool) + sizeof(double) * (s->k + s->spec->lead));
	if (total > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s state of a parallel worker exceeds 1 GB", s->spec->name),
				 errhint("%s", s->spec->parallel_hint)));

	result = palloc((Size) total);
	SET_VARSIZE(result, (Size) total);
	p = VARDATA(result);
	memcpy(p, hdr, hdr_size);
	p += hdr_size;
	if (options_len > 0)
	{
		memcpy(p, options, options_len);
		p += options_len;
	}
	if (s->n > 0)
	{
		memcpy(p, s->labels, sizeof(bool) * s->n);
		p += sizeof(bool) * s->n;
		memcpy(p, s->rows, sizeof(double) * (s->k + s->spec->lead) * s->n);
	}
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

/* the options, labels and rows after a header whose lengths the caller checked */
void
TrainRowsReadPayload(TrainRows *s, const char *p, int32 options_len, int64 n)
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
		TrainRowsReserve(CurrentMemoryContext, s, n);
		memcpy(s->labels, p, sizeof(bool) * n);
		p += sizeof(bool) * n;
		memcpy(s->rows, p, sizeof(double) * (s->k + s->spec->lead) * n);
		s->n = n;
		/*
		 * A bool must hold 0 or 1: the compiler may use one as an index as
		 * it is.  Read the bytes as what they are, unsigned chars, to make
		 * them so (s->labels[i] != 0 on the bool itself may compile to
		 * nothing).
		 */
		for (int64 i = 0; i < n; i++)
		{
			unsigned char *byte = (unsigned char *) &s->labels[i];

			*byte = (*byte != 0);
		}
	}
}
