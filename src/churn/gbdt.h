/*-------------------------------------------------------------------------
 *
 * gbdt.h
 *	  Tree ensembles for churn: histogram gradient boosting with logistic
 *	  loss and random forests, trained by the retention.gbdt_train aggregate
 *	  and kept in the retention.gbdt_model type.
 *
 * The training core (gbdt_boost.c) and TreeSHAP (gbdt_shap.c) use only
 * palloc/pfree and CHECK_FOR_INTERRUPTS from PostgreSQL; the model type is
 * in gbdt_model.c (layout, validation, cache) and gbdt_model_json.c (text
 * forms), scoring in gbdt_score.c and the SQL functions that score in
 * gbdt_predict.c, the aggregate and its options in gbdt_train.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_GBDT_H
#define RETENTION_GBDT_H

#include <stdbool.h>
#include <stdint.h>

/* most non-missing bins of a feature (as scikit-learn's max_bins) */
#define GBDT_MAX_BINS		255
/* the bin code of a missing (NULL or NaN) value */
#define GBDT_MISSING_BIN	255
/* histogram slots per feature: the non-missing bins and the missing one */
#define GBDT_HIST_SLOTS		256
/* deepest tree: bounds TreeSHAP's path and recursion */
#define GBDT_MAX_DEPTH		64
#define GBDT_MAX_FEATURES	10000
#define GBDT_MAX_TREES		100000
/* rows of the sample the bin edges are computed from (as scikit-learn) */
#define GBDT_BINNING_SAMPLE	200000
/* rows whose TreeSHAP values give the stored mean |SHAP| importance */
#define GBDT_SHAP_SAMPLE	1000
/* ... or fewer, to keep that to about this many path operations */
#define GBDT_SHAP_WORK		2e8

typedef enum GbdtKind
{
	GBDT_BOOSTING = 0,			/* raw score = log-odds */
	GBDT_FOREST = 1				/* raw score = probability (mean of trees) */
} GbdtKind;

/*
 * One node of a tree, as stored in the model.  Children have larger indices
 * than their parent (within the tree), which is what makes a stored tree
 * acyclic by construction once the validator has checked it.
 */
typedef struct GbdtNode
{
	double		threshold;		/* internal: x <= threshold goes left */
	double		value;			/* leaf: added to the raw score */
	double		cover;			/* training rows reaching the node (> 0) */
	double		gain;			/* internal: loss reduction of the split */
	int32_t		feature;		/* -1 for a leaf */
	int32_t		left;
	int32_t		right;
	uint8_t		bin;			/* internal: threshold is edges[feature][bin] */
	uint8_t		default_left;	/* internal: missing values go left */
	uint8_t		pad[2];
} GbdtNode;

typedef struct GbdtOptions
{
	GbdtKind	kind;
	int			max_iter;		/* boosting rounds, or trees of a forest */
	double		learning_rate;
	int			max_leaf_nodes; /* 0: unlimited */
	int			max_depth;		/* 0: unlimited (GBDT_MAX_DEPTH) */
	int			min_samples_leaf;
	double		l2_regularization;
	double		min_hessian_to_split;
	double		min_gain_to_split;
	int			max_bins;
	double		subsample;		/* rows per tree, without replacement */
	bool		bootstrap;		/* rows per tree drawn with replacement */
	double		feature_fraction;	/* features considered per split */
	uint64_t	seed;
	int			class_weight_mode;	/* 0 none, 1 given, 2 balanced */
	double		weight_neg;
	double		weight_pos;
	bool		early_stopping;
	double		validation_fraction;
	int			n_iter_no_change;
	double		tol;
	double		max_memory_mb;
	int			n_names;		/* -1: no feature_names */
	char	  **names;
} GbdtOptions;

/* Rows collected by the aggregate: n x k doubles (NaN = missing), labels. */
typedef struct GbdtRows
{
	int64_t		n;
	int			k;
	double	   *x;				/* row-major */
	bool	   *y;
} GbdtRows;

/* What training produces; the model type is built from it. */
typedef struct GbdtEnsemble
{
	GbdtKind	kind;
	int			k;
	double		base_score;
	int			n_trees;
	int		   *tree_start;		/* n_trees + 1 */
	int			n_nodes;
	GbdtNode   *nodes;
	int		   *edge_start;		/* k + 1 */
	int			n_edges;
	double	   *edges;
	double	   *mean_abs_shap;	/* k, or NULL */
	/* training metrics */
	int64_t		n_train;
	int64_t		n_validation;
	int64_t		n_positive;
	int			n_rounds;
	double	   *train_loss;		/* per round (boosting), or NULL */
	double	   *validation_loss;	/* per round, or NULL */
	bool		stopped_early;
	double		weight_neg;
	double		weight_pos;
} GbdtEnsemble;

/* Fill opts with the defaults of a kind. */
extern void GbdtDefaultOptions(GbdtOptions *opts, GbdtKind kind);

/*
 * Train on the rows.  The result does not depend on the order of the rows:
 * they are binned, then put in a canonical order before anything else.
 * rows->x is freed on the way (the binned codes replace it).
 */
extern GbdtEnsemble *GbdtTrain(GbdtRows *rows, const GbdtOptions *opts);

/* The raw score (log-odds, or probability for a forest) of one row. */
extern double GbdtRawScore(const GbdtEnsemble *e, const double *x);

/* Depth of the deepest tree (a single leaf has depth 0); valid trees only. */
extern int	GbdtMaxDepth(const GbdtNode *nodes, const int *tree_start, int n_trees);

/*
 * TreeSHAP (Lundberg, Erion and Lee 2018) of one tree, in one pass linear in
 * its depth (gbdt_shap.c).  goes_left[i] tells where the explained row goes
 * at internal node i; phi (k values) is added to.  A scratch serves every
 * tree of at most max_depth levels over n_features features; it is
 * palloc'd in the current context.
 */
typedef struct GbdtShapScratch GbdtShapScratch;

extern GbdtShapScratch *GbdtShapScratchNew(int max_depth, int n_features);
extern void GbdtTreeShap(const GbdtNode *tree, const bool *goes_left, double *phi,
						 GbdtShapScratch *scratch);

/* The expected value of a tree under its covers: the base value of SHAP. */
extern double GbdtTreeExpectation(const GbdtNode *tree);

/* simple, fast and fully specified: splitmix64 */
static inline uint64_t
GbdtRandomNext(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* uniform in [0, n) without modulo bias worth speaking of for n < 2^32 */
static inline uint64_t
GbdtRandomBelow(uint64_t *state, uint64_t n)
{
	return (uint64_t) (((unsigned __int128) GbdtRandomNext(state) * n) >> 64);
}

#endif							/* RETENTION_GBDT_H */
