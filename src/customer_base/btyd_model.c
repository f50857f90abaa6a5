/*-------------------------------------------------------------------------
 *
 * btyd_model.c
 *	  Text and binary I/O of the customer-base model types (bgnbd_model,
 *	  gamma_gamma_model, pareto_nbd_model, ...): JSON out, JSON in, and a
 *	  binary form with magic and version.
 *
 * The input side reuses PostgreSQL's jsonb parser, so every JSON syntax
 * error is reported exactly as jsonb reports it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "btyd_model.h"
#include "model_io.h"
#include "model_json.h"

static const BtydKindInfo kinds[] = {
	{"bgnbd", "bgnbd_model", 4, {"r", "alpha", "a", "b"}},
	{"gamma_gamma", "gamma_gamma_model", 3, {"p", "q", "v"}},
	{"pareto_nbd", "pareto_nbd_model", 4, {"r", "alpha", "s", "beta"}},
	{"mbgnbd", "mbgnbd_model", 4, {"r", "alpha", "a", "b"}},
	{"bgbb", "bgbb_model", 4, {"alpha", "beta", "gamma", "delta"}},
	{"sbg", "sbg_model", 2, {"alpha", "beta"}},
};

const BtydKindInfo *
BtydKindGetInfo(BtydKind kind)
{
	if (kind < BTYD_BGNBD || kind > BTYD_LAST_KIND)
		elog(ERROR, "unknown customer-base model kind %d", (int) kind);
	return &kinds[kind - 1];
}

BtydModel *
BtydModelCreate(BtydKind kind)
{
	BtydModel  *model = palloc0(sizeof(BtydModel));

	SET_VARSIZE(model, sizeof(BtydModel));
	model->kind = BTYD_STORED_TAG(kind);
	model->iterations = -1;
	model->n = NAN;
	model->log_likelihood = NAN;
	for (int i = 0; i < BTYD_MAX_PARAMS; i++)
	{
		model->params[i] = NAN;
		model->std_err[i] = NAN;
	}
	return model;
}

BtydModel *
BtydModelFromDatum(Datum datum, BtydKind kind)
{
	BtydModel  *model = (BtydModel *) PG_DETOAST_DATUM(datum);

	const char *type_name = BtydKindGetInfo(kind)->type_name;

	if (VARSIZE(model) != sizeof(BtydModel))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt %s value", type_name),
				 errdetail("The stored value has %u bytes, not %zu.",
						   (unsigned) VARSIZE(model), sizeof(BtydModel))));
	if (model->kind == BTYD_STORED_TAG(kind) || model->kind == (int32) kind)
		return model;
	if ((model->kind >> 16) == BTYD_STORED_MAGIC && (model->kind & 0xFF) == (int32) kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s value of format version %d cannot be read by this version of the extension",
						type_name, (model->kind >> 8) & 0xFF)));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupt %s value", type_name),
			 errdetail("The value does not begin with the tag of a %s.", type_name)));
	return NULL;				/* keep the compiler quiet */
}

void
AppendJsonNumberField(StringInfo buf, const char *key, double value)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	ModelJsonAppendFloat8(buf, value);
}

void
AppendJsonFitStatus(StringInfo buf, bool fitted, bool converged, int iterations)
{
	appendStringInfo(buf, ", \"converged\": %s, \"iterations\": ",
					 fitted ? (converged ? "true" : "false") : "null");
	if (fitted)
		appendStringInfo(buf, "%d", iterations);
	else
		appendStringInfoString(buf, "null");
}

/* a parameter of the text or binary input, or a 22023 error */
static double
CheckParameter(double param, const BtydKindInfo *info, int i)
{
	if (!(param > 0.0) || !isfinite(param))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" of a %s must be positive and finite",
						info->param_names[i], info->type_name)));
	return param;
}

static char *
ModelToJson(const BtydModel *model)
{
	const BtydKindInfo *info = BtydKindGetInfo(model->kind & 0xFF);
	bool		fitted = (model->flags & BTYD_FITTED) != 0;
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"%s\"", info->name);
	for (int i = 0; i < info->nparams; i++)
		AppendJsonNumberField(&buf, info->param_names[i], model->params[i]);
	AppendJsonNumberField(&buf, "log_likelihood", model->log_likelihood);
	appendStringInfoString(&buf, ", \"std_err\": {");
	for (int i = 0; i < info->nparams; i++)
	{
		appendStringInfo(&buf, "%s\"%s\": ", i > 0 ? ", " : "", info->param_names[i]);
		ModelJsonAppendFloat8(&buf, model->std_err[i]);
	}
	appendStringInfoChar(&buf, '}');
	AppendJsonFitStatus(&buf, fitted, (model->flags & BTYD_CONVERGED) != 0, model->iterations);
	AppendJsonNumberField(&buf, "n", model->n);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

