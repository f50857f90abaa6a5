/*-------------------------------------------------------------------------
 *
 * logreg_model.c
 *	  retention.logreg_model: its binary layout (allocation, the extra
 *	  object, feature names, the checks every stored value passes before
 *	  use, version 1 read as version 2) and its type I/O: text, binary wire
 *	  form and the casts to and from jsonb.
 *
 * The text form is JSON (logreg_model_json.c) so that a model can be
 * written by hand, imported from another tool, kept in the jsonb registry
 * and survive dumps.  Scoring is in logreg_score.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "calibration.h"
#include "encoder.h"
#include "logreg_model.h"
#include "model_json.h"

LogregModel *
LogregModelAlloc(int k, char **names)
{
	return LogregModelAllocExtra(k, names, NULL);
}

/*
 * A model as LogregModelAlloc makes it, with a copy of extra (a jsonb object,
 * or NULL) in its extra area.
 */
LogregModel *
LogregModelAllocExtra(int k, char **names, Jsonb *extra)
{
	Size		names_len = 0;
	Size		extra_len = extra ? MAXALIGN(VARSIZE(extra)) : 0;
	Size		size;
	LogregModel *model;

	if (names != NULL)
		for (int j = 0; j < k; j++)
			names_len += strlen(names[j]) + 1;

	if (k <= 0 || k > LOGREG_MODEL_MAX_FEATURES || names_len > MaxAllocSize / 4 ||
		extra_len > MaxAllocSize / 4)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logistic regression model too large: %d features", k)));
	size = offsetof(LogregModel, values) + sizeof(double) * (3 * k + 1) + extra_len + names_len;
	model = palloc0(size);
	SET_VARSIZE(model, size);
	model->version = LOGREG_MODEL_VERSION;
	model->k = k;
	model->names_len = (int32) names_len;
	model->extra_len = (int32) extra_len;
	model->intercept = 0.0;
	model->log_likelihood = NAN;
	model->null_log_likelihood = NAN;
	for (int j = 0; j < 3 * k + 1; j++)
		model->values[j] = NAN;
	if (extra != NULL)
		memcpy(LogregExtra(model), extra, VARSIZE(extra));
	if (names != NULL)
	{
		char	   *p = LogregNames(model);

		for (int j = 0; j < k; j++)
		{
			Size		len = strlen(names[j]) + 1;

			memcpy(p, names[j], len);
			p += len;
		}
		model->flags |= LOGREG_HAS_NAMES;
	}
	return model;
}

/* The extra jsonb object of a model, or NULL. */
Jsonb *
LogregModelExtra(const LogregModel *model)
{
	Jsonb	   *extra;

	if (model->extra_len == 0)
		return NULL;
	extra = (Jsonb *) LogregExtra(model);
	if (VARSIZE(extra) < VARHDRSZ + sizeof(uint32) || VARSIZE(extra) > (Size) model->extra_len ||
		!JB_ROOT_IS_OBJECT(extra))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt retention.logreg_model value"),
				 errdetail("The extra area does not hold a JSON object.")));
	return extra;
}

/* The value of key in a model's extra object (an object), or NULL. */
static Jsonb *
ExtraObject(const LogregModel *model, const char *key)
{
	Jsonb	   *extra = LogregModelExtra(model);
	JsonbValue	v;

	if (extra == NULL ||
		getKeyJsonValueFromContainer(&extra->root, key, strlen(key), &v) == NULL ||
		v.type != jbvBinary)
		return NULL;
	return JsonbValueToJsonb(&v);
}

/* The encoder stored in a model, or NULL. */
Jsonb *
LogregModelEncoder(const LogregModel *model)
{
	return ExtraObject(model, "encoder");
}

/* The calibration stored in a model, or NULL. */
Jsonb *
LogregModelCalibration(const LogregModel *model)
{
	return ExtraObject(model, "calibration");
}

char	  **
LogregModelNames(const LogregModel *model)
{
	char	  **names;
	char	   *p;

	if (!(model->flags & LOGREG_HAS_NAMES))
		return NULL;
	names = palloc(sizeof(char *) * model->k);
	p = LogregNames(model);
	for (int j = 0; j < model->k; j++)
	{
		names[j] = p;
		p += strlen(p) + 1;
	}
	return names;
}

double
LogregLinearPredictor(const LogregModel *model, const double *x)
{
	const double *coef = LogregCoef(model);
	double		z = model->intercept;

	for (int j = 0; j < model->k; j++)
		z += coef[j] * x[j];
	/* finite terms whose products overflow both ways: no answer */
	if (isnan(z))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the log-odds of these features are out of range"),
				 errdetail("Their terms, coefficient times feature, reach both +Infinity and -Infinity.")));
	return z;
}

/* the header of version 1 (0.1.0): version 2 without l1_ratio .. reserved */
typedef struct LogregModelV1
{
	int32		vl_len_;
	int16		version;
	int16		flags;
	int32		k;
	int32		iterations;
	int32		names_len;
	int64		n_rows;
	int64		n_skipped;
	double		intercept;
	double		lambda;
	double		log_likelihood;
	double		null_log_likelihood;
	double		values[FLEXIBLE_ARRAY_MEMBER];
} LogregModelV1;

/* the extra object of a model with key set to value (extra NULL: none yet) */
Jsonb *
LogregExtraWith(Jsonb *extra, const char *key, Jsonb *value)
{
	StringInfoData buf;
	Jsonb	   *one;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	escape_json(&buf, key);
	appendStringInfoString(&buf, ": ");
	(void) JsonbToCString(&buf, &value->root, VARSIZE(value));
	appendStringInfoChar(&buf, '}');
	one = ModelJsonParse(buf.data);
	if (extra == NULL)
		return one;
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(extra),
											  JsonbPGetDatum(one)));
}

