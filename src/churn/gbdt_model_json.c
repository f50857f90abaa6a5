/*-------------------------------------------------------------------------
 *
 * gbdt_model_json.c
 *	  The text forms of retention.gbdt_model: its JSON text (the type's
 *	  input and output), the binary wire form (JSON behind a magic number and
 *	  a version) and the casts to and from jsonb.  Every model read here is
 *	  built in the binary layout and passed through GbdtCheckModel.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "gbdt.h"
#include "gbdt_model.h"
#include "model_json.h"

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
	GbdtModelView v = GbdtView(m);
	StringInfoData buf;
	double	   *gain = palloc0(sizeof(double) * m->k);
	int64	   *splits = palloc0(sizeof(int64) * m->k);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"gbdt\", \"format\": %d, \"objective\": \"%s\", \"n_features\": %d",
					 GBDT_MODEL_VERSION, m->kind == GBDT_FOREST ? "random_forest" : "logistic", m->k);
	if (m->names_len > 0)
	{
		const char **names = GbdtFeatureNames(&v);

		appendStringInfoString(&buf, ", \"feature_names\": [");
		for (int j = 0; j < m->k; j++)
		{
			if (j > 0)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, names[j]);
		}
		appendStringInfoChar(&buf, ']');
		pfree(names);
	}
	appendStringInfoString(&buf, ", \"base_score\": ");
	ModelJsonAppendFloat8(&buf, m->base_score);
	appendStringInfoString(&buf, ", \"bins\": [");
	for (int j = 0; j < m->k; j++)
	{
		appendStringInfoString(&buf, j > 0 ? ", [" : "[");
		for (int i = v.edge_start[j]; i < v.edge_start[j + 1]; i++)
		{
			if (i > v.edge_start[j])
				appendStringInfoString(&buf, ", ");
			ModelJsonAppendFloat8(&buf, v.edges[i]);
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
							ModelJsonAppendFloat8(&buf, nd->threshold);
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
						ModelJsonAppendFloat8(&buf, nd->value);
						break;
					case F_COVER:
						ModelJsonAppendFloat8(&buf, nd->cover);
						break;
					case F_GAIN:
						ModelJsonAppendFloat8(&buf, leaf ? 0.0 : nd->gain);
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
		ModelJsonAppendFloat8(&buf, gain[j]);
	}
	appendStringInfoString(&buf, "], \"splits\": [");
	for (int j = 0; j < m->k; j++)
		appendStringInfo(&buf, "%s" INT64_FORMAT, j > 0 ? ", " : "", splits[j]);
	appendStringInfoChar(&buf, ']');
	ModelJsonAppendFloat8Array(&buf, "mean_abs_shap", v.mean_abs_shap, m->k);
	appendStringInfoChar(&buf, '}');
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

static const ModelJsonReader reader = {
	.message = "invalid input syntax for type retention.gbdt_model",
	.hint = "A model is the JSON object that the output of a gbdt_model writes."
};

static void
BadInput(const char *detail)
{
	ModelJsonInvalid(&reader, detail);
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
	if (!ModelJsonOptionalKey(root, "kind", &v) || v.type != jbvString || v.val.string.len != 4 ||
		strncmp(v.val.string.val, "gbdt", 4) != 0)
		BadInput("The key \"kind\" must be \"gbdt\".");
	if (!ModelJsonOptionalKey(root, "format", &v) || JsonInteger(&v, "\"format\"", 0, INT_MAX) != GBDT_MODEL_VERSION)
		BadInput(psprintf("The key \"format\" must be %d.", GBDT_MODEL_VERSION));
	if (ModelJsonOptionalKey(root, "objective", &v))
	{
		if (v.type == jbvString && v.val.string.len == 13 &&
			strncmp(v.val.string.val, "random_forest", 13) == 0)
			kind = GBDT_FOREST;
		else if (!(v.type == jbvString && v.val.string.len == 8 &&
				   strncmp(v.val.string.val, "logistic", 8) == 0))
			BadInput("\"objective\" must be \"logistic\" or \"random_forest\".");
	}
	if (!ModelJsonOptionalKey(root, "n_features", &v))
		BadInput("The key \"n_features\" is missing.");
	k = JsonInteger(&v, "\"n_features\"", 1, GBDT_MAX_FEATURES);

	if (ModelJsonOptionalKey(root, "feature_names", &v))
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

	if (!ModelJsonOptionalKey(root, "bins", &v))
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

	if (!ModelJsonOptionalKey(root, "trees", &v))
		BadInput("The key \"trees\" is missing.");
	n_trees = Elements(&v, "\"trees\"", &trees, GBDT_MAX_TREES);
	tree_size = palloc(sizeof(int) * Max(n_trees, 1));
	for (int t = 0; t < n_trees; t++)
	{
		JsonbValue	f;

		if (trees[t].type != jbvBinary || !JsonContainerIsObject(trees[t].val.binary.data))
			BadInput("Each tree must be a JSON object of node arrays.");
		if (!ModelJsonOptionalKey(trees[t].val.binary.data, "feature", &f) || f.type != jbvBinary ||
			!JsonContainerIsArray(f.val.binary.data))
			BadInput(psprintf("Tree %d has no \"feature\" array.", t + 1));
		tree_size[t] = JsonContainerSize(f.val.binary.data);
		if (tree_size[t] < 1)
			BadInput(psprintf("Tree %d has no nodes.", t + 1));
		if (pg_add_s32_overflow(n_nodes, tree_size[t], &n_nodes))
			BadInput("The model has too many nodes.");
	}

	if (ModelJsonOptionalKey(root, "options", &v) || ModelJsonOptionalKey(root, "metrics", &v))
	{
		/* kept as written, for the record; never read back into the trees */
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		if (ModelJsonOptionalKey(root, "options", &v))
		{
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				BadInput("\"options\" must be a JSON object.");
			appendStringInfoString(&buf, "\"options\": ");
			(void) JsonbToCString(&buf, v.val.binary.data, v.val.binary.len);
		}
		if (ModelJsonOptionalKey(root, "metrics", &v))
		{
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				BadInput("\"metrics\" must be a JSON object.");
			appendStringInfoString(&buf, buf.len > 1 ? ", \"metrics\": " : "\"metrics\": ");
			(void) JsonbToCString(&buf, v.val.binary.data, v.val.binary.len);
		}
		appendStringInfoChar(&buf, '}');
		meta = GbdtCanonicalJson(buf.data);
		meta_len = strlen(meta) + 1;
	}

	m = GbdtModelAlloc(kind, k, n_trees, n_nodes, n_edges, names_len, meta_len);
	view = GbdtView(m);
	nodes = (GbdtNode *) view.nodes;
	edges = (double *) view.edges;
	edge_start = (int32 *) view.edge_start;
	tree_start = (int32 *) view.tree_start;
	mas = (double *) view.mean_abs_shap;

	if (!ModelJsonOptionalKey(root, "base_score", &v))
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

			if (!ModelJsonOptionalKey(trees[t].val.binary.data, field_names[f], &arr))
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

	if (ModelJsonOptionalKey(root, "importance", &v) && v.type == jbvBinary &&
		JsonContainerIsObject(v.val.binary.data) &&
		ModelJsonOptionalKey(v.val.binary.data, "mean_abs_shap", &v))
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

	GbdtModelFillText(m, names, meta);
	GbdtCheckModel(m, VARSIZE(m), ERRCODE_INVALID_TEXT_REPRESENTATION, true);
	return m;
}

