/*-------------------------------------------------------------------------
 *
 * funnel.c
 *	  Conversion funnels in two stages.
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

#include "funnel.h"

/* ---------------------------------------------------------------------
 * Stage one: the per-user aggregate
 * ---------------------------------------------------------------------
 */

#define NO_BREAKDOWN (-1)
#define OTHER_EVENT (-1)
/* at most this many events per user (each costs 16 bytes) */
#define FUNNEL_MAX_EVENTS ((int64) 1 << 26)

typedef struct FunnelEvent
{
	TimestampTz ts;
	int32		type;			/* index into FunnelConfig.types, or OTHER_EVENT */
	int32		brk;			/* offset into the breakdown pool, or NO_BREAKDOWN */
} FunnelEvent;

typedef struct FunnelConfig
{
	int			mode;
	int			nsteps;
	int			ntypes;
	int			step_type[FUNNEL_MAX_STEPS];	/* type index of each step */
	int			mult[FUNNEL_MAX_STEPS];	/* how many steps each type fills */
	int			type_len[FUNNEL_MAX_STEPS];
	char	   *type_name[FUNNEL_MAX_STEPS];	/* not NUL-terminated */
	Interval	window;
	bool		have_from;
	bool		have_to;
	TimestampTz date_from;
	TimestampTz date_to;
} FunnelConfig;

/* The parsed definition, cached across the groups of one query. */
typedef struct FunnelCache
{
	FunnelConfig cfg;
	struct varlena *steps_copy;
	struct varlena *mode_copy;
} FunnelCache;

typedef struct FunnelState
{
	FunnelConfig cfg;
	struct varlena *steps_copy; /* the steps argument, as first seen */
	struct varlena *mode_copy;	/* the mode argument, as first seen */
	FunnelEvent *events;
	int64		nevents;
	int64		capacity;
	StringInfoData pool;		/* breakdown values, each NUL-terminated */
	int32		last_brk;		/* offset of the last value stored */
} FunnelState;

int
FunnelParseMode(const char *name)
{
	if (pg_strcasecmp(name, "ordered") == 0)
		return FUNNEL_ORDERED;
	if (pg_strcasecmp(name, "strict") == 0)
		return FUNNEL_STRICT;
	if (pg_strcasecmp(name, "unordered") == 0)
		return FUNNEL_UNORDERED;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown funnel mode \"%s\"", name),
			 errhint("Use 'ordered', 'strict' or 'unordered'.")));
	return 0;					/* keep the compiler quiet */
}

/*
 * Reads the constant arguments (steps, window, mode, date range) into cfg;
 * the type names point into the steps array, which must outlive cfg.
 */
static void
ParseConfig(FunctionCallInfo fcinfo, FunnelConfig *cfg, MemoryContext cxt)
{
	ArrayType  *steps;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Interval   *window;
	char	   *mode;

	if (PG_ARGISNULL(3) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("funnel steps, conversion window and mode must not be NULL")));
	memset(cfg, 0, sizeof(*cfg));

	mode = text_to_cstring(PG_GETARG_TEXT_PP(5));
	cfg->mode = FunnelParseMode(mode);
	pfree(mode);

	window = PG_GETARG_INTERVAL_P(4);
	if (window->month < 0 || window->day < 0 || window->time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conversion window must not be negative")));
	cfg->window = *window;

	steps = PG_GETARG_ARRAYTYPE_P(3);
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
		int			len;
		int			k;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("funnel step %d is NULL", i + 1)));
		t = (text *) MemoryContextAlloc(cxt, VARSIZE_ANY(DatumGetPointer(elems[i])));
		memcpy(t, DatumGetPointer(elems[i]), VARSIZE_ANY(DatumGetPointer(elems[i])));
		len = VARSIZE_ANY_EXHDR(t);
		for (k = 0; k < cfg->ntypes; k++)
			if (cfg->type_len[k] == len && memcmp(cfg->type_name[k], VARDATA_ANY(t), len) == 0)
				break;
		if (k == cfg->ntypes)
		{
			cfg->type_name[k] = VARDATA_ANY(t);
			cfg->type_len[k] = len;
			cfg->ntypes++;
		}
		cfg->step_type[i] = k;
		cfg->mult[k]++;
	}

	cfg->have_from = !PG_ARGISNULL(7);
	if (cfg->have_from)
		cfg->date_from = PG_GETARG_TIMESTAMPTZ(7);
	cfg->have_to = !PG_ARGISNULL(8);
	if (cfg->have_to)
		cfg->date_to = PG_GETARG_TIMESTAMPTZ(8);
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

static void
CheckSameConfig(const FunnelConfig *a, const FunnelConfig *b)
{
	if (!SameConfig(a, b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel steps, window, mode or date range changed within a group"),
				 errhint("Pass the same funnel definition for every row of a group.")));
}

