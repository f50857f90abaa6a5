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
 * parameter) is known by its size and the 64-bit hash its makers record in
 * its header.  A hash of 0 names nothing: such a value is read every time.
 */
typedef struct ModelKey
{
	bool		ondisk;
	struct varatt_external pointer; /* when ondisk */
	Size		size;			/* otherwise the value's size */
	uint64		hash;			/* and its recorded hash */
} ModelKey;

/* the key of a model value whose hash stands hash_offset bytes into it */
extern ModelKey ModelKeyOf(Datum value, Size hash_offset);

/* whether key names the model kept under "kept" */
extern bool ModelKeyMatches(const ModelKey *key, const ModelKey *kept);

#endif							/* RETENTION_MODEL_KEY_H */
