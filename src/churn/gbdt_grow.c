/*-------------------------------------------------------------------------
 *
 * gbdt_grow.c
 *	  Growing one tree of retention.gbdt_train, best first, from histograms
 *	  of gradient and hessian sums (a child's histogram being its parent's
 *	  minus its sibling's), with sparsity-aware split finding.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "gbdt.h"
#include "gbdt_boost.h"

/* ---------- growing one tree ---------- */


static size_t
HistBytes(const Binned *b)
{
	return sizeof(double) * (size_t) b->hist_off[b->k] * HIST_WIDTH;
}

static double *
NewHist(Grower *gr)
{
	double	   *h;

	if (gr->n_free > 0)
		h = gr->free_hists[--gr->n_free];
	else
		h = GbdtAllocHuge(HistBytes(gr->b));
	memset(h, 0, HistBytes(gr->b));
	return h;
}

static void
FreeHist(Grower *gr, double *h)
{
	if (h == NULL)
		return;
	if (gr->n_free < 64)
		gr->free_hists[gr->n_free++] = h;
	else
		pfree(h);
}

static void
BuildHist(const Grower *gr, const GrowNode *node, double *hist)
{
	int			k = gr->b->k;
	const uint8_t *codes = gr->b->codes;
	const uint32_t *idx = gr->idx;
	const double *g = gr->g;
	const double *h = gr->h;
	double	  **base = palloc(sizeof(double *) * k);

	/*
	 * Each feature's slots, found once: written through hist, the offsets
	 * would otherwise be read again for every row and feature.
	 */
	for (int f = 0; f < k; f++)
		base[f] = HistAt(gr->b, hist, f, 0);
	for (int64_t r = node->start; r < node->stop; r++)
	{
		uint32_t	i = idx[r];
		const uint8_t *c = codes + (size_t) i * k;
		double		gi = g[i];
		double		hi = h[i];

		if (((r - node->start) & 0x3FFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (r + 16 < node->stop)
		{
			uint32_t	ahead = idx[r + 16];

			__builtin_prefetch(codes + (size_t) ahead * k);
			__builtin_prefetch(g + ahead);
			__builtin_prefetch(h + ahead);
		}
		for (int f = 0; f < k; f++)
		{
			double	   *slot = base[f] + (size_t) c[f] * HIST_WIDTH;

			slot[0] += gi;
			slot[1] += hi;
			slot[2] += 1.0;
		}
	}
	pfree(base);
}

static inline double
Score(double g, double h, double l2)
{
	return g * g / (h + l2);
}

static void
ConsiderSplit(GrowNode *node, const GbdtOptions *opts, int f, int bin, bool missing_left,
			  double gl, double hl, int64_t nl, double parent_score)
{
	double		gr = node->sum_g - gl;
	double		hr = node->sum_h - hl;
	double		gain = Score(gl, hl, opts->l2_regularization) +
		Score(gr, hr, opts->l2_regularization) - parent_score;

	if (gain > node->gain && gain > opts->min_gain_to_split)
	{
		node->splittable = true;
		node->gain = gain;
		node->feature = f;
		node->bin = bin;
		node->default_left = missing_left;
		node->gl = gl;
		node->hl = hl;
		node->nl = nl;
	}
}

/*
 * The best split of a node over the allowed features, scanning each feature
 * as scikit-learn's splitter does: bins left to right with the missing
 * values on the right (including the split "every value left, missing
 * right"), then, when the feature has missing values, right to left with
 * them on the left.  The first best wins ties.
 */
static void
FindSplit(Grower *gr, GrowNode *node)
{
	const GbdtOptions *opts = gr->opts;
	const Binned *b = gr->b;
	int64_t		n = node->stop - node->start;
	double		parent_score = Score(node->sum_g, node->sum_h, opts->l2_regularization);
	int			min_leaf = opts->min_samples_leaf;
	double		min_h = opts->min_hessian_to_split;

	node->splittable = false;
	node->gain = 0.0;
	if (n < 2 * (int64_t) min_leaf || node->sum_h < min_h)
		return;
	if (opts->max_depth > 0 && node->depth >= opts->max_depth)
		return;
	if (node->depth >= GBDT_MAX_DEPTH)
		return;

	for (int f = 0; f < b->k; f++)
	{
		const double *hf = HistAt(b, node->hist, f, 0);
		int			nb = b->n_bins[f];
		bool		miss = b->has_missing[f];
		int			end = nb - 1 + (miss ? 1 : 0);
		double		gl = 0.0,
					hl = 0.0;
		int64_t		nl = 0;

		if (gr->feature_mask && !gr->feature_mask[f])
			continue;
		for (int t = 0; t < end; t++)
		{
			gl += hf[t * HIST_WIDTH];
			hl += hf[t * HIST_WIDTH + 1];
			nl += (int64_t) hf[t * HIST_WIDTH + 2];
			if (nl < min_leaf || hl < min_h)
				continue;
			if (n - nl < min_leaf || node->sum_h - hl < min_h)
				break;
			ConsiderSplit(node, opts, f, t, false, gl, hl, nl, parent_score);
		}
		if (miss)
		{
			double		gr_ = 0.0,
						hr = 0.0;
			int64_t		nr = 0;

			for (int t = nb - 2; t >= 0; t--)
			{
				gr_ += hf[(t + 1) * HIST_WIDTH];
				hr += hf[(t + 1) * HIST_WIDTH + 1];
				nr += (int64_t) hf[(t + 1) * HIST_WIDTH + 2];
				if (nr < min_leaf || hr < min_h)
					continue;
				if (n - nr < min_leaf || node->sum_h - hr < min_h)
					break;
				ConsiderSplit(node, opts, f, t, true, node->sum_g - gr_, node->sum_h - hr,
							  n - nr, parent_score);
			}
		}
	}
}

static int
AddOutputNode(Grower *gr, const GrowNode *node)
{
	GbdtNode   *o;
	double		v = -node->sum_g / (node->sum_h + gr->opts->l2_regularization);

	if (gr->n_nodes == gr->cap_nodes)
	{
		gr->cap_nodes *= 2;
		gr->nodes = repalloc_huge(gr->nodes, sizeof(GbdtNode) * gr->cap_nodes);
	}
	o = &gr->nodes[gr->n_nodes];
	memset(o, 0, sizeof(*o));
	o->feature = -1;
	o->left = o->right = -1;
	o->value = (gr->offset + v) * gr->shrink;
	o->cover = (double) (node->stop - node->start);
	return gr->n_nodes++;
}

static bool
HeapBefore(const GrowNode *a, const GrowNode *b)
{
	if (a->gain != b->gain)
		return a->gain > b->gain;
	return a->seq < b->seq;
}

static void
HeapPush(Grower *gr, GrowNode *node)
{
	int			i;

	if (gr->heap_n == gr->heap_cap)
	{
		gr->heap_cap *= 2;
		gr->heap = repalloc(gr->heap, sizeof(GrowNode *) * gr->heap_cap);
	}
	i = gr->heap_n++;
	gr->heap[i] = node;
	while (i > 0 && HeapBefore(gr->heap[i], gr->heap[(i - 1) / 2]))
	{
		GrowNode   *t = gr->heap[i];

		gr->heap[i] = gr->heap[(i - 1) / 2];
		gr->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static GrowNode *
HeapPop(Grower *gr)
{
	GrowNode   *top = gr->heap[0];
	int			i = 0;

	gr->heap[0] = gr->heap[--gr->heap_n];
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					m = i;

		if (l < gr->heap_n && HeapBefore(gr->heap[l], gr->heap[m]))
			m = l;
		if (r < gr->heap_n && HeapBefore(gr->heap[r], gr->heap[m]))
			m = r;
		if (m == i)
			break;
		{
			GrowNode   *t = gr->heap[i];

			gr->heap[i] = gr->heap[m];
			gr->heap[m] = t;
		}
		i = m;
	}
	return top;
}

static void
ChooseFeatures(Grower *gr)
{
	int			k = gr->b->k;
	int			want;
	int		   *order;

	if (gr->feature_mask == NULL)
		return;
	want = (int) ceil(gr->opts->feature_fraction * k - 1e-9);
	want = Max(1, Min(k, want));
	order = palloc(sizeof(int) * k);
	for (int f = 0; f < k; f++)
		order[f] = f;
	/* partial Fisher-Yates: the first "want" of a random permutation */
	for (int f = 0; f < want; f++)
	{
		int			r = f + (int) GbdtRandomBelow(gr->rng, k - f);
		int			t = order[f];

		order[f] = order[r];
		order[r] = t;
	}
	memset(gr->feature_mask, 0, sizeof(bool) * k);
	for (int f = 0; f < want; f++)
		gr->feature_mask[order[f]] = true;
	pfree(order);
}

/* the histogram, split and heap entry of a node whose histogram is set */
static void
Prepare(Grower *gr, GrowNode *node)
{
	ChooseFeatures(gr);
	FindSplit(gr, node);
	node->seq = gr->seq++;
	if (node->splittable)
		HeapPush(gr, node);
	else
	{
		FreeHist(gr, node->hist);
		node->hist = NULL;
	}
}

/*
 * Partitions the rows of node p: those going left first.  On return *lo is
 * the first row going right.  The loop reads everything from locals: the
 * writes to idx would otherwise make the compiler reload the grower's
 * fields for every row.
 */
static void
PartitionRows(Grower *gr, const GrowNode *p, int64_t *lo_io, int64_t *hi_io)
{
	const uint8_t *column = gr->b->codes + p->feature;
	size_t		k = gr->b->k;
	uint8_t		missing = gr->b->missing_code[p->feature];
	bool		default_left = p->default_left;
	int			bin = p->bin;
	uint32_t   *idx = gr->idx;
	int64_t		lo = *lo_io,
				hi = *hi_io;

	while (lo <= hi)
	{
		uint8_t		c = column[(size_t) idx[lo] * k];
		bool		left = (c == missing) ? default_left : (c <= bin);

		if (lo + 16 <= hi)
			__builtin_prefetch(column + (size_t) idx[lo + 16] * k);
		if (left)
			lo++;
		else
		{
			uint32_t	t = idx[lo];

			idx[lo] = idx[hi];
			idx[hi] = t;
			hi--;
		}
	}
	*lo_io = lo;
	*hi_io = hi;
}

/*
 * Grow one tree over idx[0 .. n_rows) (row indices, repeated for a
 * bootstrap sample).  Returns the output nodes (root first, children after
 * their parent) and reorders idx so that every leaf's rows are contiguous;
 * leaf_of[r] receives the output leaf of idx[r] when leaf_of is not NULL.
 */
GbdtNode *
GbdtGrowTree(Grower *gr, int64_t n_rows, int *n_nodes_out, int *leaf_of)
{
	const GbdtOptions *opts = gr->opts;
	int			k = gr->b->k;
	GrowNode   *root = palloc0(sizeof(GrowNode));
	GrowNode  **all;
	int			n_all = 0,
				cap_all = 64;

	gr->cap_nodes = 64;
	gr->nodes = palloc(sizeof(GbdtNode) * gr->cap_nodes);
	gr->n_nodes = 0;
	gr->heap_cap = 64;
	gr->heap = palloc(sizeof(GrowNode *) * gr->heap_cap);
	gr->heap_n = 0;
	gr->seq = 0;
	all = palloc(sizeof(GrowNode *) * cap_all);

	root->start = 0;
	root->stop = n_rows;
	for (int64_t r = 0; r < n_rows; r++)
	{
		root->sum_g += gr->g[gr->idx[r]];
		root->sum_h += gr->h[gr->idx[r]];
	}
	root->depth = 0;
	root->out = AddOutputNode(gr, root);
	root->hist = NewHist(gr);
	BuildHist(gr, root, root->hist);
	all[n_all++] = root;
	gr->n_leaves = 1;
	Prepare(gr, root);

	while (gr->heap_n > 0 &&
		   (opts->max_leaf_nodes == 0 || gr->n_leaves < opts->max_leaf_nodes))
	{
		GrowNode   *p = HeapPop(gr);
		GrowNode   *l = palloc0(sizeof(GrowNode));
		GrowNode   *r = palloc0(sizeof(GrowNode));
		GrowNode   *small,
				   *large;
		int64_t		lo = p->start,
					hi = p->stop - 1;
		GbdtNode   *o;

		CHECK_FOR_INTERRUPTS();
		PartitionRows(gr, p, &lo, &hi);
		l->start = p->start;
		l->stop = lo;
		r->start = lo;
		r->stop = p->stop;
		l->sum_g = p->gl;
		l->sum_h = p->hl;
		r->sum_g = p->sum_g - p->gl;
		r->sum_h = p->sum_h - p->hl;
		l->depth = r->depth = p->depth + 1;
		l->out = AddOutputNode(gr, l);
		r->out = AddOutputNode(gr, r);

		o = &gr->nodes[p->out];
		o->feature = p->feature;
		o->bin = (uint8_t) p->bin;
		/*
		 * bin = the feature's edge count is the split "every value left,
		 * missing right": no edge bounds it, so DBL_MAX does (edges are
		 * capped there too)
		 */
		if (p->bin < gr->b->edge_start[p->feature + 1] - gr->b->edge_start[p->feature])
			o->threshold = gr->b->edges[gr->b->edge_start[p->feature] + p->bin];
		else
			o->threshold = DBL_MAX;
		o->left = l->out;
		o->right = r->out;
		o->gain = p->gain;
		if (gr->b->has_missing[p->feature])
			o->default_left = p->default_left;
		else
			o->default_left = (l->stop - l->start) > (r->stop - r->start);

		/* the smaller child's histogram by a scan, the larger's by subtraction */
		if (l->stop - l->start <= r->stop - r->start)
			small = l, large = r;
		else
			small = r, large = l;
		small->hist = NewHist(gr);
		BuildHist(gr, small, small->hist);
		large->hist = p->hist;
		p->hist = NULL;
		for (size_t i = 0; i < (size_t) gr->b->hist_off[k] * HIST_WIDTH; i++)
			large->hist[i] -= small->hist[i];

		gr->n_leaves++;
		if (n_all + 2 > cap_all)
		{
			cap_all *= 2;
			all = repalloc(all, sizeof(GrowNode *) * cap_all);
		}
		all[n_all++] = l;
		all[n_all++] = r;
		Prepare(gr, l);
		Prepare(gr, r);
	}

	/* what is left in the heap stays a leaf */
	while (gr->heap_n > 0)
	{
		GrowNode   *p = HeapPop(gr);

		FreeHist(gr, p->hist);
		p->hist = NULL;
	}
	for (int i = 0; i < n_all; i++)
	{
		GrowNode   *node = all[i];

		if (leaf_of && gr->nodes[node->out].feature < 0)
			for (int64_t r = node->start; r < node->stop; r++)
				leaf_of[r] = node->out;
		if (node->hist)
			FreeHist(gr, node->hist);
		pfree(node);
	}
	pfree(all);
	pfree(gr->heap);
	*n_nodes_out = gr->n_nodes;
	return gr->nodes;
}
