/*-------------------------------------------------------------------------
 *
 * bytea_state.c
 *	  The bytea form of internal aggregate states (bytea_state.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "bytea_state.h"

void
ByteaStateBegin(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoSpaces(buf, VARHDRSZ);
}

bytea *
ByteaStateEnd(StringInfo buf)
{
	SET_VARSIZE(buf->data, buf->len);
	return (bytea *) buf->data;
}

void
ByteaReaderInit(ByteaReader *r, bytea *b, const char *error)
{
	r->p = VARDATA_ANY(b);
	r->end = r->p + VARSIZE_ANY_EXHDR(b);
	r->error = error;
}

void
ByteaReaderError(const ByteaReader *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("%s", r->error)));
	pg_unreachable();
}

const char *
ByteaTake(ByteaReader *r, Size n)
{
	const char *p = r->p;

	if (ByteaLeft(r) < n)
		ByteaReaderError(r);
	r->p += n;
	return p;
}

void
ByteaRead(ByteaReader *r, void *dst, Size n)
{
	memcpy(dst, ByteaTake(r, n), n);
}
