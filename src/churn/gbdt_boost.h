/*-------------------------------------------------------------------------
 *
 * gbdt_boost.h
 *	  Internals of the training core shared by gbdt_bin.c, gbdt_grow.c and
 *	  gbdt_boost.c: the binned rows and the tree grower.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_GBDT_BOOST_H
#define RETENTION_GBDT_BOOST_H

#include "gbdt.h"

#define GbdtAllocHuge(sz) MemoryContextAllocHuge(CurrentMemoryContext, (sz))

#define HIST_WIDTH	3			/* gradient, hessian, count */
#define HistAt(b_, hist, f, bin) ((hist) + ((size_t) (b_)->hist_off[f] + (bin)) * HIST_WIDTH)

typedef struct Binned
{
	int64_t		n;
	int			k;
	uint8_t    *codes;			/* n x k, row-major */
	bool	   *y;
	int		   *n_bins;			/* non-missing bins per feature */
	uint8_t    *missing_code;	/* per feature: the code of a missing value, n_bins */
	int		   *hist_off;		/* per feature: its first histogram slot; k + 1 */
	bool	   *has_missing;
	int		   *edge_start;
	double	   *edges;
	int			n_edges;
} Binned;

typedef struct GrowNode
{
	int64_t		start;			/* slice of the index array */
	int64_t		stop;
	double		sum_g;
	double		sum_h;
	int			depth;
	int			out;			/* index in the output tree */
	int64_t		seq;			/* creation order: breaks ties in the heap */
	double	   *hist;
	/* best split */
	bool		splittable;
	double		gain;
	int			feature;
	int			bin;
	bool		default_left;
	double		gl,
				hl;
	int64_t		nl;
} GrowNode;

typedef struct Grower
{
	const Binned *b;
	const GbdtOptions *opts;
	const double *g;
	const double *h;
	uint32_t   *idx;
	double		shrink;			/* multiplies leaf values */
	double		offset;			/* added to leaf values (forest: the prior) */
	uint64_t   *rng;
	/* output */
	GbdtNode   *nodes;
	int			n_nodes;
	int			cap_nodes;
	/* best-first heap of splittable nodes */
	GrowNode  **heap;
	int			heap_n;
	int			heap_cap;
	int64_t		seq;
	int			n_leaves;
	bool	   *feature_mask;
	double	  **free_hists;		/* histograms to reuse */
	int			n_free;
} Grower;

/* bin the rows (rows->x is freed, the codes replace it) */
extern void GbdtBinRows(GbdtRows *rows, const GbdtOptions *opts, Binned *b);

/* sort the binned rows by (label, codes) */
extern void GbdtCanonicalOrder(Binned *b);

/*
 * Grow one tree over idx[0 .. n_rows); returns its nodes (see gbdt_grow.c).
 */
extern GbdtNode *GbdtGrowTree(Grower *gr, int64_t n_rows, int *n_nodes_out, int *leaf_of);

#endif							/* RETENTION_GBDT_BOOST_H */
