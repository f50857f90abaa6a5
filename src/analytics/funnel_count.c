/*-------------------------------------------------------------------------
 *
 * funnel_count.c
 *	  The final function of funnel_groups (funnel_groups.c): one partition
 *	  at a time, the events grouped by user (a small hash table and a
 *	  counting sort, or a merge of the sorted runs of parallel workers),
 *	  stage one's search on each user (funnel_search.c) and the outcomes
 *	  counted per breakdown value (funnel_stats.c).  Also the sorted rows
 *	  of a serialised state, grouped the same way in the worker.
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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "agg_context.h"
#include "funnel_groups.h"

/* a breakdown value's summary, keyed by its offset (NO_BREAKDOWN: NULL) */
typedef struct GroupEntry
{
	int32		off;
	char		status;
	FunnelStats *stats;
} GroupEntry;

#define SH_PREFIX		grphash
#define SH_ELEMENT_TYPE GroupEntry
#define SH_KEY_TYPE		int32
#define SH_KEY			off
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) (key))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct HashSlot
{
	int64		key;
	int32		slot;			/* user slot, -1 when empty */
} HashSlot;

/* Buffers reused across partitions, sized for the largest. */
typedef struct PartWork
{
	int64		size;			/* hash slots, a power of two >= 2 x users */
	int			shift;			/* 64 - log2(size) */
	int64		hashcap;		/* slots allocated */
	HashSlot   *hash;
	int32	   *row_user;		/* user slot per row */
	int64	   *user_id;		/* per user slot */
	int64	   *start;			/* first event per user slot, then its end */
	FunnelEvent *events;		/* the partition's events, by user */
	FunnelScratch scratch;		/* the search's */
} PartWork;

/* Counts one user's outcome into the summary of its breakdown. */
static void
CountUser(const FunnelAll *state, grphash_hash *groups, FunnelEvent *ev, int64 n, bool sorted,
		  FunnelScratch *scratch)
{
	FunnelOutcome o;
	const char *brk;
	GroupEntry *g;
	bool		found;

	if (!sorted)
		FunnelSortEvents(ev, n);
	FunnelSearch(&state->cfg, ev, n, &o, scratch);
	if (o.reached > 0)
	{
		brk = FunnelFirstTouch(&state->cfg, state->pool.data, ev, n, o.start_event);
		g = grphash_insert(groups, brk == NULL ? NO_BREAKDOWN : (int32) (brk - state->pool.data),
						   &found);
		if (!found)
			g->stats = NULL;
		g->stats = FunnelStatsAddUser(g->stats, state->cfg.nsteps, &o);
	}
}

/* An empty hash table of at least "size" slots (a power of two). */
static void
HashReset(PartWork *w, int64 size)
{
	for (w->size = 64, w->shift = 58; w->size < size; w->size *= 2, w->shift--)
		;
	if (w->hashcap < w->size)
	{
		if (w->hash != NULL)
			pfree(w->hash);
		w->hash = palloc_extended(w->size * sizeof(HashSlot), MCXT_ALLOC_HUGE);
		w->hashcap = w->size;
	}
	memset(w->hash, 0xFF, w->size * sizeof(HashSlot));
}

static inline int64
HashFind(const PartWork *w, int64 id)
{
	/* Fibonacci hashing: the high bits, not the partition's low ones */
	int64		h = (int64) (((uint64) id * UINT64CONST(0x9E3779B97F4A7C15)) >> w->shift);

	while (w->hash[h].slot >= 0 && w->hash[h].key != id)
		h = (h + 1) & (w->size - 1);
	return h;
}

/* Doubles the hash table (kept at most half full). */
static void
HashGrow(PartWork *w)
{
	HashSlot   *old = w->hash;
	int64		oldsize = w->size;

	w->hash = NULL;
	w->hashcap = 0;
	HashReset(w, oldsize * 2);
	for (int64 i = 0; i < oldsize; i++)
		if (old[i].slot >= 0)
			w->hash[HashFind(w, old[i].key)] = old[i];
	pfree(old);
}

/* The user slot of id in the partition's hash table, a new one if unseen. */
static inline int32
UserSlot(PartWork *w, int64 id, int32 *nusers)
{
	int64		h = HashFind(w, id);
	int32		u = w->hash[h].slot;

	if (u < 0)
	{
		u = (*nusers)++;
		w->hash[h].key = id;
		w->hash[h].slot = u;
		w->start[u] = 0;
		w->user_id[u] = id;
		if ((int64) *nusers * 2 > w->size)
			HashGrow(w);
	}
	return u;
}