static void
CorruptModel(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupt retention.logreg_model value"),
			 errdetail("%s", detail)));
}

/*
 * The size a model of k features with extra_len and names_len bytes must
 * have, or -1 when the fields are out of range (so that the sum cannot
 * overflow: k is at most LOGREG_MAX_FEATURES and the lengths below 1 GB).
 */
static int64
ModelSize(Size header, int32 k, int32 extra_len, int32 names_len)
{
	if (k <= 0 || k > LOGREG_MODEL_MAX_FEATURES || extra_len < 0 || names_len < 0 ||
		extra_len > (int32) MaxAllocSize || names_len > (int32) MaxAllocSize)
		return -1;
	return (int64) header + (int64) sizeof(double) * (3 * (int64) k + 1) + extra_len + names_len;
}

/* the names area holds exactly k NUL-terminated strings */
static void
CheckNamesArea(const char *p, int32 len, int32 k)
{
	int32		found = 0;

	if (len > 0 && p[len - 1] != '\0')
		CorruptModel("The feature names are not terminated.");
	for (int32 i = 0; i < len; i++)
		found += (p[i] == '\0');
	if (found != k)
		CorruptModel("The names area does not hold one name per feature.");
}

/*
 * A model read from a varlena must be internally consistent before we index
 * into it: a corrupted or hand-crafted binary value must not read past its
 * end.  A version 1 value (stored by 0.1.0) is converted to version 2.
 */
LogregModel *
LogregModelFromDatum(Datum d)
{
	LogregModel *model = DatumGetLogregModelP(d);
	Size		size = VARSIZE_ANY(model);

	if (size < offsetof(LogregModelV1, values))
		CorruptModel("The value is shorter than its header.");
	if (model->version == 1)
	{
		LogregModelV1 *old = (LogregModelV1 *) model;
		Size		body;

		if (ModelSize(offsetof(LogregModelV1, values), old->k, 0, old->names_len) != (int64) size)
			CorruptModel("The length does not match the header (version 1).");
		if (old->flags & ~LOGREG_FLAGS_KNOWN)
			CorruptModel("Unknown flags are set.");
		body = size - offsetof(LogregModelV1, values);
		model = palloc0(offsetof(LogregModel, values) + body);
		memcpy(model, old, offsetof(LogregModelV1, values));
		memcpy(model->values, old->values, body);
		SET_VARSIZE(model, offsetof(LogregModel, values) + body);
		model->version = LOGREG_MODEL_VERSION;
		model->l1_ratio = 0.0;
		model->extra_len = 0;
		model->reserved = 0;
	}
	else if (model->version == LOGREG_MODEL_VERSION)
	{
		if (size < offsetof(LogregModel, values) ||
			ModelSize(offsetof(LogregModel, values), model->k, model->extra_len,
					  model->names_len) != (int64) size)
			CorruptModel("The length does not match the header.");
		if (model->flags & ~LOGREG_FLAGS_KNOWN)
			CorruptModel("Unknown flags are set.");
		if (model->extra_len % sizeof(double) != 0 || model->reserved != 0 ||
			!(model->l1_ratio >= 0.0 && model->l1_ratio <= 1.0))
			CorruptModel("A header field is out of range.");
	}
	else
		CorruptModel(psprintf("Version %d is not supported.", model->version));
	if ((model->flags & LOGREG_HAS_NAMES) != 0)
		CheckNamesArea(LogregNames(model), model->names_len, model->k);
	else if (model->names_len != 0)
		CorruptModel("The model has a names area but no names flag.");
	return model;
}

/* Returns a model from its JSON text form. */
PG_FUNCTION_INFO_V1(logreg_model_in);
Datum
logreg_model_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(LogregModelFromJsonb(ModelJsonParse(PG_GETARG_CSTRING(0))));
}

/* Returns the JSON text form of a model. */
PG_FUNCTION_INFO_V1(logreg_model_out);
Datum
logreg_model_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(LogregModelToJson(LogregModelFromDatum(PG_GETARG_DATUM(0))));
}

/*
 * The binary wire format is a version byte and the JSON text, as jsonb's:
 * portable across architectures, unlike the in-memory doubles.
 */
#define LOGREG_WIRE_VERSION 1

/* Returns the binary wire form of a model (COPY BINARY, binary protocol). */
PG_FUNCTION_INFO_V1(logreg_model_send);
Datum
logreg_model_send(PG_FUNCTION_ARGS)
{
	char	   *json = LogregModelToJson(LogregModelFromDatum(PG_GETARG_DATUM(0)));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint8(&buf, LOGREG_WIRE_VERSION);
	PG_RETURN_BYTEA_P(ModelJsonEndSend(&buf, json));
}

/* Returns a model read from its binary wire form. */
PG_FUNCTION_INFO_V1(logreg_model_recv);
Datum
logreg_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);

	ModelJsonCheckWireVersion("retention.logreg_model", pq_getmsgint(buf, 1), LOGREG_WIRE_VERSION);
	PG_RETURN_POINTER(LogregModelFromJsonb(ModelJsonRecv(buf)));
}

/* Returns a model as jsonb, with its derived statistics. */
PG_FUNCTION_INFO_V1(logreg_model_to_jsonb);
Datum
logreg_model_to_jsonb(PG_FUNCTION_ARGS)
{
	char	   *json = LogregModelToJson(LogregModelFromDatum(PG_GETARG_DATUM(0)));

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* Returns a model from jsonb (as written by the cast to jsonb, or by hand). */
PG_FUNCTION_INFO_V1(logreg_model_from_jsonb);
Datum
logreg_model_from_jsonb(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(LogregModelFromJsonb(PG_GETARG_JSONB_P(0)));
}