static struct varlena *
CopyBytes(MemoryContext cxt, Datum d)
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
static bool
ArgsMatch(FunctionCallInfo fcinfo, const FunnelConfig *cfg, const struct varlena *steps,
		  const struct varlena *mode)
{
	return !PG_ARGISNULL(3) && !PG_ARGISNULL(4) && !PG_ARGISNULL(5) &&
		SameBytes(steps, PG_GETARG_DATUM(3)) && SameBytes(mode, PG_GETARG_DATUM(5)) &&
		memcmp(PG_GETARG_INTERVAL_P(4), &cfg->window, sizeof(Interval)) == 0 &&
		PG_ARGISNULL(7) != cfg->have_from && PG_ARGISNULL(8) != cfg->have_to &&
		(!cfg->have_from || PG_GETARG_TIMESTAMPTZ(7) == cfg->date_from) &&
		(!cfg->have_to || PG_GETARG_TIMESTAMPTZ(8) == cfg->date_to);
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

/* Can an event of this type begin an attempt (so its breakdown matters)? */
static inline bool
CanStart(const FunnelConfig *cfg, int type)
{
	return cfg->mode == FUNNEL_UNORDERED ? type >= 0 : type == cfg->step_type[0];
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

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_user_trans called in non-aggregate context");
	state = PG_ARGISNULL(0) ? NULL : (FunnelState *) PG_GETARG_POINTER(0);
	if (state == NULL)
	{
		/*
		 * One state per user: parse the definition once per query and share
		 * it (the cache lives in the function's per-query context, which
		 * outlives every state).
		 */
		FunnelCache *cache = (FunnelCache *) fcinfo->flinfo->fn_extra;

		if (cache == NULL || !ArgsMatch(fcinfo, &cache->cfg, cache->steps_copy, cache->mode_copy))
		{
			MemoryContext cxt = fcinfo->flinfo->fn_mcxt;

			cache = MemoryContextAllocZero(cxt, sizeof(FunnelCache));
			ParseConfig(fcinfo, &cache->cfg, cxt);
			cache->steps_copy = CopyBytes(cxt, PG_GETARG_DATUM(3));
			cache->mode_copy = CopyBytes(cxt, PG_GETARG_DATUM(5));
			fcinfo->flinfo->fn_extra = cache;
		}
		state = NewFunnelState(aggcxt);
		state->cfg = cache->cfg;
		state->steps_copy = cache->steps_copy;
		state->mode_copy = cache->mode_copy;
	}
	else if (!ArgsMatch(fcinfo, &state->cfg, state->steps_copy, state->mode_copy))
	{
		/*
		 * Compared by content on every row (a pointer comparison is not
		 * enough: per-row values reuse the same address); when the bytes
		 * differ, the definitions may still agree ('ordered' vs 'ORDERED').
		 */
		FunnelConfig cfg;

		ParseConfig(fcinfo, &cfg, CurrentMemoryContext);
		CheckSameConfig(&state->cfg, &cfg);
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
		int			len = VARSIZE_ANY_EXHDR(ev);
		const char *data = VARDATA_ANY(ev);

		for (int k = 0; k < state->cfg.ntypes; k++)
			if (state->cfg.type_len[k] == len && memcmp(state->cfg.type_name[k], data, len) == 0)
			{
				type = k;
				break;
			}
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
static void
CopyConfig(FunnelConfig *dst, const FunnelConfig *src, MemoryContext cxt)
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

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_user_combine called in non-aggregate context");
	a = PG_ARGISNULL(0) ? NULL : (FunnelState *) PG_GETARG_POINTER(0);
	b = PG_ARGISNULL(1) ? NULL : (FunnelState *) PG_GETARG_POINTER(1);
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* copy, never alias */
		a = NewFunnelState(aggcxt);
		CopyConfig(&a->cfg, &b->cfg, aggcxt);
	}
	else
		CheckSameConfig(&a->cfg, &b->cfg);
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

/* Serialises a per-user funnel state for a parallel worker's leader. */
PG_FUNCTION_INFO_V1(funnel_user_serialize);
Datum
funnel_user_serialize(PG_FUNCTION_ARGS)
{
	FunnelState *state = (FunnelState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	FunnelStateHeader h;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_user_serialize called in non-aggregate context");
	memset(&h, 0, sizeof(h));
	h.magic = FUNNEL_STATE_MAGIC;
	h.mode = state->cfg.mode;
	h.nsteps = state->cfg.nsteps;
	h.have_from = state->cfg.have_from;
	h.have_to = state->cfg.have_to;
	h.poollen = state->pool.data ? state->pool.len : 0;
	h.nevents = state->nevents;
	h.date_from = state->cfg.date_from;
	h.date_to = state->cfg.date_to;
	h.window = state->cfg.window;

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	appendBinaryStringInfo(&buf, (char *) &h, sizeof(h));
	for (int i = 0; i < state->cfg.nsteps; i++)
	{
		int			k = state->cfg.step_type[i];
		int32		len = state->cfg.type_len[k];

		appendBinaryStringInfo(&buf, (char *) &len, sizeof(len));
		appendBinaryStringInfo(&buf, state->cfg.type_name[k], len);
	}
	appendBinaryStringInfo(&buf, (char *) state->events, state->nevents * sizeof(FunnelEvent));
	if (h.poollen > 0)
		appendBinaryStringInfo(&buf, state->pool.data, h.poollen);
	SET_VARSIZE(buf.data, buf.len);
	PG_RETURN_BYTEA_P(buf.data);
}

static void
Truncated(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("funnel aggregate state is truncated or invalid")));
}

/* Rebuilds a per-user funnel state from funnel_user_serialize's bytea. */
PG_FUNCTION_INFO_V1(funnel_user_deserialize);
Datum
funnel_user_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(b);
	Size		left = VARSIZE_ANY_EXHDR(b);
	FunnelStateHeader h;
	FunnelState *state;
	FunnelConfig *cfg;
	Size		evbytes;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_user_deserialize called in non-aggregate context");
	if (left < sizeof(h))
		Truncated();
	memcpy(&h, p, sizeof(h));
	p += sizeof(h);
	left -= sizeof(h);
	if (h.magic != FUNNEL_STATE_MAGIC || h.mode < FUNNEL_ORDERED || h.mode > FUNNEL_UNORDERED ||
		h.nsteps < 1 || h.nsteps > FUNNEL_MAX_STEPS || (h.have_from & ~1) || (h.have_to & ~1) ||
		h.poollen < 0 || h.nevents < 0 || h.nevents > FUNNEL_MAX_EVENTS ||
		h.window.month < 0 || h.window.day < 0 || h.window.time < 0)
		Truncated();

	state = NewFunnelState(aggcxt);
	cfg = &state->cfg;
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
		int			k;

		if (left < sizeof(len))
			Truncated();
		memcpy(&len, p, sizeof(len));
		p += sizeof(len);
		left -= sizeof(len);
		if (len < 0 || (Size) len > left)
			Truncated();
		for (k = 0; k < cfg->ntypes; k++)
			if (cfg->type_len[k] == len && memcmp(cfg->type_name[k], p, len) == 0)
				break;
		if (k == cfg->ntypes)
		{
			char	   *copy = MemoryContextAlloc(aggcxt, Max(len, 1));

			memcpy(copy, p, len);
			cfg->type_name[k] = copy;
			cfg->type_len[k] = len;
			cfg->ntypes++;
		}
		cfg->step_type[i] = k;
		cfg->mult[k]++;
		p += len;
		left -= len;
	}
	evbytes = mul_size((Size) h.nevents, sizeof(FunnelEvent));
	if (left != add_size(evbytes, (Size) h.poollen))
		Truncated();
	if (h.nevents > 0)
	{
		FunnelEvent *events = palloc(evbytes);

		memcpy(events, p, evbytes);
		AppendEvents(state, aggcxt, events, h.nevents, p + evbytes, h.poollen);
		pfree(events);
	}
	PG_RETURN_POINTER(state);
}

