/*-------------------------------------------------------------------------
 *
 * gbdt_model.c
 *	  The retention.gbdt_model type: its binary layout, the one reader that
 *	  validates it, the per-call-site cache of validated models, and the
 *	  model built from a trained ensemble.  Its text forms are in
 *	  gbdt_model_json.c, the functions that score with it in gbdt_predict.c.
 *
 * Every way a model enters the server (text input, binary receive, the cast
 * from jsonb) builds the binary layout and passes it through
 * GbdtCheckModel, and every function that reads a model datum passes it
 * through the same check once per call site (then caches it): hostile trees
 * (child indices out of range or pointing backwards, shared children,
 * features or bins out of range, non-finite values, absurd sizes) are
 * errors, never reads out of bounds or endless loops.  Children always
 * have larger indices than their parent and every non-root node has
 * exactly one parent, so a valid tree is a tree: no cycles.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "access/detoast.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "gbdt.h"
#include "gbdt_model.h"
#include "gbdt_score.h"

#define SECTIONS 7

/* ---------- layout ---------- */

static Size
Align8(Size s)
{
	return TYPEALIGN(8, s);
}

/*
 * Offsets of the sections and the total size of a model with the header's
 * counts; the counts must be in range (they are bounded by the checks of
 * GbdtCheckModel or by construction), and the arithmetic is overflow-checked.
 */
static Size
Layout(int k, int n_trees, int n_nodes, int n_edges, int names_len, int meta_len,
	   Size off[SECTIONS])
{
	Size		s = Align8(sizeof(GbdtModel));

	off[0] = s;
	s = add_size(s, mul_size(sizeof(GbdtNode), n_nodes));
	off[1] = s;
	s = add_size(s, mul_size(sizeof(double), n_edges));
	off[2] = s;
	s = add_size(s, mul_size(sizeof(double), k));
	off[3] = s;
	s = Align8(add_size(s, mul_size(sizeof(int32), add_size(n_trees, 1))));
	off[4] = s;
	s = Align8(add_size(s, mul_size(sizeof(int32), add_size(k, 1))));
	off[5] = s;
	s = add_size(s, names_len);
	off[6] = s;
	s = add_size(s, meta_len);
	return s;
}

GbdtModelView
GbdtView(const GbdtModel *m)
{
	GbdtModelView v;
	Size		off[SECTIONS];
	const char *base = (const char *) m;

	(void) Layout(m->k, m->n_trees, m->n_nodes, m->n_edges, m->names_len, m->meta_len, off);
	v.m = m;
	v.nodes = (const GbdtNode *) (base + off[0]);
	v.edges = (const double *) (base + off[1]);
	v.mean_abs_shap = (const double *) (base + off[2]);
	v.tree_start = (const int32 *) (base + off[3]);
	v.edge_start = (const int32 *) (base + off[4]);
	v.names = base + off[5];
	v.meta = base + off[6];
	return v;
}

GbdtModel *
GbdtModelAlloc(int kind, int k, int n_trees, int n_nodes, int n_edges, int names_len, int meta_len)
{
	Size		off[SECTIONS];
	Size		total = Layout(k, n_trees, n_nodes, n_edges, names_len, meta_len, off);
	GbdtModel  *m;

	if (!AllocSizeIsValid(total))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gbdt_model of %zu bytes exceeds the 1 GB limit of a value", total)));
	m = palloc0(total);
	SET_VARSIZE(m, total);
	m->magic = GBDT_MODEL_MAGIC;
	m->version = GBDT_MODEL_VERSION;
	m->kind = (int16) kind;
	m->k = k;
	m->n_trees = n_trees;
	m->n_nodes = n_nodes;
	m->n_edges = n_edges;
	m->names_len = names_len;
	m->meta_len = meta_len;
	return m;
}

/* the digest of the whole model (ModelDigest), its checksum and cache key */
static uint64
ModelHash(const GbdtModel *m, Size total)
{
	return ModelDigest(m, total, offsetof(GbdtModel, hash));
}

/* ---------- the one validating reader ---------- */

static void
Corrupt(int code, const char *detail)
{
	ereport(ERROR,
			(errcode(code),
			 errmsg("invalid retention.gbdt_model value"),
			 errdetail("%s", detail)));
}

