/*-------------------------------------------------------------------------
 *
 * bytea_state.h
 *	  The bytea form of an internal aggregate state, as its serialise
 *	  function writes it and its deserialise function reads it back: a
 *	  buffer that starts with room for the varlena header, and a cursor
 *	  that checks every length against the bytes left.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_BYTEA_STATE_H
#define RETENTION_BYTEA_STATE_H

#include "lib/stringinfo.h"

/* Starts a bytea in buf (initialised here): room for its header. */
extern void ByteaStateBegin(StringInfo buf);

/* The bytea written into buf since ByteaStateBegin. */
extern bytea *ByteaStateEnd(StringInfo buf);

typedef struct ByteaReader
{
	const char *p;				/* the next byte to read */
	const char *end;
	const char *error;			/* the 22P03 message for a short or bad state */
} ByteaReader;

extern void ByteaReaderInit(ByteaReader *r, bytea *b, const char *error);

/* Raises the reader's error. */
extern void ByteaReaderError(const ByteaReader *r) pg_attribute_noreturn();

/* Copies the next n bytes to dst; the error when fewer are left. */
extern void ByteaRead(ByteaReader *r, void *dst, Size n);

/* The next n bytes, read in place; the error when fewer are left. */
extern const char *ByteaTake(ByteaReader *r, Size n);

static inline Size
ByteaLeft(const ByteaReader *r)
{
	return r->end - r->p;
}

#endif							/* RETENTION_BYTEA_STATE_H */
