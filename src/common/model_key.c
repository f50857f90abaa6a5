/*-------------------------------------------------------------------------
 *
 * model_key.c
 *	  What recognises a model argument from one call to the next
 *	  (model_key.h): the tree ensembles and the ALS models keep theirs per
 *	  call site with it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"

#include "model_key.h"

static void
DigestUpdate(pg_cryptohash_ctx *ctx, const void *data, Size len)
{
	if (pg_cryptohash_update(ctx, data, len) < 0)
		elog(ERROR, "could not compute a model digest: %s", pg_cryptohash_error(ctx));
}

uint64
ModelDigest(const void *value, Size size, Size hash_offset)
{
	static const uint8 zeros[sizeof(uint64)] = {0};
	const char *bytes = (const char *) value;
	pg_cryptohash_ctx *ctx;
	uint8		sha[PG_SHA256_DIGEST_LENGTH];
	uint64		digest;

	Assert(hash_offset >= VARHDRSZ && size >= hash_offset + sizeof(uint64));
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute a model digest: %s", pg_cryptohash_error(ctx));
	DigestUpdate(ctx, bytes + VARHDRSZ, hash_offset - VARHDRSZ);
	DigestUpdate(ctx, zeros, sizeof(zeros));
	DigestUpdate(ctx, bytes + hash_offset + sizeof(uint64), size - hash_offset - sizeof(uint64));
	if (pg_cryptohash_final(ctx, sha, sizeof(sha)) < 0)
		elog(ERROR, "could not compute a model digest: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	memcpy(&digest, sha, sizeof(digest));
	return digest == 0 ? 1 : digest;
}

ModelKey
ModelKeyOf(Datum value, Size hash_offset)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(value);
	ModelKey	key;

	memset(&key, 0, sizeof(key));
	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		key.ondisk = true;
		VARATT_EXTERNAL_GET_POINTER(key.pointer, raw);
		return key;
	}
	key.size = toast_raw_datum_size(value);
	if (key.size >= hash_offset + sizeof(uint64))
	{
		/*
		 * A plain value is read in place; a compressed or short one through
		 * a slice of its head, so that it is not decompressed whole.
		 */
		struct varlena *head = VARATT_IS_EXTENDED(raw) ?
			pg_detoast_datum_slice(raw, 0, hash_offset + sizeof(uint64) - VARHDRSZ) : raw;

		memcpy(&key.hash, (const char *) head + hash_offset, sizeof(uint64));
		if (head != raw)
			pfree(head);
	}
	return key;
}

bool
ModelKeyMatches(const ModelKey *key, const ModelKey *kept)
{
	if (key->ondisk || kept->ondisk)
		return key->ondisk && kept->ondisk &&
			memcmp(&key->pointer, &kept->pointer, sizeof(key->pointer)) == 0;
	return key->hash != 0 && key->size == kept->size && key->hash == kept->hash;
}
