/*-------------------------------------------------------------------------
 *
 * model_json.c
 *	  The JSON text form of the model types (model_json.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "model_json.h"

void
ModelJsonAppendFloat8(StringInfo buf, float8 value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	/* JSON has no NaN or infinity: an absent or unbounded statistic is null */
	if (!isfinite(value))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	double_to_shortest_decimal_buf(value, digits);
	appendStringInfoString(buf, digits);
}

void
ModelJsonAppendFloat4(StringInfo buf, float4 value)
{
	char		digits[FLOAT_SHORTEST_DECIMAL_LEN];

	float_to_shortest_decimal_buf(value, digits);
	appendStringInfoString(buf, digits);
}

void
ModelJsonAppendFloat8Array(StringInfo buf, const char *key, const float8 *values, int n)
{
	appendStringInfo(buf, ", \"%s\": [", key);
	for (int j = 0; j < n; j++)
	{
		if (j > 0)
			appendStringInfoString(buf, ", ");
		ModelJsonAppendFloat8(buf, values[j]);
	}
	appendStringInfoChar(buf, ']');
}

bytea *
ModelJsonEndSend(StringInfo buf, const char *json)
{
	pq_sendtext(buf, json, strlen(json));
	return pq_endtypsend(buf);
}

Jsonb *
ModelJsonParse(char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

void
ModelJsonCheckWireVersion(const char *type, int version, int supported)
{
	if (version != supported)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported %s wire version %d", type, version)));
}

Jsonb *
ModelJsonRecv(StringInfo buf)
{
	int			nbytes;

	return ModelJsonParse(pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes));
}

void
ModelJsonInvalid(const ModelJsonReader *r, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("%s", r->message),
			 errdetail("%s", detail),
			 r->hint ? errhint("%s", r->hint) : 0));
	pg_unreachable();
}

JsonbValue *
ModelJsonKey(const ModelJsonReader *r, JsonbContainer *object, const char *key)
{
	JsonbValue *v;

	/* getKeyJsonValueFromContainer reads any container as an object */
	if (!JsonContainerIsObject(object))
		ModelJsonInvalid(r, psprintf("The key \"%s\" belongs in an object, and this is not one.", key));
	v = getKeyJsonValueFromContainer(object, key, strlen(key), NULL);

	if (v == NULL)
		ModelJsonInvalid(r, psprintf("The key \"%s\" is missing.", key));
	return v;
}

bool
ModelJsonOptionalKey(JsonbContainer *object, const char *key, JsonbValue *v)
{
	/* an array or scalar has no keys (and would be read as an object) */
	if (!JsonContainerIsObject(object) ||
		getKeyJsonValueFromContainer(object, key, strlen(key), v) == NULL)
		return false;
	return v->type != jbvNull;
}

void
ModelJsonCheckKind(const ModelJsonReader *r, JsonbContainer *object, const char *kind)
{
	JsonbValue *v = ModelJsonKey(r, object, "kind");
	size_t		len = strlen(kind);

	if (v->type != jbvString || (size_t) v->val.string.len != len ||
		memcmp(v->val.string.val, kind, len) != 0)
		ModelJsonInvalid(r, psprintf("The key \"kind\" must be \"%s\".", kind));
}

JsonbContainer *
ModelJsonArray(const ModelJsonReader *r, JsonbValue *v, const char *what)
{
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ModelJsonInvalid(r, psprintf("%s must be a JSON array.", what));
	return v->val.binary.data;
}

/* the number's text as numeric_out writes it: every digit it holds */
static char *
NumberText(const ModelJsonReader *r, JsonbValue *v, const char *what)
{
	if (v->type != jbvNumeric)
		ModelJsonInvalid(r, psprintf("%s must be a number.", what));
	return DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(v->val.numeric)));
}

int64
ModelJsonInt64(const ModelJsonReader *r, JsonbValue *v, const char *what)
{
	char	   *text = NumberText(r, v, what);
	char	   *end;
	long long	value;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		ModelJsonInvalid(r, psprintf("%s must be an integer in the range of bigint, not %s.",
									 what, text));
	return (int64) value;
}

int32
ModelJsonInt32In(const ModelJsonReader *r, JsonbValue *v, const char *what,
				 int64 min, int64 max)
{
	int64		x = ModelJsonInt64(r, v, what);

	Assert(min >= PG_INT32_MIN && max <= PG_INT32_MAX);
	if (x < min || x > max)
		ModelJsonInvalid(r, psprintf("%s must be between %lld and %lld, not %lld.", what,
									 (long long) min, (long long) max, (long long) x));
	return (int32) x;
}

float8
ModelJsonFloat8(const ModelJsonReader *r, JsonbValue *v, const char *what)
{
	char	   *text = NumberText(r, v, what);
	char	   *end;
	float8		value;

	/* numeric_out keeps every digit we wrote, so this reads back the same double */
	errno = 0;
	value = strtod(text, &end);
	if (end == text || *end != '\0' || !isfinite(value))
		ModelJsonInvalid(r, psprintf("%s must be a finite number, not %s.", what, text));
	return value;
}
