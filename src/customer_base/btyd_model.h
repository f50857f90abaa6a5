/*-------------------------------------------------------------------------
 *
 * btyd_model.h
 *	  The fitted customer-base models (BG/NBD, Pareto/NBD, Gamma-Gamma) as
 *	  SQL values.
 *
 * Each model kind is its own SQL type (retention.bgnbd_model, ...) with the
 * same binary layout and a JSON text form:
 *
 *	 {"kind": "bgnbd", "r": 0.24, "alpha": 4.41, "a": 0.79, "b": 2.43,
 *	  "log_likelihood": -9582.4, "std_err": {"r": 0.01, ...},
 *	  "converged": true, "iterations": 15, "n": 2357}
 *
 * Only the parameters are required on input, so a published model can be
 * typed in; the fit statistics of such a model print as null.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_BTYD_MODEL_H
#define RETENTION_BTYD_MODEL_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "optimize.h"

#define BTYD_MAX_PARAMS 4

typedef enum BtydKind
{
	BTYD_BGNBD = 1,
	BTYD_GAMMA_GAMMA = 2,
	BTYD_PARETO_NBD = 3,
	BTYD_MBGNBD = 4,
	BTYD_BGBB = 5,
	BTYD_SBG = 6
} BtydKind;

#define BTYD_LAST_KIND BTYD_SBG

/*
 * The stored form is the struct below.  Its word "kind" is a tag: magic
 * "RB", a format version and the BtydKind, so that a future format is
 * detected rather than misread.  0.1.0 stored the bare kind (1..3), with the
 * same layout otherwise; such values are still read (BtydModelFromDatum).
 */
#define BTYD_STORED_MAGIC 0x5242	/* "RB" */
#define BTYD_STORED_VERSION 1
#define BTYD_STORED_TAG(kind) \
	((int32) (BTYD_STORED_MAGIC << 16 | BTYD_STORED_VERSION << 8 | (kind)))

typedef struct BtydModel
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int32		kind;			/* BTYD_STORED_TAG(BtydKind), or 0.1.0's bare kind */
	int32		iterations;		/* optimiser iterations, -1 when not fitted */
	int32		flags;			/* BTYD_FITTED, BTYD_CONVERGED */
	double		n;				/* customers the fit used */
	double		log_likelihood;
	double		params[BTYD_MAX_PARAMS];
	double		std_err[BTYD_MAX_PARAMS];	/* NaN when not available */
} BtydModel;

#define BTYD_FITTED		0x01
#define BTYD_CONVERGED	0x02

/* Parameter names of a model kind, in the order of params[] */
typedef struct BtydKindInfo
{
	const char *name;			/* "bgnbd" */
	const char *type_name;		/* "bgnbd_model", for messages */
	int			nparams;
	const char *param_names[BTYD_MAX_PARAMS];
} BtydKindInfo;

extern const BtydKindInfo *BtydKindGetInfo(BtydKind kind);
extern BtydModel *BtydModelCreate(BtydKind kind);

/*
 * Detoast a model argument and check it is of the expected kind and a
 * stored format this version reads (XX001 otherwise).
 */
extern BtydModel *BtydModelFromDatum(Datum datum, BtydKind kind);

/*
 * The binary form (send/recv) of a model type starts with BTYD_BINARY_MAGIC
 * and BTYD_BINARY_VERSION; recv accepts exactly the values the text input
 * accepts.  The I/O functions of every kind are in btyd_model.c.
 */
#define BTYD_BINARY_MAGIC 0x52544259	/* "RTBY" */
#define BTYD_BINARY_VERSION 1

/*
 * The maximum-likelihood fit of a model: f is the mean negative
 * log-likelihood over theta = log(parameters), minimised from the start in
 * theta (overwritten), and total the number of customers behind it.
 */
extern BtydModel *BtydFit(BtydKind kind, ObjectiveFunction f, void *data,
						  double *theta, double total);

/*
 * The negative mean log-likelihood an objective returns, from the
 * log-likelihood ll and its gradient g in the parameters exp(theta): the
 * gradient in theta goes to gradient, and a NaN ll is INFINITY (a point the
 * optimiser must step back from).
 */
extern double BtydObjectiveValue(double ll, const double *g, const double *theta,
								 int nparams, double total, double *gradient);

/*
 * false, with a NOTICE, when total is below the model's parameters:
 * "<kind>_fit needs at least <n> <customers>, got <total>"
 */
extern bool BtydEnoughCustomers(BtydKind kind, double total, const char *customers);

/*
 * The customer groups of a fit's final state (argument 0) as sorted rows of
 * keys and count (customer_groups.h), their customers in *total; -1 for
 * fewer customers than the model has parameters (BtydEnoughCustomers).
 */
extern int	BtydFitRows(FunctionCallInfo fcinfo, BtydKind kind, const char *customers,
						double **rows, double *total);

/* value, or a 22003 error naming "what" when it is not finite */
extern double BtydFiniteResult(double value, const char *what);

/* ", \"key\": value" with ModelJsonAppendFloat8 (model_json.h) */
extern void AppendJsonNumberField(StringInfo buf, const char *key, double value);

/* ", \"converged\": ..., \"iterations\": ...", both null when not fitted */
extern void AppendJsonFitStatus(StringInfo buf, bool fitted, bool converged, int iterations);

/* whether a JSON value is the string s */
extern bool JsonValueIsString(const JsonbValue *v, const char *s);

/* the double nearest to a JSON number */
extern double JsonNumberValue(const JsonbValue *v);

/*
 * The numbers of the JSON array under key in object, palloc'd into *out
 * (null elements as NaN when allow_null); returns their count, or -1 when
 * the key is absent or null.  Anything else, or more than max elements, is
 * a 22P02 error naming type_name.
 */
extern int	JsonNumberArray(JsonbContainer *object, const char *key, double **out,
							bool allow_null, int max, const char *type_name);

#define PG_GETARG_BTYD_MODEL(n, kind) BtydModelFromDatum(PG_GETARG_DATUM(n), (kind))

/*
 * Defines the SQL-callable function "name" as impl(fcinfo, ...), for the
 * functions that differ only in the model kind (and the formulas) they pass
 * to shared code.
 */
#define BTYD_SQL_FUNCTION(name, impl, ...) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	return impl(fcinfo, __VA_ARGS__); \
} \
extern int	no_such_variable

#endif							/* RETENTION_BTYD_MODEL_H */
