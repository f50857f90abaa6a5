/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Module entry point of the retention extension.
 *
 * Each concern lives in its own file (similarity.c, ...); this one only
 * marks the library as a PostgreSQL module.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;
