/*-------------------------------------------------------------------------
 *
 * state_reader.c
 *	  The shared mechanics of the validated state readers (state_reader.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "float_array.h"
#include "state_reader.h"

/* the 22023 error of a hostile state: "invalid <what>: [field "f" ]<detail>" */
static void RaiseInvalid(const char *what, const char *field, const char *detail) pg_attribute_noreturn();

static void
RaiseInvalid(const char *what, const char *field, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 field ? errmsg("invalid %s: field \"%s\" %s", what, field, detail)
			 : errmsg("invalid %s: %s", what, detail),
			 errhint("Pass only states made by the aggregate's own functions.")));
	pg_unreachable();
}

void
StateInvalid(const StateLayout *layout, const char *field, const char *fmt,...)
{
	char		detail[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	RaiseInvalid(layout->name, field, detail);
}

void
Float8StateInvalid(const char *name, const char *fmt,...)
{
	char		what[128];
	char		detail[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(what, sizeof(what), "%s state", name);
	RaiseInvalid(what, NULL, detail);
}

const double *
Float8StateRead(ArrayType *arr, const char *name, double tag, int zeros_n, int *n)
{
	const double *v;
	bool		zeros;

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != FLOAT8OID)
		Float8StateInvalid(name, "a state is a one-dimensional float8 array without nulls");
	*n = ARR_DIMS(arr)[0];
	v = (const double *) ARR_DATA_PTR(arr);
	if (*n >= 1 && v[0] == tag)
		return v;
	zeros = (zeros_n > 0 && *n == zeros_n);
	for (int i = 0; zeros && i < *n; i++)
		zeros = (v[i] == 0.0);
	if (!zeros)
		Float8StateInvalid(name, "the first element is not the tag of this state's layout and version");
	return NULL;
}

void
Float8CountsRead(ArrayType *arr, const char *name, double tag, int nvalues,
				 double *v, const char *what)
{
	int			n;
	const double *e = Float8StateRead(arr, name, tag, nvalues, &n);

	if (e == NULL)
	{
		memset(v, 0, sizeof(double) * nvalues);
		return;
	}
	if (n != 1 + nvalues)
		Float8StateInvalid(name, "%d elements, not %d", n, 1 + nvalues);
	memcpy(v, e + 1, sizeof(double) * nvalues);
	for (int i = 0; i < nvalues; i++)
		if (!(v[i] >= 0.0 && v[i] <= 9007199254740992.0 && v[i] == floor(v[i])))
			Float8StateInvalid(name, "element %d is %g; %s", i + 2, v[i], what);
}

ArrayType *
Float8StateWrite(double tag, const double *v, int nvalues)
{
	double	   *t = palloc(sizeof(double) * (1 + nvalues));

	t[0] = tag;
	memcpy(t + 1, v, sizeof(double) * nvalues);
	return Float8ArrayFromValues(t, 1 + nvalues);
}

static void Overflow64(const char *what) pg_attribute_noreturn();

static void
Overflow64(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s overflows a 64-bit integer", what)));
	pg_unreachable();
}

int64
CheckedMul64(int64 a, int64 b, const char *what)
{
	int64		r;

	if (pg_mul_s64_overflow(a, b, &r))
		Overflow64(what);
	return r;
}

int64
CheckedAdd64(int64 a, int64 b, const char *what)
{
	int64		r;

	if (pg_add_s64_overflow(a, b, &r))
		Overflow64(what);
	return r;
}

void
AddCounts(int64 *a, const int64 *b, int64 n, const StateLayout *layout)
{
	for (int64 i = 0; i < n; i++)
		if (pg_add_s64_overflow(a[i], b[i], &a[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("counts of two %ss overflow when added", layout->name)));
}

int64 *
Int8ArrayValues(ArrayType *arr, const char *argname, int *n)
{
	if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional bigint array without nulls", argname)));
	*n = ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
	return (int64 *) ARR_DATA_PTR(arr);
}

ArrayType *
Int8ArrayFromValues(const int64 *values, int n)
{
	Size		size = add_size(ARR_OVERHEAD_NONULLS(1), mul_size(n, sizeof(int64)));
	ArrayType  *arr;

	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("array of %d bigint values exceeds the maximum allocation size", n)));
	arr = palloc0(size);
	SET_VARSIZE(arr, size);
	arr->ndim = 1;
	arr->dataoffset = 0;
	arr->elemtype = INT8OID;
	ARR_DIMS(arr)[0] = n;
	ARR_LBOUND(arr)[0] = 1;
	if (values && n > 0)
		memcpy(ARR_DATA_PTR(arr), values, n * sizeof(int64));
	return arr;
}

int64 *
Int8StateRead(ArrayType *arr, const StateLayout *layout, StateBodyLength body_length)
{
	int64	   *v;
	int64		len;
	int64		hdr = 1 + layout->nfields;

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID)
		StateInvalid(layout, NULL, "a state is a one-dimensional bigint array without nulls");
	len = ARR_DIMS(arr)[0];
	if (len < hdr)
		StateInvalid(layout, NULL, "%lld elements are fewer than the %lld of the header",
					 (long long) len, (long long) hdr);
	v = (int64 *) ARR_DATA_PTR(arr);
	if (v[0] != layout->tag)
		StateInvalid(layout, NULL, "the first element is not the tag of this state's layout and version");
	for (int i = 0; i < layout->nfields; i++)
	{
		const StateField *f = &layout->fields[i];
		int64		x = v[STATE_FIELD(i)];

		if (x < f->min || x > f->max)
			StateInvalid(layout, f->name, "is %lld, outside %lld .. %lld",
						 (long long) x, (long long) f->min, (long long) f->max);
	}
	if (body_length)
	{
		int64		body = body_length(layout, v);

		if (len - hdr != body)
			StateInvalid(layout, NULL, "the header calls for %lld elements after it, the array has %lld",
						 (long long) body, (long long) (len - hdr));
	}
	return v;
}

ArrayType *
Int8StateAlloc(const StateLayout *layout, int64 body)
{
	int64		len = CheckedAdd64(body, 1 + layout->nfields, "state length");
	ArrayType  *arr;

	if (body < 0 || len > (int64) (MaxAllocSize - ARR_OVERHEAD_NONULLS(1)) / (int64) sizeof(int64))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s of %lld elements exceeds the maximum allocation size",
						layout->name, (long long) len)));
	arr = Int8ArrayFromValues(NULL, (int) len);
	((int64 *) ARR_DATA_PTR(arr))[0] = layout->tag;
	return arr;
}

ArrayType *
Int8StateMake(const StateLayout *layout, const int64 *fields, int64 body)
{
	ArrayType  *arr = Int8StateAlloc(layout, body);

	memcpy((int64 *) ARR_DATA_PTR(arr) + STATE_FIELD(0), fields, layout->nfields * sizeof(int64));
	return arr;
}

ArrayType *
Int8StateCopy(ArrayType *arr)
{
	return Int8ArrayFromValues((int64 *) ARR_DATA_PTR(arr), ARR_DIMS(arr)[0]);
}

MemoryContext
AggContextOrError(FunctionCallInfo fcinfo, const char *aggregate)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function %s can only be called by the aggregate %s",
						fcinfo->flinfo ? get_func_name(fcinfo->flinfo->fn_oid) : "?", aggregate)));
	return cxt;
}
