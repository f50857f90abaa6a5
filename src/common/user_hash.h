/*-------------------------------------------------------------------------
 *
 * user_hash.h
 *	  The one hash of a 64-bit user id, for the simplehash tables keyed by
 *	  user (the retention bitmaps, rolling retention; free for any other
 *	  per-user table, e.g. in src/recommend).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_USER_HASH_H
#define RETENTION_USER_HASH_H

/*
 * MurmurHash3's 64-bit finaliser: user ids are often dense, so every bit
 * of the id is mixed into the low bits simplehash uses.
 */
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

#endif							/* RETENTION_USER_HASH_H */
