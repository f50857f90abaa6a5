/*-------------------------------------------------------------------------
 *
 * funnel_user.c
 *	  Conversion funnels in two stages; this file holds stage one's state.
 *
 * Stage one, retention.funnel_user(ts, event, steps, window, mode,
 * breakdown, date_from, date_to), runs grouped by user (on Citus, next to
 * the user's rows) and finds how far the user got: the furthest step any of
 * their attempts reaches, the times of the earliest attempt that got there
 * and the breakdown value of that attempt's first event.  It keeps the
 * user's events (sixteen bytes each) and does the work in the final
 * function, where they can be sorted once.
 *
 * Stage two, retention.funnel_matrix(reached, seconds), counts users per
 * furthest step and keeps every step-to-step duration, so that the median
 * can be exact (the same interpolation as percentile_cont(0.5)).  Its state
 * is a varlena of its own, retention.funnel_stats, with text and binary
 * I/O, so Citus can ship partial states between nodes and combine them.
 *
 * Semantics (doc/analytics.md has the user's version):
 *	 ordered	 steps filled by distinct events in step order, with
 *				 non-decreasing times, the last no later than the window
 *				 after the first;
 *	 strict		 as ordered, and no event of the user strictly between the
 *				 times of two consecutive steps;
 *	 unordered	 any k distinct steps, each filled by its own event, all
 *				 within the window after the earliest of them.
 * Events at the same instant may fill steps in any order (ties favour
 * conversion), and an event at the same instant as a step event never
 * breaks a strict sequence.  Each later step of an attempt takes the
 * earliest event that can still lead to the furthest step, which fixes the
 * times reported.  Among the events that can start the chosen attempt at
 * its first instant, the breakdown is the least value in byte order, NULL
 * after every value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "agg_context.h"
#include "bytea_state.h"
#include "funnel.h"
#include "name_table.h"

/* ---------------------------------------------------------------------
 * Stage one: the per-user aggregate's state; its final function, which
 * searches the events, is in funnel_search.c
 * ---------------------------------------------------------------------
 */

/* The parsed definition, cached across the groups of one query. */
typedef struct FunnelCache
{
	FunnelConfig cfg;
	struct varlena *steps_copy;
	struct varlena *mode_copy;
} FunnelCache;

static const NamedValue funnel_modes[] = {
	{"ordered", FUNNEL_ORDERED}, {"strict", FUNNEL_STRICT}, {"unordered", FUNNEL_UNORDERED}
};

int
FunnelParseMode(const char *name)
{
	return ParseName(name, funnel_modes, lengthof(funnel_modes), true, "funnel mode",
					 "Use 'ordered', 'strict' or 'unordered'.");
}

/* Step i is of the type so named, a new one unless seen; name must outlive cfg. */
void
FunnelSetStepType(FunnelConfig *cfg, int i, char *name, int len)
{
	int			k = FindStepType(cfg, name, len);

	if (k == OTHER_EVENT)
	{
		k = cfg->ntypes++;
		cfg->type_name[k] = name;
		cfg->type_len[k] = len;
	}
	cfg->step_type[i] = k;
	cfg->mult[k]++;
}

/*
 * Reads the constant arguments (steps, window, mode, date range) into cfg;
 * the type names point into the steps array, which must outlive cfg.
 */
