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

#include "huge_pages.h"
#include "id_hash.h"
#include "periods.h"
#include "user_activity.h"

#define SH_PREFIX		users
#define SH_ELEMENT_TYPE UserEntry
#define SH_USE_NONDEFAULT_ALLOCATOR
#include "id_table.h"

/* A zeroed bucket array. */
static inline void *
users_allocate(users_hash *tb, Size size)
{
	void	   *p = MemoryContextAllocExtended(tb->ctx, size, MCXT_ALLOC_HUGE);

	PreferHugePages(p, size);
	memset(p, 0, size);
	return p;
}

static inline void
users_free(users_hash *tb, void *pointer)
{
	pfree(pointer);
}

/*
 * Events wait in a small batch before they reach the hash table: with the
 * table far larger than the CPU caches, each insertion is a cache miss, and
 * prefetching each event's bucket as it arrives lets those misses overlap
 * (with each other and with reading the next rows) instead of being paid
 * one after the other.
 */
#define BATCH_SIZE 32

typedef struct PendingEvent
{
	int64		user_id;
	uint32		hash;			/* HashId(user_id), its bucket prefetched */
	int32		period;
	uint8		is_start;
	uint8		is_return;
} PendingEvent;

struct UserTable
{
	MemoryContext cxt;
	users_hash *hash;
	bool		anonymous;		/* one user, no user id given (user_activity) */
	uint64		words;			/* bitmap words of all users, as serialised */
	int			npending;
	PendingEvent pending[BATCH_SIZE];
};

struct UserTableIter
{
	users_iterator it;
};

/* words of a bitmap of nbits bits, as serialised */
static inline int
SerialWords(int32 nbits)
{
	return (nbits + 63) / 64;
}

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
	table->anonymous = false;
	table->words = 0;
	table->npending = 0;
	return table;
}

static void Flush(UserTable *table);

uint64
UserTableCount(UserTable *table)
{
	Flush(table);
	return table->hash->members;
}

void
UserTableSetAnonymous(UserTable *table)
{
	table->anonymous = true;
}

