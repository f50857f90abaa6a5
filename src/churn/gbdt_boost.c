/*-------------------------------------------------------------------------
 *
 * gbdt_boost.c
 *	  The training core of retention.gbdt_train: quantile binning, a
 *	  canonical row order, histogram tree growing and the boosting (or
 *	  forest) loop.
 *
 * The algorithm is scikit-learn's HistGradientBoostingClassifier (itself
 * LightGBM's): features are mapped to at most 255 bins whose edges are
 * midpoints between distinct values, or quantiles when there are more
 * distinct values; a tree is grown best-first from per-node histograms of
 * gradient and hessian sums, a child's histogram being its parent's minus
 * its sibling's; a split's gain is
 *
 *	  G_L^2 / (H_L + l2) + G_R^2 / (H_R + l2) - G^2 / (H + l2)
 *
 * and a leaf's value is -learning_rate * G / (H + l2).  Missing values have
 * their own bin; each split learns where they go by trying both sides, as
 * XGBoost's sparsity-aware split finding does (Chen and Guestrin 2016,
 * Algorithm 3).  A feature without missing values in training sends them to
 * the child with more rows, as scikit-learn does.
 *
 * Determinism: after binning, the rows are sorted by (label, bin codes).
 * Rows equal in both are interchangeable for everything that follows, so
 * the model depends only on the multiset of rows: not on their order, and
 * not on how parallel workers split them.
 *
 *-------------------------------------------------------------------------
 */
#ifdef GBDT_STANDALONE
#include "gbdt_shim.h"
#else
#include "postgres.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#define GbdtAllocHuge(sz) MemoryContextAllocHuge(CurrentMemoryContext, (sz))
#endif

#include <float.h>
#include <math.h>

#include "gbdt.h"

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

/* ---------- binning ---------- */

static int
CompareDoubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* a hash of a row's bytes: picks the binning sample independently of order */
static uint64_t
RowHash(const double *x, int k, bool y)
{
	uint64_t	h = y ? UINT64_C(0x51ED27) : UINT64_C(0x1F3D5B79);

	for (int j = 0; j < k; j++)
	{
		uint64_t	bits;
		uint64_t	s;

		memcpy(&bits, &x[j], sizeof(bits));
		s = h ^ bits;
		h = GbdtRandomNext(&s);
	}
	return h;
}

/*
 * Bin edges of one feature from its sorted non-missing values, as
 * scikit-learn's _find_binning_thresholds: midpoints between distinct
 * values when there are at most max_bins of them, otherwise numpy's
 * "midpoint" percentiles at 100 i / max_bins, i = 1 .. max_bins - 1.
 * Duplicate quantiles are dropped (they would only make empty bins).
 */
static int
FeatureEdges(const double *v, int64_t m, int max_bins, double *edges)
{
	int64_t		distinct = 0;
	int			n_edges = 0;

	for (int64_t i = 0; i < m; i++)
		if (i == 0 || v[i] != v[i - 1])
			distinct++;
	if (distinct <= max_bins)
	{
		for (int64_t i = 1; i < m; i++)
			if (v[i] != v[i - 1])
			{
				double		mid = (v[i - 1] + v[i]) * 0.5;

				edges[n_edges++] = Min(mid, DBL_MAX);
			}
		return n_edges;
	}
	for (int i = 1; i < max_bins; i++)
	{
		double		q = (i * (100.0 / max_bins)) / 100.0;
		double		vv = (double) (m - 1) * q;
		double		vi = 0.5 * (floor(vv) + ceil(vv));
		int64_t		lo = (int64_t) floor(vi);
		double		e;

		if (vi >= (double) (m - 1))
			e = v[m - 1];
		else if (vi == floor(vi))
			e = v[lo];
		else
			e = v[lo + 1] - (v[lo + 1] - v[lo]) * 0.5;
		e = Min(e, DBL_MAX);
		if (n_edges == 0 || e > edges[n_edges - 1])
			edges[n_edges++] = e;
	}
	return n_edges;
}

