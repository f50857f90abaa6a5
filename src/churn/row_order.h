/*-------------------------------------------------------------------------
 *
 * row_order.h
 *	  A canonical order of training rows: by a hash of each row's bytes,
 *	  ties broken by the rows themselves.
 *
 * The rows may lie in several chunks (a parallel worker's share each); a
 * row's width includes the lead column, which holds 1, while its label
 * lies apart and takes the lead column's place in the hash.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_ROW_ORDER_H
#define RETENTION_ROW_ORDER_H

/* n rows of some width and their labels */
typedef struct RowChunk
{
	double	   *rows;
	bool	   *labels;
	int64		n;
	uint64	   *hashes;			/* the rows' hashes (RowHashes), or NULL */
} RowChunk;

/* a row's place in the canonical order: a hash of its bytes, then the row itself */
typedef struct RowKey
{
	uint64		hash;
	int64		index;			/* chunk << ROW_CHUNK_SHIFT | row in the chunk */
} RowKey;

#define ROW_CHUNK_SHIFT 40

static inline const double *
RowKeyRow(const RowChunk *chunks, int64 index, int width)
{
	return chunks[index >> ROW_CHUNK_SHIFT].rows +
		(index & ((INT64CONST(1) << ROW_CHUNK_SHIFT) - 1)) * width;
}

static inline bool
RowKeyLabel(const RowChunk *chunks, int64 index)
{
	return chunks[index >> ROW_CHUNK_SHIFT].labels[index & ((INT64CONST(1) << ROW_CHUNK_SHIFT) - 1)];
}

/* the hashes that order rows first .. first + n - 1 of a chunk */
extern void RowHashes(const RowChunk *chunk, int64 first, int64 n, int width, uint64 *out);

/* the n rows of the chunks in the canonical order: keys or spare, n each */
extern RowKey *RowKeysInOrder(RowKey *keys, RowKey *spare, const RowChunk *chunks,
							  int n_chunks, int64 n, int width);

/*
 * Merges chunks that are each in the canonical order: where each row is and
 * its label, in order (n of each in all); false when a chunk is not in order
 * (what was written is then garbage).
 */
extern bool RowChunksMerge(const RowChunk *chunks, int n_chunks, int width,
						   const double **rows, bool *labels);

#endif							/* RETENTION_ROW_ORDER_H */
