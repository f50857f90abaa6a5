/*-------------------------------------------------------------------------
 *
 * user_activity.c
 *	  Per-user activity bitmaps in a hash table keyed by user id.
 *
 * Events arrive in any order, so a user's first period is not known until
 * the end; each user therefore keeps the set of periods they were active in,
 * as a bitmap starting at the earliest one seen so far, and the earliest
 * period of a "start" event.  An event earlier than the bitmap's base moves
 * the base (shifting the bits), a later one grows it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "user_activity.h"

/* a 64-bit finaliser: user ids are often dense, so mix every bit */
static inline uint32
HashUserId(int64 id)
{
	uint64		h = (uint64) id;

	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32) h;
}

#define SH_PREFIX		users
#define SH_ELEMENT_TYPE UserEntry
#define SH_KEY_TYPE		int64
#define SH_KEY			user_id
#define SH_HASH_KEY(tb, key) HashUserId(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct UserTable
{
	MemoryContext cxt;
	users_hash *hash;
};

struct UserTableIter
{
	users_iterator it;
};

/* words of bitmap allocated for a span of nbits > 64: a power of two */
static inline int
WordsFor(int32 nbits)
{
	int			need = (nbits + 63) / 64;
	int			words = 2;

	while (words < need)
		words <<= 1;
	return words;
}

UserTable *
UserTableCreate(MemoryContext cxt, uint32 size_hint)
{
	UserTable  *table = MemoryContextAlloc(cxt, sizeof(UserTable));

	table->cxt = cxt;
	table->hash = users_create(cxt, Max(size_hint, 64), NULL);
	return table;
}

uint64
UserTableCount(UserTable *table)
{
	return table->hash->members;
}

static void
CheckSpan(int64 user_id, int64 span)
{
	if (span > MAX_USER_SPAN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("events of user " INT64_FORMAT " span %lld periods, more than the limit of %d",
						user_id, (long long) span, MAX_USER_SPAN),
				 errhint("Use a longer period, or filter out events far from the others.")));
}

/*
 * Make the user's bitmap cover periods lo..hi (lo <= base when nbits > 0),
 * keeping the bits already set.
 */
static void
Cover(UserTable *table, UserEntry *u, int32 lo, int32 hi)
{
	int32		nbits = hi - lo + 1;
	int32		shift;
	uint64	   *src;
	uint64	   *dst;
	int			oldwords;

	CheckSpan(u->user_id, (int64) hi - lo + 1);

	if (u->nbits == 0)
	{
		u->base = lo;
		u->nbits = nbits;
		if (nbits <= 64)
			u->bits.word = 0;
		else
			u->bits.words = MemoryContextAllocZero(table->cxt,
												   WordsFor(nbits) * sizeof(uint64));
		return;
	}

	shift = u->base - lo;
	oldwords = (u->nbits + 63) / 64;
	Assert(shift >= 0);

	if (nbits <= 64)
	{
		/* still one word: shift in place */
		u->bits.word <<= shift;
		u->base = lo;
		u->nbits = nbits;
		return;
	}

	if (shift == 0 && u->nbits > 64 && WordsFor(nbits) == WordsFor(u->nbits))
	{
		/* grows at the end within the allocation */
		u->nbits = nbits;
		return;
	}

	src = u->nbits <= 64 ? &u->bits.word : u->bits.words;
	dst = MemoryContextAllocZero(table->cxt, WordsFor(nbits) * sizeof(uint64));
	for (int i = 0; i < oldwords; i++)
	{
		int			w = i + shift / 64;
		int			s = shift % 64;

		dst[w] |= src[i] << s;
		if (s != 0 && src[i] >> (64 - s))
			dst[w + 1] |= src[i] >> (64 - s);
	}
	if (u->nbits > 64)
		pfree(u->bits.words);
	u->bits.words = dst;
	u->base = lo;
	u->nbits = nbits;
}

static inline void
SetBit(UserEntry *u, int32 p)
{
	int32		off = p - u->base;
	uint64	   *w = u->nbits <= 64 ? &u->bits.word : u->bits.words;

	w[off >> 6] |= UINT64CONST(1) << (off & 63);
}

static UserEntry *
Lookup(UserTable *table, int64 user_id)
{
	bool		found;
	UserEntry  *u = users_insert(table->hash, user_id, &found);

	if (!found)
	{
		if (table->hash->members > MAX_USERS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("more than " UINT64_FORMAT " distinct users in one group",
							MAX_USERS),
					 errhint("Group by a finer key, or use the two-stage form grouped by user.")));
		u->first_start = NO_START;
		u->base = 0;
		u->nbits = 0;
		u->bits.word = 0;
	}
	return u;
}

/* Mark period p in the user's bitmap. */
static inline void
MarkActive(UserTable *table, UserEntry *u, int32 p)
{
	if (u->nbits == 0)
		Cover(table, u, p, p);
	else if (p < u->base)
		Cover(table, u, p, UserLastActive(u));
	else if (p > UserLastActive(u))
		Cover(table, u, u->base, p);
	SetBit(u, p);
}

