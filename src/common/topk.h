/*-------------------------------------------------------------------------
 *
 * topk.h
 *	  A bounded heap that keeps the "limit" best of a stream of scored
 *	  indexes: the neighbours of an item (item_knn), the recommendations of
 *	  a user (recommend, recommend_als).
 *
 * "Best" is the highest score, and among equal scores the smallest index;
 * callers number their items in ascending id order, so ties go to the
 * smaller id and the answer does not depend on the order of the offers.
 * The heap is a min-heap on that order (the worst kept entry at the root),
 * so an offer costs O(1) when it is rejected and O(log limit) otherwise.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_TOPK_H
#define RETENTION_TOPK_H

typedef struct TopKEntry
{
	float8		score;
	int32		index;
} TopKEntry;

typedef struct TopK
{
	TopKEntry  *entries;		/* a heap until TopKSort, then best first */
	int			n;
	int			limit;
} TopK;

/* true when a ranks below b: lower score, or equal and larger index */
static inline bool
TopKWorse(const TopKEntry *a, const TopKEntry *b)
{
	if (a->score != b->score)
		return a->score < b->score;
	return a->index > b->index;
}

/* An empty heap for at most "limit" (>= 0) entries, in CurrentMemoryContext. */
extern void TopKInit(TopK *topk, int limit);

/* Empties the heap for reuse (the same limit). */
static inline void
TopKReset(TopK *topk)
{
	topk->n = 0;
}

extern void TopKReplaceWorst(TopK *topk, TopKEntry e);
extern void TopKPush(TopK *topk, TopKEntry e);

/* Offers one entry; kept when among the best "limit" so far. */
static inline void
TopKOffer(TopK *topk, float8 score, int32 index)
{
	TopKEntry	e;

	e.score = score;
	e.index = index;
	if (topk->n < topk->limit)
		TopKPush(topk, e);
	else if (topk->n > 0 && TopKWorse(&topk->entries[0], &e))
		TopKReplaceWorst(topk, e);
}

/* Sorts the kept entries best first (the heap is spent); returns their number. */
extern int	TopKSort(TopK *topk);

#endif							/* RETENTION_TOPK_H */
