/*-------------------------------------------------------------------------
 *
 * model_key.h
 *	  What recognises a model argument from one call to the next, so that a
 *	  call site can keep the model it validated and prepared (fn_extra).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_MODEL_KEY_H
#define RETENTION_MODEL_KEY_H

/*
 * A model read from a table arrives as a toast pointer, which names an
 * immutable value; one held in memory (a PL/pgSQL variable, a query
 * parameter) is known by its size and the digest its makers record in its
 * header (ModelDigest).  A digest of 0 names nothing: such a value is read
 * every time.
 */
typedef struct ModelKey
{
	bool		ondisk;
	struct varatt_external pointer; /* when ondisk */
	Size		size;			/* otherwise the value's size */
	uint64		hash;			/* and its recorded hash */
} ModelKey;

/*
 * The digest a model type records hash_offset bytes into its values: the
 * first 8 bytes of the SHA-256 of the value after its length word, those 8
 * bytes read as 0; never 0.  A cryptographic hash, because two models that
 * share a digest and a size share a cache entry: nobody can make a second
 * model with the digest of a given one (2^64 tries), and making two that
 * collide (2^32) fools only the queries that use both.
 */
extern uint64 ModelDigest(const void *value, Size size, Size hash_offset);

/* the key of a model value whose digest stands hash_offset bytes into it */
extern ModelKey ModelKeyOf(Datum value, Size hash_offset);

/* whether key names the model kept under "kept" */
extern bool ModelKeyMatches(const ModelKey *key, const ModelKey *kept);

#endif							/* RETENTION_MODEL_KEY_H */
