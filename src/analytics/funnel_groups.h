/*-------------------------------------------------------------------------
 *
 * funnel_groups.h
 *	  The state of funnel_groups, the one-pass funnel of a whole table:
 *	  its events, partitioned by user (funnel_groups.c), and what its final
 *	  function and serialisation read (funnel_count.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_FUNNEL_GROUPS_H
#define RETENTION_FUNNEL_GROUPS_H

#include "funnel.h"
#include "id_hash.h"

#define NPARTS 256
#define NULL_PART NPARTS		/* the events of the NULL user */

typedef struct FunnelRow
{
	int64		user_id;		/* 0 in NULL_PART */
	FunnelEvent ev;
} FunnelRow;

/* rows are kept in chunks, so that they are never copied to grow */
typedef struct FunnelChunk
{
	struct FunnelChunk *next;
	int64		n;
	int64		cap;
	bool		sorted;			/* by (user_id, ts, type), as serialised */
	FunnelRow	rows[FLEXIBLE_ARRAY_MEMBER];
} FunnelChunk;

#define FIRST_CHUNK 64
/* at most this many sorted chunks per partition are merged (one per process) */
#define MERGE_WAYS 16
#define LARGEST_CHUNK 8192

/*
 * While rows are added, only the partition's fill count is kept (in the
 * state, so that the transition touches one cache line per partition);
 * FunnelSettle() writes it into the head chunk and counts the rows.
 */
typedef struct FunnelPart
{
	FunnelRow  *rows;			/* the head chunk's rows */
	int64		fill;			/* rows in the head chunk */
	int64		cap;			/* room in the head chunk */
	FunnelChunk *head;			/* the chunk being filled, then older ones */
	int64		n;				/* rows in all chunks, once settled */
} FunnelPart;

typedef struct FunnelAll
{
	FunnelConfig cfg;
	struct varlena *steps_copy;
	struct varlena *mode_copy;
	bool		args_const;		/* the definition cannot change between rows */
	bool		transient;		/* deserialised: its chunks may be taken */
	MemoryContext cxt;
	int64		nrows;
	int64		room;			/* rows of the chunks this state allocated */
	FunnelPart	parts[NPARTS + 1];
	StringInfoData pool;		/* interned breakdown values, NUL-terminated */
	struct brkhash_hash *brks;	/* NULL until the first value */
	int32		last_brk;		/* the value interned last, or NO_BREAKDOWN */
} FunnelAll;

/* Writes the fill counts into the chunks and counts the rows. */
extern void FunnelSettle(FunnelAll *state);

/* Appends the rows of every partition, each sorted by (user_id, ts, type). */
extern void FunnelWriteSortedRows(StringInfo buf, const FunnelAll *state);

static inline int
PartOf(int64 user_id)
{
	return HashId(user_id) & (NPARTS - 1);
}

/* Does row a come before row b by (user_id, ts, type)? */
static inline bool
RowLess(const FunnelRow *a, const FunnelRow *b)
{
	if (a->user_id != b->user_id)
		return a->user_id < b->user_id;
	if (a->ev.ts != b->ev.ts)
		return a->ev.ts < b->ev.ts;
	return a->ev.type < b->ev.type;
}

#endif							/* RETENTION_FUNNEL_GROUPS_H */
