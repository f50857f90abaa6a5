/*-------------------------------------------------------------------------
 *
 * gbdt_model.c
 *	  The retention.gbdt_model type: its binary layout and the one reader
 *	  that validates it, its JSON text and jsonb forms, and the functions
 *	  that score and explain with it (churn_prob, churn_logit,
 *	  churn_base_logit, churn_explain, gbdt_importance).
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
#include "common/hashfn.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "access/detoast.h"
#include "access/heaptoast.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "gbdt.h"
#include "gbdt_model.h"
#include "gbdt_score.h"

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

static GbdtModelView
View(const GbdtModel *m)
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

static GbdtModel *
ModelAlloc(int kind, int k, int n_trees, int n_nodes, int n_edges, int names_len, int meta_len)
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

static uint64
ModelHash(const GbdtModel *m, Size total)
{
	Size		start = offsetof(GbdtModel, base_score);

	return DatumGetUInt64(hash_bytes_extended((const unsigned char *) m + start,
											  (int) (total - start),
											  (uint64) m->n_nodes * 31 + m->k));
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
static void
CheckModel(GbdtModel *m, Size size, int code, bool building)
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

	v = View(m);

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

typedef struct ModelCache
{
	/* the key: a toast pointer's bytes, or the size and hash of the value */
	char		pointer[TOAST_POINTER_SIZE];
	int			pointer_len;
	Size		size;
	uint64		hash;
	/* everything below lives in cxt, emptied when another model comes */
	MemoryContext cxt;
	GbdtModel  *model;
	GbdtScorer *scorer;
	/* scratch of churn_explain and scoring */
	double	   *x;
	bool	   *goes_left;
	GbdtPathElement *path;
	double	   *phi;
	/* a short-header feature array, copied here with a 4-byte header */
	ArrayType  *args;
} ModelCache;

/*
 * A validated model from an argument, cached per call site, so that scoring
 * a million rows with one model reads, parses and checks it once.  A model
 * stored out of line arrives as a toast pointer, which names the value
 * (toast relation and value OID): compare its bytes, without fetching.  A
 * value in memory is recognised by its size and the hash in its header
 * (read through a slice, so a compressed value is not fully decompressed).
 */
static ModelCache *
CachedModel(FunctionCallInfo fcinfo, int argno)
{
	Datum		d = PG_GETARG_DATUM(argno);
	struct varlena *raw = (struct varlena *) DatumGetPointer(d);
	ModelCache *cache = (ModelCache *) fcinfo->flinfo->fn_extra;
	bool		ondisk = VARATT_IS_EXTERNAL_ONDISK(raw);
	Size		size = 0;
	uint64		hash = 0;
	MemoryContext old;
	GbdtModel  *m;
	GbdtModelView v;

	if (ondisk)
	{
		if (cache != NULL && cache->pointer_len == VARSIZE_EXTERNAL(raw) &&
			memcmp(cache->pointer, raw, cache->pointer_len) == 0)
			return cache;
	}
	else
	{
		GbdtModel  *head = (GbdtModel *) PG_DETOAST_DATUM_SLICE(d, 0, sizeof(GbdtModel) - VARHDRSZ);

		size = toast_raw_datum_size(d);
		if (VARSIZE_ANY(head) >= sizeof(GbdtModel))
			hash = head->hash;
		if (cache != NULL && cache->pointer_len == 0 && cache->model != NULL &&
			cache->size == size && cache->hash == hash)
			return cache;
	}

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelCache));
		cache->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "gbdt_model cache",
										   ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}
	else
		MemoryContextReset(cache->cxt);
	/* no key until the new model has passed the checks */
	cache->pointer_len = 0;
	cache->model = NULL;

	old = MemoryContextSwitchTo(cache->cxt);
	m = (GbdtModel *) PG_DETOAST_DATUM_COPY(d);
	CheckModel(m, VARSIZE(m), ERRCODE_DATA_CORRUPTED, false);
	v = View(m);
	cache->x = palloc(sizeof(double) * m->k);
	cache->phi = palloc(sizeof(double) * m->k);
	cache->goes_left = palloc(sizeof(bool) * Max(m->max_tree_nodes, 1));
	cache->path = palloc(sizeof(GbdtPathElement) * GbdtShapScratchSize(m->max_depth));
	cache->args = palloc(VARHDRSZ + VARATT_SHORT_MAX);
	cache->scorer = GbdtScorerBuild(v.nodes, v.tree_start, m->n_trees, m->k, m->base_score);
	MemoryContextSwitchTo(old);
	cache->model = m;
	cache->size = VARSIZE(m);
	cache->hash = m->hash;
	if (ondisk)
	{
		cache->pointer_len = VARSIZE_EXTERNAL(raw);
		memcpy(cache->pointer, raw, cache->pointer_len);
	}
	return cache;
}