/*
 * Groups one partition's events by user into w->events; returns the number
 * of users, whose events end at w->start[u] (and begin at the previous end).
 */
static int32
GroupPart(const FunnelPart *part, PartWork *w)
{
	int32		nusers = 0;
	int64		i = 0;

	/* users have a few events each: start small, grow if not */
	HashReset(w, part->n / 4);
	for (const FunnelChunk *c = part->head; c != NULL; c = c->next)
		for (int64 k = 0; k < c->n; k++, i++)
		{
			int32		u = UserSlot(w, c->rows[k].user_id, &nusers);

			w->row_user[i] = u;
			w->start[u]++;
		}
	/* counts to starts, then a counting sort of the events by user */
	for (int64 u = 0, sum = 0; u < nusers; u++)
	{
		int64		n = w->start[u];

		w->start[u] = sum;
		sum += n;
	}
	i = 0;
	for (const FunnelChunk *c = part->head; c != NULL; c = c->next)
		for (int64 k = 0; k < c->n; k++, i++)
			w->events[w->start[w->row_user[i]]++] = c->rows[k].ev;
	return nusers;
}

/*
 * Counts the users of a partition whose chunks are each sorted by (user_id,
 * ts, type) (the serialised states of parallel workers): a merge of the
 * chunks gives each user's events in order, with no hashing nor sorting.
 */