/*
 * Check every field of a model of "size" bytes; sets max_depth and
 * max_tree_nodes (and the hash when set_hash) of a model being built, or
 * checks them.  code is the SQLSTATE of the error.
 */
void
GbdtCheckModel(GbdtModel *m, Size size, int code, bool building)
{
	Size		off[SECTIONS];
	GbdtModelView v;
	int		   *depth;
	bool	   *has_parent;
	int			max_depth = 0;
	int			max_tree = 0;

	if (size < sizeof(GbdtModel))
		Corrupt(code, "The value is shorter than its header.");
	if (m->magic != GBDT_MODEL_MAGIC)
		Corrupt(code, "The value does not start with the magic number of a gbdt_model.");
	if (m->version != GBDT_MODEL_VERSION)
		Corrupt(code, psprintf("The format version %d is not supported (this library reads version %d).",
							   m->version, GBDT_MODEL_VERSION));
	if (m->kind != GBDT_BOOSTING && m->kind != GBDT_FOREST)
		Corrupt(code, "The kind is neither boosting nor a random forest.");
	if (m->k < 1 || m->k > GBDT_MAX_FEATURES)
		Corrupt(code, psprintf("The number of features must be between 1 and %d.", GBDT_MAX_FEATURES));
	if (m->n_trees < 0 || m->n_trees > GBDT_MAX_TREES)
		Corrupt(code, psprintf("The number of trees must be between 0 and %d.", GBDT_MAX_TREES));
	if (m->n_nodes < m->n_trees || m->n_edges < 0 ||
		m->n_edges > m->k * (GBDT_MAX_BINS - 1) || m->names_len < 0 || m->meta_len < 0)
		Corrupt(code, "The counts of nodes, edges or names are out of range.");
	if (Layout(m->k, m->n_trees, m->n_nodes, m->n_edges, m->names_len, m->meta_len, off) != size)
		Corrupt(code, "The size does not match the counts of the header.");
	if (!isfinite(m->base_score))
		Corrupt(code, "The base score is not finite.");
	if (!building && m->hash != ModelHash(m, size))
		Corrupt(code, "The checksum does not match the contents.");

	v = GbdtView(m);

	/* bins: every feature's edges finite and strictly increasing, at most 254 */
	if (v.edge_start[0] != 0 || v.edge_start[m->k] != m->n_edges)
		Corrupt(code, "The bin edges do not cover the edge array.");
	for (int j = 0; j < m->k; j++)
	{
		int			a = v.edge_start[j],
					b = v.edge_start[j + 1];

		if (a < 0 || b < a || b > m->n_edges || b - a > GBDT_MAX_BINS - 1)
			Corrupt(code, psprintf("The bin edges of feature %d are out of range.", j + 1));
		for (int i = a; i < b; i++)
			if (!isfinite(v.edges[i]) || (i > a && !(v.edges[i] > v.edges[i - 1])))
				Corrupt(code, psprintf("The bin edges of feature %d are not finite and increasing.", j + 1));
	}
	for (int j = 0; j < m->k; j++)
		if (isinf(v.mean_abs_shap[j]) || v.mean_abs_shap[j] < 0.0)
			Corrupt(code, "The mean |SHAP| importances must be finite and non-negative.");

	/* trees */
	if (v.tree_start[0] != 0 || v.tree_start[m->n_trees] != m->n_nodes)
		Corrupt(code, "The trees do not cover the node array.");
	for (int t = 0; t < m->n_trees; t++)
	{
		int			a = v.tree_start[t],
					b = v.tree_start[t + 1];

		if (a < 0 || b <= a || b > m->n_nodes)
			Corrupt(code, psprintf("Tree %d has no nodes or is out of range.", t + 1));
		max_tree = Max(max_tree, b - a);
	}
	depth = palloc(sizeof(int) * Max(max_tree, 1));
	has_parent = palloc(sizeof(bool) * Max(max_tree, 1));
	for (int t = 0; t < m->n_trees; t++)
	{
		const GbdtNode *tree = v.nodes + v.tree_start[t];
		int			size_t_ = v.tree_start[t + 1] - v.tree_start[t];

		CHECK_FOR_INTERRUPTS();
		memset(has_parent, 0, sizeof(bool) * size_t_);
		depth[0] = 0;
		for (int i = 0; i < size_t_; i++)
		{
			const GbdtNode *nd = &tree[i];

			if (i > 0 && !has_parent[i])
				Corrupt(code, psprintf("Node %d of tree %d is not reachable from the root.", i, t + 1));
			if (!(isfinite(nd->cover) && nd->cover > 0.0))
				Corrupt(code, psprintf("Node %d of tree %d has a cover that is not positive and finite.", i, t + 1));
			if (nd->feature == -1)
			{
				if (nd->left != -1 || nd->right != -1)
					Corrupt(code, psprintf("Leaf %d of tree %d has children.", i, t + 1));
				if (!isfinite(nd->value))
					Corrupt(code, psprintf("Leaf %d of tree %d has a value that is not finite.", i, t + 1));
				continue;
			}
			if (nd->feature < 0 || nd->feature >= m->k)
				Corrupt(code, psprintf("Node %d of tree %d splits on feature %d, not in 1..%d.",
									   i, t + 1, nd->feature + 1, m->k));
			/* bin = the edge count: every value left, missing right (GbdtBinEdge) */
			if (nd->bin > v.edge_start[nd->feature + 1] - v.edge_start[nd->feature])
				Corrupt(code, psprintf("Node %d of tree %d splits at bin %d, beyond the %d edges of feature %d.",
									   i, t + 1, nd->bin,
									   v.edge_start[nd->feature + 1] - v.edge_start[nd->feature],
									   nd->feature + 1));
			if (nd->threshold != GbdtBinEdge(v.edges, v.edge_start, nd->feature, nd->bin))
				Corrupt(code, psprintf("Node %d of tree %d has a threshold that is not the edge of its bin.", i, t + 1));
			if (nd->left <= i || nd->right <= i || nd->left >= size_t_ || nd->right >= size_t_ ||
				nd->left == nd->right)
				Corrupt(code, psprintf("Node %d of tree %d has children out of range (they must come after it, within the tree).",
									   i, t + 1));
			if (has_parent[nd->left] || has_parent[nd->right])
				Corrupt(code, psprintf("A child of node %d of tree %d has two parents.", i, t + 1));
			if (nd->default_left > 1 || !isfinite(nd->gain) || !isfinite(nd->value))
				Corrupt(code, psprintf("Node %d of tree %d has an invalid default direction, gain or value.", i, t + 1));
			has_parent[nd->left] = has_parent[nd->right] = true;
			depth[nd->left] = depth[nd->right] = depth[i] + 1;
			if (depth[i] + 1 > GBDT_MAX_DEPTH)
				Corrupt(code, psprintf("Tree %d is deeper than %d levels.", t + 1, GBDT_MAX_DEPTH));
			max_depth = Max(max_depth, depth[i] + 1);
		}
	}
	pfree(depth);
	pfree(has_parent);

	/* names: exactly k NUL-terminated strings; meta: one */
	if (m->names_len > 0)
	{
		int			count = 0;

		if (v.names[m->names_len - 1] != '\0')
			Corrupt(code, "The feature names are not terminated.");
		for (int i = 0; i < m->names_len; i++)
			count += (v.names[i] == '\0');
		if (count != m->k)
			Corrupt(code, "The number of feature names is not the number of features.");
	}
	if (m->meta_len > 0 && (v.meta[m->meta_len - 1] != '\0' || (int) strlen(v.meta) != m->meta_len - 1))
		Corrupt(code, "The training metadata is not one terminated string.");

	if (building)
	{
		m->max_depth = max_depth;
		m->max_tree_nodes = max_tree;
		m->hash = ModelHash(m, size);
	}
	else if (m->max_depth != max_depth || m->max_tree_nodes != max_tree)
		Corrupt(code, "The recorded tree depth or size does not match the trees.");
}


