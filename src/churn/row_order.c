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

/*
 * Sorts keys by hash: a stable least-significant-digit radix sort, six
 * passes of 11 bits, through a second array (several times faster than a
 * comparison sort of a million keys); a pass whose digit is the same for
 * every key is skipped.  Returns the array holding the result.
 */
static RowKey *
RadixSortKeys(RowKey *keys, RowKey *other, int64 n)
{
	Size	   *count = palloc(sizeof(Size) * RADIX_SIZE);

	for (int shift = 0; shift < 64; shift += RADIX_BITS)
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

/*
 * Rows with equal hashes (equal rows, or a 64-bit collision) in the order of
 * the rows themselves: an insertion sort of each run, which is almost always
 * one key long.  Equal rows are interchangeable, so this order is canonical.
 */
static void
OrderHashTies(RowKey *keys, int64 n, const double *rows, int width)
{
	int64		run = 0;

	for (int64 i = 1; i <= n; i++)
	{
		if (i < n && keys[i].hash == keys[run].hash)
			continue;
		for (int64 a = run + 1; a < i; a++)
		{
			RowKey		key = keys[a];
			int64		b = a;

			while (b > run && CompareRows(rows + keys[b - 1].index * width,
										  rows + key.index * width, width) > 0)
			{
				keys[b] = keys[b - 1];
				b--;
			}
			keys[b] = key;
		}
		run = i;
	}
}

/*
 * Fills keys (n of them; spare is scratch of the same size) with the rows'
 * canonical order and returns the array holding it (keys or spare).  Each
 * row is width doubles whose leading slot holds 1.0; the label goes into
 * that slot while the row is hashed, so rows differing only in their label
 * are told apart, and the slot is put back.
 */
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
	keys = RadixSortKeys(keys, spare, n);
	OrderHashTies(keys, n, rows, width);
	return keys;
}
