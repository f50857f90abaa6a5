/*-------------------------------------------------------------------------
 *
 * feature_table.c
 *	  user_feature_table: every user's behaviour features in one pass over
 *	  the events, without a GROUP BY (feature_table.h).
 *
 * The grouped aggregate user_feature_values keeps a state per user, which
 * a sort or a spilling hash aggregate must route every event to.  This one
 * keeps its own open-addressing table of users, counts into their
 * summaries, and appends each event's time and item key to flat arrays,
 * grouped by user once at the end (feature_final.c); spend is summed as a
 * scaled 128-bit integer, exactly, and as numeric only when that cannot
 * hold it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "agg_context.h"
#include "feature_args.h"
#include "feature_table.h"
#include "huge_pages.h"
#include "id_hash.h"

/* argument positions (0 is the state) */
enum
{
	A_USER = 1, A_TS, A_KIND, A_ITEM_ID, A_ITEM, A_AMOUNT, A_CUTOFF, A_HORIZON, A_GAP,
	A_VIEW, A_CLICK, A_CART, A_PURCHASE, A_CHURN_ON, N_ARGS
};

StaticAssertDecl(A_CHURN_ON == A_CUTOFF + FEATURE_SETTING_ARGS - 1 && N_ARGS == A_CHURN_ON + 1,
				 "the settings arguments come last, in feature_args.h's order");

FtState *
FtNew(MemoryContext cxt)
{
	FtState    *s = MemoryContextAllocZero(cxt, sizeof(FtState));

	s->cxt = cxt;
	return s;
}

/*
 * size bytes in s's context; beyond a few huge pages, those pages it
 * covers whole are advised huge (the TLB misses of random access dominate
 * otherwise), before anything touches them
 */
void *
FtAlloc(FtState *s, Size size)
{
	return AllocHugePages(s->cxt, size);
}

static void *
Grow(FtState *s, void *p, int64 *max, int64 need, Size size, int64 least)
{
	int64		n = Max(least, Max(need, *max * 2));
	void	   *q = FtAlloc(s, n * size);

	if (p)
	{
		memcpy(q, p, *max * size);
		pfree(p);
	}
	*max = n;
	return q;
}

/* a zeroed slot array of n (a power of 2) */
static FtSlot *
NewSlots(FtState *s, uint64 n)
{
	FtSlot	   *slots = FtAlloc(s, n * sizeof(FtSlot));

	memset(slots, 0, n * sizeof(FtSlot));
	return slots;
}

