/*-------------------------------------------------------------------------
 *
 * encoder.c
 *	  The encoder learned with a churn model: one form for training, scoring
 *	  and explaining, a raw row as jsonb (to_jsonb(row)), turned into the
 *	  model's feature vector.
 *
 * The encoder is a JSON object that retention.churn_encoder learns from the
 * training rows (in SQL) and that is stored inside the model:
 *
 *   {"version": 1, "standardize": false, "min_level_count": 10,
 *    "columns": [
 *      {"name": "tenure", "kind": "numeric", "mean": 32.4, "sd": 24.5,
 *       "standardize": false, "missing_indicator": false},
 *      {"name": "Contract", "kind": "categorical",
 *       "reference": "Month-to-month", "levels": ["One year", "Two year"],
 *       "rare": [], "other": false, "missing": false}]}
 *
 * A numeric column gives one feature (its value, minus the mean and over
 * the standard deviation when standardised) and, when the training rows had
 * missing values, the indicator "tenure (missing)", the value then being
 * the training mean.  A categorical column gives one 0/1 feature per level
 * other than the reference ("Contract=Two year"), one for the rare levels
 * grouped together ("Contract=(other)") and one for missing values
 * ("Contract=(missing)"), each only when the training rows had it.  A level
 * the encoder has never seen scores as the reference level and is counted.
 *
 * Every field is checked when the encoder is parsed: it arrives in a model's
 * text, which a caller controls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "calibration.h"
#include "encoder.h"
#include "float_array.h"
#include "logreg_options.h"
#include "model_json.h"

#define ENCODER_FORMAT_VERSION 1

static void
BadEncoder(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid churn encoder"),
			 errdetail("%s", detail),
			 errhint("Use the encoder that retention.churn_encoder returned, unchanged.")));
}

static char *
StringKey(JsonbContainer *c, const char *key, bool required)
{
	JsonbValue	v;

	if (!ModelJsonOptionalKey(c, key, &v))
	{
		if (required)
			BadEncoder(psprintf("The key \"%s\" is missing.", key));
		return NULL;
	}
	if (v.type != jbvString)
		BadEncoder(psprintf("\"%s\" must be a string.", key));
	return pnstrdup(v.val.string.val, v.val.string.len);
}

static double
NumberKey(JsonbContainer *c, const char *key)
{
	JsonbValue	v;
	double		x;

	if (!ModelJsonOptionalKey(c, key, &v))
		BadEncoder(psprintf("The key \"%s\" is missing.", key));
	if (v.type != jbvNumeric)
		BadEncoder(psprintf("\"%s\" must be a number.", key));
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
	if (!isfinite(x))
		BadEncoder(psprintf("\"%s\" must be finite.", key));
	return x;
}

static bool
BoolKey(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (!ModelJsonOptionalKey(c, key, &v))
		return false;
	if (v.type != jbvBool)
		BadEncoder(psprintf("\"%s\" must be true or false.", key));
	return v.val.boolean;
}

/* the strings of an array key (absent: none) */
static char **
StringArrayKey(JsonbContainer *c, const char *key, int *n)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	char	  **out;
	int			cap = 8;

	*n = 0;
	if (!ModelJsonOptionalKey(c, key, &v))
		return NULL;
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		BadEncoder(psprintf("\"%s\" must be an array of strings.", key));
	out = palloc(sizeof(char *) * cap);
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			BadEncoder(psprintf("\"%s\" must be an array of strings.", key));
		if (*n == cap)
		{
			cap *= 2;
			out = repalloc(out, sizeof(char *) * cap);
		}
		out[(*n)++] = pnstrdup(e.val.string.val, e.val.string.len);
	}
	return out;
}

static int
CompareStrings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* levels sorted by byte order, as indexes, for bsearch */
static const char **sort_levels;

static int
CompareLevelIndex(const void *a, const void *b)
{
	return strcmp(sort_levels[*(const int *) a], sort_levels[*(const int *) b]);
}