static void
CheckSpan(UserTable *table, int64 user_id, int64 span)
{
	if (span > MAX_USER_SPAN && table->anonymous)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("events span %lld periods, more than the limit of %d",
						(long long) span, MAX_USER_SPAN),
				 errhint("Use a longer period, or filter out events far from the others.")));
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

	CheckSpan(table, u->user_id, (int64) hi - lo + 1);
	table->words += SerialWords(nbits) - SerialWords(u->nbits);

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
LookupHash(UserTable *table, int64 user_id, uint32 hash)
{
	bool		found;
	UserEntry  *u = users_insert_hash(table->hash, user_id, hash, &found);

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

static inline UserEntry *
Lookup(UserTable *table, int64 user_id)
{
	return LookupHash(table, user_id, HashId(user_id));
}

/* Mark period p in the user's bitmap. */
static inline void
MarkActive(UserTable *table, UserEntry *u, int32 p)
{
	/* most bitmaps stay within one word: Cover's work, inline */
	if (u->nbits == 0)
	{
		u->base = p;
		u->nbits = 1;
		u->bits.word = 1;
		table->words++;
		return;
	}
	if (u->nbits <= 64)
	{
		int32		lo = Min(u->base, p);
		int64		span = (int64) Max(UserLastActive(u), p) - lo + 1;

		if (span <= 64)
		{
			u->bits.word = (u->bits.word << (u->base - lo)) |
				(UINT64CONST(1) << (p - lo));
			u->base = lo;
			u->nbits = (int32) span;
			return;
		}
	}
	if (p < u->base)
		Cover(table, u, p, UserLastActive(u));
	else if (p > UserLastActive(u))
		Cover(table, u, u->base, p);
	SetBit(u, p);
}

static void
Flush(UserTable *table)
{
	int			n = table->npending;

	for (int i = 0; i < n; i++)
	{
		PendingEvent *e = &table->pending[i];
		UserEntry  *u = LookupHash(table, e->user_id, e->hash);

		if (e->is_start && e->period < u->first_start)
			u->first_start = e->period;
		if (e->is_return)
			MarkActive(table, u, e->period);
	}
	table->npending = 0;
}

void
UserTableAdd(UserTable *table, int64 user_id, int32 p, bool is_start, bool is_return)
{
	PendingEvent *e = &table->pending[table->npending++];

	/* prefetched as it arrives: by the flush, most buckets are in cache */
	e->hash = HashId(user_id);
	__builtin_prefetch(&table->hash->data[e->hash & table->hash->sizemask], 1);
	e->user_id = user_id;
	e->period = p;
	e->is_start = is_start;
	e->is_return = is_return;
	if (table->npending == BATCH_SIZE)
		Flush(table);
}

/* OR the periods of src (another table's entry) into u. */
static inline void
MergeEntry(UserTable *table, UserEntry *u, const UserEntry *src)
{
	const uint64 *w = UserWords(src);
	uint64	   *d;
	int32		shift;

	if (src->first_start < u->first_start)
		u->first_start = src->first_start;
	if (src->nbits == 0)
		return;

	/* both within one word, and their union too: as in MarkActive */
	if (src->nbits <= 64 && u->nbits <= 64)
	{
		int32		lo;
		int64		span;

		if (u->nbits == 0)
		{
			u->base = src->base;
			u->nbits = src->nbits;
			u->bits.word = src->bits.word;
			table->words++;
			return;
		}
		lo = Min(u->base, src->base);
		span = (int64) Max(UserLastActive(u), UserLastActive(src)) - lo + 1;
		if (span <= 64)
		{
			u->bits.word = (u->bits.word << (u->base - lo)) |
				(src->bits.word << (src->base - lo));
			u->base = lo;
			u->nbits = (int32) span;
			return;
		}
	}

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

	Flush(dst);
	Flush(src);
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

	Flush(table);
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
 * nbits (USER_HEAD_BYTES) and (nbits + 63) / 64 words of bitmap.
 */
#define USER_HEAD_BYTES (sizeof(int64) + 3 * sizeof(int32))

Size
UserTableSerializedSize(UserTable *table)
{
	Flush(table);
	return sizeof(uint64) + table->hash->members * USER_HEAD_BYTES +
		table->words * sizeof(uint64);
}

/*
 * Writes the serialised form, "size" bytes (UserTableSerializedSize), to
 * dst in one pass.  Users go out in bucket order: a reader whose table has
 * as many buckets (one sized for them) meets them in that order too, so its
 * insertions sweep the table instead of jumping around in it.
 */
void
UserTableWrite(UserTable *table, char *dst, Size size)
{
	char	   *p = dst;
	char	   *end = dst + size;
	users_iterator it;
	UserEntry  *e;
	uint64		count;

	Flush(table);
	count = table->hash->members;
	if (size < sizeof(count))
		elog(ERROR, "no room to serialise the retention state");
	PreferHugePages(dst, size);
	memcpy(p, &count, sizeof(count));
	p += sizeof(count);
	users_start_iterate(table->hash, &it);
	while ((e = users_iterate(table->hash, &it)) != NULL)
	{
		Size		nbytes = SerialWords(e->nbits) * sizeof(uint64);

		if ((Size) (end - p) < USER_HEAD_BYTES + nbytes)
			elog(ERROR, "no room to serialise the retention state");
		memcpy(p, &e->user_id, sizeof(int64));
		memcpy(p + 8, &e->first_start, sizeof(int32));
		memcpy(p + 12, &e->base, sizeof(int32));
		memcpy(p + 16, &e->nbits, sizeof(int32));
		memcpy(p + USER_HEAD_BYTES, UserWords(e), nbytes);
		p += USER_HEAD_BYTES + nbytes;
	}
	if (p != end)
		elog(ERROR, "retention state serialised to %zu bytes, expected %zu",
			 (Size) (p - dst), size);
}

static void pg_attribute_noreturn()
Truncated(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("retention aggregate state is truncated")));
}

static void
ReadBytes(StringInfo buf, void *dst, int len)
{
	if (len < 0 || buf->len - buf->cursor < len)
		Truncated();
	memcpy(dst, buf->data + buf->cursor, len);
	buf->cursor += len;
}

/*
 * Reads one user into e: its bitmap palloc'd when longer than a word, and
 * every field checked.
 */
