/*-------------------------------------------------------------------------
 *
 * feature_table.h
 *	  The state of user_feature_table, the one-pass form of the per-user
 *	  features of retention.user_features (feature_table.c), and its bytea
 *	  forms (feature_table_io.c).
 *
 * One state holds every user: a hash table from user id to a dense index,
 * a summary per user (counts, extreme times, spend), and the events'
 * timestamps and item keys appended to flat arrays with the user's index,
 * grouped by user and sorted only once, in the final function.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_FEATURE_TABLE_H
#define RETENTION_FEATURE_TABLE_H

#include "datatype/timestamp.h"
#include "utils/numeric.h"

#include "scaled_sum.h"

/* one user's counts and extremes; big is an index into FtState.bigs or -1 */
typedef struct FtUser
{
	int64		user_id;
	int64		views;
	int64		clicks;
	int64		carts;
	int64		purchases;
	int64		last30;
	int64		prev30;
	int64		future;
	TimestampTz first_t;
	TimestampTz last_t;
	TimestampTz first_p;
	TimestampTz last_p;
	int64		ntimes;			/* events at or before the cutoff */
	int64		nints;			/* integer item keys */
	int64		ntexts;			/* text item keys */
	ScaledSum	spend;			/* exact while it fits */
	int32		big;			/* else the numeric total, spend being 0 */
} FtUser;

/*
 * values of users' events, each with the user's index, appended as they
 * come to a chain of chunks (never copied: combine links the chunks of
 * another state's list after its own)
 */
typedef struct FtChunk
{
	struct FtChunk *next;
	int64		n;
	int64		max;
	uint32	   *uidx;
	int64	   *value;
} FtChunk;

typedef struct FtList
{
	FtChunk    *head;
	FtChunk    *tail;
	int64		n;				/* in all chunks */
} FtList;

/* a hash slot: a key (a user id, a text's hash) and its index + 1, 0 when empty */
typedef struct FtSlot
{
	int64		key;
	int64		idx1;
} FtSlot;

/* an event waiting in the batch; kind is one of FT_* */
typedef struct FtPending
{
	int64		user_id;
	TimestampTz t;
	int64		item_id;
	int64		text_id;
	int64		amount;			/* mantissa, scale amount_scale */
	int32		amount_scale;
	uint8		kind;
	uint8		flags;			/* FT_HAS_* */
} FtPending;

#define FT_OTHER	0
#define FT_VIEW		1
#define FT_CLICK	2
#define FT_CART		3
#define FT_PURCHASE 4
#define FT_FUTURE	5			/* after the cutoff, counted for the label */

#define FT_HAS_ITEM_ID	1
#define FT_HAS_TEXT		2
#define FT_HAS_AMOUNT	4

/* events are applied in batches so that their users' cache misses overlap */
#define FT_BATCH	128

typedef struct FtState
{
	MemoryContext cxt;
	TimestampTz cutoff;
	int64		horizon;		/* microseconds */
	int64		gap;			/* microseconds */
	bool		churn_on_purchase;
	/* users */
	FtSlot	   *slots;			/* by user id */
	uint64		nslots;			/* a power of 2, at least twice nusers */
	FtUser	   *users;
	int64		nusers;
	int64		maxusers;
	/* events */
	FtList		times;
	FtList		ints;			/* integer item keys */
	FtList		texts;			/* text item keys (dictionary indexes) */
	/* text item dictionary: each text once, back to back */
	FtSlot	   *dslots;			/* by hash of the text */
	uint64		ndslots;
	int64	   *doff;			/* start of text i in dbuf; doff[ndict] = end */
	int64		ndict;
	int64		maxdict;
	char	   *dbuf;
	int64		dcap;
	/* numeric spends that did not fit a scaled sum */
	Numeric    *bigs;
	int32		nbigs;
	int32		maxbigs;
	int			npending;
	FtPending	pending[FT_BATCH];
} FtState;

extern FtState *FtNew(MemoryContext cxt);

/* size bytes in the state's context, huge pages advised for a large array */
extern void *FtAlloc(FtState *s, Size size);

/* applies the batched events: before any other use of the state */
extern void FtFlush(FtState *s);

/* room for nusers users without growing */
extern void FtReserveUsers(FtState *s, int64 nusers);

/* the index of user_id, added (with an empty summary) when new */
extern uint32 FtUserIndex(FtState *s, int64 user_id);

/* the indexes of n (at most FT_BATCH) users, their cache misses overlapped */
extern void FtUserIndexes(FtState *s, const int64 *ids, int n, uint32 *idx);

/* the dictionary index of a text, added when new */
extern int64 FtTextIndex(FtState *s, const char *data, int32 len);

/*
 * The events one list keeps (about 12 bytes each, 40 while the final
 * function groups them): retention.user_features takes this form only for
 * heaps that cannot hold more rows.
 */
#define FT_MAX_EVENTS ((int64) 50 * 1000 * 1000)

/* a new last chunk of list, for max values */
extern FtChunk *FtAddChunk(FtState *s, FtList *list, int64 max);

static inline void
FtAppend(FtState *s, FtList *list, uint32 uidx, int64 value)
{
	FtChunk    *c = list->tail;

	if (c == NULL || c->n == c->max)
		c = FtAddChunk(s, list, Min(Max(1024, list->n), 1024 * 1024));
	c->uidx[c->n] = uidx;
	c->value[c->n++] = value;
	list->n++;
}

/* adds a numeric amount to a user's spend (exactly) */
extern void FtAddNumeric(FtState *s, FtUser *u, Numeric amount);

/* adds b's totals to a's (both of the same state) */
extern void FtAddSpend(FtState *s, FtUser *a, const FtUser *b, Numeric b_big);

/* the spend of u as numeric_float8 would give it */
extern double FtSpendDouble(FtState *s, FtUser *u);

/*
 * The final function's result, read by user_feature_rows: FT_MAGIC, then one
 * FtRow per user with events at or before the cutoff, by user id.  Values
 * are user_feature_values's (the 17 features, then the churn label), bit i
 * of nulls set when value i is NULL.
 */
#define FT_MAGIC			INT64CONST(0x55465431)	/* "UFT1" */
#define FT_NVALUES			18
#define FT_NULLS_ALL		((INT64CONST(1) << FT_NVALUES) - 1)

typedef struct FtRow
{
	int64		user_id;
	int64		nulls;
	double		v[FT_NVALUES];
} FtRow;

/* user_feature_table's result from a state */
extern bytea *FtFinal(FtState *s);

#endif							/* RETENTION_FEATURE_TABLE_H */