/* the slot of key in slots (open addressing, linear probing) */
static inline FtSlot *
FindSlot(FtSlot *slots, uint64 nslots, int64 key, uint32 hash)
{
	uint64		i = hash & (nslots - 1);

	while (slots[i].idx1 != 0 && slots[i].key != key)
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

static void
GrowUserSlots(FtState *s, uint64 n)
{
	FtSlot	   *slots = NewSlots(s, n);

	for (int64 i = 0; i < s->nusers; i++)
	{
		FtSlot	   *slot = FindSlot(slots, n, s->users[i].user_id, HashId(s->users[i].user_id));

		slot->key = s->users[i].user_id;
		slot->idx1 = i + 1;
	}
	if (s->slots)
		pfree(s->slots);
	s->slots = slots;
	s->nslots = n;
}

void
FtReserveUsers(FtState *s, int64 nusers)
{
	uint64		n = 1024;

	while (n < (uint64) nusers * 2)
		n *= 2;
	if (n > s->nslots)
		GrowUserSlots(s, n);
	if (nusers > s->maxusers)
		s->users = Grow(s, s->users, &s->maxusers, nusers, sizeof(FtUser), nusers);
}

uint32
FtUserIndex(FtState *s, int64 user_id)
{
	FtSlot	   *slot;
	FtUser	   *u;

	if (s->nslots > 0)
	{
		slot = FindSlot(s->slots, s->nslots, user_id, HashId(user_id));
		if (slot->idx1 != 0)
			return (uint32) (slot->idx1 - 1);
	}
	if (s->nusers >= PG_UINT32_MAX - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user_feature_table cannot hold more than %u users", PG_UINT32_MAX - 1)));
	if ((uint64) (s->nusers + 1) * 2 > s->nslots)
		GrowUserSlots(s, Max(1024, s->nslots * 2));
	if (s->nusers == s->maxusers)
		s->users = Grow(s, s->users, &s->maxusers, s->nusers + 1, sizeof(FtUser), 1024);
	slot = FindSlot(s->slots, s->nslots, user_id, HashId(user_id));
	slot->key = user_id;
	slot->idx1 = s->nusers + 1;
	u = &s->users[s->nusers];
	memset(u, 0, sizeof(FtUser));
	u->user_id = user_id;
	u->first_t = DT_NOEND;
	u->last_t = DT_NOBEGIN;
	u->first_p = DT_NOEND;
	u->last_p = DT_NOBEGIN;
	u->big = -1;
	return (uint32) s->nusers++;
}

static uint32
TextHash(const char *data, int32 len)
{
	return (uint32) hash_bytes_extended((const unsigned char *) data, len, 0);
}

/* the slot of the text in s's dictionary: its hash, then its bytes, must match */
static FtSlot *
FindText(FtState *s, FtSlot *slots, uint64 nslots, const char *data, int32 len, uint32 hash)
{
	uint64		i = hash & (nslots - 1);

	for (;; i = (i + 1) & (nslots - 1))
	{
		FtSlot	   *slot = &slots[i];
		int64		id;

		if (slot->idx1 == 0)
			return slot;
		id = slot->idx1 - 1;
		if (slot->key == hash && s->doff[id + 1] - s->doff[id] == len &&
			memcmp(s->dbuf + s->doff[id], data, len) == 0)
			return slot;
	}
}

static void
GrowTextSlots(FtState *s)
{
	uint64		n = Max(256, s->ndslots * 2);
	FtSlot	   *slots = NewSlots(s, n);

	for (int64 id = 0; id < s->ndict; id++)
	{
		const char *data = s->dbuf + s->doff[id];
		int32		len = s->doff[id + 1] - s->doff[id];
		uint32		hash = TextHash(data, len);
		FtSlot	   *slot = FindText(s, slots, n, data, len, hash);

		slot->key = hash;
		slot->idx1 = id + 1;
	}
	if (s->dslots)
		pfree(s->dslots);
	s->dslots = slots;
	s->ndslots = n;
}

int64
FtTextIndex(FtState *s, const char *data, int32 len)
{
	uint32		hash = TextHash(data, len);
	FtSlot	   *slot;

	if (s->ndslots > 0)
	{
		slot = FindText(s, s->dslots, s->ndslots, data, len, hash);
		if (slot->idx1 != 0)
			return slot->idx1 - 1;
	}
	if ((uint64) (s->ndict + 1) * 2 > s->ndslots)
		GrowTextSlots(s);
	if (s->ndict + 2 > s->maxdict)
		s->doff = Grow(s, s->doff, &s->maxdict, s->ndict + 2, sizeof(int64), 256);
	if (s->ndict == 0)
		s->doff[0] = 0;
	if (s->doff[s->ndict] + len > s->dcap)
		s->dbuf = Grow(s, s->dbuf, &s->dcap, s->doff[s->ndict] + len, 1, 4096);
	memcpy(s->dbuf + s->doff[s->ndict], data, len);
	s->doff[s->ndict + 1] = s->doff[s->ndict] + len;
	slot = FindText(s, s->dslots, s->ndslots, data, len, hash);
	slot->key = hash;
	slot->idx1 = s->ndict + 1;
	return s->ndict++;
}

FtChunk *
FtAddChunk(FtState *s, FtList *list, int64 max)
{
	FtChunk    *c;

	/* a direct call over a large table must not exhaust memory */
	if (list->n + max > FT_MAX_EVENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user_feature_table keeps at most %lld events in memory",
						(long long) FT_MAX_EVENTS),
				 errhint("Group the events by user with user_feature_values.")));
	c = MemoryContextAllocZero(s->cxt, sizeof(FtChunk));

	c->max = max;
	c->uidx = FtAlloc(s, max * sizeof(uint32));
	c->value = FtAlloc(s, max * sizeof(int64));
	if (list->tail)
		list->tail->next = c;
	else
		list->head = c;
	list->tail = c;
	return c;
}