bool
JsonValueIsString(const JsonbValue *v, const char *s)
{
	return v->type == jbvString && v->val.string.len == strlen(s) &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

double
JsonNumberValue(const JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

int
JsonNumberArray(JsonbContainer *object, const char *key, double **out, bool allow_null,
				int max, const char *type_name)
{
	JsonbValue	v;
	JsonbValue *found = JsonContainerIsObject(object) ?
		getKeyJsonValueFromContainer(object, key, strlen(key), &v) : NULL;
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			size;
	int			count = 0;

	if (found == NULL || v.type == jbvNull)
		return -1;
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data) ||
		(size = JsonContainerSize(v.val.binary.data)) > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", type_name),
				 errdetail("Key \"%s\" must be an array of at most %d numbers.", key, max)));
	*out = palloc(sizeof(double) * Max(size, 1));
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (count < size && elem.type == jbvNull && allow_null)
			(*out)[count++] = NAN;
		else if (count < size && elem.type == jbvNumeric)
			(*out)[count++] = JsonNumberValue(&elem);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s", type_name),
					 errdetail("Key \"%s\" must be an array of numbers.", key)));
	}
	return count;
}

static double
GetNumber(JsonbContainer *object, const char *key, const BtydKindInfo *info)
{
	JsonbValue	value;

	if (!ModelJsonOptionalKey(object, key, &value))
		return NAN;
	if (value.type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", info->type_name),
				 errdetail("Key \"%s\" must be a number.", key)));
	return JsonNumberValue(&value);
}

static BtydModel *
ModelFromJson(char *str, BtydKind kind)
{
	const BtydKindInfo *info = BtydKindGetInfo(kind);
	Jsonb	   *jb = ModelJsonParse(str);
	JsonbContainer *root = &jb->root;
	BtydModel  *model = BtydModelCreate(kind);
	JsonbValue	value;

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", info->type_name),
				 errdetail("A model must be a JSON object.")));
	{
		/* the keys of the text form; any other is rejected by name */
		const char *keys[16] = {"kind", "log_likelihood", "std_err", "converged", "iterations", "n"};
		int			nkeys = 6;

		for (int i = 0; i < info->nparams && nkeys < lengthof(keys) - 1; i++)
			keys[nkeys++] = info->param_names[i];
		keys[nkeys] = NULL;
		CheckModelKeys(root, keys, info->type_name);
	}

	if (ModelJsonOptionalKey(root, "kind", &value) && !JsonValueIsString(&value, info->name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", info->type_name),
				 errdetail("Key \"kind\" must be \"%s\".", info->name)));

	for (int i = 0; i < info->nparams; i++)
	{
		double		param = GetNumber(root, info->param_names[i], info);

		if (isnan(param))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s", info->type_name),
					 errdetail("Parameter \"%s\" is missing.", info->param_names[i])));
		model->params[i] = CheckParameter(param, info, i);
	}

	model->log_likelihood = GetNumber(root, "log_likelihood", info);
	model->n = GetNumber(root, "n", info);
	if (ModelJsonOptionalKey(root, "std_err", &value))
	{
		/* keys are looked up in objects only: an array would be read as one */
		if (value.type != jbvBinary || !JsonContainerIsObject(value.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s", info->type_name),
					 errdetail("Key \"std_err\" must be an object.")));
		for (int i = 0; i < info->nparams; i++)
			model->std_err[i] = GetNumber(value.val.binary.data,
										  info->param_names[i], info);
	}
	if (ModelJsonOptionalKey(root, "converged", &value))
	{
		if (value.type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s", info->type_name),
					 errdetail("Key \"converged\" must be true or false.")));
		model->flags |= BTYD_FITTED;
		if (value.val.boolean)
			model->flags |= BTYD_CONVERGED;
		model->iterations = 0;
		if (ModelJsonOptionalKey(root, "iterations", &value) && value.type == jbvNumeric)
			model->iterations = DatumGetInt32(DirectFunctionCall1(numeric_int4,
																  NumericGetDatum(value.val.numeric)));
	}
	return model;
}

/*
 * Binary form: magic, version, kind, flags, iterations (int32 each), then
 * n, log-likelihood, the parameters and their standard errors (float8).
 */
