/*-------------------------------------------------------------------------
 *
 * gbdt_model.h
 *	  The retention.gbdt_model type: a tree ensemble in one varlena.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_GBDT_MODEL_H
#define RETENTION_GBDT_MODEL_H

#include <float.h>

#include "access/detoast.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "gbdt.h"
#include "gbdt_score.h"
#include "model_key.h"

#define GBDT_MODEL_MAGIC	0x54444247	/* "GBDT" */
#define GBDT_MODEL_VERSION	1

/*
 * Layout: this header, then in order (each section 8-byte aligned)
 *	 GbdtNode nodes[n_nodes]		the trees, one after the other
 *	 double edges[n_edges]			the bin edges, feature after feature
 *	 double mean_abs_shap[k]		NaN when unknown
 *	 int32 tree_start[n_trees + 1]	first node of each tree
 *	 int32 edge_start[k + 1]		first edge of each feature
 *	 char names[names_len]			k NUL-terminated names (names_len 0: none)
 *	 char meta[meta_len]			NUL-terminated JSON: options, metrics
 * "hash" is a 64-bit hash of everything after it: functions cache a
 * validated model per call site and recognise it by (size, hash) without
 * detoasting it again.
 */
typedef struct GbdtModel
{
	int32		vl_len_;
	uint32		magic;
	int16		version;
	int16		kind;
	int32		k;
	int32		n_trees;
	int32		n_nodes;
	int32		n_edges;
	int32		names_len;
	int32		meta_len;
	int32		max_depth;		/* of the deepest tree */
	int32		max_tree_nodes; /* nodes of the largest tree */
	uint64		hash;
	double		base_score;
} GbdtModel;

typedef struct GbdtModelView
{
	const GbdtModel *m;
	const GbdtNode *nodes;
	const double *edges;
	const double *mean_abs_shap;
	const int32 *tree_start;
	const int32 *edge_start;
	const char *names;
	const char *meta;
} GbdtModelView;

/*
 * A validated model of a call site (fn_extra), with what scoring and
 * explaining need; see GbdtCachedModel.
 */
typedef struct GbdtModelCache
{
	/* the key of the model below (valid while model is not NULL) */
	ModelKey	key;
	/* everything below lives in cxt, emptied when another model comes */
	MemoryContext cxt;
	GbdtModel  *model;
	GbdtScorer *scorer;
	/* scratch of churn_explain and scoring */
	double	   *x;
	bool	   *goes_left;
	GbdtShapScratch *shap;
	double	   *phi;
	const char **names;			/* GbdtFeatureNames */
	/* a short-header feature array, copied here with a 4-byte header */
	ArrayType  *args;
} GbdtModelCache;

/*
 * The threshold of a split at bin "bin" of feature f: the bin's upper edge,
 * or DBL_MAX for bin = the feature's edge count, the split that sends every
 * value left and only the missing ones right.
 */
static inline double
GbdtBinEdge(const double *edges, const int32 *edge_start, int f, int bin)
{
	return bin < edge_start[f + 1] - edge_start[f] ? edges[edge_start[f] + bin] : DBL_MAX;
}

/* the layout (gbdt_model.c) */
extern GbdtModelView GbdtView(const GbdtModel *m);
extern GbdtModel *GbdtModelAlloc(int kind, int k, int n_trees, int n_nodes, int n_edges,
								 int names_len, int meta_len);
/* each feature's name, palloc'd (the names are walked once), or NULL without names */
extern const char **GbdtFeatureNames(const GbdtModelView *v);

/*
 * The one validating reader: checks every field of a model of "size" bytes,
 * raising errors with SQLSTATE "code"; "building" a model sets its recorded
 * depth, size and hash instead of checking them.
 */
extern void GbdtCheckModel(GbdtModel *m, Size size, int code, bool building);

/* the validated model of argument argno, cached per call site */
extern GbdtModelCache *GbdtCachedModel(FunctionCallInfo fcinfo, int argno);

/*
 * The exact TreeSHAP value of every feature of the float8[] argument argno
 * (checked against the model) in c->phi; returns the features, NaN for
 * missing ones (gbdt_predict.c).
 */
extern const double *GbdtShapValues(GbdtModelCache *c, FunctionCallInfo fcinfo, int argno);

extern GbdtModel *GbdtModelBuild(const GbdtEnsemble *e, char **names, const char *meta);
/* copies the k feature names (NULL: none) and the meta text into their areas */
extern void GbdtModelFillText(GbdtModel *m, char **names, const char *meta);
extern char *GbdtCanonicalJson(const char *json);

/* Read a float8[] of n elements into out, NULL elements as NaN (missing). */
extern void GbdtReadFeatures(ArrayType *a, int n, double *out);

extern void GbdtParseOptions(Jsonb *options, GbdtOptions *opts);

#endif							/* RETENTION_GBDT_MODEL_H */