void
UserTableAdd(UserTable *table, int64 user_id, int32 p, bool is_start, bool is_return)
{
	UserEntry  *u = Lookup(table, user_id);

	if (is_start && p < u->first_start)
		u->first_start = p;
	if (is_return)
		MarkActive(table, u, p);
}

/* OR the periods of src (another table's entry) into u. */
static void
MergeEntry(UserTable *table, UserEntry *u, const UserEntry *src)
{
	const uint64 *w = UserWords(src);
	uint64	   *d;
	int32		shift;

	if (src->first_start < u->first_start)
		u->first_start = src->first_start;
	if (src->nbits == 0)
		return;

	if (u->nbits == 0)
		Cover(table, u, src->base, UserLastActive(src));
	else
		Cover(table, u, Min(u->base, src->base),
			  Max(UserLastActive(u), UserLastActive(src)));

	/* u->base <= src->base now: OR src's words shifted into place */
	d = u->nbits <= 64 ? &u->bits.word : u->bits.words;
	shift = src->base - u->base;
	for (int i = 0; i < (src->nbits + 63) / 64; i++)
	{
		int			k = i + shift / 64;
		int			s = shift % 64;

		d[k] |= w[i] << s;
		if (s != 0 && w[i] >> (64 - s))
			d[k + 1] |= w[i] >> (64 - s);
	}
}

void
UserTableMerge(UserTable *dst, UserTable *src)
{
	users_iterator it;
	UserEntry  *e;

	users_start_iterate(src->hash, &it);
	while ((e = users_iterate(src->hash, &it)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		MergeEntry(dst, Lookup(dst, e->user_id), e);
	}
}

UserTableIter *
UserTableIterBegin(UserTable *table)
{
	UserTableIter *iter = palloc(sizeof(UserTableIter));

	users_start_iterate(table->hash, &iter->it);
	return iter;
}

UserEntry *
UserTableIterNext(UserTable *table, UserTableIter *iter)
{
	return users_iterate(table->hash, &iter->it);
}

/*
 * Serialised form: the user count, then per user its id, first_start, base,
 * nbits and (nbits + 63) / 64 words of bitmap.
 */
void
UserTableSerialize(UserTable *table, StringInfo buf)
{
	users_iterator it;
	UserEntry  *e;
	uint64		count = table->hash->members;

	appendBinaryStringInfo(buf, (char *) &count, sizeof(count));
	users_start_iterate(table->hash, &it);
	while ((e = users_iterate(table->hash, &it)) != NULL)
	{
		appendBinaryStringInfo(buf, (char *) &e->user_id, sizeof(int64));
		appendBinaryStringInfo(buf, (char *) &e->first_start, sizeof(int32));
		appendBinaryStringInfo(buf, (char *) &e->base, sizeof(int32));
		appendBinaryStringInfo(buf, (char *) &e->nbits, sizeof(int32));
		appendBinaryStringInfo(buf, (char *) UserWords(e),
							   sizeof(uint64) * ((e->nbits + 63) / 64));
	}
}

static void
ReadBytes(StringInfo buf, void *dst, int len)
{
	if (len < 0 || buf->len - buf->cursor < len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state is truncated")));
	memcpy(dst, buf->data + buf->cursor, len);
	buf->cursor += len;
}

void
UserTableDeserialize(UserTable *table, StringInfo buf)
{
	uint64		count;
	UserEntry	e;
	uint64		words[1];

	ReadBytes(buf, &count, sizeof(count));
	if (count > MAX_USERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state claims " UINT64_FORMAT " users", count)));
	for (uint64 i = 0; i < count; i++)
	{
		int			nwords;
		uint64	   *w;
		UserEntry  *u;

		CHECK_FOR_INTERRUPTS();
		ReadBytes(buf, &e.user_id, sizeof(int64));
		ReadBytes(buf, &e.first_start, sizeof(int32));
		ReadBytes(buf, &e.base, sizeof(int32));
		ReadBytes(buf, &e.nbits, sizeof(int32));
		if (e.nbits < 0 || e.nbits > MAX_USER_SPAN ||
			(e.nbits > 0 && (int64) e.base + e.nbits - 1 > PG_INT32_MAX))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("retention aggregate state has a bitmap of %d bits", e.nbits)));
		nwords = (e.nbits + 63) / 64;
		w = nwords <= 1 ? words : palloc(nwords * sizeof(uint64));
		ReadBytes(buf, w, nwords * sizeof(uint64));
		if (e.nbits <= 64)
			e.bits.word = nwords ? w[0] : 0;
		else
			e.bits.words = w;
		u = Lookup(table, e.user_id);
		MergeEntry(table, u, &e);
		if (nwords > 1)
			pfree(w);
	}
	if (buf->cursor != buf->len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state has %d bytes of trailing data",
						buf->len - buf->cursor)));
}