/* u's spend as numeric: bigs[u->big], added to first when the scaled sum is not 0 */
static Numeric *
BigSpend(FtState *s, FtUser *u)
{
	MemoryContext old = MemoryContextSwitchTo(s->cxt);

	if (u->big < 0)
	{
		if (s->nbigs == s->maxbigs)
		{
			int64		max = s->maxbigs;

			s->bigs = Grow(s, s->bigs, &max, s->nbigs + 1, sizeof(Numeric), 16);
			s->maxbigs = (int32) Min(max, PG_INT32_MAX);
		}
		u->big = s->nbigs++;
		s->bigs[u->big] = ScaledToNumeric(&u->spend);
		memset(&u->spend, 0, sizeof(ScaledSum));
	}
	MemoryContextSwitchTo(old);
	return &s->bigs[u->big];
}

static void
AddToBig(FtState *s, FtUser *u, Numeric amount)
{
	Numeric    *big = BigSpend(s, u);
	MemoryContext old = MemoryContextSwitchTo(s->cxt);
	Numeric		sum = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(*big),
														  NumericGetDatum(amount)));

	pfree(*big);
	*big = sum;
	MemoryContextSwitchTo(old);
}

void
FtAddNumeric(FtState *s, FtUser *u, Numeric amount)
{
	int64		m;
	int32		scale;

	if (u->big < 0 && NumericToScaled(NumericGetDatum(amount), &m, &scale) &&
		ScaledAdd(&u->spend, m, scale))
		return;
	AddToBig(s, u, amount);
}

void
FtAddSpend(FtState *s, FtUser *a, const FtUser *b, Numeric b_big)
{
	if (a->big < 0 && b_big == NULL && ScaledAddSum(&a->spend, &b->spend))
		return;
	if (b_big != NULL)
		AddToBig(s, a, b_big);
	if (b->spend.sum != 0)
	{
		Numeric		part = ScaledToNumeric(&b->spend);

		AddToBig(s, a, part);
		pfree(part);
	}
}

double
FtSpendDouble(FtState *s, FtUser *u)
{
	if (u->big >= 0)
		return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(s->bigs[u->big])));
	return ScaledToDouble(&u->spend);
}

static FtState *
StartState(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	FtState    *s = FtNew(aggcxt);

	FeatureReadSettings(fcinfo, A_CUTOFF, &s->cutoff, &s->horizon, &s->gap, &s->churn_on_purchase);
	return s;
}

/* applies one event to its user ui */
static inline void
Apply(FtState *s, const FtPending *e, uint32 ui)
{
	FtUser	   *u = &s->users[ui];

	if (e->kind == FT_FUTURE)
	{
		u->future++;
		return;
	}
	u->first_t = Min(u->first_t, e->t);
	u->last_t = Max(u->last_t, e->t);
	if (s->cutoff - e->t < 30 * USECS_PER_DAY)
		u->last30++;
	else if (s->cutoff - e->t < 60 * USECS_PER_DAY)
		u->prev30++;
	switch (e->kind)
	{
		case FT_PURCHASE:
			u->purchases++;
			u->first_p = Min(u->first_p, e->t);
			u->last_p = Max(u->last_p, e->t);
			if ((e->flags & FT_HAS_AMOUNT) && !(u->big < 0 && ScaledAdd(&u->spend, e->amount, e->amount_scale)))
			{
				ScaledSum	one = {e->amount, e->amount_scale};
				Numeric		n = ScaledToNumeric(&one);

				FtAddNumeric(s, u, n);
				pfree(n);
			}
			break;
		case FT_VIEW:
			u->views++;
			break;
		case FT_CLICK:
			u->clicks++;
			break;
		case FT_CART:
			u->carts++;
			break;
	}
	u->ntimes++;
	FtAppend(s, &s->times, ui, e->t);
	if (e->flags & FT_HAS_ITEM_ID)
	{
		u->nints++;
		FtAppend(s, &s->ints, ui, e->item_id);
	}
	if (e->flags & FT_HAS_TEXT)
	{
		u->ntexts++;
		FtAppend(s, &s->texts, ui, e->text_id);
	}
}

