/*-------------------------------------------------------------------------
 *
 * gbdt_score.c
 *	  Scoring one row with a validated tree ensemble, fast: the leaves are
 *	  found feature by feature, not tree by tree (QuickScorer: Lucchese et
 *	  al., "QuickScorer: a fast algorithm to rank documents with additive
 *	  ensembles of regression trees", SIGIR 2015).
 *
 * Number the leaves of a tree from left to right.  An internal node whose
 * test fails ("false": the row goes right) rules out every leaf of its left
 * subtree; the leaf a row reaches is the leftmost one that no false node
 * rules out (a false node above a leaf has that leaf on its right, and each
 * leaf left of it lies in the left subtree of the false node where its path
 * parts from the row's).  So a tree of at most 64 leaves is a 64-bit word
 * of surviving leaves, and a row's false nodes on feature f are, with the
 * nodes on f sorted by threshold, exactly those with threshold < x_f: a
 * prefix of the list.  Scoring scans each feature's prefix and clears bits,
 * without the chain of dependent loads and mispredicted branches of walking
 * down the trees one node after another.  A missing x_f (NULL or NaN) makes
 * false the nodes on f that send missing values right.
 *
 * A feature's prefix is long when x_f is large: every GBDT_SNAP_EVERY
 * nodes of a feature's list, the scorer keeps the words of every tree after
 * that many false nodes (a snapshot), so a row ANDs one snapshot (a loop
 * the compiler vectorises) and clears bits for at most the remainder.
 *
 * Trees with more than 64 leaves (deep random forests) are walked.  The
 * leaves' values are added in tree order, as walking every tree would: the
 * same sum to the bit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "port/pg_bitutils.h"

#include "gbdt.h"
#include "gbdt_score.h"

struct GbdtScorer
{
	int			k;
	int			n_trees;
	double		base_score;
	const GbdtNode *nodes;		/* the validated model's nodes, for walking */
	const int32 *tree_start;
	/* per tree: its first leaf in leaf_value, or -1 when it is walked */
	int32	   *leaf_start;
	double	   *leaf_value;
	/* per feature f, [feature_start[f], feature_start[f + 1]): its nodes */
	int32	   *feature_start;
	double	   *threshold;		/* ascending within a feature */
	int32	   *node_tree;
	uint64	   *node_keep;		/* the leaves a false node leaves standing */
	/* per feature, [missing_start[f], ...): nodes sending missing values right */
	int32	   *missing_start;
	int32	   *missing_tree;
	uint64	   *missing_keep;
	uint64	   *alive;			/* per tree, scratch of one row */
	/* per feature, snapshots 1 .. of its list: snap_start[f] + j - 1 */
	int			snap_every;
	int32	   *snap_start;
	uint64	   *snap;			/* n_trees words per snapshot */
	double	   *bound;			/* per snapshot: the last threshold it covers */
	/* scratch of one row: the snapshots to AND, where each feature goes on */
	const uint64 **rows;
	int32	   *rest;
};

/* snapshots every this many nodes of a feature at least ... */
#define GBDT_SNAP_EVERY		16
/* ... and more sparsely if they would take more bytes than this */
#define GBDT_SNAP_BYTES		((Size) 8 * 1024 * 1024)

typedef struct QsNode
{
	double		threshold;
	int32		feature;
	int32		tree;
	uint64		keep;
	bool		missing_right;
} QsNode;

/*
 * Number the leaves below tree[i] from *next on, left to right; record for
 * each internal node the leaves its left subtree holds.
 */
static void
NumberLeaves(const GbdtNode *tree, int i, int *next, uint64 *left_leaves,
			 double *leaf_value)
{
	int			first;

	if (tree[i].feature < 0)
	{
		leaf_value[*next] = tree[i].value;
		(*next)++;
		return;
	}
	first = *next;
	NumberLeaves(tree, tree[i].left, next, left_leaves, leaf_value);
	/* leaves first .. *next - 1: at most 64, so the shift is defined */
	left_leaves[i] = (*next - first == 64 ? ~UINT64CONST(0) :
					  ((UINT64CONST(1) << (*next - first)) - 1)) << first;
	NumberLeaves(tree, tree[i].right, next, left_leaves, leaf_value);
}

static int
CompareQsNodes(const void *a, const void *b)
{
	const QsNode *x = (const QsNode *) a;
	const QsNode *y = (const QsNode *) b;

	if (x->feature != y->feature)
		return x->feature < y->feature ? -1 : 1;
	if (x->threshold != y->threshold)
		return x->threshold < y->threshold ? -1 : 1;
	return (x->tree > y->tree) - (x->tree < y->tree);
}

