/*-------------------------------------------------------------------------
 *
 * agg_context.c
 *	  Support functions' results that leave the state alone (agg_context.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "agg_context.h"

Datum
KeepState(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}
