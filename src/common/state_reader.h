/*-------------------------------------------------------------------------
 *
 * state_reader.h
 *	  Validated reading and writing of the values a caller controls:
 *	  aggregate states kept in bigint[] arrays, int8[] arguments, and the
 *	  size arithmetic behind every allocation made from them.
 *
 * An aggregate's support functions can be called by name with any array,
 * and Citus ships states between nodes as text, so a state is hostile until
 * read through its layout.  A layout is a tag (magic and version, the first
 * element), then named header fields each with a range, then a body whose
 * length the layout's own reader derives from the header.  Int8StateRead
 * checks everything that can be checked without knowing the layout's
 * meaning; the per-layout reader (one per layout, used by every transition,
 * combine and final function) adds the checks between fields.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_STATE_READER_H
#define RETENTION_STATE_READER_H

#include "fmgr.h"
#include "utils/array.h"

/* First element of every bigint[] state: "RS", a layout id and a version. */
#define STATE_TAG(layout, version) \
	((int64) 0x5253 << 48 | (int64) (layout) << 16 | (int64) (version))

typedef struct StateField
{
	const char *name;
	int64		min;
	int64		max;
} StateField;

typedef struct StateLayout
{
	const char *name;			/* in messages: "cohort_matrix(activity) state" */
	int64		tag;
	int			nfields;		/* header fields after the tag */
	const StateField *fields;
} StateLayout;

/* Element index of header field i (the tag is element 0). */
#define STATE_FIELD(i) ((i) + 1)

/*
 * Checks the array's shape (1-D int8 without NULLs), the tag, every header
 * field against its range, and that the body has exactly "body" elements as
 * computed by "body_length" from the header (NULL: any length).  Returns the
 * elements; errors are 22023 and name the offending field.
 */
typedef int64 (*StateBodyLength) (const StateLayout *layout, const int64 *v);
extern int64 *Int8StateRead(ArrayType *arr, const StateLayout *layout,
							StateBodyLength body_length);

/*
 * The float8[] states (log_loss, classification_report, embedding_mean,
 * logreg_step) begin with the same kind of tag, as a double: "RS" shifted
 * so that the whole stays an integer below 2^53, exact in a double and in
 * its text form (Citus ships states as text).  Their layout ids are their
 * own; the tag's shape keeps them apart from the bigint[] ones.
 */
#define FLOAT8_STATE_TAG(layout, version) \
	((double) ((int64) 0x5253 << 32 | (int64) (layout) << 16 | (int64) (version)))

#define FLOAT8_LAYOUT_LOG_LOSS 1
#define FLOAT8_LAYOUT_CLASSIFICATION 2
#define FLOAT8_LAYOUT_EMBEDDING_MEAN 3
#define FLOAT8_LAYOUT_LOGREG_STEP 4

/*
 * Checks a float8[] state's shape (1-D float8 without NULLs) and its tag
 * (element 1); returns the elements and their number in *n.  A state whose
 * first element is not the tag is 22023 naming "name", unless it is
 * "zeros_n" zeros (an aggregate's untagged INITCOND, which ALTER AGGREGATE
 * cannot change; 0: none): then NULL, for the caller's empty state.  The
 * layout's own reader checks the length and the values.
 */
extern const double *Float8StateRead(ArrayType *arr, const char *name, double tag,
									 int zeros_n, int *n);

/*
 * For layouts of "nvalues" counts after the tag: reads them into v (zeros
 * for the INITCOND of nvalues zeros), each an integer in 0 .. 2^53, else
 * 22023 naming "name" and saying what the elements are ("what").
 */
extern void Float8CountsRead(ArrayType *arr, const char *name, double tag, int nvalues,
							 double *v, const char *what);

/* A tagged state: tag, then the nvalues values. */
extern ArrayType *Float8StateWrite(double tag, const double *v, int nvalues);

/* Raises 22023 "invalid <name> state: <message>". */
extern void Float8StateInvalid(const char *name, const char *fmt,...)
			pg_attribute_printf(2, 3) pg_attribute_noreturn();

/* A zeroed state of the layout with "body" elements after the header. */
extern ArrayType *Int8StateAlloc(const StateLayout *layout, int64 body);

/* The same with the header fields set to "fields", in the layout's order. */
extern ArrayType *Int8StateMake(const StateLayout *layout, const int64 *fields, int64 body);

/* A copy of a state (for combine functions, which must not scribble on inputs). */
extern ArrayType *Int8StateCopy(ArrayType *arr);

/* Raises 22023 "invalid <layout>: <message>" with the field's name. */
extern void StateInvalid(const StateLayout *layout, const char *field,
						 const char *fmt,...) pg_attribute_printf(3, 4) pg_attribute_noreturn();

/* Overflow-checked arithmetic; "what" names the quantity in the 54000 error. */
extern int64 CheckedMul64(int64 a, int64 b, const char *what);
extern int64 CheckedAdd64(int64 a, int64 b, const char *what);

/* Adds b's counts to a's, with an error instead of wrapping. */
extern void AddCounts(int64 *a, const int64 *b, int64 n, const StateLayout *layout);

/* The elements of a one-dimensional bigint[] without NULLs (n may be 0). */
extern int64 *Int8ArrayValues(ArrayType *arr, const char *argname, int *n);

/* A one-dimensional bigint[] of n values (copied). */
extern ArrayType *Int8ArrayFromValues(const int64 *values, int n);

/*
 * The aggregate's memory context; raises 0A000 naming the aggregate when the
 * function is called outside one.
 */
extern MemoryContext AggContextOrError(FunctionCallInfo fcinfo, const char *aggregate);

#endif							/* RETENTION_STATE_READER_H */
