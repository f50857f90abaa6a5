/*-------------------------------------------------------------------------
 *
 * gbdt_boost.c
 *	  The training core of retention.gbdt_train: the boosting (or forest)
 *	  loop over the binned rows (gbdt_bin.c) and the trees grown on them
 *	  (gbdt_grow.c).
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
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "gbdt.h"
#include "gbdt_boost.h"

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

/*
 * The rows of one tree, sorted, in idx: a bootstrap sample, a subsample
 * without replacement, or every training row.  Returns their count.
 */
static int64_t
DrawRows(const GbdtOptions *opts, const uint32_t *train_rows, int64_t n_train,
		 uint32_t *idx, uint64_t *rng)
{
	int64_t		n_rows;

	if (opts->bootstrap)
	{
		n_rows = n_train;
		for (int64_t r = 0; r < n_rows; r++)
			idx[r] = train_rows[GbdtRandomBelow(rng, n_train)];
		qsort(idx, n_rows, sizeof(uint32_t), CompareU32);
	}
	else if (opts->subsample < 1.0)
	{
		n_rows = Max(1, (int64_t) floor(opts->subsample * n_train + 0.5));
		memcpy(idx, train_rows, sizeof(uint32_t) * n_train);
		/* partial shuffle: the first n_rows of a random permutation */
		for (int64_t r = 0; r < n_rows; r++)
		{
			int64_t		j = r + (int64_t) GbdtRandomBelow(rng, n_train - r);
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
	return n_rows;
}

/*
 * The mean |SHAP| of each feature over a deterministic sample of the
 * training rows (e->mean_abs_shap).
 */
static void
MeanAbsShap(GbdtEnsemble *e, const Binned *b, const uint32_t *train_rows, int64_t n_train)
{
	int			k = e->k;
	int			depth = GbdtMaxDepth(e->nodes, e->tree_start, e->n_trees);
	GbdtShapScratch *scratch = GbdtShapScratchNew(depth, k);
	double	   *phi = palloc(sizeof(double) * k);
	bool	   *left = NULL;
	int			max_tree = 0;
	int64_t		sample;
	int64_t		step;
	int64_t		used = 0;
	double		work = 0.0;

	/*
	 * Bound the sample so that deep forests do not spend minutes here, by
	 * the cost of the TreeSHAP this was written for, leaves * depth^2 per
	 * tree and row: kept, so that the same rows give the same model.
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
		const uint8_t *c = b->codes + (size_t) train_rows[r] * k;

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

					left[i] = (v == b->missing_code[tree[i].feature]) ? tree[i].default_left : (v <= tree[i].bin);
				}
			GbdtTreeShap(tree, left, phi, scratch);
		}
		for (int j = 0; j < k; j++)
			e->mean_abs_shap[j] += fabs(phi[j]);
		used++;
	}
	for (int j = 0; j < k; j++)
		e->mean_abs_shap[j] /= used;
	pfree(phi);
	pfree(left);
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

	GbdtBinRows(rows, opts, &b);
	GbdtCanonicalOrder(&b);
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
			/*
			 * The gradients, and with the same exp the loss of the rounds so
			 * far.  Its log(1 + exp(-|z|)) terms are multiplied up per class
			 * in runs of at most 256 (each factor is in (1, 2]), so one log
			 * serves a run: a log per row cost as much as the gradients.
			 */
			double		loss = 0.0,
						wsum = 0.0,
						product[2] = {1.0, 1.0};
			int			factors[2] = {0, 0};

			for (int64_t r = 0; r < n_train; r++)
			{
				uint32_t	i = train_rows[r];
				int			y = b.y[i] ? 1 : 0;
				double		w = y ? w1 : w0;
				double		z = raw[i];
				double		ez = exp(-fabs(z));
				double		p = (z >= 0.0) ? 1.0 / (1.0 + ez) : ez / (1.0 + ez);

				g[i] = w * (p - y);
				h[i] = w * p * (1.0 - p);
				loss += w * (Max(z, 0.0) - (y ? z : 0.0));
				product[y] *= 1.0 + ez;
				if (++factors[y] == 256)
				{
					loss += w * log(product[y]);
					product[y] = 1.0;
					factors[y] = 0;
				}
				wsum += w;
			}
			loss += w0 * log(product[0]) + w1 * log(product[1]);
			e->train_loss[t] = loss / wsum;
		}

		/* the rows of this tree */
		n_rows = DrawRows(opts, train_rows, n_train, idx, &rng);

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
		tree = GbdtGrowTree(&gr, n_rows, &tree_nodes, full_rows ? leaf_of : NULL);
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
		MeanAbsShap(e, &b, train_rows, n_train);

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