/* bin b: the number of edges below x (x <= edges[b] for the first such b) */
static inline uint8_t
BinOf(double x, const double *edges, int n_edges)
{
	int			lo = 0,
				hi = n_edges;

	if (isnan(x))
		return GBDT_MISSING_BIN;
	while (lo < hi)
	{
		int			mid = (lo + hi) >> 1;

		if (x <= edges[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return (uint8_t) lo;
}

static void
BinRows(GbdtRows *rows, const GbdtOptions *opts, Binned *b)
{
	int64_t		n = rows->n;
	int			k = rows->k;
	double	   *vals = GbdtAllocHuge(sizeof(double) * (size_t) Max(n, 1));
	bool	   *in_sample = NULL;
	double	   *edges_tmp = palloc(sizeof(double) * GBDT_MAX_BINS);

	b->n = n;
	b->k = k;
	b->y = rows->y;
	b->n_bins = palloc(sizeof(int) * k);
	b->missing_code = palloc(sizeof(uint8_t) * k);
	b->hist_off = palloc(sizeof(int) * (k + 1));
	b->has_missing = palloc0(sizeof(bool) * k);
	b->edge_start = palloc(sizeof(int) * (k + 1));
	b->edges = palloc(sizeof(double) * (size_t) k * GBDT_MAX_BINS);
	b->n_edges = 0;

	if (n > GBDT_BINNING_SAMPLE)
	{
		/* keep a row when its hash falls in the first sample/n of the range */
		double		cut = ldexp((double) GBDT_BINNING_SAMPLE / (double) n, 64);

		in_sample = GbdtAllocHuge(sizeof(bool) * n);
		for (int64_t i = 0; i < n; i++)
			in_sample[i] = (double) RowHash(rows->x + i * k, k, rows->y[i]) < cut;
	}

	for (int j = 0; j < k; j++)
	{
		int64_t		m = 0;
		int			ne;

		CHECK_FOR_INTERRUPTS();
		for (int64_t i = 0; i < n; i++)
		{
			double		x = rows->x[i * k + j];

			if (isnan(x))
				b->has_missing[j] = true;
			else if (in_sample == NULL || in_sample[i])
				vals[m++] = x;
		}
		qsort(vals, m, sizeof(double), CompareDoubles);
		ne = (m > 0) ? FeatureEdges(vals, m, opts->max_bins, edges_tmp) : 0;
		b->edge_start[j] = b->n_edges;
		memcpy(b->edges + b->n_edges, edges_tmp, sizeof(double) * ne);
		b->n_edges += ne;
		b->n_bins[j] = ne + 1;
		/* missing values get the slot after the last bin: a compact histogram */
		b->missing_code[j] = (uint8_t) (ne + 1);
		b->hist_off[j + 1] = (j == 0 ? 0 : b->hist_off[j]) + ne + 2;
	}
	b->hist_off[0] = 0;
	b->edge_start[k] = b->n_edges;
	pfree(vals);
	if (in_sample)
		pfree(in_sample);

	b->codes = GbdtAllocHuge((size_t) n * k);
	for (int64_t i = 0; i < n; i++)
	{
		const double *x = rows->x + i * k;
		uint8_t    *c = b->codes + i * k;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < k; j++)
		{
			uint8_t		code = BinOf(x[j], b->edges + b->edge_start[j], b->edge_start[j + 1] - b->edge_start[j]);

			c[j] = (code == GBDT_MISSING_BIN) ? b->missing_code[j] : code;
		}
	}
	pfree(rows->x);
	rows->x = NULL;
}

/*
 * Sort the rows by (label, codes) with an LSD radix sort: k + 1 stable
 * counting passes of one byte each.
 */
static void
CanonicalOrder(Binned *b)
{
	int64_t		n = b->n;
	int			k = b->k;
	uint32_t   *perm = GbdtAllocHuge(sizeof(uint32_t) * Max(n, 1));
	uint32_t   *tmp = GbdtAllocHuge(sizeof(uint32_t) * Max(n, 1));
	uint8_t    *codes;
	bool	   *y;

	for (int64_t i = 0; i < n; i++)
		perm[i] = (uint32_t) i;
	for (int pass = k; pass >= 0; pass--)
	{
		int64_t		count[257] = {0};

		CHECK_FOR_INTERRUPTS();
		for (int64_t i = 0; i < n; i++)
		{
			int			key = (pass == 0) ? b->y[perm[i]] : b->codes[(size_t) perm[i] * k + pass - 1];

			count[key + 1]++;
		}
		for (int c = 0; c < 256; c++)
			count[c + 1] += count[c];
		for (int64_t i = 0; i < n; i++)
		{
			int			key = (pass == 0) ? b->y[perm[i]] : b->codes[(size_t) perm[i] * k + pass - 1];

			tmp[count[key]++] = perm[i];
		}
		{
			uint32_t   *s = perm;

			perm = tmp;
			tmp = s;
		}
	}
	codes = GbdtAllocHuge((size_t) n * k + 1);
	y = GbdtAllocHuge(sizeof(bool) * Max(n, 1));
	for (int64_t i = 0; i < n; i++)
	{
		memcpy(codes + i * k, b->codes + (size_t) perm[i] * k, k);
		y[i] = b->y[perm[i]];
	}
	pfree(b->codes);
	pfree(perm);
	pfree(tmp);
	b->codes = codes;
	b->y = y;
}

/* ---------- growing one tree ---------- */

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

	for (int64_t r = node->start; r < node->stop; r++)
	{
		uint32_t	i = idx[r];
		const uint8_t *c = codes + (size_t) i * k;
		double		gi = gr->g[i];
		double		hi = gr->h[i];

		if (((r - node->start) & 0x3FFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int f = 0; f < k; f++)
		{
			double	   *s = HistAt(gr->b, hist, f, c[f]);

			s[0] += gi;
			s[1] += hi;
			s[2] += 1.0;
		}
	}
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
 * Grow one tree over idx[0 .. n_rows) (row indices, repeated for a
 * bootstrap sample).  Returns the output nodes (root first, children after
 * their parent) and reorders idx so that every leaf's rows are contiguous;
 * leaf_of[r] receives the output leaf of idx[r] when leaf_of is not NULL.
 */
static GbdtNode *
GrowTree(Grower *gr, int64_t n_rows, int *n_nodes_out, int *leaf_of)
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
		/* partition the rows: those going left first */
		while (lo <= hi)
		{
			uint8_t		c = gr->b->codes[(size_t) gr->idx[lo] * k + p->feature];
			bool		left = (c == gr->b->missing_code[p->feature]) ? p->default_left : (c <= p->bin);

			if (left)
				lo++;
			else
			{
				uint32_t	t = gr->idx[lo];

				gr->idx[lo] = gr->idx[hi];
				gr->idx[hi] = t;
				hi--;
			}
		}
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

/* the leaf a binned row reaches */
static inline int
LeafOfCodes(const GbdtNode *tree, const uint8_t *c, const uint8_t *missing)
{
	int			i = 0;

	while (tree[i].feature >= 0)
	{
		uint8_t		v = c[tree[i].feature];
		bool		left = (v == missing[tree[i].feature]) ? tree[i].default_left : (v <= tree[i].bin);

		i = left ? tree[i].left : tree[i].right;
	}
	return i;
}

/* ---------- the ensemble ---------- */

/* weighted mean log loss of raw scores (log-odds) over the given rows */
static double
LogLoss(const double *raw, const bool *y, const uint32_t *rows, int64_t n,
		double w0, double w1)
{
	double		s = 0.0,
				ws = 0.0;

	for (int64_t r = 0; r < n; r++)
	{
		uint32_t	i = rows[r];
		double		z = raw[i];
		double		w = y[i] ? w1 : w0;

		/* log(1 + exp(z)) - y z, stably */
		s += w * (Max(z, 0.0) + log1p(exp(-fabs(z))) - (y[i] ? z : 0.0));
		ws += w;
	}
	return s / ws;
}

void
GbdtDefaultOptions(GbdtOptions *opts, GbdtKind kind)
{
	memset(opts, 0, sizeof(*opts));
	opts->kind = kind;
	opts->max_iter = 100;
	opts->learning_rate = 0.1;
	opts->max_leaf_nodes = (kind == GBDT_BOOSTING) ? 31 : 0;
	opts->max_depth = 0;
	opts->min_samples_leaf = (kind == GBDT_BOOSTING) ? 20 : 1;
	opts->l2_regularization = 0.0;
	opts->min_hessian_to_split = 1e-3;
	opts->min_gain_to_split = 0.0;
	opts->max_bins = GBDT_MAX_BINS;
	opts->subsample = 1.0;
	opts->bootstrap = (kind == GBDT_FOREST);
	opts->feature_fraction = 1.0;	/* a forest: sqrt(k) / k, set once k is known */
	opts->seed = 0;
	opts->class_weight_mode = 0;
	opts->weight_neg = 1.0;
	opts->weight_pos = 1.0;
	opts->early_stopping = false;
	opts->validation_fraction = 0.1;
	opts->n_iter_no_change = 10;
	opts->tol = 1e-7;
	opts->max_memory_mb = 1024.0;
	opts->n_names = -1;
	opts->names = NULL;
}

/* shuffle a[0 .. n) with the generator */
static void
Shuffle(uint32_t *a, int64_t n, uint64_t *rng)
{
	for (int64_t i = n - 1; i > 0; i--)
	{
		int64_t		j = (int64_t) GbdtRandomBelow(rng, (uint64_t) i + 1);
		uint32_t	t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static int
CompareU32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a,
				y = *(const uint32_t *) b;

	return (x > y) - (x < y);
}

GbdtEnsemble *
GbdtTrain(GbdtRows *rows, const GbdtOptions *opts_in)
{
	GbdtOptions optsv = *opts_in;
	GbdtOptions *opts = &optsv;
	GbdtEnsemble *e = palloc0(sizeof(GbdtEnsemble));
	Binned		b;
	int64_t		n = rows->n;
	int			k = rows->k;
	int64_t		n_pos = 0;
	uint32_t   *train_rows;
	uint32_t   *val_rows = NULL;
	int64_t		n_train = 0,
				n_val = 0;
	double	   *raw;
	double	   *g;
	double	   *h;
	uint32_t   *idx;
	int		   *leaf_of;
	uint64_t	rng = opts->seed ^ UINT64_C(0x243F6A8885A308D3);
	int			cap_trees = Max(opts->max_iter, 1);
	int			cap_nodes = 1024;
	double		w0,
				w1;
	double		prior;
	bool		full_rows;

	BinRows(rows, opts, &b);
	CanonicalOrder(&b);
	for (int64_t i = 0; i < n; i++)
		n_pos += b.y[i];

	/* class weights: "balanced" is n / (2 n_c), as scikit-learn */
	w0 = opts->weight_neg;
	w1 = opts->weight_pos;
	if (opts->class_weight_mode == 2)
	{
		w1 = (n_pos > 0) ? (double) n / (2.0 * n_pos) : 1.0;
		w0 = (n - n_pos > 0) ? (double) n / (2.0 * (n - n_pos)) : 1.0;
	}
	if (opts->kind == GBDT_FOREST && opts->feature_fraction <= 0.0)
		opts->feature_fraction = sqrt((double) k) / k;

	/* the validation rows of early stopping: a stratified random share */
	train_rows = GbdtAllocHuge(sizeof(uint32_t) * Max(n, 1));
	if (opts->early_stopping && opts->kind == GBDT_BOOSTING)
	{
		int64_t		n_neg = n - n_pos;
		uint32_t   *neg = GbdtAllocHuge(sizeof(uint32_t) * Max(n_neg, 1));
		uint32_t   *pos = GbdtAllocHuge(sizeof(uint32_t) * Max(n_pos, 1));
		int64_t		v_neg = (int64_t) ceil(opts->validation_fraction * n_neg);
		int64_t		v_pos = (int64_t) ceil(opts->validation_fraction * n_pos);

		/* rows are sorted by label: negatives first */
		for (int64_t i = 0; i < n_neg; i++)
			neg[i] = (uint32_t) i;
		for (int64_t i = 0; i < n_pos; i++)
			pos[i] = (uint32_t) (n_neg + i);
		Shuffle(neg, n_neg, &rng);
		Shuffle(pos, n_pos, &rng);
		val_rows = GbdtAllocHuge(sizeof(uint32_t) * Max(v_neg + v_pos, 1));
		memcpy(val_rows, neg, sizeof(uint32_t) * v_neg);
		memcpy(val_rows + v_neg, pos, sizeof(uint32_t) * v_pos);
		n_val = v_neg + v_pos;
		memcpy(train_rows, neg + v_neg, sizeof(uint32_t) * (n_neg - v_neg));
		memcpy(train_rows + (n_neg - v_neg), pos + v_pos, sizeof(uint32_t) * (n_pos - v_pos));
		n_train = n - n_val;
		qsort(train_rows, n_train, sizeof(uint32_t), CompareU32);
		qsort(val_rows, n_val, sizeof(uint32_t), CompareU32);
		pfree(neg);
		pfree(pos);
	}
	else
	{
		for (int64_t i = 0; i < n; i++)
			train_rows[i] = (uint32_t) i;
		n_train = n;
	}

	/* the prior: the weighted share of positives among the training rows */
	{
		double		sw = 0.0,
					sy = 0.0;

		for (int64_t r = 0; r < n_train; r++)
		{
			bool		yy = b.y[train_rows[r]];

			sw += yy ? w1 : w0;
			sy += yy ? w1 : 0.0;
		}
		prior = sy / sw;
	}

	e->kind = opts->kind;
	e->k = k;
	e->n_train = n_train;
	e->n_validation = n_val;
	e->n_positive = n_pos;
	e->weight_neg = w0;
	e->weight_pos = w1;
	e->tree_start = palloc(sizeof(int) * (cap_trees + 1));
	e->tree_start[0] = 0;
	e->nodes = GbdtAllocHuge(sizeof(GbdtNode) * cap_nodes);
	e->edge_start = b.edge_start;
	e->edges = b.edges;
	e->n_edges = b.n_edges;

	raw = GbdtAllocHuge(sizeof(double) * Max(n, 1));
	g = GbdtAllocHuge(sizeof(double) * Max(n, 1));
	h = GbdtAllocHuge(sizeof(double) * Max(n, 1));
	idx = GbdtAllocHuge(sizeof(uint32_t) * Max(n, 1));
	leaf_of = GbdtAllocHuge(sizeof(int) * Max(n, 1));

	if (opts->kind == GBDT_BOOSTING)
	{
		/* log-odds of the prior, as scikit-learn's baseline prediction */
		e->base_score = (prior > 0.0 && prior < 1.0) ? log(prior / (1.0 - prior)) : 0.0;
		e->train_loss = palloc(sizeof(double) * (cap_trees + 1));
		if (n_val > 0)
			e->validation_loss = palloc(sizeof(double) * (cap_trees + 1));
	}
	else
		e->base_score = 0.0;
	for (int64_t i = 0; i < n; i++)
		raw[i] = e->base_score;

	if (opts->kind == GBDT_BOOSTING)
	{
		e->train_loss[0] = LogLoss(raw, b.y, train_rows, n_train, w0, w1);
		if (n_val > 0)
			e->validation_loss[0] = LogLoss(raw, b.y, val_rows, n_val, w0, w1);
	}
	else
	{
		/* a forest: squared loss around the prior, so a leaf is its share of positives */
		for (int64_t r = 0; r < n_train; r++)
		{
			uint32_t	i = train_rows[r];
			double		w = b.y[i] ? w1 : w0;

			g[i] = w * (prior - (b.y[i] ? 1.0 : 0.0));
			h[i] = w;
		}
	}

	full_rows = !opts->bootstrap && opts->subsample >= 1.0;
	for (int t = 0; t < opts->max_iter; t++)
	{
		Grower		gr;
		int64_t		n_rows;
		int			tree_nodes;
		GbdtNode   *tree;

		CHECK_FOR_INTERRUPTS();
		if (opts->kind == GBDT_BOOSTING)
		{
			/* the gradients, and with the same exp the loss of the rounds so far */
			double		loss = 0.0,
						wsum = 0.0;

			for (int64_t r = 0; r < n_train; r++)
			{
				uint32_t	i = train_rows[r];
				double		w = b.y[i] ? w1 : w0;
				double		z = raw[i];
				double		ez = exp(-fabs(z));
				double		p = (z >= 0.0) ? 1.0 / (1.0 + ez) : ez / (1.0 + ez);

				g[i] = w * (p - (b.y[i] ? 1.0 : 0.0));
				h[i] = w * p * (1.0 - p);
				loss += w * (Max(z, 0.0) + log1p(ez) - (b.y[i] ? z : 0.0));
				wsum += w;
			}
			e->train_loss[t] = loss / wsum;
		}

		/* the rows of this tree */
		if (opts->bootstrap)
		{
			n_rows = n_train;
			for (int64_t r = 0; r < n_rows; r++)
				idx[r] = train_rows[GbdtRandomBelow(&rng, n_train)];
			qsort(idx, n_rows, sizeof(uint32_t), CompareU32);
		}
		else if (opts->subsample < 1.0)
		{
			n_rows = Max(1, (int64_t) floor(opts->subsample * n_train + 0.5));
			memcpy(idx, train_rows, sizeof(uint32_t) * n_train);
			/* partial shuffle: the first n_rows of a random permutation */
			for (int64_t r = 0; r < n_rows; r++)
			{
				int64_t		j = r + (int64_t) GbdtRandomBelow(&rng, n_train - r);
				uint32_t	s = idx[r];

				idx[r] = idx[j];
				idx[j] = s;
			}
			qsort(idx, n_rows, sizeof(uint32_t), CompareU32);
		}
		else
		{
			n_rows = n_train;
			memcpy(idx, train_rows, sizeof(uint32_t) * n_train);
		}

		memset(&gr, 0, sizeof(gr));
		gr.b = &b;
		gr.opts = opts;
		gr.g = g;
		gr.h = h;
		gr.idx = idx;
		gr.rng = &rng;
		gr.free_hists = palloc(sizeof(double *) * 64);
		if (opts->kind == GBDT_BOOSTING)
		{
			gr.shrink = opts->learning_rate;
			gr.offset = 0.0;
		}
		else
		{
			gr.shrink = 1.0 / opts->max_iter;
			gr.offset = prior;
		}
		if (opts->feature_fraction < 1.0)
			gr.feature_mask = palloc(sizeof(bool) * k);
		tree = GrowTree(&gr, n_rows, &tree_nodes, full_rows ? leaf_of : NULL);
		while (gr.n_free > 0)
			pfree(gr.free_hists[--gr.n_free]);
		pfree(gr.free_hists);
		if (gr.feature_mask)
			pfree(gr.feature_mask);

		/* append the tree */
		if (e->n_nodes + tree_nodes > cap_nodes)
		{
			while (e->n_nodes + tree_nodes > cap_nodes)
				cap_nodes *= 2;
			e->nodes = repalloc_huge(e->nodes, sizeof(GbdtNode) * cap_nodes);
		}
		memcpy(e->nodes + e->n_nodes, tree, sizeof(GbdtNode) * tree_nodes);
		e->n_nodes += tree_nodes;
		e->n_trees++;
		e->tree_start[e->n_trees] = e->n_nodes;
		pfree(tree);

		if (opts->kind != GBDT_BOOSTING)
			continue;

		/* new raw scores: by leaf when every row was in the tree, else by walking it */
		tree = e->nodes + e->tree_start[t];
		if (full_rows)
		{
			for (int64_t r = 0; r < n_rows; r++)
				raw[idx[r]] += tree[leaf_of[r]].value;
		}
		else
		{
			for (int64_t r = 0; r < n_train; r++)
			{
				uint32_t	i = train_rows[r];

				raw[i] += tree[LeafOfCodes(tree, b.codes + (size_t) i * k, b.missing_code)].value;
			}
		}
		for (int64_t r = 0; r < n_val; r++)
		{
			uint32_t	i = val_rows[r];

			raw[i] += tree[LeafOfCodes(tree, b.codes + (size_t) i * k, b.missing_code)].value;
		}
		e->n_rounds = t + 1;
		if (n_val > 0)
		{
			/*
			 * scikit-learn's rule: stop when none of the last n_iter_no_change
			 * rounds beat the round before them by more than tol.
			 */
			int			m = opts->n_iter_no_change;

			e->validation_loss[t + 1] = LogLoss(raw, b.y, val_rows, n_val, w0, w1);
			if (t + 1 > m)
			{
				double		reference = e->validation_loss[t + 1 - m] - opts->tol;
				bool		improved = false;

				for (int j = t + 2 - m; j <= t + 1; j++)
					if (e->validation_loss[j] < reference)
						improved = true;
				if (!improved)
				{
					e->stopped_early = true;
					break;
				}
			}
		}
	}
	if (opts->kind != GBDT_BOOSTING)
		e->n_rounds = e->n_trees;
	else
		e->train_loss[e->n_rounds] = LogLoss(raw, b.y, train_rows, n_train, w0, w1);

	/* mean |SHAP| over a deterministic sample of the training rows */
	if (e->n_trees > 0 && n_train > 0)
	{
		int			depth = GbdtMaxDepth(e->nodes, e->tree_start, e->n_trees);
		GbdtPathElement *scratch = palloc(sizeof(GbdtPathElement) * GbdtShapScratchSize(depth));
		double	   *phi = palloc(sizeof(double) * k);
		bool	   *left = NULL;
		int			max_tree = 0;
		int64_t		sample;
		int64_t		step;
		int64_t		used = 0;
		double		work = 0.0;

		/*
		 * TreeSHAP costs about leaves * depth^2 per tree and row: bound the
		 * sample so that deep forests do not spend minutes here.
		 */
		for (int t = 0; t < e->n_trees; t++)
		{
			int			m = e->tree_start[t + 1] - e->tree_start[t];
			int			d = GbdtMaxDepth(e->nodes, e->tree_start + t, 1);

			max_tree = Max(max_tree, m);
			work += (double) (m + 1) / 2 * (d + 1) * (d + 1);
		}
		sample = (int64_t) Min((double) GBDT_SHAP_SAMPLE, Max(50.0, GBDT_SHAP_WORK / work));
		step = Max(1, n_train / sample);
		left = palloc(sizeof(bool) * max_tree);
		e->mean_abs_shap = palloc0(sizeof(double) * k);
		for (int64_t r = 0; r < n_train; r += step)
		{
			const uint8_t *c = b.codes + (size_t) train_rows[r] * k;

			CHECK_FOR_INTERRUPTS();
			memset(phi, 0, sizeof(double) * k);
			for (int t = 0; t < e->n_trees; t++)
			{
				const GbdtNode *tree = e->nodes + e->tree_start[t];
				int			m = e->tree_start[t + 1] - e->tree_start[t];

				for (int i = 0; i < m; i++)
					if (tree[i].feature >= 0)
					{
						uint8_t		v = c[tree[i].feature];

						left[i] = (v == b.missing_code[tree[i].feature]) ? tree[i].default_left : (v <= tree[i].bin);
					}
				GbdtTreeShap(tree, left, phi, scratch);
			}
			for (int j = 0; j < k; j++)
				e->mean_abs_shap[j] += fabs(phi[j]);
			used++;
		}
		for (int j = 0; j < k; j++)
			e->mean_abs_shap[j] /= used;
		pfree(scratch);
		pfree(phi);
		pfree(left);
	}

	pfree(raw);
	pfree(g);
	pfree(h);
	pfree(idx);
	pfree(leaf_of);
	pfree(train_rows);
	if (val_rows)
		pfree(val_rows);
	pfree(b.codes);
	return e;
}

double
GbdtRawScore(const GbdtEnsemble *e, const double *x)
{
	double		s = e->base_score;

	for (int t = 0; t < e->n_trees; t++)
	{
		const GbdtNode *tree = e->nodes + e->tree_start[t];
		int			i = 0;

		while (tree[i].feature >= 0)
		{
			double		v = x[tree[i].feature];
			bool		left = isnan(v) ? tree[i].default_left : (v <= tree[i].threshold);

			i = left ? tree[i].left : tree[i].right;
		}
		s += tree[i].value;
	}
	return s;
}

int
GbdtMaxDepth(const GbdtNode *nodes, const int *tree_start, int n_trees)
{
	int			max_depth = 0;
	int			max_tree = 1;
	int		   *depth;

	for (int t = 0; t < n_trees; t++)
		max_tree = Max(max_tree, tree_start[t + 1] - tree_start[t]);
	depth = palloc(sizeof(int) * max_tree);
	for (int t = 0; t < n_trees; t++)
	{
		const GbdtNode *tree = nodes + tree_start[t];
		int			m = tree_start[t + 1] - tree_start[t];

		/* children come after their parent: one forward pass */
		depth[0] = 0;
		for (int i = 0; i < m; i++)
		{
			if (tree[i].feature >= 0)
			{
				depth[tree[i].left] = depth[i] + 1;
				depth[tree[i].right] = depth[i] + 1;
			}
			max_depth = Max(max_depth, depth[i]);
		}
	}
	pfree(depth);
	return max_depth;
}