static int
CompareEvents(const void *a, const void *b)
{
	const FunnelEvent *x = a;
	const FunnelEvent *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return 0;
}

/* The user's events grouped by instant, with counts per step type. */
typedef struct Instants
{
	int			n;
	int			ntypes;
	TimestampTz *ts;
	int		   *first;			/* index of the instant's first event */
	int32	   *count;			/* n x ntypes */
} Instants;

static void
BuildInstants(Instants *in, const FunnelEvent *ev, int64 nev, int ntypes)
{
	int			j = -1;

	in->ntypes = ntypes;
	in->ts = palloc(Max(nev, 1) * sizeof(TimestampTz));
	in->first = palloc(Max(nev, 1) * sizeof(int));
	in->count = palloc0(Max(nev, 1) * Max(ntypes, 1) * sizeof(int32));
	for (int64 i = 0; i < nev; i++)
	{
		if (j < 0 || ev[i].ts != in->ts[j])
		{
			j++;
			in->ts[j] = ev[i].ts;
			in->first[j] = (int) i;
		}
		if (ev[i].type >= 0)
			in->count[j * ntypes + ev[i].type]++;
	}
	in->n = j + 1;
}

static inline bool
InRange(const FunnelConfig *cfg, TimestampTz t)
{
	return (!cfg->have_from || t >= cfg->date_from) && (!cfg->have_to || t < cfg->date_to);
}

static TimestampTz
Deadline(const FunnelConfig *cfg, TimestampTz t)
{
	TimestampTz d;

	/* a window of hours and less needs no calendar (nor time zone) */
	if (cfg->window.month == 0 && cfg->window.day == 0)
		return pg_add_s64_overflow(t, cfg->window.time, &d) ? PG_INT64_MAX : d;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(t),
												   IntervalPGetDatum(&cfg->window)));
}

/* The outcome for one user. */
typedef struct FunnelOutcome
{
	int			reached;
	int			start;			/* instant of the first event */
	TimestampTz times[FUNNEL_MAX_STEPS];
} FunnelOutcome;

/*
 * Ordered: from a start instant, each step takes the earliest instant at or
 * after the previous step's that holds an unused event of its type.  Taking
 * as many steps as possible at every instant is optimal (an earlier choice
 * leaves a superset of the later ones), so the walk is greedy.  next[T][j]
 * is the first instant at or after j with an event of type T.
 */
