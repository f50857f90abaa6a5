/*-------------------------------------------------------------------------
 *
 * interactions.h
 *	  The (user, item, weight) triples that the recommendation aggregates
 *	  (item_knn, als_train) collect: a growable list in the aggregate's
 *	  context, its union for the combine function, its bytes between
 *	  processes (a layout's own header, then the raw triples), and the
 *	  sort-and-merge of repeated pairs their final functions start with.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_INTERACTIONS_H
#define RETENTION_INTERACTIONS_H

typedef struct Interaction
{
	int64		user_id;
	int64		item_id;
	float8		weight;
} Interaction;

typedef struct Interactions
{
	const char *aggregate;		/* "item_knn", "als_train": in messages */
	MemoryContext context;		/* where rows live */
	int64		n;				/* triples used */
	int64		capacity;		/* triples allocated */
	Interaction *rows;
} Interactions;

/* An empty list with room for at least "capacity" triples. */
extern void InteractionsInit(Interactions *list, MemoryContext context,
							 const char *aggregate, int64 capacity);

/* Room for "needed" triples; 54000 past the largest list we allocate. */
extern void InteractionsReserve(Interactions *list, int64 needed);

static inline void
InteractionsAdd(Interactions *list, int64 user_id, int64 item_id, float8 weight)
{
	InteractionsReserve(list, list->n + 1);
	list->rows[list->n].user_id = user_id;
	list->rows[list->n].item_id = item_id;
	list->rows[list->n].weight = weight;
	list->n++;
}

/* Appends a copy of from's triples to into's. */
extern void InteractionsAppend(Interactions *into, const Interactions *from);

/*
 * Sorts the triples by (user, item, weight) and adds up the weights of each
 * (user, item) pair in that order, so the sums do not depend on the order
 * rows arrived in; leaves the distinct pairs at the front and returns their
 * number (also in list->n).  The merged list is equivalent, so a final
 * function may run again on it.
 */
extern int64 InteractionsMergePairs(Interactions *list);

/*
 * The bytes of a state: header_size bytes of the layout's header, then the
 * triples.  54000 when they exceed the 1 GB limit of a value.
 */
extern bytea *InteractionsSerialize(const Interactions *list, const void *header,
									Size header_size);

/*
 * The header of a state's bytes (22P03 when they are shorter than it), and
 * the check that the rest holds exactly n triples (22P03 otherwise).
 */
extern const char *InteractionsStateHeader(bytea *data, const char *aggregate,
										   Size header_size);
extern void InteractionsCheckCount(bytea *data, const char *aggregate,
								   Size header_size, int64 n);

/*
 * A list in "context" holding the n triples after the header, their count
 * checked and every weight within [0, max_weight] as the transition
 * function checks it: the bytes came from outside.
 */
extern void InteractionsFromState(Interactions *list, MemoryContext context,
								  const char *aggregate, bytea *data,
								  Size header_size, int64 n, double max_weight);

#endif							/* RETENTION_INTERACTIONS_H */
