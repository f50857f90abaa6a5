/*-------------------------------------------------------------------------
 *
 * gbdt_shap.c
 *	  Exact path-dependent TreeSHAP: Lundberg, Erion and Lee, "Consistent
 *	  individualized feature attribution for tree ensembles" (2018),
 *	  Algorithm 2.
 *
 * For one row x and one tree, the SHAP value of feature j is its Shapley
 * value for the game v(S) = E[f(x) | x_S], where the expectation follows the
 * tree: at a split on a feature outside S, both children are visited with
 * weights cover(child) / cover(node).  Algorithm 2 computes every feature's
 * value in one traversal, O(leaves * depth^2), by keeping, along the path
 * from the root, the proportion of subsets of each size that reach the
 * current node ("extend"), and removing a feature from it ("unwind") to
 * read its own contribution at each leaf.  The values of a row add up to
 * f(x) - E[f], E[f] being GbdtTreeExpectation.
 *
 * Indices here are 0-based; "depth" is the number of path elements after
 * the root's dummy element.
 *
 *-------------------------------------------------------------------------
 */
#ifdef GBDT_STANDALONE
#include "gbdt_shim.h"
#else
#include "postgres.h"
#include "miscadmin.h"
#endif

#include "gbdt.h"

size_t
GbdtShapScratchSize(int max_depth)
{
	/* a copy of the path per level: 1 + 2 + ... + (max_depth + 2) elements */
	return (size_t) (max_depth + 2) * (max_depth + 3) / 2;
}

/*
 * 1/k for the path lengths a tree meets: the loops below divide by counts
 * at every step of a dependency chain, and a multiplication by a
 * reciprocal takes a fraction of a division's latency.
 */
#define INVERSES 128
static double inverses[INVERSES];

static inline double
Inverse(int k)
{
	return k < INVERSES ? inverses[k] : 1.0 / k;
}

/* add a feature with the given fractions to the end of the path m[0 .. depth) */
static void
Extend(GbdtPathElement *m, int depth, double zero, double one, int feature)
{
	double		share = Inverse(depth + 1);

	m[depth].feature = feature;
	m[depth].zero_fraction = zero;
	m[depth].one_fraction = one;
	m[depth].weight = (depth == 0) ? 1.0 : 0.0;
	for (int i = depth - 1; i >= 0; i--)
	{
		m[i + 1].weight += one * m[i].weight * (i + 1) * share;
		m[i].weight = zero * m[i].weight * (depth - i) * share;
	}
}

/* undo Extend for path element idx of m[0 .. depth] */
static void
Unwind(GbdtPathElement *m, int depth, int idx)
{
	double		one = m[idx].one_fraction;
	double		zero = m[idx].zero_fraction;
	double		next = m[depth].weight;
	double		share = Inverse(depth + 1);

	if (one != 0.0)
	{
		double		scale = (depth + 1) / one;

		for (int i = depth - 1; i >= 0; i--)
		{
			double		tmp = m[i].weight;

			m[i].weight = next * scale * Inverse(i + 1);
			next = tmp - m[i].weight * zero * (depth - i) * share;
		}
	}
	else
	{
		double		scale = (depth + 1) / zero;

		for (int i = depth - 1; i >= 0; i--)
			m[i].weight = m[i].weight * scale * Inverse(depth - i);
	}
	for (int i = idx; i < depth; i++)
	{
		m[i].feature = m[i + 1].feature;
		m[i].zero_fraction = m[i + 1].zero_fraction;
		m[i].one_fraction = m[i + 1].one_fraction;
	}
}

/*
 * Sum of m[i].weight / (depth - i) over m[0 .. depth): unwinding an element
 * whose one_fraction is 0 leaves this total times (depth + 1) / its
 * zero_fraction, the same sum for every such element of a leaf's path.
 */
static double
ColdSum(const GbdtPathElement *m, int depth)
{
	double		total = 0.0;

	for (int i = depth - 1; i >= 0; i--)
		total += m[i].weight * Inverse(depth - i);
	return total;
}

/*
 * The total weight of m[0 .. depth] once element idx is unwound; cold_sum
 * is ColdSum(m, depth) (computed here, when negative, for a cold element).
 */
static double
UnwoundSum(const GbdtPathElement *m, int depth, int idx, double *cold_sum)
{
	double		one = m[idx].one_fraction;
	double		zero = m[idx].zero_fraction;
	double		next = m[depth].weight;
	double		scale;
	double		share;
	double		total = 0.0;

	if (one == 0.0)
	{
		if (*cold_sum < 0.0)
			*cold_sum = ColdSum(m, depth);
		return *cold_sum * (depth + 1) / zero;
	}
	scale = (depth + 1) / one;
	share = Inverse(depth + 1);
	for (int i = depth - 1; i >= 0; i--)
	{
		double		tmp = next * scale * Inverse(i + 1);

		total += tmp;
		next = m[i].weight - tmp * zero * (depth - i) * share;
	}
	return total;
}

static void
Recurse(const GbdtNode *tree, const bool *goes_left, double *phi, int node,
		GbdtPathElement *parent, int depth, double zero, double one, int feature)
{
	GbdtPathElement *m = parent + depth;	/* this level's copy, after the parent's */
	const GbdtNode *nd = &tree[node];

	if (depth > 0)
		memcpy(m, parent, sizeof(GbdtPathElement) * depth);
	Extend(m, depth, zero, one, feature);

	if (nd->feature < 0)
	{
		double		cold_sum = -1.0;	/* weights are never negative */

		for (int i = 1; i <= depth; i++)
			phi[m[i].feature] += UnwoundSum(m, depth, i, &cold_sum) *
				(m[i].one_fraction - m[i].zero_fraction) * nd->value;
		return;
	}
	else
	{
		int			hot = goes_left[node] ? nd->left : nd->right;
		int			cold = goes_left[node] ? nd->right : nd->left;
		double		in_zero = 1.0;
		double		in_one = 1.0;
		int			d = depth;

		/* a feature met again on the path: its earlier element is replaced */
		for (int i = 1; i <= depth; i++)
			if (m[i].feature == nd->feature)
			{
				in_zero = m[i].zero_fraction;
				in_one = m[i].one_fraction;
				Unwind(m, depth, i);
				d--;
				break;
			}
		Recurse(tree, goes_left, phi, hot, m, d + 1,
				in_zero * tree[hot].cover / nd->cover, in_one, nd->feature);
		Recurse(tree, goes_left, phi, cold, m, d + 1,
				in_zero * tree[cold].cover / nd->cover, 0.0, nd->feature);
	}
}

void
GbdtTreeShap(const GbdtNode *tree, const bool *goes_left, double *phi,
			 GbdtPathElement *scratch)
{
	if (inverses[1] == 0.0)
		for (int k = 1; k < INVERSES; k++)
			inverses[k] = 1.0 / k;
	Recurse(tree, goes_left, phi, 0, scratch, 0, 1.0, 1.0, -1);
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