void
FunnelParseConfig(FunctionCallInfo fcinfo, int base, FunnelConfig *cfg, MemoryContext cxt)
{
	ArrayType  *steps;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Interval   *window;
	char	   *mode;

	if (PG_ARGISNULL(base + 2) || PG_ARGISNULL(base + 3) || PG_ARGISNULL(base + 4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("funnel steps, conversion window and mode must not be NULL")));
	memset(cfg, 0, sizeof(*cfg));

	mode = text_to_cstring(PG_GETARG_TEXT_PP(base + 4));
	cfg->mode = FunnelParseMode(mode);
	pfree(mode);

	window = PG_GETARG_INTERVAL_P(base + 3);
	if (window->month < 0 || window->day < 0 || window->time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conversion window must not be negative")));
	cfg->window = *window;

	steps = PG_GETARG_ARRAYTYPE_P(base + 2);
	if (ARR_NDIM(steps) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("funnel steps must be a one-dimensional array")));
	deconstruct_array(steps, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n < 1 || n > FUNNEL_MAX_STEPS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a funnel needs between 1 and %d steps, got %d", FUNNEL_MAX_STEPS, n)));
	cfg->nsteps = n;
	for (int i = 0; i < n; i++)
	{
		text	   *t;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("funnel step %d is NULL", i + 1)));
		t = (text *) MemoryContextAlloc(cxt, VARSIZE_ANY(DatumGetPointer(elems[i])));
		memcpy(t, DatumGetPointer(elems[i]), VARSIZE_ANY(DatumGetPointer(elems[i])));
		FunnelSetStepType(cfg, i, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}

	cfg->have_from = !PG_ARGISNULL(base + 6);
	if (cfg->have_from)
		cfg->date_from = PG_GETARG_TIMESTAMPTZ(base + 6);
	cfg->have_to = !PG_ARGISNULL(base + 7);
	if (cfg->have_to)
		cfg->date_to = PG_GETARG_TIMESTAMPTZ(base + 7);
}

static bool
SameConfig(const FunnelConfig *a, const FunnelConfig *b)
{
	if (a->mode != b->mode || a->nsteps != b->nsteps || a->ntypes != b->ntypes ||
		memcmp(&a->window, &b->window, sizeof(Interval)) != 0 ||
		a->have_from != b->have_from || a->have_to != b->have_to ||
		(a->have_from && a->date_from != b->date_from) ||
		(a->have_to && a->date_to != b->date_to))
		return false;
	for (int i = 0; i < a->nsteps; i++)
		if (a->step_type[i] != b->step_type[i])
			return false;
	for (int k = 0; k < a->ntypes; k++)
		if (a->type_len[k] != b->type_len[k] ||
			memcmp(a->type_name[k], b->type_name[k], a->type_len[k]) != 0)
			return false;
	return true;
}

void
FunnelCheckSameConfig(const FunnelConfig *a, const FunnelConfig *b)
{
	if (!SameConfig(a, b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel steps, window, mode or date range changed within a group"),
				 errhint("Pass the same funnel definition for every row of a group.")));
}

struct varlena *
FunnelCopyBytes(MemoryContext cxt, Datum d)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
	struct varlena *copy = MemoryContextAlloc(cxt, VARSIZE_ANY(v));

	memcpy(copy, v, VARSIZE_ANY(v));
	return copy;
}

/* Does d hold exactly the bytes of the copy? */
static bool
SameBytes(const struct varlena *copy, Datum d)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);

	return VARSIZE_ANY_EXHDR(v) == VARSIZE_ANY_EXHDR(copy) &&
		memcmp(VARDATA_ANY(v), VARDATA_ANY(copy), VARSIZE_ANY_EXHDR(v)) == 0;
}

/* Do the definition arguments of this row hold exactly what cfg was parsed from? */
bool
FunnelArgsMatch(FunctionCallInfo fcinfo, int base, const FunnelConfig *cfg,
				const struct varlena *steps, const struct varlena *mode)
{
	return !PG_ARGISNULL(base + 2) && !PG_ARGISNULL(base + 3) && !PG_ARGISNULL(base + 4) &&
		SameBytes(steps, PG_GETARG_DATUM(base + 2)) && SameBytes(mode, PG_GETARG_DATUM(base + 4)) &&
		memcmp(PG_GETARG_INTERVAL_P(base + 3), &cfg->window, sizeof(Interval)) == 0 &&
		PG_ARGISNULL(base + 6) != cfg->have_from && PG_ARGISNULL(base + 7) != cfg->have_to &&
		(!cfg->have_from || PG_GETARG_TIMESTAMPTZ(base + 6) == cfg->date_from) &&
		(!cfg->have_to || PG_GETARG_TIMESTAMPTZ(base + 7) == cfg->date_to);
}

static FunnelState *
NewFunnelState(MemoryContext cxt)
{
	FunnelState *state = MemoryContextAllocZero(cxt, sizeof(FunnelState));

	state->capacity = 16;
	state->events = MemoryContextAlloc(cxt, state->capacity * sizeof(FunnelEvent));
	state->last_brk = NO_BREAKDOWN;
	return state;
}