static void
ParseColumn(JsonbContainer *c, EncoderColumn *col)
{
	char	   *kind;

	col->name = StringKey(c, "name", true);
	kind = StringKey(c, "kind", true);
	if (strcmp(kind, "numeric") == 0)
	{
		double		sd;

		col->kind = ENCODER_NUMERIC;
		col->mean = NumberKey(c, "mean");
		sd = NumberKey(c, "sd");
		if (sd < 0)
			BadEncoder("\"sd\" must not be negative.");
		col->standardize = BoolKey(c, "standardize");
		col->scale = (col->standardize && sd > 0) ? sd : 1.0;
		col->missing_indicator = BoolKey(c, "missing_indicator");
		col->n_features = 1 + (col->missing_indicator ? 1 : 0);
	}
	else if (strcmp(kind, "categorical") == 0)
	{
		col->kind = ENCODER_CATEGORICAL;
		col->reference = StringKey(c, "reference", false);
		col->levels = StringArrayKey(c, "levels", &col->n_levels);
		col->rare = StringArrayKey(c, "rare", &col->n_rare);
		col->has_other = BoolKey(c, "other");
		col->has_missing = BoolKey(c, "missing");
		if (col->reference == NULL && col->n_levels > 0)
			BadEncoder(psprintf("Column \"%s\" has levels but no reference level.", col->name));
		if (col->n_rare > 0 && !col->has_other)
			BadEncoder(psprintf("Column \"%s\" has rare levels but no \"(other)\" feature.", col->name));
		if (col->n_levels > LOGREG_MAX_FEATURES || col->n_rare > 100000)
			BadEncoder(psprintf("Column \"%s\" has too many levels.", col->name));
		col->level_order = palloc(sizeof(int) * Max(col->n_levels, 1));
		for (int i = 0; i < col->n_levels; i++)
			col->level_order[i] = i;
		sort_levels = (const char **) col->levels;
		qsort(col->level_order, col->n_levels, sizeof(int), CompareLevelIndex);
		for (int i = 1; i < col->n_levels; i++)
			if (strcmp(col->levels[col->level_order[i - 1]], col->levels[col->level_order[i]]) == 0)
				BadEncoder(psprintf("Column \"%s\" lists a level twice.", col->name));
		for (int i = 0; i < col->n_levels && col->reference; i++)
			if (strcmp(col->levels[i], col->reference) == 0)
				BadEncoder(psprintf("Column \"%s\" lists its reference level as a level.", col->name));
		if (col->n_rare > 0)
			qsort(col->rare, col->n_rare, sizeof(char *), CompareStrings);
		col->n_features = col->n_levels + (col->has_other ? 1 : 0) + (col->has_missing ? 1 : 0);
	}
	else
		BadEncoder(psprintf("\"kind\" must be \"numeric\" or \"categorical\", not \"%s\".", kind));
}