void
FtUserIndexes(FtState *s, const int64 *ids, int n, uint32 *idx)
{
	Assert(n <= FT_BATCH);
	if (s->nslots > 0)
		for (int i = 0; i < n; i++)
			__builtin_prefetch(&s->slots[HashId(ids[i]) & (s->nslots - 1)], 0);
	for (int i = 0; i < n; i++)
	{
		idx[i] = FtUserIndex(s, ids[i]);
		__builtin_prefetch(&s->users[idx[i]], 1);
		__builtin_prefetch((char *) &s->users[idx[i]] + 64, 1);
		__builtin_prefetch((char *) &s->users[idx[i]] + sizeof(FtUser) - 1, 1);
	}
}

void
FtFlush(FtState *s)
{
	int64		ids[FT_BATCH];
	uint32		idx[FT_BATCH];

	for (int i = 0; i < s->npending; i++)
		ids[i] = s->pending[i].user_id;
	FtUserIndexes(s, ids, s->npending, idx);
	for (int i = 0; i < s->npending; i++)
		Apply(s, &s->pending[i], idx[i]);
	s->npending = 0;
}

static inline uint8
EventKind(FunctionCallInfo fcinfo, text *kind)
{
	if (kind == NULL)
		return FT_OTHER;
	if (FeatureTextEquals(kind, PG_GETARG_TEXT_PP(A_PURCHASE)))
		return FT_PURCHASE;
	if (FeatureTextEquals(kind, PG_GETARG_TEXT_PP(A_VIEW)))
		return FT_VIEW;
	if (FeatureTextEquals(kind, PG_GETARG_TEXT_PP(A_CLICK)))
		return FT_CLICK;
	if (FeatureTextEquals(kind, PG_GETARG_TEXT_PP(A_CART)))
		return FT_CART;
	return FT_OTHER;
}

/* Transition: one event of any user, batched. */
PG_FUNCTION_INFO_V1(user_feature_table_trans);
Datum
user_feature_table_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FtState    *s;
	TimestampTz t;
	FtPending  *e;

	aggcxt = AggregateContext(fcinfo, "user_feature_table_trans");
	s = STATE_ARG(FtState, 0);

	FeatureCheckSettings(fcinfo, A_CUTOFF, "user_feature_table");
	/* SQL NULL, never a null pointer, until a row counts: serialise reads it */
	if (PG_ARGISNULL(A_USER) || PG_ARGISNULL(A_TS))
		return KeepState(fcinfo);
	if (s == NULL)
		s = StartState(fcinfo, aggcxt);
	else
		FeatureCheckSameSettings(fcinfo, A_CUTOFF, s->cutoff, s->horizon, s->gap,
								 s->churn_on_purchase, "user_feature_table");

	t = PG_GETARG_TIMESTAMPTZ(A_TS);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot compute features from an infinite timestamp")));
	e = &s->pending[s->npending];
	e->kind = EventKind(fcinfo, PG_ARGISNULL(A_KIND) ? NULL : PG_GETARG_TEXT_PP(A_KIND));
	if (t > s->cutoff)
	{
		/* after the cutoff: only the churn label looks */
		if (t - s->cutoff > s->horizon || (s->churn_on_purchase && e->kind != FT_PURCHASE))
			PG_RETURN_POINTER(s);
		e->kind = FT_FUTURE;
	}
	e->user_id = PG_GETARG_INT64(A_USER);
	e->t = t;
	e->flags = 0;
	if (e->kind != FT_FUTURE)
	{
		if (!PG_ARGISNULL(A_ITEM_ID))
		{
			e->item_id = PG_GETARG_INT64(A_ITEM_ID);
			e->flags |= FT_HAS_ITEM_ID;
		}
		if (!PG_ARGISNULL(A_ITEM))
		{
			text	   *item = PG_GETARG_TEXT_PP(A_ITEM);

			e->text_id = FtTextIndex(s, VARDATA_ANY(item), VARSIZE_ANY_EXHDR(item));
			e->flags |= FT_HAS_TEXT;
		}
		if (e->kind == FT_PURCHASE && !PG_ARGISNULL(A_AMOUNT))
		{
			if (!NumericToScaled(PG_GETARG_DATUM(A_AMOUNT), &e->amount, &e->amount_scale))
			{
				/* not a scaled integer (NaN, many digits): as numeric, now */
				uint32		ui = FtUserIndex(s, e->user_id);

				FtAddNumeric(s, &s->users[ui], PG_GETARG_NUMERIC(A_AMOUNT));
			}
			else
				e->flags |= FT_HAS_AMOUNT;
		}
	}
	if (++s->npending == FT_BATCH)
		FtFlush(s);
	PG_RETURN_POINTER(s);
}