static void
ReadUser(StringInfo buf, UserEntry *e)
{
	const char *p = buf->data + buf->cursor;
	int			nwords;

	if (buf->len - buf->cursor < (int) USER_HEAD_BYTES)
		Truncated();
	memcpy(&e->user_id, p, sizeof(int64));
	memcpy(&e->first_start, p + 8, sizeof(int32));
	memcpy(&e->base, p + 12, sizeof(int32));
	memcpy(&e->nbits, p + 16, sizeof(int32));
	buf->cursor += USER_HEAD_BYTES;
	if (e->nbits < 0 || e->nbits > MAX_USER_SPAN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state has a bitmap of %d bits", e->nbits)));

	/*
	 * Period numbers within the range every kind of period stays in
	 * (periods.h): the finals size their matrices by the span of the
	 * periods they see, and a number no timestamp gives is a forged state,
	 * not a table too large to build.
	 */
	if (e->first_start != NO_START &&
		(e->first_start < PERIOD_NUMBER_MIN || e->first_start > PERIOD_NUMBER_MAX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state has first start period %d, out of range",
						e->first_start)));
	if (e->nbits > 0 &&
		(e->base < PERIOD_NUMBER_MIN || (int64) e->base + e->nbits - 1 > PERIOD_NUMBER_MAX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state has active periods from %d, out of range",
						e->base)));
	nwords = SerialWords(e->nbits);
	if (e->nbits <= 64)
	{
		e->bits.word = 0;
		ReadBytes(buf, &e->bits.word, nwords * sizeof(uint64));
	}
	else
	{
		e->bits.words = palloc(nwords * sizeof(uint64));
		ReadBytes(buf, e->bits.words, nwords * sizeof(uint64));
	}

	/*
	 * No bit past nbits: MergeEntry shifts whole words into place, and a
	 * stray high bit would be carried into the word after the bitmap, past
	 * the user's entry or allocation.
	 */
	if (e->nbits % 64 != 0 &&
		(UserWords(e)[nwords - 1] >> (e->nbits % 64)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state has bits set past a bitmap of %d bits", e->nbits)));
}

/*
 * Merge a serialised table into "table" (which may already hold users):
 * this is both the deserialisation and, without a detour through a second
 * hash table, the combine step of a parallel aggregate.  Entries are read a
 * batch at a time so that their buckets can be prefetched.
 */
void
UserTableDeserialize(UserTable *table, StringInfo buf, int64 latest)
{
	uint64		count;
	UserEntry	batch[BATCH_SIZE];
	uint32		hashes[BATCH_SIZE];
	uint64		done = 0;

	Flush(table);
	ReadBytes(buf, &count, sizeof(count));
	if (count > MAX_USERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state claims " UINT64_FORMAT " users", count)));
	while (done < count)
	{
		int			n = (int) Min((uint64) BATCH_SIZE, count - done);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
		{
			ReadUser(buf, &batch[i]);
			/* the finals size their arrays up to latest, and index them by period */
			if ((batch[i].nbits > 0 && UserLastActive(&batch[i]) > latest) ||
				(batch[i].first_start != NO_START && batch[i].first_start > latest))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
						 errmsg("retention aggregate state has a user active after its latest period")));
			hashes[i] = HashId(batch[i].user_id);
			__builtin_prefetch(&table->hash->data[hashes[i] & table->hash->sizemask], 1);
		}
		for (int i = 0; i < n; i++)
		{
			MergeEntry(table, LookupHash(table, batch[i].user_id, hashes[i]), &batch[i]);
			if (batch[i].nbits > 64)
				pfree(batch[i].bits.words);
		}
		done += n;
	}
	if (buf->cursor != buf->len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("retention aggregate state has %d bytes of trailing data",
						buf->len - buf->cursor)));
}

/* The number of users a serialised table holds, to size a table for it. */
uint64
UserTableSerializedCount(StringInfo buf)
{
	uint64		count = 0;

	if (buf->len - buf->cursor >= (int) sizeof(count))
		memcpy(&count, buf->data + buf->cursor, sizeof(count));
	return Min(count, MAX_USERS);
}