/* ---------- building from training ---------- */

/*
 * JSON text in jsonb's canonical form (key order, spacing), so that the
 * metadata of a model reads back to the same bytes from any input form.
 */
static char *
CanonicalJson(const char *json)
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
		meta = CanonicalJson(meta);
	meta_len = meta ? (int) strlen(meta) + 1 : 0;
	if (names)
		for (int j = 0; j < e->k; j++)
			names_len += (int) strlen(names[j]) + 1;
	m = ModelAlloc(e->kind, e->k, e->n_trees, e->n_nodes, e->n_edges, names_len, meta_len);
	m->base_score = e->base_score;
	v = View(m);
	memcpy((void *) v.nodes, e->nodes, sizeof(GbdtNode) * e->n_nodes);
	memcpy((void *) v.edges, e->edges, sizeof(double) * e->n_edges);
	for (int j = 0; j < e->k; j++)
		((double *) v.mean_abs_shap)[j] = e->mean_abs_shap ? e->mean_abs_shap[j] : NAN;
	memcpy((void *) v.tree_start, e->tree_start, sizeof(int32) * (e->n_trees + 1));
	memcpy((void *) v.edge_start, e->edge_start, sizeof(int32) * (e->k + 1));
	if (names)
	{
		char	   *p = (char *) v.names;

		for (int j = 0; j < e->k; j++)
		{
			size_t		len = strlen(names[j]) + 1;

			memcpy(p, names[j], len);
			p += len;
		}
	}
	if (meta)
		memcpy((void *) v.meta, meta, meta_len);
	CheckModel(m, VARSIZE(m), ERRCODE_INTERNAL_ERROR, true);
	return m;
}

/* ---------- text output ---------- */

void
GbdtAppendDouble(StringInfo buf, double x)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (!isfinite(x))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	double_to_shortest_decimal_buf(x, digits);
	appendStringInfoString(buf, digits);
}

static const char *
FeatureName(const GbdtModelView *v, int j)
{
	const char *p = v->names;

	if (v->m->names_len == 0)
		return NULL;
	for (int i = 0; i < j; i++)
		p += strlen(p) + 1;
	return p;
}

typedef enum NodeField
{
	F_FEATURE, F_BIN, F_THRESHOLD, F_LEFT, F_RIGHT, F_DEFAULT_LEFT, F_VALUE, F_COVER, F_GAIN
} NodeField;

static const char *const field_names[] = {
	"feature", "bin", "threshold", "left", "right", "default_left", "value", "cover", "gain"
};
#define N_FIELDS 9