static void
FunnelOrdered(const FunnelConfig *cfg, const Instants *in, FunnelOutcome *best)
{
	int			nt = cfg->ntypes;
	int			n = in->n;
	int		   *next = palloc((Size) (n + 1) * nt * sizeof(int));
	int			avail[FUNNEL_MAX_STEPS];
	int			t1 = cfg->step_type[0];

	for (int t = 0; t < nt; t++)
		next[n * nt + t] = -1;
	for (int j = n - 1; j >= 0; j--)
		for (int t = 0; t < nt; t++)
			next[j * nt + t] = in->count[j * nt + t] > 0 ? j : next[(j + 1) * nt + t];

	for (int j0 = 0; j0 < n; j0++)
	{
		FunnelOutcome cur;
		TimestampTz deadline;
		bool		cut = false;
		int			i = 0;
		int			j = j0;

		if (in->count[j0 * nt + t1] == 0 || !InRange(cfg, in->ts[j0]))
			continue;
		CHECK_FOR_INTERRUPTS();
		deadline = Deadline(cfg, in->ts[j0]);
		for (;;)
		{
			memcpy(avail, &in->count[j * nt], nt * sizeof(int));
			while (i < cfg->nsteps && avail[cfg->step_type[i]] > 0)
			{
				avail[cfg->step_type[i]]--;
				cur.times[i++] = in->ts[j];
			}
			if (i == cfg->nsteps)
				break;
			j = next[(j + 1) * nt + cfg->step_type[i]];
			if (j < 0)
				break;
			if (in->ts[j] > deadline)
			{
				cut = true;
				break;
			}
		}
		if (i > best->reached)
		{
			best->reached = i;
			best->start = j0;
			memcpy(best->times, cur.times, i * sizeof(TimestampTz));
		}
		/* a later start only helps when the window cut this attempt short */
		if (i == cfg->nsteps || !cut)
			break;
	}
	pfree(next);
}

/*
 * Strict: an attempt occupies consecutive instants of the user's events,
 * filling a non-empty run of steps at each (any instant skipped would hold
 * an event between two steps).  R[d][i], for the d-th instant after the
 * start with steps 0..i-1 already filled, is the furthest step reachable;
 * the attempt reported takes the longest run at every instant that still
 * reaches the best, which gives each step its earliest possible time.
 */
static void
FunnelStrict(const FunnelConfig *cfg, const Instants *in, FunnelOutcome *best)
{
	int			nt = cfg->ntypes;
	int			ns = cfg->nsteps;
	int			t1 = cfg->step_type[0];
	int		   *R = palloc((Size) (ns + 1) * (ns + 1) * sizeof(int));

	for (int j0 = 0; j0 < in->n; j0++)
	{
		TimestampTz deadline;
		int			span;
		int			i;
		int			d;
		FunnelOutcome cur;

		if (in->count[j0 * nt + t1] == 0 || !InRange(cfg, in->ts[j0]))
			continue;
		CHECK_FOR_INTERRUPTS();
		deadline = Deadline(cfg, in->ts[j0]);
		/* instants usable: at most one per step, none after the deadline */
		for (span = 1; span < ns && j0 + span < in->n && in->ts[j0 + span] <= deadline; span++)
			;
		for (d = span; d >= 0; d--)
			for (i = ns; i >= 0; i--)
			{
				int			r = i;

				if (d < span && i < ns)
				{
					int			avail[FUNNEL_MAX_STEPS];

					memcpy(avail, &in->count[(j0 + d) * nt], nt * sizeof(int));
					for (int m = i; m < ns && avail[cfg->step_type[m]] > 0; m++)
					{
						int			via;

						avail[cfg->step_type[m]]--;
						via = R[(d + 1) * (ns + 1) + m + 1];
						if (via > r)
							r = via;
					}
				}
				R[d * (ns + 1) + i] = r;
			}

		/* R[d][i] >= i; at the start, step 0 fits by the test above */
		if (R[0] <= best->reached)
			continue;
		cur.reached = R[0];
		i = 0;
		for (d = 0; i < cur.reached; d++)
		{
			int			avail[FUNNEL_MAX_STEPS];
			int			m;
			int			take = i;

			memcpy(avail, &in->count[(j0 + d) * nt], nt * sizeof(int));
			for (m = i; m < ns && avail[cfg->step_type[m]] > 0; m++)
			{
				avail[cfg->step_type[m]]--;
				if (R[(d + 1) * (ns + 1) + m + 1] == cur.reached)
					take = m + 1;
			}
			Assert(take > i);
			for (; i < take; i++)
				cur.times[i] = in->ts[j0 + d];
		}
		best->reached = cur.reached;
		best->start = j0;
		memcpy(best->times, cur.times, cur.reached * sizeof(TimestampTz));
		if (best->reached == ns)
			break;
	}
	pfree(R);
}

/*
 * Unordered: for each start instant, the window [start, deadline] holds
 * min(count, multiplicity) usable events of each step type; the earliest
 * start with the largest total wins, and its steps are the earliest such
 * events in time order.  Both window ends only move forward.
 */