static void
ReserveEvents(FunnelState *state, int64 more)
{
	int64		need;

	if (pg_add_s64_overflow(state->nevents, more, &need) || need > FUNNEL_MAX_EVENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a funnel user has more than %lld events", (long long) FUNNEL_MAX_EVENTS),
				 errhint("Group the funnel aggregate by user.")));
	if (need > state->capacity)
	{
		int64		cap = Max(need, state->capacity * 2);

		state->events = repalloc_huge(state->events, cap * sizeof(FunnelEvent));
		state->capacity = cap;
	}
}

/* Stores a breakdown value, reusing the last one when equal; returns its offset. */
static int32
StoreBreakdown(FunnelState *state, MemoryContext cxt, const char *data, int len)
{
	MemoryContext old;
	int32		off;

	if (state->last_brk != NO_BREAKDOWN &&
		(int) strlen(state->pool.data + state->last_brk) == len &&
		memcmp(state->pool.data + state->last_brk, data, len) == 0 &&
		memchr(data, '\0', len) == NULL)
		return state->last_brk;
	old = MemoryContextSwitchTo(cxt);
	if (state->pool.data == NULL)
		initStringInfo(&state->pool);
	MemoryContextSwitchTo(old);
	if ((int64) state->pool.len + len + 1 > MaxAllocSize / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel breakdown values of one user exceed %d bytes", (int) (MaxAllocSize / 2))));
	off = state->pool.len;
	appendBinaryStringInfo(&state->pool, data, len);
	appendStringInfoChar(&state->pool, '\0');
	state->last_brk = off;
	return off;
}

/*
 * Transition of funnel_user(ts, event, steps, window, mode, breakdown,
 * date_from, date_to): keeps the event.
 */
PG_FUNCTION_INFO_V1(funnel_user_trans);
Datum
funnel_user_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FunnelState *state;
	FunnelEvent *e;
	TimestampTz ts;
	int			type = OTHER_EVENT;

	aggcxt = AggregateContext(fcinfo, "funnel_user_trans");
	state = STATE_ARG(FunnelState, 0);
	if (state == NULL)
	{
		/*
		 * One state per user: parse the definition once per query and share
		 * it (the cache lives in the function's per-query context, which
		 * outlives every state).
		 */
		FunnelCache *cache = (FunnelCache *) fcinfo->flinfo->fn_extra;

		if (cache == NULL || !FunnelArgsMatch(fcinfo, 1, &cache->cfg, cache->steps_copy, cache->mode_copy))
		{
			MemoryContext cxt = fcinfo->flinfo->fn_mcxt;

			cache = MemoryContextAllocZero(cxt, sizeof(FunnelCache));
			FunnelParseConfig(fcinfo, 1, &cache->cfg, cxt);
			cache->steps_copy = FunnelCopyBytes(cxt, PG_GETARG_DATUM(3));
			cache->mode_copy = FunnelCopyBytes(cxt, PG_GETARG_DATUM(5));
			fcinfo->flinfo->fn_extra = cache;
		}
		state = NewFunnelState(aggcxt);
		state->cfg = cache->cfg;
		state->steps_copy = cache->steps_copy;
		state->mode_copy = cache->mode_copy;
	}
	else if (!FunnelArgsMatch(fcinfo, 1, &state->cfg, state->steps_copy, state->mode_copy))
	{
		/*
		 * Compared by content on every row (a pointer comparison is not
		 * enough: per-row values reuse the same address); when the bytes
		 * differ, the definitions may still agree ('ordered' vs 'ORDERED').
		 */
		FunnelConfig cfg;

		FunnelParseConfig(fcinfo, 1, &cfg, CurrentMemoryContext);
		FunnelCheckSameConfig(&state->cfg, &cfg);
	}

	/* events without a finite time are not placed in any funnel */
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);
	ts = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(ts))
		PG_RETURN_POINTER(state);

	if (!PG_ARGISNULL(2))
	{
		text	   *ev = PG_GETARG_TEXT_PP(2);

		type = FindStepType(&state->cfg, VARDATA_ANY(ev), VARSIZE_ANY_EXHDR(ev));
	}
	/* only strict funnels look at events that fill no step */
	if (type == OTHER_EVENT && state->cfg.mode != FUNNEL_STRICT)
		PG_RETURN_POINTER(state);

	ReserveEvents(state, 1);
	e = &state->events[state->nevents++];
	e->ts = ts;
	e->type = type;
	e->brk = NO_BREAKDOWN;
	if (CanStart(&state->cfg, type) && !PG_ARGISNULL(6))
	{
		text	   *b = PG_GETARG_TEXT_PP(6);

		e->brk = StoreBreakdown(state, aggcxt, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	}
	PG_RETURN_POINTER(state);
}