static char *
ModelToJson(const GbdtModel *m)
{
	GbdtModelView v = View(m);
	StringInfoData buf;
	double	   *gain = palloc0(sizeof(double) * m->k);
	int64	   *splits = palloc0(sizeof(int64) * m->k);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"gbdt\", \"format\": %d, \"objective\": \"%s\", \"n_features\": %d",
					 GBDT_MODEL_VERSION, m->kind == GBDT_FOREST ? "random_forest" : "logistic", m->k);
	if (m->names_len > 0)
	{
		appendStringInfoString(&buf, ", \"feature_names\": [");
		for (int j = 0; j < m->k; j++)
		{
			if (j > 0)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, FeatureName(&v, j));
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoString(&buf, ", \"base_score\": ");
	GbdtAppendDouble(&buf, m->base_score);
	appendStringInfoString(&buf, ", \"bins\": [");
	for (int j = 0; j < m->k; j++)
	{
		appendStringInfoString(&buf, j > 0 ? ", [" : "[");
		for (int i = v.edge_start[j]; i < v.edge_start[j + 1]; i++)
		{
			if (i > v.edge_start[j])
				appendStringInfoString(&buf, ", ");
			GbdtAppendDouble(&buf, v.edges[i]);
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoString(&buf, "], \"trees\": [");
	for (int t = 0; t < m->n_trees; t++)
	{
		const GbdtNode *tree = v.nodes + v.tree_start[t];
		int			n = v.tree_start[t + 1] - v.tree_start[t];

		CHECK_FOR_INTERRUPTS();
		appendStringInfoString(&buf, t > 0 ? ", {" : "{");
		for (int f = 0; f < N_FIELDS; f++)
		{
			appendStringInfo(&buf, "%s\"%s\": [", f > 0 ? ", " : "", field_names[f]);
			for (int i = 0; i < n; i++)
			{
				const GbdtNode *nd = &tree[i];
				bool		leaf = nd->feature < 0;

				if (i > 0)
					appendStringInfoString(&buf, ", ");
				switch ((NodeField) f)
				{
					case F_FEATURE:
						appendStringInfo(&buf, "%d", leaf ? -1 : nd->feature);
						break;
					case F_BIN:
						appendStringInfo(&buf, "%d", leaf ? 0 : nd->bin);
						break;
					case F_THRESHOLD:
						if (leaf)
							appendStringInfoString(&buf, "null");
						else
							GbdtAppendDouble(&buf, nd->threshold);
						break;
					case F_LEFT:
						appendStringInfo(&buf, "%d", nd->left);
						break;
					case F_RIGHT:
						appendStringInfo(&buf, "%d", nd->right);
						break;
					case F_DEFAULT_LEFT:
						appendStringInfoString(&buf, (!leaf && nd->default_left) ? "true" : "false");
						break;
					case F_VALUE:
						GbdtAppendDouble(&buf, nd->value);
						break;
					case F_COVER:
						GbdtAppendDouble(&buf, nd->cover);
						break;
					case F_GAIN:
						GbdtAppendDouble(&buf, leaf ? 0.0 : nd->gain);
						break;
				}
				if (f == 0 && !leaf)
				{
					gain[nd->feature] += nd->gain;
					splits[nd->feature]++;
				}
			}
			appendStringInfoChar(&buf, ']');
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "], \"importance\": {\"gain\": [");
	for (int j = 0; j < m->k; j++)
	{
		if (j > 0)
			appendStringInfoString(&buf, ", ");
		GbdtAppendDouble(&buf, gain[j]);
	}
	appendStringInfoString(&buf, "], \"splits\": [");
	for (int j = 0; j < m->k; j++)
		appendStringInfo(&buf, "%s" INT64_FORMAT, j > 0 ? ", " : "", splits[j]);
	appendStringInfoString(&buf, "], \"mean_abs_shap\": [");
	for (int j = 0; j < m->k; j++)
	{
		if (j > 0)
			appendStringInfoString(&buf, ", ");
		GbdtAppendDouble(&buf, v.mean_abs_shap[j]);
	}
	appendStringInfoString(&buf, "]}");
	if (m->meta_len > 0)
	{
		/* the stored object's members, spliced in: {"options": ..., "metrics": ...} */
		const char *inner = strchr(v.meta, '{');
		const char *end = strrchr(v.meta, '}');

		if (inner && end && end > inner + 1)
		{
			appendStringInfoString(&buf, ", ");
			appendBinaryStringInfo(&buf, inner + 1, (int) (end - inner - 1));
		}
	}
	appendStringInfoChar(&buf, '}');
	pfree(gain);
	pfree(splits);
	return buf.data;
}

/* ---------- text input ---------- */

static void
BadInput(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type retention.gbdt_model"),
			 errdetail("%s", detail),
			 errhint("A model is the JSON object that the output of a gbdt_model writes.")));
}

static bool
GetKey(JsonbContainer *c, const char *key, JsonbValue *v)
{
	if (getKeyJsonValueFromContainer(c, key, strlen(key), v) == NULL)
		return false;
	return v->type != jbvNull;
}

static double
Number(const JsonbValue *v, const char *what)
{
	if (v->type != jbvNumeric)
		BadInput(psprintf("%s must be a number.", what));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

static int
JsonInteger(const JsonbValue *v, const char *what, int lo, int hi)
{
	double		d = Number(v, what);

	if (!(d >= lo && d <= hi) || d != floor(d))
		BadInput(psprintf("%s must be an integer between %d and %d.", what, lo, hi));
	return (int) d;
}

/* the elements of a JSON array (scalars and containers), and their count */
static int
Elements(const JsonbValue *v, const char *what, JsonbValue **out, int max)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		BadInput(psprintf("%s must be an array.", what));
	n = JsonContainerSize(v->val.binary.data);
	if (n > max)
		BadInput(psprintf("%s has %d elements, more than the limit of %d.", what, n, max));
	*out = palloc(sizeof(JsonbValue) * Max(n, 1));
	n = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			(*out)[n++] = e;
	return n;
}

static GbdtModel *
ModelFromJsonb(Jsonb *jb)
{
	JsonbContainer *root = &jb->root;
	JsonbValue	v;
	JsonbValue *bins;
	JsonbValue *trees;
	int			k,
				kind = GBDT_BOOSTING,
				n_trees,
				n_nodes = 0,
				n_edges = 0;
	int		   *tree_size;
	char	  **names = NULL;
	int			names_len = 0;
	char	   *meta = NULL;
	int			meta_len = 0;
	GbdtModel  *m;
	GbdtModelView view;
	GbdtNode   *nodes;
	double	   *edges;
	int32	   *edge_start;
	int32	   *tree_start;
	double	   *mas;

	if (!JB_ROOT_IS_OBJECT(jb))
		BadInput("The value is not a JSON object.");
	if (!GetKey(root, "kind", &v) || v.type != jbvString || v.val.string.len != 4 ||
		strncmp(v.val.string.val, "gbdt", 4) != 0)
		BadInput("The key \"kind\" must be \"gbdt\".");
	if (!GetKey(root, "format", &v) || JsonInteger(&v, "\"format\"", 0, INT_MAX) != GBDT_MODEL_VERSION)
		BadInput(psprintf("The key \"format\" must be %d.", GBDT_MODEL_VERSION));
	if (GetKey(root, "objective", &v))
	{
		if (v.type == jbvString && v.val.string.len == 13 &&
			strncmp(v.val.string.val, "random_forest", 13) == 0)
			kind = GBDT_FOREST;
		else if (!(v.type == jbvString && v.val.string.len == 8 &&
				   strncmp(v.val.string.val, "logistic", 8) == 0))
			BadInput("\"objective\" must be \"logistic\" or \"random_forest\".");
	}
	if (!GetKey(root, "n_features", &v))
		BadInput("The key \"n_features\" is missing.");
	k = JsonInteger(&v, "\"n_features\"", 1, GBDT_MAX_FEATURES);

	if (GetKey(root, "feature_names", &v))
	{
		JsonbValue *el;
		int			n = Elements(&v, "\"feature_names\"", &el, GBDT_MAX_FEATURES);

		if (n != k)
			BadInput(psprintf("\"feature_names\" has %d elements but \"n_features\" is %d.", n, k));
		names = palloc(sizeof(char *) * k);
		for (int j = 0; j < k; j++)
		{
			if (el[j].type != jbvString)
				BadInput("\"feature_names\" must be an array of strings.");
			names[j] = pnstrdup(el[j].val.string.val, el[j].val.string.len);
			if ((int) strlen(names[j]) != el[j].val.string.len)
				BadInput("A feature name contains a NUL character.");
			names_len += el[j].val.string.len + 1;
		}
	}

	if (!GetKey(root, "bins", &v))
		BadInput("The key \"bins\" is missing.");
	if (Elements(&v, "\"bins\"", &bins, GBDT_MAX_FEATURES) != k)
		BadInput("\"bins\" must have one array of edges per feature.");
	for (int j = 0; j < k; j++)
	{
		if (bins[j].type != jbvBinary || !JsonContainerIsArray(bins[j].val.binary.data))
			BadInput("Each element of \"bins\" must be an array of numbers.");
		n_edges += JsonContainerSize(bins[j].val.binary.data);
		if (JsonContainerSize(bins[j].val.binary.data) > GBDT_MAX_BINS - 1)
			BadInput(psprintf("Feature %d has more than %d bin edges.", j + 1, GBDT_MAX_BINS - 1));
	}

	if (!GetKey(root, "trees", &v))
		BadInput("The key \"trees\" is missing.");
	n_trees = Elements(&v, "\"trees\"", &trees, GBDT_MAX_TREES);
	tree_size = palloc(sizeof(int) * Max(n_trees, 1));
	for (int t = 0; t < n_trees; t++)
	{
		JsonbValue	f;

		if (trees[t].type != jbvBinary || !JsonContainerIsObject(trees[t].val.binary.data))
			BadInput("Each tree must be a JSON object of node arrays.");
		if (!GetKey(trees[t].val.binary.data, "feature", &f) || f.type != jbvBinary ||
			!JsonContainerIsArray(f.val.binary.data))
			BadInput(psprintf("Tree %d has no \"feature\" array.", t + 1));
		tree_size[t] = JsonContainerSize(f.val.binary.data);
		if (tree_size[t] < 1)
			BadInput(psprintf("Tree %d has no nodes.", t + 1));
		if (pg_add_s32_overflow(n_nodes, tree_size[t], &n_nodes))
			BadInput("The model has too many nodes.");
	}

	if (GetKey(root, "options", &v) || GetKey(root, "metrics", &v))
	{
		/* kept as written, for the record; never read back into the trees */
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		if (GetKey(root, "options", &v))
		{
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				BadInput("\"options\" must be a JSON object.");
			appendStringInfoString(&buf, "\"options\": ");
			(void) JsonbToCString(&buf, v.val.binary.data, v.val.binary.len);
		}
		if (GetKey(root, "metrics", &v))
		{
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				BadInput("\"metrics\" must be a JSON object.");
			appendStringInfoString(&buf, buf.len > 1 ? ", \"metrics\": " : "\"metrics\": ");
			(void) JsonbToCString(&buf, v.val.binary.data, v.val.binary.len);
		}
		appendStringInfoChar(&buf, '}');
		meta = CanonicalJson(buf.data);
		meta_len = strlen(meta) + 1;
	}

	m = ModelAlloc(kind, k, n_trees, n_nodes, n_edges, names_len, meta_len);
	view = View(m);
	nodes = (GbdtNode *) view.nodes;
	edges = (double *) view.edges;
	edge_start = (int32 *) view.edge_start;
	tree_start = (int32 *) view.tree_start;
	mas = (double *) view.mean_abs_shap;

	if (!GetKey(root, "base_score", &v))
		BadInput("The key \"base_score\" is missing.");
	m->base_score = Number(&v, "\"base_score\"");

	edge_start[0] = 0;
	for (int j = 0; j < k; j++)
	{
		JsonbValue *el;
		int			n = Elements(&bins[j], "\"bins\"", &el, GBDT_MAX_BINS - 1);

		for (int i = 0; i < n; i++)
			edges[edge_start[j] + i] = Number(&el[i], "A bin edge");
		edge_start[j + 1] = edge_start[j] + n;
	}

	tree_start[0] = 0;
	for (int t = 0; t < n_trees; t++)
	{
		GbdtNode   *tree = nodes + tree_start[t];
		int			n = tree_size[t];

		CHECK_FOR_INTERRUPTS();
		tree_start[t + 1] = tree_start[t] + n;
		for (int i = 0; i < n; i++)
			tree[i].threshold = NAN;
		for (int f = 0; f < N_FIELDS; f++)
		{
			JsonbValue	arr;
			JsonbValue *el;
			const char *what = psprintf("\"%s\" of tree %d", field_names[f], t + 1);

			if (!GetKey(trees[t].val.binary.data, field_names[f], &arr))
			{
				if (f == F_THRESHOLD || f == F_GAIN)
					continue;	/* derived from the bins / informative only */
				BadInput(psprintf("Tree %d has no \"%s\" array.", t + 1, field_names[f]));
			}
			if (Elements(&arr, what, &el, n) != n)
				BadInput(psprintf("%s does not have one element per node.", what));
			for (int i = 0; i < n; i++)
			{
				GbdtNode   *nd = &tree[i];

				switch ((NodeField) f)
				{
					case F_FEATURE:
						nd->feature = JsonInteger(&el[i], what, -1, GBDT_MAX_FEATURES);
						break;
					case F_BIN:
						nd->bin = (uint8) JsonInteger(&el[i], what, 0, GBDT_MAX_BINS - 1);
						break;
					case F_THRESHOLD:
						/* checked against the bin's edge below */
						nd->threshold = (el[i].type == jbvNull) ? NAN : Number(&el[i], what);
						break;
					case F_LEFT:
						nd->left = JsonInteger(&el[i], what, -1, INT_MAX - 1);
						break;
					case F_RIGHT:
						nd->right = JsonInteger(&el[i], what, -1, INT_MAX - 1);
						break;
					case F_DEFAULT_LEFT:
						if (el[i].type != jbvBool)
							BadInput(psprintf("%s must hold true or false.", what));
						nd->default_left = el[i].val.boolean ? 1 : 0;
						break;
					case F_VALUE:
						nd->value = Number(&el[i], what);
						break;
					case F_COVER:
						nd->cover = Number(&el[i], what);
						break;
					case F_GAIN:
						nd->gain = Number(&el[i], what);
						break;
				}
			}
		}
		/* a threshold given must be its bin's edge; a missing one is filled in */
		for (int i = 0; i < n; i++)
		{
			GbdtNode   *nd = &tree[i];

			if (nd->feature < 0)
			{
				nd->threshold = 0.0;
				nd->gain = 0.0;
				nd->bin = 0;
				nd->default_left = 0;
				continue;
			}
			if (nd->feature >= k)
				BadInput(psprintf("Node %d of tree %d splits on feature %d, not in 0..%d.",
								  i, t + 1, nd->feature, k - 1));
			if (nd->bin > edge_start[nd->feature + 1] - edge_start[nd->feature])
				BadInput(psprintf("Node %d of tree %d splits at bin %d, beyond the edges of feature %d.",
								  i, t + 1, nd->bin, nd->feature));
			{
				double		edge = GbdtBinEdge(edges, edge_start, nd->feature, nd->bin);

				if (!isnan(nd->threshold) && nd->threshold != edge)
					BadInput(psprintf("Node %d of tree %d has threshold %g but its bin's edge is %g.",
									  i, t + 1, nd->threshold, edge));
				nd->threshold = edge;
			}
		}
	}

	if (GetKey(root, "importance", &v) && v.type == jbvBinary &&
		JsonContainerIsObject(v.val.binary.data) &&
		GetKey(v.val.binary.data, "mean_abs_shap", &v))
	{
		JsonbValue *el;

		if (Elements(&v, "\"mean_abs_shap\"", &el, GBDT_MAX_FEATURES) != k)
			BadInput("\"mean_abs_shap\" must have one element per feature.");
		for (int j = 0; j < k; j++)
			mas[j] = (el[j].type == jbvNull) ? NAN : Number(&el[j], "\"mean_abs_shap\"");
	}
	else
		for (int j = 0; j < k; j++)
			mas[j] = NAN;

	if (names)
	{
		char	   *p = (char *) view.names;

		for (int j = 0; j < k; j++)
		{
			size_t		len = strlen(names[j]) + 1;

			memcpy(p, names[j], len);
			p += len;
		}
	}
	if (meta)
		memcpy((char *) view.meta, meta, meta_len);
	CheckModel(m, VARSIZE(m), ERRCODE_INVALID_TEXT_REPRESENTATION, true);
	return m;
}

/* Returns a model from its JSON text form. */
PG_FUNCTION_INFO_V1(gbdt_model_in);
Datum
gbdt_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(ModelFromJsonb(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str)))));
}