/* the leaves of each tree; trees of more than 64 leaves get leaf_start -1 */
static int
CountLeaves(GbdtScorer *s, int *n_internal)
{
	int			n_leaves = 0;

	*n_internal = 0;
	for (int t = 0; t < s->n_trees; t++)
	{
		int			leaves = 0;

		for (int i = s->tree_start[t]; i < s->tree_start[t + 1]; i++)
			leaves += (s->nodes[i].feature < 0);
		if (leaves > 64)
			s->leaf_start[t] = -1;
		else
		{
			s->leaf_start[t] = n_leaves;
			n_leaves += leaves;
			*n_internal += s->tree_start[t + 1] - s->tree_start[t] - leaves;
		}
	}
	return n_leaves;
}

/* the per-feature lists of nodes, from the nodes sorted by (feature, threshold) */
static void
BuildLists(GbdtScorer *s, QsNode *qs, int n)
{
	int			n_missing = 0;

	s->feature_start = palloc0(sizeof(int32) * (s->k + 1));
	s->missing_start = palloc0(sizeof(int32) * (s->k + 1));
	s->threshold = palloc(sizeof(double) * Max(n, 1));
	s->node_tree = palloc(sizeof(int32) * Max(n, 1));
	s->node_keep = palloc(sizeof(uint64) * Max(n, 1));
	s->missing_tree = palloc(sizeof(int32) * Max(n, 1));
	s->missing_keep = palloc(sizeof(uint64) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		s->feature_start[qs[i].feature + 1]++;
		s->threshold[i] = qs[i].threshold;
		s->node_tree[i] = qs[i].tree;
		s->node_keep[i] = qs[i].keep;
	}
	for (int f = 0; f < s->k; f++)
	{
		s->feature_start[f + 1] += s->feature_start[f];
		s->missing_start[f] = n_missing;
		for (int i = s->feature_start[f]; i < s->feature_start[f + 1]; i++)
			if (qs[i].missing_right)
			{
				s->missing_tree[n_missing] = qs[i].tree;
				s->missing_keep[n_missing++] = qs[i].keep;
			}
	}
	s->missing_start[s->k] = n_missing;
}

/* the snapshots of each feature's list (see the file's header) */
static void
BuildSnapshots(GbdtScorer *s)
{
	int			n = s->feature_start[s->k];
	int			n_snap = 0;
	double		bytes = (double) n * s->n_trees * sizeof(uint64);

	s->snap_every = GBDT_SNAP_EVERY;
	if (bytes / s->snap_every > (double) GBDT_SNAP_BYTES)
		s->snap_every = (int) Min(ceil(bytes / (double) GBDT_SNAP_BYTES), (double) INT_MAX);
	s->snap_start = palloc(sizeof(int32) * (s->k + 1));
	for (int f = 0; f < s->k; f++)
	{
		s->snap_start[f] = n_snap;
		n_snap += (s->feature_start[f + 1] - s->feature_start[f]) / s->snap_every;
	}
	s->snap_start[s->k] = n_snap;
	s->rows = palloc(sizeof(uint64 *) * s->k);
	s->rest = palloc(sizeof(int32) * s->k);
	s->snap = palloc(mul_size(mul_size(sizeof(uint64), s->n_trees), Max(n_snap, 1)));
	s->bound = palloc(sizeof(double) * Max(n_snap, 1));
	for (int f = 0; f < s->k; f++)
	{
		uint64	   *words = s->snap + (Size) s->snap_start[f] * s->n_trees;
		int			start = s->feature_start[f];

		for (int j = 1; j <= s->snap_start[f + 1] - s->snap_start[f]; j++)
		{
			uint64	   *w = words + (Size) (j - 1) * s->n_trees;

			s->bound[s->snap_start[f] + j - 1] = s->threshold[start + j * s->snap_every - 1];

			if (j == 1)
				memset(w, 0xFF, sizeof(uint64) * s->n_trees);
			else
				memcpy(w, w - s->n_trees, sizeof(uint64) * s->n_trees);
			for (int i = start + (j - 1) * s->snap_every; i < start + j * s->snap_every; i++)
				w[s->node_tree[i]] &= s->node_keep[i];
		}
	}
}