static void
FunnelUnordered(const FunnelConfig *cfg, const Instants *in, FunnelOutcome *best)
{
	int			nt = cfg->ntypes;
	int			win[FUNNEL_MAX_STEPS] = {0};
	int			end = 0;		/* first instant past the window */
	int			bestj = -1;

	for (int j0 = 0; j0 < in->n; j0++)
	{
		TimestampTz deadline;
		int			total = 0;

		/* drop the previous instant, if the window held it */
		if (j0 > 0 && end > j0 - 1)
			for (int t = 0; t < nt; t++)
				win[t] -= in->count[(j0 - 1) * nt + t];
		if (end < j0)
			end = j0;
		if (!InRange(cfg, in->ts[j0]))
			continue;
		CHECK_FOR_INTERRUPTS();
		deadline = Deadline(cfg, in->ts[j0]);
		for (; end < in->n && in->ts[end] <= deadline; end++)
			for (int t = 0; t < nt; t++)
				win[t] += in->count[end * nt + t];
		for (int t = 0; t < nt; t++)
			total += Min(win[t], cfg->mult[t]);
		if (total > best->reached)
		{
			best->reached = total;
			bestj = j0;
			if (total == cfg->nsteps)
				break;
		}
	}
	if (bestj >= 0)
	{
		int			taken[FUNNEL_MAX_STEPS] = {0};
		int			k = 0;

		best->start = bestj;
		for (int j = bestj; k < best->reached; j++)
			for (int t = 0; t < nt; t++)
			{
				int			c = Min(in->count[j * nt + t], cfg->mult[t] - taken[t]);

				taken[t] += c;
				while (c-- > 0)
					best->times[k++] = in->ts[j];
			}
	}
}

/* The least breakdown (byte order, NULL last) of the events that can start at instant j. */
static const char *
FirstTouch(const FunnelState *state, const FunnelEvent *ev, int64 nev, const Instants *in, int j)
{
	const char *least = NULL;

	for (int64 i = in->first[j]; i < nev && ev[i].ts == in->ts[j]; i++)
	{
		const char *s;

		if (!CanStart(&state->cfg, ev[i].type) || ev[i].brk == NO_BREAKDOWN)
			continue;
		s = state->pool.data + ev[i].brk;
		if (least == NULL || strcmp(s, least) < 0)
			least = s;
	}
	return least;
}

/*
 * Final of funnel_user: the composite retention.funnel_progress
 * (reached, started, breakdown, seconds).
 */
PG_FUNCTION_INFO_V1(funnel_user_final);
Datum
funnel_user_final(PG_FUNCTION_ARGS)
{
	FunnelState *state = PG_ARGISNULL(0) ? NULL : (FunnelState *) PG_GETARG_POINTER(0);
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, true, true, true};
	FunnelOutcome best;
	FunnelEvent *ev;
	Instants	in;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "funnel_user_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (state == NULL)
		PG_RETURN_NULL();

	/* sort a copy: a final function must leave its state as it found it */
	ev = palloc(Max(state->nevents, 1) * sizeof(FunnelEvent));
	memcpy(ev, state->events, state->nevents * sizeof(FunnelEvent));
	qsort(ev, state->nevents, sizeof(FunnelEvent), CompareEvents);
	BuildInstants(&in, ev, state->nevents, state->cfg.ntypes);

	best.reached = 0;
	best.start = -1;
	if (in.n > 0)
	{
		if (state->cfg.mode == FUNNEL_ORDERED)
			FunnelOrdered(&state->cfg, &in, &best);
		else if (state->cfg.mode == FUNNEL_STRICT)
			FunnelStrict(&state->cfg, &in, &best);
		else
			FunnelUnordered(&state->cfg, &in, &best);
	}

	values[0] = Int32GetDatum(best.reached);
	if (best.reached > 0)
	{
		Datum		secs[FUNNEL_MAX_STEPS];
		bool		secnulls[FUNNEL_MAX_STEPS];
		int			dims[1] = {state->cfg.nsteps};
		int			lbs[1] = {1};
		const char *brk = FirstTouch(state, ev, state->nevents, &in, best.start);

		values[1] = TimestampTzGetDatum(best.times[0]);
		nulls[1] = false;
		if (brk != NULL)
		{
			values[2] = CStringGetTextDatum(brk);
			nulls[2] = false;
		}
		for (int k = 0; k < state->cfg.nsteps; k++)
		{
			secnulls[k] = k == 0 || k >= best.reached;
			secs[k] = secnulls[k] ? (Datum) 0 :
				Float8GetDatum((double) (best.times[k] - best.times[k - 1]) / USECS_PER_SEC);
		}
		values[3] = PointerGetDatum(construct_md_array(secs, secnulls, 1, dims, lbs, FLOAT8OID,
													   sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		nulls[3] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------------------------------------------------------------------
 * Stage two: retention.funnel_stats and funnel_matrix
 * ---------------------------------------------------------------------
 */

#define FUNNEL_STATS_MAGIC 0x464e5331	/* "FNS1" */
/* at most this many step-to-step durations in one state (1.5 GB) */
#define FUNNEL_MAX_DURATIONS ((int64) 1 << 26)

typedef struct FunnelDuration
{
	float8		seconds;
	int32		step;			/* 2..nsteps: the step reached */
	int32		pad;
} FunnelDuration;

/*
 * The varlena may be longer than the durations in use: inside an aggregate
 * the state grows by doubling, and "capacity" says how many fit.  Text and
 * binary forms carry only the used ones.
 */
typedef struct FunnelStats
{
	int32		vl_len_;
	uint32		magic;
	int32		nsteps;
	int32		pad;
	int64		ndurations;
	int64		capacity;
	int64		users[FUNNEL_MAX_STEPS];	/* users whose furthest step is k + 1 */
	FunnelDuration durations[FLEXIBLE_ARRAY_MEMBER];
} FunnelStats;

#define FUNNEL_STATS_SIZE(cap) (offsetof(FunnelStats, durations) + (Size) (cap) * sizeof(FunnelDuration))

static void
InvalidStats(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid retention.funnel_stats value"),
			 errdetail("%s", detail)));
}

/*
 * The one reader of the layout: every header field against its limits and
 * the others, and the durations against the user counts (every user at
 * furthest step r contributes one duration to each step 2..r).
 */
static void
ValidateStats(const FunnelStats *s, Size size)
{
	int64		expect[FUNNEL_MAX_STEPS + 1] = {0};
	int64		have[FUNNEL_MAX_STEPS + 1] = {0};
	int64		cum = 0;

	if (size < offsetof(FunnelStats, durations) || s->magic != FUNNEL_STATS_MAGIC)
		InvalidStats("The header is missing or of another version.");
	if (s->nsteps < 1 || s->nsteps > FUNNEL_MAX_STEPS || s->ndurations < 0 ||
		s->capacity < s->ndurations || s->capacity > FUNNEL_MAX_DURATIONS ||
		size != FUNNEL_STATS_SIZE(s->capacity))
		InvalidStats("The header's sizes disagree.");
	for (int k = FUNNEL_MAX_STEPS - 1; k >= 0; k--)
	{
		if (s->users[k] < 0 || (k >= s->nsteps && s->users[k] != 0) ||
			pg_add_s64_overflow(cum, s->users[k], &cum))
			InvalidStats("A user count is negative, out of range or beyond the last step.");
		expect[k + 1] = cum;
	}
	for (int64 i = 0; i < s->ndurations; i++)
	{
		const FunnelDuration *d = &s->durations[i];

		if (d->step < 2 || d->step > s->nsteps || isnan(d->seconds) || isinf(d->seconds) ||
			d->seconds < 0)
			InvalidStats("A duration is negative, not finite or of no step.");
		have[d->step]++;
	}
	for (int k = 2; k <= s->nsteps; k++)
		if (have[k] != expect[k])
			InvalidStats("The durations do not match the user counts.");
}

static FunnelStats *
AllocStats(int nsteps, int64 capacity, MemoryContext cxt)
{
	FunnelStats *s;

	if (capacity > FUNNEL_MAX_DURATIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a funnel summary holds at most %lld step durations", (long long) FUNNEL_MAX_DURATIONS),
				 errhint("Break the funnel down into smaller groups.")));
	s = MemoryContextAllocZero(cxt, FUNNEL_STATS_SIZE(capacity));
	SET_VARSIZE(s, FUNNEL_STATS_SIZE(capacity));
	s->magic = FUNNEL_STATS_MAGIC;
	s->nsteps = nsteps;
	s->capacity = capacity;
	return s;
}

