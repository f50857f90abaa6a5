/*-------------------------------------------------------------------------
 *
 * user_activity.h
 *	  Per-user activity bitmaps in a hash table keyed by user id: the compact
 *	  state behind the retention aggregates.
 *
 * A user costs one 32-byte hash entry (at a fill factor of at most 0.9,
 * so about 36-72 bytes of table) while the periods they were active in
 * span at most 64 periods, plus a separately allocated bitmap of one bit
 * per period of their span beyond that.  Nothing is kept per event.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_USER_ACTIVITY_H
#define RETENTION_USER_ACTIVITY_H

#include "lib/stringinfo.h"

/* no first "start" event seen (yet) */
#define NO_START PG_INT32_MAX

/* a user's periods may span at most this many periods (128 kB of bitmap) */
#define MAX_USER_SPAN (1 << 20)

/* at most this many distinct users in one group (about 8 GB of state) */
#define MAX_USERS ((uint64) 1 << 27)

typedef struct UserEntry
{
	int64		user_id;
	int32		first_start;	/* first period with a start event */
	int32		base;			/* period of bit 0 */
	int32		nbits;			/* last active period - base + 1; 0 if none */
	char		status;			/* simplehash's */
	union
	{
		uint64		word;		/* nbits <= 64 */
		uint64	   *words;		/* nbits > 64: WordsFor(nbits) words */
	}			bits;
} UserEntry;

/* the user table itself is opaque outside user_activity.c */
typedef struct UserTable UserTable;

extern UserTable *UserTableCreate(MemoryContext cxt, uint32 size_hint);
extern uint64 UserTableCount(UserTable *table);

/* The table holds one user whose id was not given: errors name no user. */
extern void UserTableSetAnonymous(UserTable *table);

/*
 * Record an event of user_id in period p; is_start and is_return say whether
 * it can start the user's cohort and whether it counts as activity.
 */
extern void UserTableAdd(UserTable *table, int64 user_id, int32 p,
						 bool is_start, bool is_return);

/* Fold every user of src into dst. */
extern void UserTableMerge(UserTable *dst, UserTable *src);

/* Iterate over the users, in no particular order. */
typedef struct UserTableIter UserTableIter;
extern UserTableIter *UserTableIterBegin(UserTable *table);
extern UserEntry *UserTableIterNext(UserTable *table, UserTableIter *iter);

/* Is the user active in absolute period p? */
static inline bool
UserActiveIn(const UserEntry *u, int32 p)
{
	int64		off = (int64) p - u->base;
	const uint64 *w;

	if (off < 0 || off >= u->nbits)
		return false;
	w = u->nbits <= 64 ? &u->bits.word : u->bits.words;
	return (w[off >> 6] >> (off & 63)) & 1;
}

static inline const uint64 *
UserWords(const UserEntry *u)
{
	return u->nbits <= 64 ? &u->bits.word : u->bits.words;
}

/* The last period the user was active in; only when nbits > 0. */
static inline int32
UserLastActive(const UserEntry *u)
{
	return u->base + u->nbits - 1;
}

/* Iterate over the set bits of a user's bitmap as absolute periods,
 * in increasing order; "body" sees each as the int32 "p". */
#define FOREACH_ACTIVE(u, p, body) \
	do { \
		const uint64 *w_ = UserWords(u); \
		for (int i_ = 0; i_ < ((u)->nbits + 63) / 64; i_++) \
		{ \
			uint64		x_ = w_[i_]; \
			while (x_) \
			{ \
				int32		p = (u)->base + i_ * 64 + __builtin_ctzll(x_); \
				x_ &= x_ - 1; \
				body; \
			} \
		} \
	} while (0)

/* Binary form for SERIALFUNC/DESERIALFUNC. */
extern Size UserTableSerializedSize(UserTable *table);
extern void UserTableWrite(UserTable *table, char *dst, Size size);
/* every user read must lie at or before period latest (PG_INT64_MIN: none may) */
extern void UserTableDeserialize(UserTable *table, StringInfo buf, int64 latest);
extern uint64 UserTableSerializedCount(StringInfo buf);

#endif							/* RETENTION_USER_ACTIVITY_H */
