/*-------------------------------------------------------------------------
 *
 * recommend.h
 *	  Helpers shared by the functions that rank items for a user.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_RECOMMEND_H
#define RETENTION_RECOMMEND_H

#include "utils/array.h"

/*
 * The distinct non-null elements of a bigint[] argument (empty or
 * one-dimensional), sorted ascending; their number goes to *count.
 */

/* Raise an error naming k unless k > 0. */
extern void CheckResultK(int32 k);

#endif							/* RETENTION_RECOMMEND_H */
