/*-------------------------------------------------------------------------
 *
 * model_json.h
 *	  The JSON text form of the model types: writing numbers that read back
 *	  exactly, and reading a model's JSON object with one error per type.
 *
 * Every model type (logreg_model, item_knn_model, als_model, and the
 * customer-base models in time) prints itself as a JSON object and reads
 * that object back.  A reader names the type's error message (and hint);
 * each function below checks one value and raises 22P02 with that message
 * and a detail that says what was wrong where ("what" names the value in
 * the detail: "\"k\"", "A similarity").  model_io.h rejects unknown keys.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_MODEL_JSON_H
#define RETENTION_MODEL_JSON_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef struct ModelJsonReader
{
	const char *message;		/* errmsg: "invalid item_knn model" */
	const char *hint;			/* errhint, or NULL */
} ModelJsonReader;

/* ---------- output ---------- */

/* the shortest decimal that reads back as the same double; null when not finite */
extern void ModelJsonAppendFloat8(StringInfo buf, float8 value);

/* the shortest decimal that reads back as the same real */
extern void ModelJsonAppendFloat4(StringInfo buf, float4 value);

/* ", \"key\": [x0, x1, ...]" with ModelJsonAppendFloat8 */
extern void ModelJsonAppendFloat8Array(StringInfo buf, const char *key,
									   const float8 *values, int n);

/* the end of a binary wire form (after the type's header): the JSON text */
extern bytea *ModelJsonEndSend(StringInfo buf, const char *json);

/* ---------- input ---------- */

/* a model's text form parsed as jsonb (22P02 from jsonb_in when it is not JSON) */
extern Jsonb *ModelJsonParse(char *text);

/* Raises 22P03 unless a binary wire form's version is "supported". */
extern void ModelJsonCheckWireVersion(const char *type, int version, int supported);

/* the JSON text that ends a binary wire form, parsed as jsonb */
extern Jsonb *ModelJsonRecv(StringInfo buf);

/* Raises 22P02 with the reader's message and hint, and "detail". */
extern void ModelJsonInvalid(const ModelJsonReader *r, const char *detail) pg_attribute_noreturn();

/* The value of a key the object must have. */
extern JsonbValue *ModelJsonKey(const ModelJsonReader *r, JsonbContainer *object,
								const char *key);

/* The value of an optional key into *v; false when it is absent or null. */
extern bool ModelJsonOptionalKey(JsonbContainer *object, const char *key, JsonbValue *v);

/* Checks that the object's "kind" is the string "kind". */
extern void ModelJsonCheckKind(const ModelJsonReader *r, JsonbContainer *object,
							   const char *kind);

/* The array a value holds. */
extern JsonbContainer *ModelJsonArray(const ModelJsonReader *r, JsonbValue *v,
									  const char *what);

/* An integer in the range of bigint, or of [min, max]. */
extern int64 ModelJsonInt64(const ModelJsonReader *r, JsonbValue *v, const char *what);
extern int32 ModelJsonInt32In(const ModelJsonReader *r, JsonbValue *v, const char *what,
							  int64 min, int64 max);

/* A finite double, read back from every digit the number holds. */
extern float8 ModelJsonFloat8(const ModelJsonReader *r, JsonbValue *v, const char *what);

#endif							/* RETENTION_MODEL_JSON_H */