GbdtScorer *
GbdtScorerBuild(const GbdtNode *nodes, const int32 *tree_start, int n_trees,
				int k, double base_score)
{
	GbdtScorer *s = palloc0(sizeof(GbdtScorer));
	int			n_internal;
	int			n_leaves;
	QsNode	   *qs;
	uint64	   *left_leaves;
	int			n = 0;

	s->k = k;
	s->n_trees = n_trees;
	s->base_score = base_score;
	s->nodes = nodes;
	s->tree_start = tree_start;
	s->leaf_start = palloc(sizeof(int32) * Max(n_trees, 1));
	s->alive = palloc(sizeof(uint64) * Max(n_trees, 1));
	n_leaves = CountLeaves(s, &n_internal);
	s->leaf_value = palloc(sizeof(double) * Max(n_leaves, 1));
	qs = palloc(sizeof(QsNode) * Max(n_internal, 1));
	left_leaves = palloc(sizeof(uint64) * Max(tree_start[n_trees], 1));
	for (int t = 0; t < n_trees; t++)
	{
		const GbdtNode *tree = nodes + tree_start[t];
		int			next = 0;

		if (s->leaf_start[t] < 0)
			continue;
		/* recursion bounded by the validated depth (<= GBDT_MAX_DEPTH) */
		NumberLeaves(tree, 0, &next, left_leaves, s->leaf_value + s->leaf_start[t]);
		for (int i = 0; i < tree_start[t + 1] - tree_start[t]; i++)
			if (tree[i].feature >= 0)
			{
				qs[n].threshold = tree[i].threshold;
				qs[n].feature = tree[i].feature;
				qs[n].tree = t;
				qs[n].keep = ~left_leaves[i];
				qs[n].missing_right = !tree[i].default_left;
				n++;
			}
	}
	qsort(qs, n, sizeof(QsNode), CompareQsNodes);
	BuildLists(s, qs, n);
	BuildSnapshots(s);
	pfree(qs);
	pfree(left_leaves);
	return s;
}

/*
 * out[t] = the AND of rows[0 .. n_rows)[t] for t < n (all ones when there
 * are no rows): one pass, one store per word, two words at a time where
 * the compiler can.
 */
static void
AndRows(uint64 *restrict out, const uint64 *const *rows, int n_rows, int n)
{
	int			t = 0;

	if (n_rows == 0)
	{
		memset(out, 0xFF, sizeof(uint64) * n);
		return;
	}
#if defined(__GNUC__) || defined(__clang__)
	{
		typedef uint64 Words2 __attribute__((vector_size(16)));

		for (; t + 2 <= n; t += 2)
		{
			Words2		a,
						b;

			memcpy(&a, rows[0] + t, sizeof(a));
			for (int r = 1; r < n_rows; r++)
			{
				memcpy(&b, rows[r] + t, sizeof(b));
				a &= b;
			}
			memcpy(out + t, &a, sizeof(a));
		}
	}
#endif
	for (; t < n; t++)
	{
		uint64		a = rows[0][t];

		for (int r = 1; r < n_rows; r++)
			a &= rows[r][t];
		out[t] = a;
	}
}

/* the leaf value of a tree walked node by node */
static double
WalkTree(const GbdtNode *tree, const double *x)
{
	int			i = 0;

	while (tree[i].feature >= 0)
	{
		double		v = x[tree[i].feature];
		bool		left = isnan(v) ? tree[i].default_left : (v <= tree[i].threshold);

		i = left ? tree[i].left : tree[i].right;
	}
	return tree[i].value;
}

double
GbdtScorerRaw(GbdtScorer *s, const double *x)
{
	/* locals, so the stores to alive[] do not force reloading them */
	uint64	   *restrict alive = s->alive;
	const double *restrict threshold = s->threshold;
	const int32 *restrict node_tree = s->node_tree;
	const uint64 *restrict node_keep = s->node_keep;
	const int32 *restrict leaf_start = s->leaf_start;
	int32	   *restrict rest = s->rest;
	int			n_trees = s->n_trees;
	int			every = s->snap_every;
	int			n_rows = 0;
	double		sum = s->base_score;

	/* the snapshot of each feature's whole blocks of false nodes */
	for (int f = 0; f < s->k; f++)
	{
		int			start = s->feature_start[f];
		int			blocks = s->snap_start[f + 1] - s->snap_start[f];
		const double *bound = s->bound + s->snap_start[f];
		double		v = x[f];
		int			j = 0;

		if (isnan(v))
			continue;

		/*
		 * x <= threshold goes left: the false nodes are those below x, and
		 * the whole blocks of them are those whose last threshold is below
		 * x.  Counted without a branch to mispredict.
		 */
		for (int b = 0; b < blocks; b++)
			j += (bound[b] < v);
		if (j > 0)
			s->rows[n_rows++] = s->snap + (Size) (s->snap_start[f] + j - 1) * n_trees;
		rest[f] = start + j * every;
	}
	AndRows(alive, s->rows, n_rows, n_trees);

	/* the rest of the false nodes, one by one */
	for (int f = 0; f < s->k; f++)
	{
		double		v = x[f];

		if (isnan(v))
		{
			for (int i = s->missing_start[f]; i < s->missing_start[f + 1]; i++)
				alive[s->missing_tree[i]] &= s->missing_keep[i];
		}
		else
		{
			int			end = s->feature_start[f + 1];

			for (int i = rest[f]; i < end && threshold[i] < v; i++)
				alive[node_tree[i]] &= node_keep[i];
		}
	}

	for (int t = 0; t < n_trees; t++)
	{
		if (leaf_start[t] >= 0)
			sum += s->leaf_value[leaf_start[t] + pg_rightmost_one_pos64(alive[t])];
		else
			sum += WalkTree(s->nodes + s->tree_start[t], x);
	}
	return sum;
}