static void
MergePart(const FunnelAll *state, const FunnelPart *part, PartWork *w, grphash_hash *groups)
{
	const FunnelRow *pos[MERGE_WAYS];
	const FunnelRow *end[MERGE_WAYS];
	int			k = 0;
	int64		n = 0;
	int64		users = 0;

	for (const FunnelChunk *c = part->head; c != NULL; c = c->next)
	{
		pos[k] = c->rows;
		end[k++] = c->rows + c->n;
	}
	for (;;)
	{
		int			best = -1;
		const FunnelRow *r;

		for (int i = 0; i < k; i++)
			if (pos[i] < end[i] && (best < 0 || RowLess(pos[i], pos[best])))
				best = i;
		if (best < 0)
			break;
		r = pos[best]++;
		if (n > 0 && r->user_id != w->user_id[0])
		{
			CountUser(state, groups, w->events, n, true, &w->scratch);
			n = 0;
			if ((++users & 0xFFF) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		w->user_id[0] = r->user_id;
		w->events[n++] = r->ev;
	}
	if (n > 0)
		CountUser(state, groups, w->events, n, true, &w->scratch);
}

/* Groups one partition's events by user and counts each user. */
static void
CountPart(const FunnelAll *state, const FunnelPart *part, PartWork *w, grphash_hash *groups)
{
	int32		nusers;
	int			nchunks = 0;
	bool		sorted = true;

	for (const FunnelChunk *c = part->head; c != NULL; c = c->next, nchunks++)
		sorted = sorted && c->sorted;
	if (sorted && nchunks <= MERGE_WAYS)
	{
		MergePart(state, part, w, groups);
		return;
	}
	nusers = GroupPart(part, w);
	/* each start is now its user's end */
	for (int32 u = 0; u < nusers; u++)
	{
		int64		begin = u == 0 ? 0 : w->start[u - 1];

		CountUser(state, groups, &w->events[begin], w->start[u] - begin, false, &w->scratch);
		if ((u & 0xFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/* Buffers for partitions of at most "most" rows. */
static void
InitWork(PartWork *w, int64 most)
{
	most = Max(most, 1);
	w->hash = NULL;
	w->hashcap = 0;
	w->row_user = palloc_extended(most * sizeof(int32), MCXT_ALLOC_HUGE);
	w->user_id = palloc_extended(most * sizeof(int64), MCXT_ALLOC_HUGE);
	w->start = palloc_extended(most * sizeof(int64), MCXT_ALLOC_HUGE);
	w->events = palloc_extended(most * sizeof(FunnelEvent), MCXT_ALLOC_HUGE);
	memset(&w->scratch, 0, sizeof(w->scratch));
	w->scratch.cxt = CurrentMemoryContext;
}

/* by breakdown value in byte order, NULL last */
static int
CompareGroups(const void *a, const void *b, void *pool)
{
	const char *sort_pool = pool;
	int32		x = (*(GroupEntry *const *) a)->off;
	int32		y = (*(GroupEntry *const *) b)->off;

	if (x == NO_BREAKDOWN || y == NO_BREAKDOWN)
		return (x == NO_BREAKDOWN) - (y == NO_BREAKDOWN);
	return strcmp(sort_pool + x, sort_pool + y);
}

/* The groups as a retention.funnel_group[] (breakdown, matrix), in breakdown order. */
static Datum
GroupsArray(FunctionCallInfo fcinfo, const FunnelAll *state, grphash_hash *groups)
{
	Oid			elemtype = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));
	TupleDesc	tupdesc;
	GroupEntry **sorted;
	Datum	   *elems;
	int			n = 0;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	grphash_iterator it;
	GroupEntry *g;

	if (!OidIsValid(elemtype))
		elog(ERROR, "funnel_groups_final must return an array of a composite type");
	tupdesc = BlessTupleDesc(lookup_rowtype_tupdesc_copy(elemtype, -1));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	sorted = palloc(Max(groups == NULL ? 0 : groups->members, 1) * sizeof(GroupEntry *));
	if (groups != NULL)
	{
		grphash_start_iterate(groups, &it);
		while ((g = grphash_iterate(groups, &it)) != NULL)
			sorted[n++] = g;
		qsort_arg(sorted, n, sizeof(GroupEntry *), CompareGroups, state->pool.data);
	}
	elems = palloc(Max(n, 1) * sizeof(Datum));
	for (int i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {sorted[i]->off == NO_BREAKDOWN, false};

		values[0] = nulls[0] ? (Datum) 0 : CStringGetTextDatum(state->pool.data + sorted[i]->off);
		values[1] = FunnelStatsMatrix(sorted[i]->stats);
		elems[i] = HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, elemtype, typlen, typbyval, typalign));
}

/*
 * Final of funnel_groups: per breakdown value of the users who reached step
 * 1, their funnel_matrix.  The state is left as it was.
 */
PG_FUNCTION_INFO_V1(funnel_groups_final);
Datum
funnel_groups_final(PG_FUNCTION_ARGS)
{
	FunnelAll  *state = STATE_ARG(FunnelAll, 0);
	grphash_hash *groups;
	PartWork	w;
	int64		most = 1;

	if (state == NULL)
		return GroupsArray(fcinfo, NULL, NULL);
	FunnelSettle(state);
	for (int p = 0; p <= NPARTS; p++)
		most = Max(most, state->parts[p].n);
	InitWork(&w, most);
	groups = grphash_create(CurrentMemoryContext, 16, NULL);
	for (int p = 0; p <= NPARTS; p++)
		if (state->parts[p].n > 0)
			CountPart(state, &state->parts[p], &w, groups);
	return GroupsArray(fcinfo, state, groups);
}

/* a user slot and its id, to sort by id */
typedef struct IdSlot
{
	int64		id;
	int64		slot;
} IdSlot;

#define ST_SORT sort_id_slots
#define ST_ELEMENT_TYPE IdSlot
#define ST_COMPARE(a, b) ((a)->id < (b)->id ? -1 : (a)->id > (b)->id)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Appends a partition's rows sorted by (user_id, ts, type): grouped by user
 * in the worker, so that the leader merges instead of grouping and sorting.
 */
static void
AppendSortedPart(StringInfo buf, const FunnelPart *part, PartWork *w)
{
	int32		nusers = GroupPart(part, w);
	IdSlot	   *order = palloc(Max(nusers, 1) * sizeof(IdSlot));
	char	   *out;

	for (int32 u = 0; u < nusers; u++)
	{
		order[u].id = w->user_id[u];
		order[u].slot = u;
	}
	sort_id_slots(order, nusers);
	/* the buffer was sized for every row */
	enlargeStringInfo(buf, part->n * sizeof(FunnelRow));
	out = buf->data + buf->len;
	for (int32 i = 0; i < nusers; i++)
	{
		int64		u = order[i].slot;
		int64		begin = u == 0 ? 0 : w->start[u - 1];
		int64		n = w->start[u] - begin;

		FunnelSortEvents(&w->events[begin], n);
		for (int64 k = 0; k < n; k++)
		{
			FunnelRow	r;

			r.user_id = order[i].id;
			r.ev = w->events[begin + k];
			memcpy(out, &r, sizeof(r));
			out += sizeof(r);
		}
	}
	buf->len += part->n * sizeof(FunnelRow);
	buf->data[buf->len] = '\0';
	pfree(order);
	CHECK_FOR_INTERRUPTS();
}

void
FunnelWriteSortedRows(StringInfo buf, const FunnelAll *state)
{
	PartWork	w;
	int64		most = 1;

	for (int p = 0; p <= NPARTS; p++)
		most = Max(most, state->parts[p].n);
	InitWork(&w, most);
	for (int p = 0; p <= NPARTS; p++)
		if (state->parts[p].n > 0)
			AppendSortedPart(buf, &state->parts[p], &w);
}