static Datum
BtydModelSend(FunctionCallInfo fcinfo, BtydKind kind)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, kind);
	int			nparams = BtydKindGetInfo(kind)->nparams;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, BTYD_BINARY_MAGIC);
	pq_sendint32(&buf, BTYD_BINARY_VERSION);
	pq_sendint32(&buf, kind);
	pq_sendint32(&buf, model->flags);
	pq_sendint32(&buf, model->iterations);
	pq_sendfloat8(&buf, model->n);
	pq_sendfloat8(&buf, model->log_likelihood);
	for (int i = 0; i < nparams; i++)
		pq_sendfloat8(&buf, model->params[i]);
	for (int i = 0; i < nparams; i++)
		pq_sendfloat8(&buf, model->std_err[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static void
BadBinary(const BtydKindInfo *info, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid binary value for type %s", info->type_name),
			 errdetail("%s", detail)));
}

/* NaN (not known) or a finite number: what the text form can carry */
static double
RecvOptionalNumber(StringInfo buf, const BtydKindInfo *info)
{
	double		value = pq_getmsgfloat8(buf);

	if (isinf(value))
		BadBinary(info, "A statistic of the model is infinite.");
	return value;
}

static Datum
BtydModelRecv(FunctionCallInfo fcinfo, BtydKind kind)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	const BtydKindInfo *info = BtydKindGetInfo(kind);
	BtydModel  *model = BtydModelCreate(kind);
	int32		flags;

	/* fixed size: check it first, so every read below is in bounds */
	if (buf->len - buf->cursor != 5 * 4 + (2 + 2 * info->nparams) * 8)
		BadBinary(info, "The value has the wrong length.");
	if ((uint32) pq_getmsgint(buf, 4) != BTYD_BINARY_MAGIC)
		BadBinary(info, "The value does not start with the model magic number.");
	if (pq_getmsgint(buf, 4) != BTYD_BINARY_VERSION)
		BadBinary(info, "The binary format version is not supported by this version of the extension.");
	if (pq_getmsgint(buf, 4) != (int32) kind)
		BadBinary(info, "The value holds another kind of model.");
	flags = pq_getmsgint(buf, 4);
	if ((flags & ~(BTYD_FITTED | BTYD_CONVERGED)) != 0 ||
		((flags & BTYD_CONVERGED) && !(flags & BTYD_FITTED)))
		BadBinary(info, "The flags are not valid.");
	model->flags = flags;
	model->iterations = pq_getmsgint(buf, 4);
	if (!(flags & BTYD_FITTED))
		model->iterations = -1;
	model->n = RecvOptionalNumber(buf, info);
	model->log_likelihood = RecvOptionalNumber(buf, info);
	for (int i = 0; i < info->nparams; i++)
		model->params[i] = CheckParameter(pq_getmsgfloat8(buf), info, i);
	for (int i = 0; i < info->nparams; i++)
		model->std_err[i] = RecvOptionalNumber(buf, info);
	pq_getmsgend(buf);
	PG_RETURN_POINTER(model);
}

static Datum
BtydModelIn(FunctionCallInfo fcinfo, BtydKind kind)
{
	PG_RETURN_POINTER(ModelFromJson(PG_GETARG_CSTRING(0), kind));
}

static Datum
BtydModelOut(FunctionCallInfo fcinfo, BtydKind kind)
{
	PG_RETURN_CSTRING(ModelToJson(PG_GETARG_BTYD_MODEL(0, kind)));
}

/*
 * The text (JSON) and binary I/O functions of a model type: type_in,
 * type_out, type_recv and type_send.  recv and send are new in 0.2.0.
 */
#define BTYD_MODEL_TYPE_IO(type, kind) \
BTYD_SQL_FUNCTION(type##_in, BtydModelIn, kind); \
BTYD_SQL_FUNCTION(type##_out, BtydModelOut, kind); \
BTYD_SQL_FUNCTION(type##_recv, BtydModelRecv, kind); \
BTYD_SQL_FUNCTION(type##_send, BtydModelSend, kind)

BTYD_MODEL_TYPE_IO(bgnbd_model, BTYD_BGNBD);
BTYD_MODEL_TYPE_IO(gamma_gamma_model, BTYD_GAMMA_GAMMA);
BTYD_MODEL_TYPE_IO(pareto_nbd_model, BTYD_PARETO_NBD);
BTYD_MODEL_TYPE_IO(mbgnbd_model, BTYD_MBGNBD);
BTYD_MODEL_TYPE_IO(bgbb_model, BTYD_BGBB);
BTYD_MODEL_TYPE_IO(sbg_model, BTYD_SBG);