/* Returns the JSON text form of a model. */
PG_FUNCTION_INFO_V1(gbdt_model_out);
Datum
gbdt_model_out(PG_FUNCTION_ARGS)
{
	ModelCache *c = CachedModel(fcinfo, 0);

	PG_RETURN_CSTRING(ModelToJson(c->model));
}

/*
 * The binary wire form: the magic number, the format version, then the JSON
 * text (portable across architectures, unlike the in-memory doubles).
 */
PG_FUNCTION_INFO_V1(gbdt_model_send);
Datum
gbdt_model_send(PG_FUNCTION_ARGS)
{
	ModelCache *c = CachedModel(fcinfo, 0);
	char	   *json = ModelToJson(c->model);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, GBDT_MODEL_MAGIC);
	pq_sendint16(&buf, GBDT_MODEL_VERSION);
	pq_sendtext(&buf, json, strlen(json));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Returns a model read from its binary wire form. */
PG_FUNCTION_INFO_V1(gbdt_model_recv);
Datum
gbdt_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	uint32		magic;
	int			version;
	char	   *json;
	int			nbytes;

	if (buf->len - buf->cursor < 6)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary retention.gbdt_model: too short")));
	magic = (uint32) pq_getmsgint(buf, 4);
	version = pq_getmsgint(buf, 2);
	if (magic != GBDT_MODEL_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary retention.gbdt_model: bad magic number")));
	if (version != GBDT_MODEL_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported retention.gbdt_model wire version %d", version)));
	json = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	PG_RETURN_POINTER(ModelFromJsonb(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)))));
}

