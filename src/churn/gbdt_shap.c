/*-------------------------------------------------------------------------
 *
 * gbdt_shap.c
 *	  Exact path-dependent TreeSHAP in one pass over a tree, linear in its
 *	  depth: the values of Lundberg, Erion and Lee, "Consistent
 *	  individualized feature attribution for tree ensembles" (2018),
 *	  computed as in Yu, Bhattacharyya et al., "Linear TreeShap" (NeurIPS
 *	  2022).
 *
 * For one row x and one tree, the SHAP value of feature i is its Shapley
 * value for the game v(S) = E[f(x) | x_S], where the expectation follows the
 * tree: at a split on a feature outside S, both children are visited with
 * weights cover(child) / cover(node).  Along the path to a leaf l, each
 * distinct feature k has a zero fraction z_k (the product of those cover
 * ratios at its splits) and a one fraction o_k (1 if x takes every one of
 * its branches, else 0).  Writing the Shapley weight |S|!(d-|S|-1)!/d! as
 * the Beta integral of t^|S| (1-t)^(d-|S|-1) over [0, 1], leaf l adds
 *
 *     v_l (o_i - z_i) * integral of G_l(t) / (t o_i + (1-t) z_i) dt,
 *     G_l(t) = product over the path's features k of (t o_k + (1-t) z_k),
 *
 * to feature i: a polynomial of degree below the number of features on the
 * path, integrated exactly by Gauss-Legendre quadrature at half as many
 * points.  So the tree is
 * walked once, carrying G at those points down, and the sums of v_l G_l
 * over each subtree up; an edge splitting on i divides its subtree's sum by
 * its own factor, less the leaves where i is split again further down
 * (those are credited at that deeper split, with the fractions of both).
 * That is O(nodes * depth) per tree, where Algorithm 2 of the paper takes
 * O(leaves * depth^2): on a random forest of deep trees, the difference is
 * a hundredfold.  The values of a row add up to f(x) - E[f], E[f] being
 * GbdtTreeExpectation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "double4.h"
#include "gbdt.h"

/*
 * The quadrature points are handled four at a time (double4.h); a rule of n
 * points is padded to whole blocks with points of weight 0.
 */

/* an edge of the current path: the split it leaves and its feature's fractions */
typedef struct ShapEdge
{
	int			feature;
	int			previous;		/* level of this feature's previous edge, or 0 */
	double		zero;			/* products over all its edges so far */
	double		one;
} ShapEdge;

struct GbdtShapScratch
{
	int			blocks;			/* quadrature points / 4 */
	Double4    *t;				/* nodes in (0, 1) */
	Double4    *w;				/* and weights, summing to 1 */
	Double4    *w_cold;			/* w / (1 - t) */
	ShapEdge   *edge;			/* edge[k]: the edge into the node at depth k */
	Double4    *g;				/* G at the node of each depth, "blocks" each */
	Double4    *below;			/* per depth: sums credited to deeper splits */
	Double4    *sum;			/* per depth: the subtree's sum of v_l G_l */
};

/*
 * The n-point Gauss-Legendre rule on [0, 1]: Newton's method on the
 * Legendre polynomial P_n from the usual first guesses; the three-term
 * recurrence gives P_n and its derivative.
 */
static void
GaussLegendre(int n, double *t, double *w)
{
	for (int i = 0; i < (n + 1) / 2; i++)
	{
		double		x = cos(M_PI * (i + 0.75) / (n + 0.5));
		double		dp = 1.0;

		for (int iter = 0; iter < 100; iter++)
		{
			double		p0 = 1.0;
			double		p1 = x;
			double		dx;

			for (int k = 2; k <= n; k++)
			{
				double		p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;

				p0 = p1;
				p1 = p2;
			}
			dp = n * (x * p1 - p0) / (x * x - 1.0);
			dx = p1 / dp;
			x -= dx;
			if (fabs(dx) <= 1e-16)
				break;
		}
		/* x is the root in [0, 1), mirrored at -x */
		t[i] = (1.0 - x) / 2;
		t[n - 1 - i] = (1.0 + x) / 2;
		w[i] = w[n - 1 - i] = 1.0 / ((1.0 - x * x) * dp * dp);
	}
}

static Double4 *
NewBlocks(int n)
{
	return palloc(sizeof(Double4) * n);
}

GbdtShapScratch *
GbdtShapScratchNew(int max_depth, int n_features)
{
	GbdtShapScratch *s = palloc(sizeof(GbdtShapScratch));

	/* a path meets at most this many distinct features: G's degree */
	int			n = Max(1, (Min(max_depth, n_features) + 1) / 2);
	int			blocks = (n + 3) / 4;
	int			levels = max_depth + 1;
	double	   *t;
	double	   *w;

	s->blocks = blocks;
	s->t = NewBlocks(blocks);
	s->w = NewBlocks(blocks);
	s->w_cold = NewBlocks(blocks);
	s->edge = palloc(sizeof(ShapEdge) * levels);
	s->g = NewBlocks(levels * blocks);
	s->below = NewBlocks(levels * blocks);
	s->sum = NewBlocks(levels * blocks);
	t = (double *) s->t;
	w = (double *) s->w;
	GaussLegendre(n, t, w);
	for (int j = n; j < blocks * 4; j++)
	{
		t[j] = 0.5;
		w[j] = 0.0;
	}
	for (int b = 0; b < blocks; b++)
		s->w_cold[b] = s->w[b] / (1.0 - s->t[b]);
	return s;
}

/*
 * The factor t o + (1 - t) z of an edge's feature at a block of points, and
 * the sum of a block's lanes; macros, as a vector passed by value would
 * change the calling convention between SSE2 and AVX builds.
 */
