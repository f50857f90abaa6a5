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
#include "fmgr.h"

#include "model_key.h"

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