/* Returns a model as jsonb. */
PG_FUNCTION_INFO_V1(gbdt_model_to_jsonb);
Datum
gbdt_model_to_jsonb(PG_FUNCTION_ARGS)
{
	ModelCache *c = CachedModel(fcinfo, 0);

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(ModelToJson(c->model))));
}

/* Returns a model from jsonb. */
PG_FUNCTION_INFO_V1(gbdt_model_from_jsonb);
Datum
gbdt_model_from_jsonb(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(ModelFromJsonb(PG_GETARG_JSONB_P(0)));
}

/* ---------- scoring ---------- */

void
GbdtReadFeatures(ArrayType *a, int n, double *out)
{
	const double *data = (const double *) ARR_DATA_PTR(a);

	if (!ARR_HASNULL(a))
	{
		memcpy(out, data, sizeof(double) * n);
		return;
	}
	{
		bits8	   *nulls = ARR_NULLBITMAP(a);
		int			p = 0;

		for (int j = 0; j < n; j++)
		{
			if (nulls[j / 8] & (1 << (j % 8)))
				out[j] = data[p++];
			else
				out[j] = NAN;
		}
	}
}

/*
 * The feature array of a scoring call, without a copy per row: an array
 * short enough for a 1-byte header (the usual case, read from a table) is
 * copied to the cache's buffer with a 4-byte one, as detoasting would
 * palloc it.
 */
