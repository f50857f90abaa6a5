/*-------------------------------------------------------------------------
 *
 * funnel_groups.c
 *	  The funnel of a whole table in one aggregate, without GROUP BY:
 *	  retention.funnel_groups(user_id, ts, event, steps, window, mode,
 *	  breakdown, date_from, date_to) gives, per breakdown value, what
 *	  funnel_matrix gives over funnel_user grouped by user (funnel_user.c
 *	  has the semantics).
 *
 * Grouping 10 million rows by user costs a hash aggregate of 500,000
 * states that spills to disk; instead the transition appends each event
 * that matters (24 bytes, no per-user state) to one of 256 partitions
 * chosen by a hash of the user, and the final function takes one
 * partition at a time (a few thousand users, in cache): it groups the
 * partition's events by user with a small hash table and a counting
 * sort, runs stage one's search on each user (funnel_search.c) and
 * counts the outcomes per breakdown as stage two does (funnel_stats.c).
 * Breakdown values are interned, once per distinct value.  A parallel
 * worker's state leaves with each partition sorted by (user, ts, type),
 * grouped in the worker, so that the leader only merges the workers' runs.
 *
 * This file holds the state and its transition, combine and (de)serialise
 * functions; funnel_count.c the final function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "agg_context.h"
#include "bytea_state.h"
#include "funnel.h"
#include "funnel_groups.h"

#define FUNNEL_GROUPS_MAGIC 0x464e4731	/* "FNG1" */
/* a serialised state must fit a bytea */
#define FUNNEL_GROUPS_MAX_ROWS ((int64) (MaxAllocSize / 2 / sizeof(FunnelRow)))
/* the events one process keeps: 1 GB (retention.funnel uses it only for tables that fit) */
#define FUNNEL_GROUPS_MAX_ROOM ((int64) (MaxAllocSize / sizeof(FunnelRow)))

/* an interned breakdown value: an offset into the pool */
typedef struct BrkEntry
{
	int32		off;
	char		status;
} BrkEntry;

static inline uint32 BrkHash(StringInfo pool, int32 off);

#define SH_PREFIX		brkhash
#define SH_ELEMENT_TYPE BrkEntry
#define SH_KEY_TYPE		int32
#define SH_KEY			off
#define SH_HASH_KEY(tb, key) BrkHash((StringInfo) (tb)->private_data, key)
#define SH_EQUAL(tb, a, b) \
	(strcmp(((StringInfo) (tb)->private_data)->data + (a), \
			((StringInfo) (tb)->private_data)->data + (b)) == 0)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static inline uint32