#define FACTOR(t, e) ((t) * (e)->one + (1.0 - (t)) * (e)->zero)
#define LANES(x) (((x)[0] + (x)[1]) + ((x)[2] + (x)[3]))

/* G at the node of depth k, recomputed from the path's latest edge of each feature */
static void
RecomputeG(GbdtShapScratch *s, int k)
{
	Double4    *g = s->g + (size_t) k * s->blocks;

	for (int b = 0; b < s->blocks; b++)
		g[b] = (Double4) {1.0, 1.0, 1.0, 1.0};
	for (int level = 1; level <= k; level++)
	{
		const ShapEdge *e = &s->edge[level];
		bool		latest = true;

		for (int deeper = level + 1; deeper <= k && latest; deeper++)
			latest = s->edge[deeper].feature != e->feature;
		if (latest)
			for (int b = 0; b < s->blocks; b++)
				g[b] *= FACTOR(s->t[b], e);
	}
}

/*
 * G below the edge into depth k (s->edge[k] set): the parent's G times the
 * edge's factor, with the factor of the feature's previous edge divided
 * out, or all recomputed where that factor vanishes.
 */
static void
ChildG(GbdtShapScratch *s, int k)
{
	const ShapEdge *e = &s->edge[k];
	const Double4 *parent = s->g + (size_t) (k - 1) * s->blocks;
	Double4    *g = s->g + (size_t) k * s->blocks;

	if (e->previous > 0)
	{
		const ShapEdge *p = &s->edge[e->previous];

		if (p->one == 0.0 && p->zero == 0.0)
		{
			RecomputeG(s, k);
			return;
		}
		for (int b = 0; b < s->blocks; b++)
			g[b] = parent[b] * FACTOR(s->t[b], e) / FACTOR(s->t[b], p);
	}
	else
		for (int b = 0; b < s->blocks; b++)
			g[b] = parent[b] * FACTOR(s->t[b], e);
}

/* Leaves s->sum at depth k for the subtree of node, crediting its edges to phi. */
static void
Visit(GbdtShapScratch *s, const GbdtNode *tree, const bool *goes_left, double *phi,
	  int node, int k)
{
	int			blocks = s->blocks;
	const GbdtNode *nd = &tree[node];
	const Double4 *g = s->g + (size_t) k * blocks;
	Double4    *sum = s->sum + (size_t) k * blocks;
	const Double4 *child_sum;
	Double4    *child_below;
	ShapEdge   *e;
	int			previous = 0;

	if (nd->feature < 0)
	{
		for (int b = 0; b < blocks; b++)
			sum[b] = g[b] * nd->value;
		return;
	}
	/* a deep crafted tree must stay cancellable */
	CHECK_FOR_INTERRUPTS();
	/* a split's children are at most max_depth deep */
	child_sum = s->sum + (size_t) (k + 1) * blocks;
	child_below = s->below + (size_t) (k + 1) * blocks;
	e = &s->edge[k + 1];
	for (int level = k; level >= 1 && previous == 0; level--)
		if (s->edge[level].feature == nd->feature)
			previous = level;
	for (int side = 0; side < 2; side++)
	{
		int			child = side == 0 ? nd->left : nd->right;
		bool		taken = goes_left[node] == (side == 0);
		Double4		integral = {0.0, 0.0, 0.0, 0.0};

		e->feature = nd->feature;
		e->previous = previous;
		e->zero = tree[child].cover / nd->cover;
		e->one = taken ? 1.0 : 0.0;
		if (previous > 0)
		{
			e->zero *= s->edge[previous].zero;
			e->one *= s->edge[previous].one;
		}
		ChildG(s, k + 1);
		for (int b = 0; b < blocks; b++)
			child_below[b] = integral;
		Visit(s, tree, goes_left, phi, child, k + 1);

		/*
		 * o = z (both 0 included): this edge moves nothing.  Off the row's
		 * branches (o = 0) the factor is (1 - t) z, and z cancels.
		 */
		if (e->one == 0.0 && e->zero != 0.0)
		{
			for (int b = 0; b < blocks; b++)
				integral += s->w_cold[b] * (child_sum[b] - child_below[b]);
			phi[e->feature] -= LANES(integral);
		}
		else if (e->one != e->zero)
		{
			for (int b = 0; b < blocks; b++)
				integral += s->w[b] * (child_sum[b] - child_below[b]) / FACTOR(s->t[b], e);
			phi[e->feature] += (1.0 - e->zero) * LANES(integral);
		}
		if (previous > 0)
		{
			Double4    *credited = s->below + (size_t) previous * blocks;

			for (int b = 0; b < blocks; b++)
				credited[b] += child_sum[b];
		}
		for (int b = 0; b < blocks; b++)
			sum[b] = side == 0 ? child_sum[b] : sum[b] + child_sum[b];
	}
}

void
GbdtTreeShap(const GbdtNode *tree, const bool *goes_left, double *phi,
			 GbdtShapScratch *scratch)
{
	for (int b = 0; b < scratch->blocks; b++)
		scratch->g[b] = (Double4) {1.0, 1.0, 1.0, 1.0};
	scratch->edge[0].feature = -1;
	Visit(scratch, tree, goes_left, phi, 0, 0);
}

static double
Expectation(const GbdtNode *tree, int node)
{
	const GbdtNode *nd = &tree[node];

	if (nd->feature < 0)
		return nd->value;
	return (tree[nd->left].cover * Expectation(tree, nd->left) +
			tree[nd->right].cover * Expectation(tree, nd->right)) / nd->cover;
}

double
GbdtTreeExpectation(const GbdtNode *tree)
{
	return Expectation(tree, 0);
}