static ArrayType *
ScoringArray(ModelCache *c, FunctionCallInfo fcinfo, int argno)
{
	struct varlena *p = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));

	if (VARATT_IS_SHORT(p))
	{
		Size		len = VARSIZE_SHORT(p) - VARHDRSZ_SHORT;

		SET_VARSIZE(c->args, len + VARHDRSZ);
		memcpy(VARDATA(c->args), VARDATA_SHORT(p), len);
		return c->args;
	}
	if (!VARATT_IS_EXTENDED(p))
		return (ArrayType *) p;
	return PG_GETARG_ARRAYTYPE_P(argno);
}

/* the feature vector of a scoring call, NULL elements as missing */
static const double *
ScoringFeatures(ModelCache *c, FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *a = ScoringArray(c, fcinfo, argno);
	int			k = c->model->k;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "features must be float8[]");
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != k)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but the model expects %d",
						ARR_NDIM(a) == 1 ? ARR_DIMS(a)[0] : 0, k),
				 errhint("Pass the features in the order and number used for training.")));
	GbdtReadFeatures(a, k, c->x);
	return c->x;
}

static inline bool
GoesLeft(const GbdtNode *nd, double v)
{
	return isnan(v) ? nd->default_left : (v <= nd->threshold);
}

static double
Probability(const GbdtModel *m, double raw)
{
	if (m->kind == GBDT_FOREST)
		return Min(1.0, Max(0.0, raw));
	if (raw >= 0.0)
		return 1.0 / (1.0 + exp(-raw));
	else
	{
		double		e = exp(raw);

		return e / (1.0 + e);
	}
}