/*
 * A validated model from an argument, cached per call site, so that scoring
 * a million rows with one model reads, parses and checks it once; the
 * argument is recognised by its ModelKey, without fetching or decompressing
 * it whole.
 */
GbdtModelCache *
GbdtCachedModel(FunctionCallInfo fcinfo, int argno)
{
	Datum		d = PG_GETARG_DATUM(argno);
	GbdtModelCache *cache = (GbdtModelCache *) fcinfo->flinfo->fn_extra;
	ModelKey	key = ModelKeyOf(d, offsetof(GbdtModel, hash));
	MemoryContext old;
	GbdtModel  *m;
	GbdtModelView v;

	if (cache != NULL && cache->model != NULL && ModelKeyMatches(&key, &cache->key))
		return cache;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GbdtModelCache));
		cache->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "gbdt_model cache",
										   ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}
	else
		MemoryContextReset(cache->cxt);
	/* no model, so no key, until the new one has passed the checks */
	cache->model = NULL;

	old = MemoryContextSwitchTo(cache->cxt);
	m = (GbdtModel *) PG_DETOAST_DATUM_COPY(d);
	GbdtCheckModel(m, VARSIZE(m), ERRCODE_DATA_CORRUPTED, false);
	v = GbdtView(m);
	cache->x = palloc(sizeof(double) * m->k);
	cache->phi = palloc(sizeof(double) * m->k);
	cache->goes_left = palloc(sizeof(bool) * Max(m->max_tree_nodes, 1));
	cache->shap = GbdtShapScratchNew(m->max_depth, m->k);
	cache->names = GbdtFeatureNames(&v);
	cache->args = palloc(VARHDRSZ + VARATT_SHORT_MAX);
	cache->scorer = GbdtScorerBuild(v.nodes, v.tree_start, m->n_trees, m->k, m->base_score);
	MemoryContextSwitchTo(old);
	cache->model = m;
	cache->key = key;
	return cache;
}

