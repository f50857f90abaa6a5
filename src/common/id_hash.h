/*-------------------------------------------------------------------------
 *
 * id_hash.h
 *	  The one hash of a 64-bit id (a user, an item) for our hash tables:
 *	  the retention bitmaps, rolling retention, the recommenders.
 *
 * Ids are often dense (1, 2, 3, ...), and simplehash and open addressing
 * take the low bits of the hash, so every bit of the id must reach every
 * bit of the hash: this is the 64-bit finaliser of MurmurHash3 (fmix64).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_ID_HASH_H
#define RETENTION_ID_HASH_H

static inline uint32
HashId(int64 id)
{
	uint64		h = (uint64) id;

	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32) h;
}

#endif							/* RETENTION_ID_HASH_H */