/* Returns the churn probability of one feature vector. */
PG_FUNCTION_INFO_V1(gbdt_churn_prob);
Datum
gbdt_churn_prob(PG_FUNCTION_ARGS)
{
	ModelCache *c = CachedModel(fcinfo, 0);
	const double *x = ScoringFeatures(c, fcinfo, 1);

	PG_RETURN_FLOAT8(Probability(c->model, GbdtScorerRaw(c->scorer, x)));
}

/* Returns the log-odds of churn of one feature vector. */
PG_FUNCTION_INFO_V1(gbdt_churn_logit);
Datum
gbdt_churn_logit(PG_FUNCTION_ARGS)
{
	ModelCache *c = CachedModel(fcinfo, 0);
	const double *x = ScoringFeatures(c, fcinfo, 1);
	double		raw = GbdtScorerRaw(c->scorer, x);

	if (c->model->kind == GBDT_FOREST)
		PG_RETURN_FLOAT8(log(raw) - log1p(-raw));
	PG_RETURN_FLOAT8(raw);
}

static double
BaseValue(const GbdtModel *m)
{
	GbdtModelView v = View(m);
	double		s = m->base_score;

	for (int t = 0; t < m->n_trees; t++)
		s += GbdtTreeExpectation(v.nodes + v.tree_start[t]);
	return s;
}