ChurnEncoder *
EncoderParse(Jsonb *jb)
{
	ChurnEncoder *enc = palloc0(sizeof(ChurnEncoder));
	JsonbValue	v;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			cap = 8;
	int			f = 0;

	if (!JB_ROOT_IS_OBJECT(jb))
		BadEncoder("The encoder is not a JSON object.");
	if (!ModelJsonOptionalKey(&jb->root, "version", &v) || v.type != jbvNumeric ||
		NumberKey(&jb->root, "version") != ENCODER_FORMAT_VERSION)
		BadEncoder("\"version\" must be 1.");
	if (!ModelJsonOptionalKey(&jb->root, "columns", &v) || v.type != jbvBinary ||
		!JsonContainerIsArray(v.val.binary.data))
		BadEncoder("\"columns\" must be an array of objects.");

	enc->columns = palloc0(sizeof(EncoderColumn) * cap);
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvBinary || !JsonContainerIsObject(e.val.binary.data))
			BadEncoder("\"columns\" must be an array of objects.");
		if (enc->n_columns == cap)
		{
			cap *= 2;
			enc->columns = repalloc(enc->columns, sizeof(EncoderColumn) * cap);
		}
		ParseColumn(e.val.binary.data, &enc->columns[enc->n_columns]);
		enc->columns[enc->n_columns].first = enc->n_features;
		enc->n_features += enc->columns[enc->n_columns].n_features;
		enc->n_columns++;
		if (enc->n_features > LOGREG_MAX_FEATURES)
			BadEncoder(psprintf("The encoder makes more than %d features.", LOGREG_MAX_FEATURES));
	}
	if (enc->n_columns == 0 || enc->n_features == 0)
		BadEncoder("The encoder makes no feature.");
	for (int i = 0; i < enc->n_columns; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(enc->columns[i].name, enc->columns[j].name) == 0)
				BadEncoder(psprintf("Column \"%s\" appears twice.", enc->columns[i].name));

	enc->names = palloc(sizeof(char *) * enc->n_features);
	for (int i = 0; i < enc->n_columns; i++)
	{
		EncoderColumn *col = &enc->columns[i];

		if (col->kind == ENCODER_NUMERIC)
		{
			enc->names[f++] = col->name;
			if (col->missing_indicator)
				enc->names[f++] = psprintf("%s (missing)", col->name);
		}
		else
		{
			for (int l = 0; l < col->n_levels; l++)
				enc->names[f++] = psprintf("%s=%s", col->name, col->levels[l]);
			if (col->has_other)
				enc->names[f++] = psprintf("%s=(other)", col->name);
			if (col->has_missing)
				enc->names[f++] = psprintf("%s=(missing)", col->name);
		}
	}
	Assert(f == enc->n_features);
	return enc;
}

/* the text of a scalar (a level): strings as they are, numbers and booleans as SQL prints them */
static char *
ScalarText(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

static bool
IsBlank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

static int
FindLevel(const EncoderColumn *col, const char *s)
{
	int			lo = 0,
				hi = col->n_levels - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(s, col->levels[col->level_order[mid]]);

		if (c == 0)
			return col->level_order[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

int
EncoderEncode(const ChurnEncoder *enc, Jsonb *row, double *x, List **unseen)
{
	int			n_unseen = 0;

	if (!JB_ROOT_IS_OBJECT(row))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a row to encode must be a JSON object"),
				 errhint("Pass to_jsonb(t) of a row t holding the model's columns.")));
	memset(x, 0, sizeof(double) * enc->n_features);
	for (int i = 0; i < enc->n_columns; i++)
	{
		const EncoderColumn *col = &enc->columns[i];
		JsonbValue	v;
		bool		present = ModelJsonOptionalKey(&row->root, col->name, &v);
		char	   *text = NULL;

		if (present && v.type == jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" holds an array or object, not a value", col->name)));
		if (present && v.type == jbvString)
		{
			text = pnstrdup(v.val.string.val, v.val.string.len);
			if (IsBlank(text))
				present = false;	/* a blank text, as in a CSV, is missing */
		}

		if (col->kind == ENCODER_NUMERIC)
		{
			double		value = col->mean;

			if (present)
			{
				if (v.type == jbvNumeric)
					value = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
															   NumericGetDatum(v.val.numeric)));
				else if (v.type == jbvBool)
					value = v.val.boolean ? 1.0 : 0.0;
				else
				{
					char	   *end;

					bool		b;

					errno = 0;
					value = strtod(text, &end);
					while (isspace((unsigned char) *end))
						end++;
					/* a boolean column read as text: 'true', 'f', 'yes' ... */
					if ((end == text || *end != '\0') && parse_bool(text, &b))
						value = b ? 1.0 : 0.0;
					else if (end == text || *end != '\0' ||
							 (errno != 0 && !(errno == ERANGE && value != 0.0 && isfinite(value))))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
								 errmsg("column \"%s\" value \"%s\" is not a number", col->name, text),
								 errdetail("The model encodes \"%s\" as a numeric column.", col->name)));
				}
				if (!isfinite(value))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("column \"%s\" value is not finite", col->name)));
			}
			else if (col->missing_indicator)
				x[col->first + 1] = 1.0;
			else
			{
				n_unseen++;
				if (unseen)
					*unseen = lappend(*unseen, psprintf("%s=(missing)", col->name));
			}
			x[col->first] = col->standardize ? (value - col->mean) / col->scale : value;
			continue;
		}

		/* categorical */
		if (!present)
		{
			if (col->has_missing)
				x[col->first + col->n_levels + (col->has_other ? 1 : 0)] = 1.0;
			else
			{
				n_unseen++;
				if (unseen)
					*unseen = lappend(*unseen, psprintf("%s=(missing)", col->name));
			}
			continue;
		}
		if (text == NULL)
			text = ScalarText(&v);
		{
			int			l = FindLevel(col, text);

			if (l >= 0)
				x[col->first + l] = 1.0;
			else if (col->reference != NULL && strcmp(text, col->reference) == 0)
				;				/* the reference: all zeros */
			else if (col->n_rare > 0 &&
					 bsearch(&text, col->rare, col->n_rare, sizeof(char *), CompareStrings) != NULL)
				x[col->first + col->n_levels] = 1.0;
			else
			{
				n_unseen++;
				if (unseen)
					*unseen = lappend(*unseen, psprintf("%s=%s", col->name, text));
			}
		}
	}
	return n_unseen;
}