/* A copy of s with room for at least "room" durations, in the current context. */
static FunnelStats *
GrowStats(const FunnelStats *s, int64 room)
{
	int64		cap = Max(Max(room, s->capacity * 2), 16);
	FunnelStats *g;

	cap = Min(cap, Max(room, FUNNEL_MAX_DURATIONS));
	g = AllocStats(s->nsteps, cap, CurrentMemoryContext);
	memcpy(g->users, s->users, sizeof(s->users));
	memcpy(g->durations, s->durations, s->ndurations * sizeof(FunnelDuration));
	g->ndurations = s->ndurations;
	return g;
}

/* The state argument, detoasted; a private copy unless we are its aggregate. */
static FunnelStats *
StatsArg(FunctionCallInfo fcinfo, int argno)
{
	FunnelStats *s;

	if (AggCheckCallContext(fcinfo, NULL))
		s = (FunnelStats *) PG_DETOAST_DATUM(PG_GETARG_DATUM(argno));
	else
		s = (FunnelStats *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(argno));
	/* the full check costs a pass over the durations: once per value seen */
	if (VARSIZE(s) < offsetof(FunnelStats, durations) || s->magic != FUNNEL_STATS_MAGIC ||
		s->nsteps < 1 || s->nsteps > FUNNEL_MAX_STEPS || s->ndurations < 0 ||
		s->capacity < s->ndurations || s->capacity > FUNNEL_MAX_DURATIONS ||
		VARSIZE(s) != FUNNEL_STATS_SIZE(s->capacity))
		InvalidStats("The header's sizes disagree.");
	return s;
}

static void
CheckStatsSteps(int expected, int got)
{
	if (expected != got)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel of %d steps cannot be combined with one of %d steps", expected, got),
				 errhint("Pass seconds arrays of the same length (one element per step) in a group.")));
}

/*
 * Transition of funnel_matrix(reached, seconds): counts the user at their
 * furthest step and keeps their durations.
 */