/* Appends src's events to dst, renumbering breakdown offsets. */
static void
AppendEvents(FunnelState *dst, MemoryContext cxt, const FunnelEvent *events, int64 n,
			 const char *pool, int poollen)
{
	ReserveEvents(dst, n);
	for (int64 i = 0; i < n; i++)
	{
		FunnelEvent e = events[i];

		if (e.type < OTHER_EVENT || e.type >= dst->cfg.ntypes ||
			(e.brk != NO_BREAKDOWN && (e.brk < 0 || e.brk >= poollen)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid funnel aggregate state")));
		if (e.brk != NO_BREAKDOWN)
		{
			const char *s = pool + e.brk;
			const char *end = memchr(s, '\0', poollen - e.brk);

			if (end == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
						 errmsg("invalid funnel aggregate state")));
			e.brk = StoreBreakdown(dst, cxt, s, end - s);
		}
		dst->events[dst->nevents++] = e;
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/* Copies the configuration of src into dst, with the type names. */
void
FunnelCopyConfig(FunnelConfig *dst, const FunnelConfig *src, MemoryContext cxt)
{
	*dst = *src;
	for (int k = 0; k < src->ntypes; k++)
	{
		char	   *copy = MemoryContextAlloc(cxt, Max(src->type_len[k], 1));

		memcpy(copy, src->type_name[k], src->type_len[k]);
		dst->type_name[k] = copy;
	}
}

/* Combines two partial per-user states (parallel grouped aggregation). */
PG_FUNCTION_INFO_V1(funnel_user_combine);
Datum
funnel_user_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FunnelState *a;
	FunnelState *b;

	aggcxt = AggregateContext(fcinfo, "funnel_user_combine");
	a = STATE_ARG(FunnelState, 0);
	b = STATE_ARG(FunnelState, 1);
	if (b == NULL)
		return KeepState(fcinfo);
	if (a == NULL)
	{
		/* copy, never alias */
		a = NewFunnelState(aggcxt);
		FunnelCopyConfig(&a->cfg, &b->cfg, aggcxt);
	}
	else
		FunnelCheckSameConfig(&a->cfg, &b->cfg);
	AppendEvents(a, aggcxt, b->events, b->nevents, b->pool.data, b->pool.len);
	PG_RETURN_POINTER(a);
}

#define FUNNEL_STATE_MAGIC 0x464e5531	/* "FNU1" */

typedef struct FunnelStateHeader
{
	uint32		magic;
	int32		mode;
	int32		nsteps;
	int32		have_from;
	int32		have_to;
	int32		poollen;
	int64		nevents;
	TimestampTz date_from;
	TimestampTz date_to;
	Interval	window;
} FunnelStateHeader;

/*
 * Writes the definition (and the counts the caller's layout needs) at the
 * head of a serialised state: a header, then each step's name.
 */
void
FunnelWriteConfig(StringInfo buf, uint32 magic, const FunnelConfig *cfg, int32 poollen,
				  int64 nevents)
{
	FunnelStateHeader h;

	memset(&h, 0, sizeof(h));
	h.magic = magic;
	h.mode = cfg->mode;
	h.nsteps = cfg->nsteps;
	h.have_from = cfg->have_from;
	h.have_to = cfg->have_to;
	h.poollen = poollen;
	h.nevents = nevents;
	h.date_from = cfg->date_from;
	h.date_to = cfg->date_to;
	h.window = cfg->window;
	appendBinaryStringInfo(buf, (char *) &h, sizeof(h));
	for (int i = 0; i < cfg->nsteps; i++)
	{
		int			k = cfg->step_type[i];
		int32		len = cfg->type_len[k];

		appendBinaryStringInfo(buf, (char *) &len, sizeof(len));
		appendBinaryStringInfo(buf, cfg->type_name[k], len);
	}
}

/*
 * Reads what FunnelWriteConfig wrote into cfg (names allocated in cxt),
 * validating it; nevents must be within [0, max_events].
 */
void
FunnelReadConfig(ByteaReader *r, uint32 magic, FunnelConfig *cfg, MemoryContext cxt,
				 int32 *poollen, int64 *nevents, int64 max_events)
{
	FunnelStateHeader h;

	ByteaRead(r, &h, sizeof(h));
	if (h.magic != magic || h.mode < FUNNEL_ORDERED || h.mode > FUNNEL_UNORDERED ||
		h.nsteps < 1 || h.nsteps > FUNNEL_MAX_STEPS || (h.have_from & ~1) || (h.have_to & ~1) ||
		h.poollen < 0 || h.nevents < 0 || h.nevents > max_events ||
		h.window.month < 0 || h.window.day < 0 || h.window.time < 0)
		ByteaReaderError(r);

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = h.mode;
	cfg->have_from = h.have_from;
	cfg->have_to = h.have_to;
	cfg->date_from = h.date_from;
	cfg->date_to = h.date_to;
	cfg->window = h.window;
	cfg->nsteps = h.nsteps;
	for (int i = 0; i < h.nsteps; i++)
	{
		int32		len;
		char	   *name;

		ByteaRead(r, &len, sizeof(len));
		/* checked before the copy is allocated: no alloc of a hostile size */
		if (len < 0 || (Size) len > ByteaLeft(r))
			ByteaReaderError(r);
		name = MemoryContextAlloc(cxt, Max(len, 1));
		ByteaRead(r, name, len);
		FunnelSetStepType(cfg, i, name, len);
	}
	*poollen = h.poollen;
	*nevents = h.nevents;
}

/* Serialises a per-user funnel state for a parallel worker's leader. */
PG_FUNCTION_INFO_V1(funnel_user_serialize);
Datum
funnel_user_serialize(PG_FUNCTION_ARGS)
{
	FunnelState *state = (FunnelState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int32		poollen = state->pool.data ? state->pool.len : 0;

	AggregateContext(fcinfo, "funnel_user_serialize");
	ByteaStateBegin(&buf);
	FunnelWriteConfig(&buf, FUNNEL_STATE_MAGIC, &state->cfg, poollen, state->nevents);
	appendBinaryStringInfo(&buf, (char *) state->events, state->nevents * sizeof(FunnelEvent));
	if (poollen > 0)
		appendBinaryStringInfo(&buf, state->pool.data, poollen);
	PG_RETURN_BYTEA_P(ByteaStateEnd(&buf));
}

/* Rebuilds a per-user funnel state from funnel_user_serialize's bytea. */
PG_FUNCTION_INFO_V1(funnel_user_deserialize);
Datum
funnel_user_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ByteaReader r;
	FunnelState *state;
	int32		poollen;
	int64		nevents;
	Size		evbytes;

	aggcxt = AggregateContext(fcinfo, "funnel_user_deserialize");
	ByteaReaderInit(&r, PG_GETARG_BYTEA_PP(0), "funnel aggregate state is truncated or invalid");
	state = NewFunnelState(aggcxt);
	FunnelReadConfig(&r, FUNNEL_STATE_MAGIC, &state->cfg, aggcxt, &poollen, &nevents,
					 FUNNEL_MAX_EVENTS);
	evbytes = mul_size((Size) nevents, sizeof(FunnelEvent));
	if (ByteaLeft(&r) != add_size(evbytes, (Size) poollen))
		ByteaReaderError(&r);
	if (nevents > 0)
	{
		FunnelEvent *events = palloc(evbytes);

		ByteaRead(&r, events, evbytes);
		AppendEvents(state, aggcxt, events, nevents, r.p, poollen);
		pfree(events);
	}
	PG_RETURN_POINTER(state);
}