/* Returns the base value of churn_explain: the expected raw score. */
PG_FUNCTION_INFO_V1(gbdt_churn_base_logit);
Datum
gbdt_churn_base_logit(PG_FUNCTION_ARGS)
{
	ModelCache *c = CachedModel(fcinfo, 0);

	PG_RETURN_FLOAT8(BaseValue(c->model));
}

/*
 * Returns one row per feature: position, name, value and its exact TreeSHAP
 * contribution to the raw score (log-odds; a forest's probability).
 */
PG_FUNCTION_INFO_V1(gbdt_churn_explain);
Datum
gbdt_churn_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ModelCache *c = CachedModel(fcinfo, 0);
	const double *x = ScoringFeatures(c, fcinfo, 1);
	const GbdtModel *m = c->model;
	GbdtModelView v = View(m);

	memset(c->phi, 0, sizeof(double) * m->k);
	for (int t = 0; t < m->n_trees; t++)
	{
		const GbdtNode *tree = v.nodes + v.tree_start[t];
		int			n = v.tree_start[t + 1] - v.tree_start[t];

		for (int i = 0; i < n; i++)
			if (tree[i].feature >= 0)
				c->goes_left[i] = GoesLeft(&tree[i], x[tree[i].feature]);
		GbdtTreeShap(tree, c->goes_left, c->phi, c->path);
	}

	InitMaterializedSRF(fcinfo, 0);
	for (int j = 0; j < m->k; j++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		const char *name = FeatureName(&v, j);

		values[0] = Int32GetDatum(j + 1);
		if (name)
			values[1] = CStringGetTextDatum(name);
		else
			nulls[1] = true;
		if (isnan(x[j]))
			nulls[2] = true;
		else
			values[2] = Float8GetDatum(x[j]);
		values[3] = Float8GetDatum(c->phi[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Returns one row per feature: the number of splits on it, their total gain
 * and its share, and the mean |SHAP| over the training sample.
 */
PG_FUNCTION_INFO_V1(gbdt_importance);
Datum
gbdt_importance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ModelCache *c = CachedModel(fcinfo, 0);
	const GbdtModel *m = c->model;
	GbdtModelView v = View(m);
	double	   *gain = palloc0(sizeof(double) * m->k);
	int64	   *splits = palloc0(sizeof(int64) * m->k);
	double		total = 0.0;

	for (int i = 0; i < m->n_nodes; i++)
		if (v.nodes[i].feature >= 0)
		{
			gain[v.nodes[i].feature] += v.nodes[i].gain;
			splits[v.nodes[i].feature]++;
			total += v.nodes[i].gain;
		}
	InitMaterializedSRF(fcinfo, 0);
	for (int j = 0; j < m->k; j++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		const char *name = FeatureName(&v, j);

		values[0] = Int32GetDatum(j + 1);
		if (name)
			values[1] = CStringGetTextDatum(name);
		else
			nulls[1] = true;
		values[2] = Int64GetDatum(splits[j]);
		values[3] = Float8GetDatum(gain[j]);
		if (total > 0.0)
			values[4] = Float8GetDatum(gain[j] / total);
		else
			nulls[4] = true;
		if (isnan(v.mean_abs_shap[j]))
			nulls[5] = true;
		else
			values[5] = Float8GetDatum(v.mean_abs_shap[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