void *
ChurnCached(FunctionCallInfo fcinfo, ChurnCacheKind kind, Jsonb *jb)
{
	ChurnCallCache *cache = fcinfo->flinfo->fn_extra;
	CacheSlot  *slot;
	MemoryContext old;
	void	   *value;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ChurnCallCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	slot = &cache->slots[kind];
	if (slot->key != NULL && VARSIZE(slot->key) == VARSIZE(jb) &&
		memcmp(slot->key, jb, VARSIZE(jb)) == 0)
		return slot->value;
	/* a fresh parse per value: an old one is left to the context */
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (kind == CHURN_CACHE_ENCODER)
		value = EncoderParse(jb);
	else
		value = CalibrationParse(jb);
	MemoryContextSwitchTo(old);
	slot->key = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE(jb));
	memcpy(slot->key, jb, VARSIZE(jb));
	slot->value = value;
	return value;
}

ChurnEncoder *
EncoderCached(FunctionCallInfo fcinfo, Jsonb *jb)
{
	return ChurnCached(fcinfo, CHURN_CACHE_ENCODER, jb);
}

/* Returns the feature vector of a raw row under an encoder. */
PG_FUNCTION_INFO_V1(churn_encode);
Datum
churn_encode(PG_FUNCTION_ARGS)
{
	ChurnEncoder *enc = EncoderCached(fcinfo, PG_GETARG_JSONB_P(0));
	double	   *x = palloc(sizeof(double) * enc->n_features);

	EncoderEncode(enc, PG_GETARG_JSONB_P(1), x, NULL);
	PG_RETURN_ARRAYTYPE_P(Float8ArrayFromValues(x, enc->n_features));
}

/* Returns the readable names of an encoder's features, in order. */
PG_FUNCTION_INFO_V1(churn_encoder_features);
Datum
churn_encoder_features(PG_FUNCTION_ARGS)
{
	ChurnEncoder *enc = EncoderParse(PG_GETARG_JSONB_P(0));
	Datum	   *d = palloc(sizeof(Datum) * enc->n_features);

	for (int j = 0; j < enc->n_features; j++)
		d[j] = CStringGetTextDatum(enc->names[j]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, enc->n_features, TEXTOID, -1, false, TYPALIGN_INT));
}
