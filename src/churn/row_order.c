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
#define HASH_SEED UINT64CONST(0x9E3779B97F4A7C15)
#define HASH_MUL UINT64CONST(0xBF58476D1CE4E5B9)

static inline uint64
HashStep(uint64 h, double x)
{
	uint64		bits;

	memcpy(&bits, &x, sizeof(bits));
	h = (h ^ bits) * HASH_MUL;
	return h ^ (h >> 31);
}

static inline uint64
HashFinish(uint64 h)
{
	h ^= h >> 30;
	h *= UINT64CONST(0x94D049BB133111EB);
	return h ^ (h >> 31);
}

/* the label in the lead column's place */
static inline uint64
HashRow(const double *row, bool label, int width)
{
	uint64		h = HashStep(HASH_SEED, label ? 1.0 : 0.0);

	for (int j = 1; j < width; j++)
		h = HashStep(h, row[j]);
	return HashFinish(h);
}

/*
 * The hashes of rows first .. first + n - 1 of a chunk, four rows at a time:
 * each row's hash is a chain of multiplications, and four independent chains
 * keep the multiplier busy where one would wait on each product.
 */
void
RowHashes(const RowChunk *chunk, int64 first, int64 n, int width, uint64 *out)
{
	int64		i = 0;

	for (; i + 4 <= n; i += 4)
	{
		const double *r = chunk->rows + (first + i) * width;
		const bool *l = chunk->labels + first + i;
		uint64		h0 = HashStep(HASH_SEED, l[0] ? 1.0 : 0.0);
		uint64		h1 = HashStep(HASH_SEED, l[1] ? 1.0 : 0.0);
		uint64		h2 = HashStep(HASH_SEED, l[2] ? 1.0 : 0.0);
		uint64		h3 = HashStep(HASH_SEED, l[3] ? 1.0 : 0.0);

		for (int j = 1; j < width; j++)
		{
			h0 = HashStep(h0, r[j]);
			h1 = HashStep(h1, r[width + j]);
			h2 = HashStep(h2, r[2 * width + j]);
			h3 = HashStep(h3, r[3 * width + j]);
		}
		out[i] = HashFinish(h0);
		out[i + 1] = HashFinish(h1);
		out[i + 2] = HashFinish(h2);
		out[i + 3] = HashFinish(h3);
	}
	for (; i < n; i++)
		out[i] = HashRow(chunk->rows + (first + i) * width, chunk->labels[first + i], width);
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
	const RowChunk *chunks;
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
	return CompareRows(RowKeyRow(cxt->chunks, x->index, cxt->width),
					   RowKeyRow(cxt->chunks, y->index, cxt->width), cxt->width);
}

/*
 * Keys sharing a hash prefix in the order of their whole hash, then of the
 * rows themselves (equal hashes: equal rows, or a 64-bit collision).  A
 * comparison sort, so that rows crafted to share a prefix cost n log n, not
 * n^2.  Equal rows are interchangeable, so the order is canonical: the same
 * as sorting the whole hashes.
 */
static void
OrderRuns(RowKey *keys, int64 n, const RowChunk *chunks, int width)
{
	RowsContext cxt = {chunks, width};
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
RowKeysInOrder(RowKey *keys, RowKey *spare, const RowChunk *chunks, int n_chunks,
			   int64 n, int width)
{
	int64		g = 0;
	uint64		hashes[1024];

	for (int c = 0; c < n_chunks; c++)
	{
		for (int64 i = 0; i < chunks[c].n; i += lengthof(hashes))
		{
			int64		nb = Min((int64) lengthof(hashes), chunks[c].n - i);

			RowHashes(&chunks[c], i, nb, width, hashes);
			for (int64 b = 0; b < nb; b++, g++)
			{
				keys[g].hash = hashes[b];
				keys[g].index = ((int64) c << ROW_CHUNK_SHIFT) | (i + b);
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
	Assert(g == n);
	keys = RadixSortPrefixes(keys, spare, n);
	OrderRuns(keys, n, chunks, width);
	return keys;
}

/*
 * The hashes of a chunk's rows (kept with the chunk, or computed into
 * "room"), NULL unless they are in the canonical order.
 */
static const uint64 *
ChunkInOrder(const RowChunk *chunk, int width, uint64 *room)
{
	const uint64 *hashes = chunk->hashes;

	if (hashes == NULL)
	{
		for (int64 i = 0; i < chunk->n; i += 65536)
		{
			RowHashes(chunk, i, Min(65536, chunk->n - i), width, room + i);
			CHECK_FOR_INTERRUPTS();
		}
		hashes = room;
	}
	for (int64 i = 1; i < chunk->n; i++)
	{
		if (hashes[i] < hashes[i - 1] ||
			(hashes[i] == hashes[i - 1] &&
			 CompareRows(chunk->rows + i * width, chunk->rows + (i - 1) * width, width) < 0))
			return NULL;
	}
	return hashes;
}

/*
 * The same order as RowKeysInOrder: equal keys are equal rows, which may go
 * in either order.  A linear search for the first head: a merge is for a
 * few parallel workers' shares.
 */
bool
RowChunksMerge(const RowChunk *chunks, int n_chunks, int width, const double **rows,
			   bool *labels)
{
	int64		n = 0;
	const uint64 **hashes;
	uint64	   *room;
	int64	   *next;
	bool		ok = true;

	if (n_chunks > 16)
		return false;
	for (int c = 0; c < n_chunks; c++)
		n += chunks[c].n;
	hashes = palloc(sizeof(uint64 *) * n_chunks);
	next = palloc0(sizeof(int64) * n_chunks);
	room = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint64) * Max(n, 1));
	for (int64 c = 0, used = 0; c < n_chunks && ok; used += chunks[c].n, c++)
	{
		hashes[c] = ChunkInOrder(&chunks[c], width, room + used);
		ok = (hashes[c] != NULL);
	}
	for (int64 out = 0; ok && out < n; out++)
	{
		int			best = -1;
		int64		i;

		for (int c = 0; c < n_chunks; c++)
		{
			int64		j = next[c];

			if (j == chunks[c].n)
				continue;
			if (best < 0 || hashes[c][j] < hashes[best][next[best]] ||
				(hashes[c][j] == hashes[best][next[best]] &&
				 CompareRows(chunks[c].rows + j * width,
							 chunks[best].rows + next[best] * width, width) < 0))
				best = c;
		}
		i = next[best]++;
		rows[out] = chunks[best].rows + i * width;
		labels[out] = chunks[best].labels[i];
		if ((out & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(room);
	pfree(hashes);
	pfree(next);
	return ok;
}
