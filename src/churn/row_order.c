/*-------------------------------------------------------------------------
 *
 * row_order.c
 *	  A canonical order of training rows, one that depends only on the set
 *	  of rows: logreg_train sorts its rows so that the same rows give the
 *	  same model, bit for bit, whatever order the scan or the parallel
 *	  workers delivered them in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "row_order.h"

/* rows of width doubles in lexicographic order */
static int
CompareRows(const double *x, const double *y, int width)
{
	for (int j = 0; j < width; j++)
	{
		if (x[j] < y[j])
			return -1;
		if (x[j] > y[j])
			return 1;
	}
	return 0;
}

/*
 * A 64-bit hash of a row's bytes: each double's bits multiplied into the
 * state and mixed (the finaliser of splitmix64); a few cycles per element,
 * against the ~100 of hash_bytes_extended on a whole row.  Only the order
 * it gives matters, and ties are broken by the rows themselves.
 */
static inline uint64
HashRow(const double *row, int width)
{
	uint64		h = UINT64CONST(0x9E3779B97F4A7C15);

	for (int j = 0; j < width; j++)
	{
		uint64		bits;

		memcpy(&bits, &row[j], sizeof(bits));
		h = (h ^ bits) * UINT64CONST(0xBF58476D1CE4E5B9);
		h ^= h >> 31;
	}
	h ^= h >> 30;
	h *= UINT64CONST(0x94D049BB133111EB);
	return h ^ (h >> 31);
}

#define RADIX_BITS 11
#define RADIX_SIZE (1 << RADIX_BITS)
#define PREFIX_SHIFT (64 - 2 * RADIX_BITS)

/*
 * Sorts keys by the top 22 bits of their hash: a stable least-significant-
 * digit radix sort, two passes of 11 bits, through a second array; a pass
 * whose digit is the same for every key is skipped.  Returns the array
 * holding the result.  A million keys fall in four million prefixes, so
 * what is left to order is runs of about one key (OrderRuns).
 */
static RowKey *
RadixSortPrefixes(RowKey *keys, RowKey *other, int64 n)
{
	Size	   *count = palloc(sizeof(Size) * RADIX_SIZE);

	for (int shift = PREFIX_SHIFT; shift < 64; shift += RADIX_BITS)
	{
		Size		sum = 0;
		RowKey	   *swap;

		memset(count, 0, sizeof(Size) * RADIX_SIZE);
		for (int64 i = 0; i < n; i++)
			count[(keys[i].hash >> shift) & (RADIX_SIZE - 1)]++;
		if (count[(keys[0].hash >> shift) & (RADIX_SIZE - 1)] == (Size) n)
			continue;
		for (int d = 0; d < RADIX_SIZE; d++)
		{
			Size		c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (int64 i = 0; i < n; i++)
			other[count[(keys[i].hash >> shift) & (RADIX_SIZE - 1)]++] = keys[i];
		swap = keys, keys = other, other = swap;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(count);
	return keys;
}

typedef struct RowsContext
{
	const double *rows;
	int			width;
} RowsContext;

/* by the whole hash, then by the rows themselves */
static int
CompareKeys(const void *a, const void *b, void *arg)
{
	const RowKey *x = a;
	const RowKey *y = b;
	const RowsContext *cxt = arg;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return CompareRows(cxt->rows + x->index * cxt->width,
					   cxt->rows + y->index * cxt->width, cxt->width);
}

/*
 * Keys sharing a hash prefix in the order of their whole hash, then of the
 * rows themselves (equal hashes: equal rows, or a 64-bit collision).  A
 * comparison sort, so that rows crafted to share a prefix cost n log n, not
 * n^2.  Equal rows are interchangeable, so the order is canonical: the same
 * as sorting the whole hashes.
 */
static void
OrderRuns(RowKey *keys, int64 n, const double *rows, int width)
{
	RowsContext cxt = {rows, width};
	int64		run = 0;

	for (int64 i = 1; i <= n; i++)
	{
		if (i < n && (keys[i].hash >> PREFIX_SHIFT) == (keys[run].hash >> PREFIX_SHIFT))
			continue;
		if (i - run > 1)
			qsort_arg(keys + run, i - run, sizeof(RowKey), CompareKeys, &cxt);
		run = i;
	}
}

RowKey *
RowKeysInOrder(RowKey *keys, RowKey *spare, double *rows, const bool *labels,
			   int64 n, int width)
{
	for (int64 i = 0; i < n; i++)
	{
		double	   *row = rows + i * width;

		row[0] = labels[i] ? 1.0 : 0.0;
		keys[i].hash = HashRow(row, width);
		row[0] = 1.0;
		keys[i].index = i;
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	keys = RadixSortPrefixes(keys, spare, n);
	OrderRuns(keys, n, rows, width);
	return keys;
}