PG_FUNCTION_INFO_V1(funnel_matrix_trans);
Datum
funnel_matrix_trans(PG_FUNCTION_ARGS)
{
	FunnelStats *s = PG_ARGISNULL(0) ? NULL : StatsArg(fcinfo, 0);
	ArrayType  *secs;
	int32		reached;
	int			nsteps;
	float8	   *v;
	bits8	   *nullbits;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_GETARG_INT32(1) <= 0)
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	reached = PG_GETARG_INT32(1);
	secs = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(secs) != 1 || ARR_ELEMTYPE(secs) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("funnel seconds must be a one-dimensional float8 array")));
	nsteps = ARR_DIMS(secs)[0];
	if (nsteps < 1 || nsteps > FUNNEL_MAX_STEPS || reached > nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("furthest step %d does not fit a funnel of %d steps", reached, nsteps),
				 errdetail("A funnel has between 1 and %d steps.", FUNNEL_MAX_STEPS)));
	if (s == NULL)
	{
		MemoryContext cxt = CurrentMemoryContext;

		s = AllocStats(nsteps, 16, cxt);
	}
	else
		CheckStatsSteps(s->nsteps, nsteps);
	if (s->ndurations + reached - 1 > s->capacity)
		s = GrowStats(s, s->ndurations + reached - 1);

	v = (float8 *) ARR_DATA_PTR(secs);
	nullbits = ARR_NULLBITMAP(secs);
	/* elements 2..reached must be present; pos walks the packed data */
	for (int k = 0, pos = 0; k < nsteps; k++)
	{
		bool		isnull = nullbits && !(nullbits[k / 8] & (1 << (k % 8)));
		FunnelDuration *d;

		if (k >= 1 && k < reached)
		{
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("the seconds to step %d of a user who reached step %d are NULL", k + 1, reached)));
			if (isnan(v[pos]) || isinf(v[pos]) || v[pos] < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the seconds to step %d must be finite and not negative, got %g", k + 1, v[pos])));
			d = &s->durations[s->ndurations++];
			d->seconds = v[pos];
			d->step = k + 1;
			d->pad = 0;
		}
		if (!isnull)
			pos++;
	}
	s->users[reached - 1]++;
	PG_RETURN_POINTER(s);
}

/* Combines two funnel summaries (parallel workers, Citus nodes). */
PG_FUNCTION_INFO_V1(funnel_matrix_combine);
Datum
funnel_matrix_combine(PG_FUNCTION_ARGS)
{
	FunnelStats *a = StatsArg(fcinfo, 0);
	FunnelStats *b = StatsArg(fcinfo, 1);
	int64		need;

	CheckStatsSteps(a->nsteps, b->nsteps);
	if (pg_add_s64_overflow(a->ndurations, b->ndurations, &need) || need > FUNNEL_MAX_DURATIONS)
		AllocStats(a->nsteps, FUNNEL_MAX_DURATIONS + 1, CurrentMemoryContext);	/* raises */
	if (need > a->capacity)
		a = GrowStats(a, need);
	for (int k = 0; k < FUNNEL_MAX_STEPS; k++)
		if (pg_add_s64_overflow(a->users[k], b->users[k], &a->users[k]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("funnel user count out of range")));
	for (int64 i = 0; i < b->ndurations; i++)
	{
		if (b->durations[i].step < 2 || b->durations[i].step > a->nsteps)
			InvalidStats("A duration is of no step.");
		a->durations[a->ndurations++] = b->durations[i];
	}
	PG_RETURN_POINTER(a);
}

static int
CompareDurations(const void *a, const void *b)
{
	const FunnelDuration *x = a;
	const FunnelDuration *y = b;

	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (x->seconds != y->seconds)
		return x->seconds < y->seconds ? -1 : 1;
	return 0;
}

/*
 * Final of funnel_matrix: a float8[nsteps][3] of {users at the step or
 * further, conversion rate from step 1, median seconds from the previous
 * step}; NULL where undefined.
 */
