/*-------------------------------------------------------------------------
 *
 * topk.c
 *	  A bounded heap of the best scored indexes (topk.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topk.h"

void
TopKInit(TopK *topk, int limit)
{
	Assert(limit >= 0);
	topk->entries = palloc(sizeof(TopKEntry) * Max(limit, 1));
	topk->n = 0;
	topk->limit = limit;
}

/* Adds an entry below the limit and sifts it up. */
void
TopKPush(TopK *topk, TopKEntry e)
{
	TopKEntry  *heap = topk->entries;
	int			i = topk->n++;

	heap[i] = e;
	while (i > 0)
	{
		int			parent = (i - 1) / 2;
		TopKEntry	tmp;

		if (!TopKWorse(&heap[i], &heap[parent]))
			return;
		tmp = heap[i];
		heap[i] = heap[parent];
		heap[parent] = tmp;
		i = parent;
	}
}

/* Puts e in place of the worst kept entry (the root) and sifts it down. */
void
TopKReplaceWorst(TopK *topk, TopKEntry e)
{
	TopKEntry  *heap = topk->entries;
	int			n = topk->n;
	int			i = 0;

	heap[0] = e;
	for (;;)
	{
		int			worst = i;
		int			l = 2 * i + 1;
		int			r = l + 1;
		TopKEntry	tmp;

		if (l < n && TopKWorse(&heap[l], &heap[worst]))
			worst = l;
		if (r < n && TopKWorse(&heap[r], &heap[worst]))
			worst = r;
		if (worst == i)
			return;
		tmp = heap[i];
		heap[i] = heap[worst];
		heap[worst] = tmp;
		i = worst;
	}
}

static int
CompareBestFirst(const void *a, const void *b)
{
	if (TopKWorse(a, b))
		return 1;
	if (TopKWorse(b, a))
		return -1;
	return 0;
}

int
TopKSort(TopK *topk)
{
	qsort(topk->entries, topk->n, sizeof(TopKEntry), CompareBestFirst);
	return topk->n;
}