/* Returns a model from its JSON text form. */
PG_FUNCTION_INFO_V1(gbdt_model_in);
Datum
gbdt_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(ModelFromJsonb(ModelJsonParse(str)));
}

/* Returns the JSON text form of a model. */
PG_FUNCTION_INFO_V1(gbdt_model_out);
Datum
gbdt_model_out(PG_FUNCTION_ARGS)
{
	GbdtModelCache *c = GbdtCachedModel(fcinfo, 0);

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
	GbdtModelCache *c = GbdtCachedModel(fcinfo, 0);
	char	   *json = ModelToJson(c->model);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, GBDT_MODEL_MAGIC);
	pq_sendint16(&buf, GBDT_MODEL_VERSION);
	PG_RETURN_BYTEA_P(ModelJsonEndSend(&buf, json));
}

/* Returns a model read from its binary wire form. */
PG_FUNCTION_INFO_V1(gbdt_model_recv);
Datum
gbdt_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	uint32		magic;
	int			version;

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
	ModelJsonCheckWireVersion("retention.gbdt_model", version, GBDT_MODEL_VERSION);
	PG_RETURN_POINTER(ModelFromJsonb(ModelJsonRecv(buf)));
}

/* Returns a model as jsonb. */
PG_FUNCTION_INFO_V1(gbdt_model_to_jsonb);
Datum
gbdt_model_to_jsonb(PG_FUNCTION_ARGS)
{
	GbdtModelCache *c = GbdtCachedModel(fcinfo, 0);

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(ModelToJson(c->model))));
}

/* Returns a model from jsonb. */
PG_FUNCTION_INFO_V1(gbdt_model_from_jsonb);
Datum
gbdt_model_from_jsonb(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(ModelFromJsonb(PG_GETARG_JSONB_P(0)));
}