PG_FUNCTION_INFO_V1(funnel_matrix_final);
Datum
funnel_matrix_final(PG_FUNCTION_ARGS)
{
	FunnelStats *s;
	FunnelDuration *d;
	Datum	   *values;
	bool	   *nulls;
	int			dims[2];
	int			lbs[2] = {1, 1};
	int64		cum[FUNNEL_MAX_STEPS + 1] = {0};
	int64		pos = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (FunnelStats *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	ValidateStats(s, VARSIZE(s));

	d = palloc(Max(s->ndurations, 1) * sizeof(FunnelDuration));
	memcpy(d, s->durations, s->ndurations * sizeof(FunnelDuration));
	qsort(d, s->ndurations, sizeof(FunnelDuration), CompareDurations);

	for (int k = s->nsteps - 1; k >= 0; k--)
		cum[k] = cum[k + 1] + s->users[k];
	dims[0] = s->nsteps;
	dims[1] = 3;
	values = palloc(sizeof(Datum) * s->nsteps * 3);
	nulls = palloc0(sizeof(bool) * s->nsteps * 3);
	for (int k = 0; k < s->nsteps; k++)
	{
		int64		c = k == 0 ? 0 : cum[k];

		values[k * 3] = Float8GetDatum((double) cum[k]);
		if (cum[0] > 0)
			values[k * 3 + 1] = Float8GetDatum((double) cum[k] / (double) cum[0]);
		else
			nulls[k * 3 + 1] = true;
		if (c > 0)
		{
			/* percentile_cont(0.5): interpolate between the middle two */
			double		rank = 0.5 * (double) (c - 1);
			int64		lo = (int64) floor(rank);
			int64		hi = (int64) ceil(rank);
			double		vlo = d[pos + lo].seconds;
			double		vhi = d[pos + hi].seconds;

			values[k * 3 + 2] = Float8GetDatum(vlo + (rank - (double) lo) * (vhi - vlo));
			pos += c;
		}
		else
			nulls[k * 3 + 2] = true;
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(values, nulls, 2, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Text form: nsteps|users at furthest step 1,2,...|step:seconds,...
 * e.g. 3|4,2,1|2:10,2:60,3:5 (the durations in any order).
 */
PG_FUNCTION_INFO_V1(funnel_stats_in);
Datum
funnel_stats_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *p = str;
	char	   *end;
	long		nsteps;
	FunnelStats *s;
	int64		cap = 16;

#define SYNTAX() \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION), \
			 errmsg("invalid input syntax for type %s: \"%s\"", "retention.funnel_stats", str), \
			 errdetail("Expected nsteps|users,...|step:seconds,...")))

	errno = 0;
	nsteps = strtol(p, &end, 10);
	if (end == p || errno != 0 || *end != '|' || nsteps < 1 || nsteps > FUNNEL_MAX_STEPS)
		SYNTAX();
	s = AllocStats((int) nsteps, cap, CurrentMemoryContext);
	p = end + 1;
	for (int k = 0; k < nsteps; k++)
	{
		long long	u;

		errno = 0;
		u = strtoll(p, &end, 10);
		if (end == p || errno != 0 || u < 0 || *end != (k == nsteps - 1 ? '|' : ','))
			SYNTAX();
		s->users[k] = u;
		p = end + 1;
	}
	while (*p != '\0')
	{
		long		step;
		double		sec;

		errno = 0;
		step = strtol(p, &end, 10);
		if (end == p || errno != 0 || *end != ':' || step < 2 || step > nsteps)
			SYNTAX();
		p = end + 1;
		errno = 0;
		sec = strtod(p, &end);
		if (end == p || errno != 0 || (*end != ',' && *end != '\0'))
			SYNTAX();
		if (s->ndurations == s->capacity)
		{
			FunnelStats *g = GrowStats(s, s->ndurations + 1);

			pfree(s);
			s = g;
		}
		s->durations[s->ndurations].seconds = sec;
		s->durations[s->ndurations].step = (int32) step;
		s->ndurations++;
		p = *end == ',' ? end + 1 : end;
		if (*end == ',' && *p == '\0')
			SYNTAX();
	}
#undef SYNTAX
	ValidateStats(s, VARSIZE(s));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(funnel_stats_out);
Datum
funnel_stats_out(PG_FUNCTION_ARGS)
{
	FunnelStats *s = (FunnelStats *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	ValidateStats(s, VARSIZE(s));
	initStringInfo(&buf);
	appendStringInfo(&buf, "%d|", s->nsteps);
	for (int k = 0; k < s->nsteps; k++)
		appendStringInfo(&buf, "%lld%c", (long long) s->users[k], k == s->nsteps - 1 ? '|' : ',');
	for (int64 i = 0; i < s->ndurations; i++)
	{
		char	   *f = float8out_internal(s->durations[i].seconds);

		appendStringInfo(&buf, "%s%d:%s", i > 0 ? "," : "", s->durations[i].step, f);
		pfree(f);
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(funnel_stats_recv);
Datum
funnel_stats_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		nsteps = pq_getmsgint(buf, 4);
	int64		n;
	FunnelStats *s;

	if (nsteps < 1 || nsteps > FUNNEL_MAX_STEPS)
		InvalidStats("The number of steps is out of range.");
	n = pq_getmsgint64(buf);
	if (n < 0 || n > FUNNEL_MAX_DURATIONS || n > (buf->len - buf->cursor) / 12)
		InvalidStats("The number of durations is out of range.");
	s = AllocStats(nsteps, Max(n, 1), CurrentMemoryContext);
	for (int k = 0; k < nsteps; k++)
		s->users[k] = pq_getmsgint64(buf);
	for (int64 i = 0; i < n; i++)
	{
		s->durations[i].step = pq_getmsgint(buf, 4);
		s->durations[i].seconds = pq_getmsgfloat8(buf);
	}
	s->ndurations = n;
	ValidateStats(s, VARSIZE(s));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(funnel_stats_send);
Datum
funnel_stats_send(PG_FUNCTION_ARGS)
{
	FunnelStats *s = (FunnelStats *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	ValidateStats(s, VARSIZE(s));
	pq_begintypsend(&buf);
	pq_sendint32(&buf, s->nsteps);
	pq_sendint64(&buf, s->ndurations);
	for (int k = 0; k < s->nsteps; k++)
		pq_sendint64(&buf, s->users[k]);
	for (int64 i = 0; i < s->ndurations; i++)
	{
		pq_sendint32(&buf, s->durations[i].step);
		pq_sendfloat8(&buf, s->durations[i].seconds);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}