/* ---------- building from training ---------- */

/*
 * JSON text in jsonb's canonical form (key order, spacing), so that the
 * metadata of a model reads back to the same bytes from any input form.
 */
char *
GbdtCanonicalJson(const char *json)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

GbdtModel *
GbdtModelBuild(const GbdtEnsemble *e, char **names, const char *meta)
{
	int			names_len = 0;
	int			meta_len;
	GbdtModel  *m;
	GbdtModelView v;

	if (meta)
		meta = GbdtCanonicalJson(meta);
	meta_len = meta ? (int) strlen(meta) + 1 : 0;
	if (names)
		for (int j = 0; j < e->k; j++)
			names_len += (int) strlen(names[j]) + 1;
	m = GbdtModelAlloc(e->kind, e->k, e->n_trees, e->n_nodes, e->n_edges, names_len, meta_len);
	m->base_score = e->base_score;
	v = GbdtView(m);
	memcpy((void *) v.nodes, e->nodes, sizeof(GbdtNode) * e->n_nodes);
	memcpy((void *) v.edges, e->edges, sizeof(double) * e->n_edges);
	for (int j = 0; j < e->k; j++)
		((double *) v.mean_abs_shap)[j] = e->mean_abs_shap ? e->mean_abs_shap[j] : NAN;
	memcpy((void *) v.tree_start, e->tree_start, sizeof(int32) * (e->n_trees + 1));
	memcpy((void *) v.edge_start, e->edge_start, sizeof(int32) * (e->k + 1));
	GbdtModelFillText(m, names, meta);
	GbdtCheckModel(m, VARSIZE(m), ERRCODE_INTERNAL_ERROR, true);
	return m;
}

void
GbdtModelFillText(GbdtModel *m, char **names, const char *meta)
{
	GbdtModelView v = GbdtView(m);

	if (names)
	{
		char	   *p = (char *) v.names;

		for (int j = 0; j < m->k; j++)
		{
			size_t		len = strlen(names[j]) + 1;

			memcpy(p, names[j], len);
			p += len;
		}
	}
	if (meta)
		memcpy((char *) v.meta, meta, m->meta_len);
}

/* ---------- text output ---------- */

const char **
GbdtFeatureNames(const GbdtModelView *v)
{
	const char **names;
	const char *p = v->names;

	if (v->m->names_len == 0)
		return NULL;
	names = palloc(sizeof(const char *) * v->m->k);
	for (int j = 0; j < v->m->k; j++)
	{
		names[j] = p;
		p += strlen(p) + 1;
	}
	return names;
}
