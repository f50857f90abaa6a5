/*-------------------------------------------------------------------------
 *
 * row_order.h
 *	  A canonical order of training rows: by a hash of each row's bytes,
 *	  ties broken by the rows themselves.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_ROW_ORDER_H
#define RETENTION_ROW_ORDER_H

/* a row's place in the canonical order: a hash of its bytes, then the row itself */
typedef struct RowKey
{
	uint64		hash;
	int64		index;
} RowKey;

extern RowKey *RowKeysInOrder(RowKey *keys, RowKey *spare, double *rows,
							  const bool *labels, int64 n, int width);

#endif							/* RETENTION_ROW_ORDER_H */