BrkHash(StringInfo pool, int32 off)
{
	const char *s = pool->data + off;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static FunnelAll *
NewAll(MemoryContext cxt)
{
	FunnelAll  *state = MemoryContextAllocZero(cxt, sizeof(FunnelAll));

	state->cxt = cxt;
	state->last_brk = NO_BREAKDOWN;
	return state;
}

/* Interns the len bytes at data (no NUL among them); returns the offset. */
static int32
Intern(FunnelAll *state, const char *data, int len)
{
	int32		off;
	bool		found;
	BrkEntry   *e;

	if (state->last_brk != NO_BREAKDOWN &&
		strncmp(state->pool.data + state->last_brk, data, len) == 0 &&
		state->pool.data[state->last_brk + len] == '\0')
		return state->last_brk;
	if (state->brks == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(state->cxt);

		initStringInfo(&state->pool);
		state->brks = brkhash_create(state->cxt, 64, &state->pool);
		MemoryContextSwitchTo(old);
	}
	if ((int64) state->pool.len + len + 1 > MaxAllocSize / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel breakdown values exceed %d bytes", (int) (MaxAllocSize / 2))));
	/* append, look up by the new offset, and take the copy back if known */
	off = state->pool.len;
	appendBinaryStringInfo(&state->pool, data, len);
	appendStringInfoChar(&state->pool, '\0');
	e = brkhash_insert(state->brks, off, &found);
	if (found)
	{
		state->pool.len = off;
		state->pool.data[off] = '\0';
	}
	state->last_brk = e->off;
	return e->off;
}

/* Puts chunk c (of c->n rows) first in partition "part". */
static void
PushChunk(FunnelAll *state, int part, FunnelChunk *c)
{
	FunnelPart *p = &state->parts[part];

	if (p->head != NULL)
		p->head->n = p->fill;
	c->next = p->head;
	p->head = c;
	p->rows = c->rows;
	p->fill = c->n;
	p->cap = c->cap;
	p->n += c->n;
	state->nrows += c->n;
}

/* A new, empty chunk of room for cap rows, first in partition "part". */
static FunnelChunk *
NewChunk(FunnelAll *state, int part, int64 cap)
{
	FunnelChunk *c;

	/* a direct call over a large table must not exhaust memory */
	if (state->room + cap > FUNNEL_GROUPS_MAX_ROOM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("funnel_groups keeps at most %lld events in memory",
						(long long) FUNNEL_GROUPS_MAX_ROOM),
				 errhint("Group the events by user with funnel_user.")));
	state->room += cap;
	c = MemoryContextAllocHuge(state->cxt, offsetof(FunnelChunk, rows) + cap * sizeof(FunnelRow));

	c->n = 0;
	c->cap = cap;
	c->sorted = false;
	PushChunk(state, part, c);
	return c;
}

static inline void
AddRow(FunnelAll *state, int part, int64 user_id, const FunnelEvent *ev)
{
	FunnelPart *p = &state->parts[part];
	FunnelRow  *r;

	if (unlikely(p->fill == p->cap))
		NewChunk(state, part, p->cap == 0 ? FIRST_CHUNK : Min(p->cap * 2, LARGEST_CHUNK));
	r = &p->rows[p->fill++];
	r->user_id = user_id;
	r->ev = *ev;
}

/* Writes the fill counts into the chunks and counts the rows. */
void
FunnelSettle(FunnelAll *state)
{
	state->nrows = 0;
	for (int part = 0; part <= NPARTS; part++)
	{
		FunnelPart *p = &state->parts[part];

		p->n = 0;
		if (p->head != NULL)
			p->head->n = p->fill;
		for (FunnelChunk *c = p->head; c != NULL; c = c->next)
			p->n += c->n;
		state->nrows += p->n;
	}
}

/* Are the aggregate's definition arguments (steps to date_to) constants? */
static bool
DefinitionIsConst(FunctionCallInfo fcinfo)
{
	Aggref	   *agg = AggGetAggref(fcinfo);
	ListCell   *lc;
	int			i = 0;

	if (agg == NULL)
		return false;
	foreach(lc, agg->args)
	{
		TargetEntry *te = lfirst_node(TargetEntry, lc);

		/* arguments 4 to 9 but the breakdown (7) */
		i++;
		if (i >= 4 && i != 7 && !IsA(te->expr, Const))
			return false;
	}
	return i == 9;
}

/*
 * Transition of funnel_groups(user_id, ts, event, steps, window, mode,
 * breakdown, date_from, date_to): keeps the event if it matters.
 */
PG_FUNCTION_INFO_V1(funnel_groups_trans);
Datum
funnel_groups_trans(PG_FUNCTION_ARGS)
{
	FunnelAll  *state = STATE_ARG(FunnelAll, 0);
	FunnelEvent ev;
	int64		user_id = 0;
	int			part = NULL_PART;

	if (state == NULL)
	{
		MemoryContext aggcxt = AggregateContext(fcinfo, "funnel_groups_trans");

		state = NewAll(aggcxt);
		FunnelParseConfig(fcinfo, 2, &state->cfg, aggcxt);
		state->steps_copy = FunnelCopyBytes(aggcxt, PG_GETARG_DATUM(4));
		state->mode_copy = FunnelCopyBytes(aggcxt, PG_GETARG_DATUM(6));
		state->args_const = DefinitionIsConst(fcinfo);
	}
	else if (!state->args_const &&
			 !FunnelArgsMatch(fcinfo, 2, &state->cfg, state->steps_copy, state->mode_copy))
	{
		FunnelConfig cfg;

		FunnelParseConfig(fcinfo, 2, &cfg, CurrentMemoryContext);
		FunnelCheckSameConfig(&state->cfg, &cfg);
	}

	/* events without a finite time are not placed in any funnel */
	if (PG_ARGISNULL(2))
		PG_RETURN_POINTER(state);
	ev.ts = PG_GETARG_TIMESTAMPTZ(2);
	if (TIMESTAMP_NOT_FINITE(ev.ts))
		PG_RETURN_POINTER(state);
	ev.type = OTHER_EVENT;
	if (!PG_ARGISNULL(3))
	{
		text	   *t = PG_GETARG_TEXT_PP(3);

		ev.type = FindStepType(&state->cfg, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
	/* only strict funnels look at events that fill no step */
	if (ev.type == OTHER_EVENT && state->cfg.mode != FUNNEL_STRICT)
		PG_RETURN_POINTER(state);
	ev.brk = NO_BREAKDOWN;
	if (CanStart(&state->cfg, ev.type) && !PG_ARGISNULL(7))
	{
		text	   *b = PG_GETARG_TEXT_PP(7);

		ev.brk = Intern(state, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	}
	if (!PG_ARGISNULL(1))
	{
		user_id = PG_GETARG_INT64(1);
		part = PartOf(user_id);
	}
	AddRow(state, part, user_id, &ev);
	PG_RETURN_POINTER(state);
}

/*
 * The offsets in dst's pool of the values of a pool of NUL-terminated
 * strings (len bytes), indexed by their offset there; -1 elsewhere.
 */
static int32 *
MapPool(FunnelAll *dst, const char *pool, int32 len)
{
	int32	   *map;

	if (len > 0 && pool[len - 1] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid funnel aggregate state")));
	map = palloc(Max(len, 1) * sizeof(int32));
	memset(map, 0xFF, Max(len, 1) * sizeof(int32));
	for (int32 off = 0; off < len;)
	{
		int			n = (int) strlen(pool + off);

		map[off] = Intern(dst, pool + off, n);
		off += n + 1;
	}
	return map;
}

/*
 * Checks n rows of partition "part" of dst (they may come from a serialised
 * state) and renumbers their breakdowns through map (MapPool of their pool,
 * of maplen bytes); says whether they are sorted by (user_id, ts, type).
 */
static bool
CheckRows(const FunnelAll *dst, int part, FunnelRow *rows, int64 n, const int32 *map, int32 maplen)
{
	bool		sorted = true;

	for (int64 i = 0; i < n; i++)
	{
		FunnelRow  *r = &rows[i];

		if (i > 0 && RowLess(r, r - 1))
			sorted = false;
		if (r->ev.type < OTHER_EVENT || r->ev.type >= dst->cfg.ntypes ||
			TIMESTAMP_NOT_FINITE(r->ev.ts) ||
			(part == NULL_PART ? r->user_id != 0 : PartOf(r->user_id) != part) ||
			(r->ev.brk != NO_BREAKDOWN &&
			 (r->ev.brk < 0 || r->ev.brk >= maplen || map[r->ev.brk] < 0)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid funnel aggregate state")));
		if (r->ev.brk != NO_BREAKDOWN)
			r->ev.brk = map[r->ev.brk];
	}
	CHECK_FOR_INTERRUPTS();
	return sorted;
}

/* Appends n rows of partition "part" (at src, maybe unaligned) to dst, checked. */
static void
AppendRows(FunnelAll *dst, int part, const char *src, int64 n, const int32 *map, int32 maplen)
{
	FunnelChunk *c;

	if (n == 0)
		return;
	c = MemoryContextAllocHuge(dst->cxt, offsetof(FunnelChunk, rows) + n * sizeof(FunnelRow));
	memcpy(c->rows, src, n * sizeof(FunnelRow));
	c->sorted = CheckRows(dst, part, c->rows, n, map, maplen);
	c->n = c->cap = n;
	PushChunk(dst, part, c);
}

/* Moves the (settled) chunks of a deserialised state's partition into dst's. */
static void
TakeRows(FunnelAll *dst, FunnelAll *src, int part, const int32 *map, int32 maplen)
{
	FunnelChunk *c = src->parts[part].head;
	FunnelChunk *next;

	for (; c != NULL; c = next)
	{
		next = c->next;
		if (c->n == 0)
			continue;
		if (maplen > 0)
			c->sorted = CheckRows(dst, part, c->rows, c->n, map, maplen) && c->sorted;
		PushChunk(dst, part, c);
	}
	src->nrows -= src->parts[part].n;
	memset(&src->parts[part], 0, sizeof(FunnelPart));
}

/* Combines two partial states (parallel workers). */
PG_FUNCTION_INFO_V1(funnel_groups_combine);
Datum
funnel_groups_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = AggregateContext(fcinfo, "funnel_groups_combine");
	FunnelAll  *a = STATE_ARG(FunnelAll, 0);
	FunnelAll  *b = STATE_ARG(FunnelAll, 1);
	int32		poollen;
	int32	   *map;

	if (b == NULL)
		return KeepState(fcinfo);
	if (a == NULL)
	{
		/* copy, never alias */
		a = NewAll(aggcxt);
		FunnelCopyConfig(&a->cfg, &b->cfg, aggcxt);
	}
	else
		FunnelCheckSameConfig(&a->cfg, &b->cfg);
	FunnelSettle(b);
	poollen = b->pool.data ? b->pool.len : 0;
	map = MapPool(a, b->pool.data, poollen);
	for (int p = 0; p <= NPARTS; p++)
	{
		/* a deserialised state is read once: its (checked) rows can move */
		if (b->transient && b->cxt == aggcxt)
			TakeRows(a, b, p, map, poollen);
		else
			for (FunnelChunk *c = b->parts[p].head; c != NULL; c = c->next)
				AppendRows(a, p, (const char *) c->rows, c->n, map, poollen);
	}
	pfree(map);
	PG_RETURN_POINTER(a);
}

/* Rebuilds a state from funnel_groups_serialize's bytea, validating it. */
PG_FUNCTION_INFO_V1(funnel_groups_deserialize);
Datum
funnel_groups_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = AggregateContext(fcinfo, "funnel_groups_deserialize");
	ByteaReader r;
	FunnelAll  *state = NewAll(aggcxt);
	int32		poollen;
	int64		nrows;
	int64		counts[NPARTS + 1];
	int64		total = 0;
	const char *pool;
	int32	   *map;

	ByteaReaderInit(&r, PG_GETARG_BYTEA_PP(0), "funnel aggregate state is truncated or invalid");
	FunnelReadConfig(&r, FUNNEL_GROUPS_MAGIC, &state->cfg, aggcxt, &poollen, &nrows,
					 FUNNEL_GROUPS_MAX_ROWS);
	if ((Size) poollen > ByteaLeft(&r))
		ByteaReaderError(&r);
	pool = ByteaTake(&r, poollen);
	ByteaRead(&r, counts, sizeof(counts));
	for (int p = 0; p <= NPARTS; p++)
	{
		if (counts[p] < 0 || counts[p] > nrows)
			ByteaReaderError(&r);
		total += counts[p];
	}
	if (total != nrows || ByteaLeft(&r) != (Size) nrows * sizeof(FunnelRow))
		ByteaReaderError(&r);
	map = MapPool(state, pool, poollen);
	for (int p = 0; p <= NPARTS; p++)
		AppendRows(state, p, ByteaTake(&r, (Size) counts[p] * sizeof(FunnelRow)), counts[p], map,
				   poollen);
	pfree(map);
	state->transient = true;
	PG_RETURN_POINTER(state);
}

/* Serialises a state for a parallel worker's leader. */
PG_FUNCTION_INFO_V1(funnel_groups_serialize);
Datum
funnel_groups_serialize(PG_FUNCTION_ARGS)
{
	FunnelAll  *state = (FunnelAll *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int32		poollen = state->pool.data ? state->pool.len : 0;

	AggregateContext(fcinfo, "funnel_groups_serialize");
	FunnelSettle(state);

	if (state->nrows > FUNNEL_GROUPS_MAX_ROWS ||
		state->nrows * sizeof(FunnelRow) + poollen > MaxAllocSize - 128 * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a funnel state of %lld events is too large to leave a parallel worker",
						(long long) state->nrows),
				 errhint("Group the events by user with funnel_user, or run without parallel workers.")));
	ByteaStateBegin(&buf);
	/* one allocation: the rows are most of it */
	enlargeStringInfo(&buf, state->nrows * sizeof(FunnelRow) + poollen + 64 * 1024);
	FunnelWriteConfig(&buf, FUNNEL_GROUPS_MAGIC, &state->cfg, poollen, state->nrows);
	if (poollen > 0)
		appendBinaryStringInfo(&buf, state->pool.data, poollen);
	for (int p = 0; p <= NPARTS; p++)
		appendBinaryStringInfo(&buf, (char *) &state->parts[p].n, sizeof(int64));
	FunnelWriteSortedRows(&buf, state);
	PG_RETURN_BYTEA_P(ByteaStateEnd(&buf));
}