/* moves b's list after a's, the user indexes through umap, the values through vmap if given */
static void
MoveList(FtList *to, FtList *from, const uint32 *umap, const int64 *vmap)
{
	for (FtChunk *c = from->head; c != NULL; c = c->next)
		for (int64 i = 0; i < c->n; i++)
		{
			c->uidx[i] = umap[c->uidx[i]];
			if (vmap)
				c->value[i] = vmap[c->value[i]];
		}
	if (from->head == NULL)
		return;
	if (to->tail)
		to->tail->next = from->head;
	else
		to->head = from->head;
	to->tail = from->tail;
	to->n += from->n;
	from->head = from->tail = NULL;
	from->n = 0;
}

static void
MergeUser(FtState *a, FtUser *x, FtState *b, const FtUser *y)
{
	x->views += y->views;
	x->clicks += y->clicks;
	x->carts += y->carts;
	x->purchases += y->purchases;
	x->last30 += y->last30;
	x->prev30 += y->prev30;
	if (pg_add_s64_overflow(x->future, y->future, &x->future))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("user_feature_table: too many events after the cutoff")));
	x->first_t = Min(x->first_t, y->first_t);
	x->last_t = Max(x->last_t, y->last_t);
	x->first_p = Min(x->first_p, y->first_p);
	x->last_p = Max(x->last_p, y->last_p);
	x->ntimes += y->ntimes;
	x->nints += y->nints;
	x->ntexts += y->ntexts;
	FtAddSpend(a, x, y, y->big >= 0 ? b->bigs[y->big] : NULL);
}

/* Combines two partial states (parallel partial aggregation). */
PG_FUNCTION_INFO_V1(user_feature_table_combine);
Datum
user_feature_table_combine(PG_FUNCTION_ARGS)
{
	FtState    *a = STATE_ARG(FtState, 0);
	FtState    *b = STATE_ARG(FtState, 1);
	uint32	   *umap;
	int64	   *tmap = NULL;

	(void) AggregateContext(fcinfo, "user_feature_table_combine");
	/* nothing to add: the first state as it is, SQL NULL if that is NULL */
	if (b == NULL)
		return KeepState(fcinfo);
	FtFlush(b);
	/* b, in the aggregate's context, is used by no one else */
	if (a == NULL)
		PG_RETURN_POINTER(b);
	FtFlush(a);

	umap = palloc_extended(Max(b->nusers, 1) * sizeof(uint32), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < b->nusers; i += FT_BATCH)
	{
		int			n = (int) Min(FT_BATCH, b->nusers - i);
		int64		ids[FT_BATCH];

		for (int j = 0; j < n; j++)
			ids[j] = b->users[i + j].user_id;
		FtUserIndexes(a, ids, n, umap + i);
		for (int j = 0; j < n; j++)
			MergeUser(a, &a->users[umap[i + j]], b, &b->users[i + j]);
	}
	if (b->ndict > 0)
	{
		tmap = palloc(b->ndict * sizeof(int64));
		for (int64 i = 0; i < b->ndict; i++)
			tmap[i] = FtTextIndex(a, b->dbuf + b->doff[i], b->doff[i + 1] - b->doff[i]);
	}
	/* b is used by no one else: its events become a's */
	MoveList(&a->times, &b->times, umap, NULL);
	MoveList(&a->ints, &b->ints, umap, NULL);
	MoveList(&a->texts, &b->texts, umap, tmap);
	pfree(umap);
	if (tmap)
		pfree(tmap);
	PG_RETURN_POINTER(a);
}
