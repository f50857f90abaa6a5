/*-------------------------------------------------------------------------
 *
 * gbdt_model.h
 *	  The retention.gbdt_model type: a tree ensemble in one varlena.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_GBDT_MODEL_H
#define RETENTION_GBDT_MODEL_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "gbdt.h"

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

extern GbdtModel *GbdtModelBuild(const GbdtEnsemble *e, char **names, const char *meta);
extern void GbdtAppendDouble(StringInfo buf, double x);

/* Read a float8[] of n elements into out, NULL elements as NaN (missing). */
extern void GbdtReadFeatures(ArrayType *a, int n, double *out);

extern void GbdtParseOptions(Jsonb *options, GbdtOptions *opts);

#endif							/* RETENTION_GBDT_MODEL_H */
