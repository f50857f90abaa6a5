/*-------------------------------------------------------------------------
 *
 * agg_state.c
 *	  retention.agg_state: the pushed-down form of our internal aggregate
 *	  states (see agg_state.h).
 *
 * In memory an agg_state is an expanded object holding a pointer to the
 * layout's C state, which lives in the aggregate's memory context; the
 * transition function hands that pointer to the layout's own transition
 * function and returns the same read-write object, so nodeAgg (and Citus's
 * worker_partial_agg, which copies nodeAgg's rule) keeps it without copying.
 *
 * Flat (on disk, in a tuple, on the wire), it is
 *
 *		int32	varlena header
 *		uint32	AGG_STATE_MAGIC
 *		uint16	layout (AggStateLayout)
 *		uint16	AGG_STATE_VERSION
 *		uint32	zero
 *		bytea	the layout's serialised state, 4-byte header, at offset 16
 *
 * and its text form is the base64 of everything after the varlena header.
 * A flat value is only ever used after the layout's deserialise function
 * has read it and its combine function has merged it into an empty state,
 * which is where each layout validates its fields; the input and receive
 * functions do exactly that too, so they accept the same values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/expandeddatum.h"
#include "utils/memutils.h"

#include "agg_state.h"

#define AGG_STATE_MAGIC		0x52414753	/* "RAGS" */
#define AGG_STATE_VERSION	1

typedef struct AggStateFlat
{
	int32		vl_len_;
	uint32		magic;
	uint16		layout;
	uint16		version;
	uint32		reserved;
	/* the layout's serialised state (a bytea) follows */
} AggStateFlat;

#define AGG_STATE_HEADER	((Size) sizeof(AggStateFlat))
#define AGG_STATE_INNER(flat)	((bytea *) ((char *) (flat) + AGG_STATE_HEADER))

/* the serialise, deserialise and combine functions of each layout */
typedef struct LayoutInfo
{
	const char *name;
	PGFunction	serialize;
	PGFunction	deserialize;
	PGFunction	combine;
	/* the combine function takes a deserialised state's memory over */
	bool		adopts;
	/* optional: the serialised state's size, and the state written into one */
	Size		(*serial_size) (void *state);
	void		(*serialize_into) (void *state, bytea *result, Size size);
} LayoutInfo;

extern Datum retention_serialize(PG_FUNCTION_ARGS);
extern Datum retention_deserialize(PG_FUNCTION_ARGS);
extern Datum retention_combine(PG_FUNCTION_ARGS);
extern Size RetentionFlatSize(void *state);
extern void RetentionFlatWrite(void *state, bytea *dst, Size size);
extern Datum rolling_serialize(PG_FUNCTION_ARGS);
extern Datum rolling_deserialize(PG_FUNCTION_ARGS);
extern Datum rolling_combine(PG_FUNCTION_ARGS);
extern Datum logreg_train_serialize(PG_FUNCTION_ARGS);
extern Datum logreg_train_deserialize(PG_FUNCTION_ARGS);
extern Datum logreg_train_combine(PG_FUNCTION_ARGS);
extern Datum scored_labels_serialize(PG_FUNCTION_ARGS);
extern Datum scored_labels_deserialize(PG_FUNCTION_ARGS);
extern Datum scored_labels_combine(PG_FUNCTION_ARGS);
extern Datum item_knn_serialfn(PG_FUNCTION_ARGS);
extern Datum item_knn_deserialfn(PG_FUNCTION_ARGS);
extern Datum item_knn_combinefn(PG_FUNCTION_ARGS);
extern Datum customer_groups_serialize(PG_FUNCTION_ARGS);
extern Datum customer_groups_combine(PG_FUNCTION_ARGS);
extern Datum bgnbd_fit_deserialize(PG_FUNCTION_ARGS);
extern Datum gamma_gamma_fit_deserialize(PG_FUNCTION_ARGS);
extern Datum bgbb_fit_deserialize(PG_FUNCTION_ARGS);
extern Datum sbg_fit_deserialize(PG_FUNCTION_ARGS);
extern Datum km_fit_deserialize(PG_FUNCTION_ARGS);

static const LayoutInfo layouts[] = {
	[AGG_LAYOUT_RETENTION] = {"retention", retention_serialize, retention_deserialize, retention_combine, false,
	RetentionFlatSize, RetentionFlatWrite},
	[AGG_LAYOUT_ROLLING] = {"rolling retention", rolling_serialize, rolling_deserialize, rolling_combine},
	[AGG_LAYOUT_LOGREG] = {"logistic regression", logreg_train_serialize, logreg_train_deserialize, logreg_train_combine, true,
	logreg_train_serial_size, logreg_train_serialize_into},
	[AGG_LAYOUT_SCORED_LABELS] = {"scored labels", scored_labels_serialize, scored_labels_deserialize, scored_labels_combine},
	[AGG_LAYOUT_ITEM_KNN] = {"item-kNN", item_knn_serialfn, item_knn_deserialfn, item_knn_combinefn},
	[AGG_LAYOUT_CUSTOMER_GROUPS] = {"customer groups", customer_groups_serialize, bgnbd_fit_deserialize, customer_groups_combine},
	[AGG_LAYOUT_SPEND_GROUPS] = {"spend groups", customer_groups_serialize, gamma_gamma_fit_deserialize, customer_groups_combine},
	[AGG_LAYOUT_OPPORTUNITY_GROUPS] = {"opportunity groups", customer_groups_serialize, bgbb_fit_deserialize, customer_groups_combine},
	[AGG_LAYOUT_RENEWAL_GROUPS] = {"renewal groups", customer_groups_serialize, sbg_fit_deserialize, customer_groups_combine},
	[AGG_LAYOUT_SURVIVAL_GROUPS] = {"survival groups", customer_groups_serialize, km_fit_deserialize, customer_groups_combine},
};

/* the expanded (in-memory) form */
typedef struct AggStateExpanded
{
	ExpandedObjectHeader hdr;
	AggStateLayout layout;
	void	   *state;			/* the layout's C state; NULL for none yet */
	MemoryContext statecxt;		/* where the layout's functions allocate it */
	bytea	   *serialized;		/* cached between get_flat_size and flatten_into */
} AggStateExpanded;

static Size AggStateGetFlatSize(ExpandedObjectHeader *eohptr);
static void AggStateFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);

static const ExpandedObjectMethods agg_state_methods = {
	AggStateGetFlatSize,
	AggStateFlattenInto
};

/*
 * Fills in a minimal AggState whose aggregate context is "cxt", enough for
 * AggCheckCallContext.
 */
static void
FakeAggState(AggState *agg, ExprContext *econtext, MemoryContext cxt)
{
	MemSet(agg, 0, sizeof(*agg));
	NodeSetTag(agg, T_AggState);
	MemSet(econtext, 0, sizeof(*econtext));
	NodeSetTag(econtext, T_ExprContext);
	econtext->ecxt_per_tuple_memory = cxt;
	agg->curaggcontext = econtext;
}

/*
 * Calls a layout's support function outside of a real aggregate call (to
 * flatten an expanded value, to validate one being read, or when a support
 * function is called by name): the function checks AggCheckCallContext and
 * allocates in the context it returns, so it is given a minimal AggState
 * whose aggregate context is "cxt".
 */
static Datum
CallInContext(PGFunction fn, MemoryContext cxt, Datum arg0, bool null0,
			  Datum arg1, bool null1, int nargs, bool *isnull)
{
	LOCAL_FCINFO(fc, 2);
	FmgrInfo	flinfo;
	AggState	agg;
	ExprContext econtext;
	Datum		result;

	MemSet(&flinfo, 0, sizeof(flinfo));
	flinfo.fn_addr = fn;
	flinfo.fn_oid = InvalidOid;
	flinfo.fn_nargs = nargs;
	flinfo.fn_mcxt = CurrentMemoryContext;
	FakeAggState(&agg, &econtext, cxt);

	InitFunctionCallInfoData(*fc, &flinfo, nargs, InvalidOid, (Node *) &agg, NULL);
	fc->args[0].value = arg0;
	fc->args[0].isnull = null0;
	if (nargs > 1)
	{
		fc->args[1].value = arg1;
		fc->args[1].isnull = null1;
	}
	result = fn(fc);
	*isnull = fc->isnull;
	return result;
}

static AggStateExpanded *
NewExpanded(AggStateLayout layout, MemoryContext parent, MemoryContext statecxt, void *state)
{
	MemoryContext objcxt = AllocSetContextCreate(parent, "retention agg_state",
												 ALLOCSET_SMALL_SIZES);
	AggStateExpanded *es = MemoryContextAllocZero(objcxt, sizeof(AggStateExpanded));

	EOH_init_header(&es->hdr, &agg_state_methods, objcxt);
	es->layout = layout;
	es->state = state;
	es->statecxt = statecxt;
	return es;
}

/* the layout's serialised state, made once and kept until the state changes */
static bytea *
SerializedCopy(AggStateExpanded *es)
{
	if (es->serialized == NULL)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(es->hdr.eoh_context);
		Datum		d = CallInContext(layouts[es->layout].serialize, es->statecxt,
									  PointerGetDatum(es->state), es->state == NULL,
									  (Datum) 0, true, 1, &isnull);

		if (isnull)
			elog(ERROR, "serialise function of %s state returned NULL",
				 layouts[es->layout].name);
		es->serialized = (bytea *) PG_DETOAST_DATUM(d);
		MemoryContextSwitchTo(old);
	}
	return es->serialized;
}

/* whether the layout writes its state straight into the flat value */
static inline bool
WritesInto(const AggStateExpanded *es)
{
	return es->state != NULL && layouts[es->layout].serial_size != NULL;
}

static Size
AggStateGetFlatSize(ExpandedObjectHeader *eohptr)
{
	AggStateExpanded *es = (AggStateExpanded *) eohptr;
	Size		size;

	Assert(es->hdr.eoh_methods == &agg_state_methods);
	if (WritesInto(es))
		size = add_size(AGG_STATE_HEADER, layouts[es->layout].serial_size(es->state));
	else
		size = add_size(AGG_STATE_HEADER, VARSIZE(SerializedCopy(es)));
	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s aggregate state is too large to ship: %zu bytes",
						layouts[es->layout].name, size)));
	return size;
}

static void
AggStateFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	AggStateExpanded *es = (AggStateExpanded *) eohptr;
	AggStateFlat *flat = (AggStateFlat *) result;

	MemSet(flat, 0, AGG_STATE_HEADER);
	SET_VARSIZE(flat, allocated_size);
	flat->magic = AGG_STATE_MAGIC;
	flat->layout = (uint16) es->layout;
	flat->version = AGG_STATE_VERSION;
	if (WritesInto(es))
	{
		/* no copy kept: a large state is written once, where it goes */
		layouts[es->layout].serialize_into(es->state, AGG_STATE_INNER(flat),
										   allocated_size - AGG_STATE_HEADER);
		return;
	}
	Assert(es->serialized != NULL);
	Assert(allocated_size == AGG_STATE_HEADER + VARSIZE(es->serialized));
	memcpy(AGG_STATE_INNER(flat), es->serialized, VARSIZE(es->serialized));
}

/* forget the serialised copy once the state changes */
static inline void
Touch(AggStateExpanded *es)
{
	if (es->serialized != NULL)
	{
		pfree(es->serialized);
		es->serialized = NULL;
	}
}

/*
 * Checks the header of a flat value of "len" bytes (its varlena header
 * included) and returns its layout.
 */
static AggStateLayout
CheckFlatHeader(const AggStateFlat *flat, Size len, int errcode_)
{
	const bytea *inner;

	if (len < AGG_STATE_HEADER + VARHDRSZ)
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("aggregate state is truncated: %zu bytes", len)));
	if (flat->magic != AGG_STATE_MAGIC)
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("aggregate state has a bad magic number")));
	if (flat->version != AGG_STATE_VERSION)
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("aggregate state has version %u, expected %d",
						flat->version, AGG_STATE_VERSION),
				 errdetail("The state was written by another version of the retention extension.")));
	if (flat->layout < AGG_LAYOUT_FIRST || flat->layout > AGG_LAYOUT_LAST)
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("aggregate state has unknown layout %u", flat->layout)));
	if (flat->reserved != 0)
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("aggregate state has a nonzero reserved field")));
	inner = AGG_STATE_INNER(flat);
	if (!VARATT_IS_4B_U(inner) || VARSIZE(inner) != len - AGG_STATE_HEADER)
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("aggregate state holds %zu bytes of %s state but says %u",
						len - AGG_STATE_HEADER, layouts[flat->layout].name,
						VARATT_IS_4B_U(inner) ? VARSIZE(inner) : 0)));
	return (AggStateLayout) flat->layout;
}

/* Errors unless a state of layout "got" is of the layout "expected". */
static void
CheckLayout(AggStateLayout got, AggStateLayout expected)
{
	if (got != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("aggregate state holds a %s state, expected a %s state",
						layouts[got].name, layouts[expected].name)));
}

/* The layout's deserialised C state of a (checked) flat value, in "cxt". */
static void *
DeserializeFlat(const AggStateFlat *flat, MemoryContext cxt, int errcode_)
{
	const LayoutInfo *info = &layouts[flat->layout];
	bool		isnull;
	Datum		part = CallInContext(info->deserialize, cxt,
									 PointerGetDatum(AGG_STATE_INNER(flat)), false,
									 (Datum) 0, true, 1, &isnull);

	if (isnull || DatumGetPointer(part) == NULL)
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("aggregate state holds no %s state", info->name)));
	return DatumGetPointer(part);
}

/*
 * The layout's C state of a flat value, allocated in "cxt": deserialised,
 * then merged into an empty state, which is where the layouts validate
 * what they read (some deserialise functions only keep the bytes).
 */
static void *
MaterializeFlat(const AggStateFlat *flat, MemoryContext cxt, int errcode_)
{
	const LayoutInfo *info = &layouts[flat->layout];
	MemoryContext caller = CurrentMemoryContext;
	bool		isnull;
	Datum		part;
	Datum		whole = (Datum) 0;

	PG_TRY();
	{
		part = PointerGetDatum(DeserializeFlat(flat, cxt, errcode_));
		whole = CallInContext(info->combine, cxt, (Datum) 0, true, part, false, 2, &isnull);
		if (isnull || DatumGetPointer(whole) == NULL)
			elog(ERROR, "combine function of %s state returned NULL", info->name);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * Some layouts' readers still report a malformed state as an
		 * internal error: the value came from outside, so say so with a
		 * class-22 code, keeping their message.
		 */
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_INTERNAL_ERROR)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("invalid %s aggregate state", info->name),
				 errdetail("%s", edata->message)));
	}
	PG_END_TRY();
	return DatumGetPointer(whole);
}

/*
 * The agg_state of argument "argno" for layout "layout", as an expanded
 * object whose C state may be changed in place: the argument itself when it
 * is our read-write object, else a new one in "cxt" (read from a flat value
 * or, for a read-only reference, from its flat copy).
 */
static AggStateExpanded *
FetchState(FunctionCallInfo fcinfo, int argno, AggStateLayout layout,
		   MemoryContext cxt, bool writable)
{
	Datum		d = fcinfo->args[argno].value;
	AggStateFlat *flat;
	AggStateExpanded *es;

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		es = (AggStateExpanded *) DatumGetEOHP(d);
		if (es->hdr.eoh_methods != &agg_state_methods)
			elog(ERROR, "expanded value is not a retention agg_state");
		CheckLayout(es->layout, layout);
		if (!writable || VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
			return es;
	}
	flat = (AggStateFlat *) PG_DETOAST_DATUM(d);
	CheckLayout(CheckFlatHeader(flat, VARSIZE(flat), ERRCODE_INVALID_PARAMETER_VALUE), layout);
	return NewExpanded(layout, cxt, cxt, MaterializeFlat(flat, cxt, ERRCODE_INVALID_PARAMETER_VALUE));
}

/*
 * The aggregate context of a support function call; a call by name (no
 * aggregate) gets a minimal one on CurrentMemoryContext, so that a caller
 * who passes states around by hand gets answers or errors, never a crash.
 */
static MemoryContext
SupportContext(FunctionCallInfo fcinfo, AggState *fake, ExprContext *econtext)
{
	MemoryContext cxt;

	if (AggCheckCallContext(fcinfo, &cxt))
		return cxt;
	FakeAggState(fake, econtext, CurrentMemoryContext);
	fcinfo->context = (Node *) fake;
	return CurrentMemoryContext;
}

Datum
AggStateTransition(FunctionCallInfo fcinfo, AggStateLayout layout, PGFunction inner)
{
	AggState	fake;
	ExprContext econtext;
	Node	   *context = fcinfo->context;
	MemoryContext aggcxt = SupportContext(fcinfo, &fake, &econtext);
	AggStateExpanded *es = NULL;
	Datum		result;

	if (!PG_ARGISNULL(0))
		es = FetchState(fcinfo, 0, layout, aggcxt, true);
	fcinfo->args[0].value = PointerGetDatum(es ? es->state : NULL);
	fcinfo->args[0].isnull = (es == NULL || es->state == NULL);
	result = inner(fcinfo);
	fcinfo->context = context;
	/* some layouts return a NULL pointer, not SQL NULL, for rows they skip */
	if (fcinfo->isnull || DatumGetPointer(result) == NULL)
	{
		fcinfo->isnull = false;
		if (es == NULL)
			PG_RETURN_NULL();
		/* the layouts return their state, never NULL, once they have one */
		elog(ERROR, "transition function of %s state returned NULL", layouts[layout].name);
	}
	if (es == NULL)
		es = NewExpanded(layout, aggcxt, aggcxt, DatumGetPointer(result));
	else
	{
		es->state = DatumGetPointer(result);
		Touch(es);
	}
	PG_RETURN_DATUM(EOHPGetRWDatum(&es->hdr));
}

Datum
AggStateCombine(FunctionCallInfo fcinfo, AggStateLayout layout)
{
	AggState	fake;
	ExprContext econtext;
	Node	   *context = fcinfo->context;
	MemoryContext aggcxt = SupportContext(fcinfo, &fake, &econtext);
	AggStateExpanded *a = NULL;
	void	   *b = NULL;
	Datum		result;

	if (!PG_ARGISNULL(1))
	{
		Datum		d = PG_GETARG_DATUM(1);

		if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
			b = FetchState(fcinfo, 1, layout, aggcxt, false)->state;
		else
		{
			/*
			 * A worker's state: read it in the per-call context, or where
			 * the combine function will keep it when it takes it over.
			 */
			AggStateFlat *flat = (AggStateFlat *) PG_DETOAST_DATUM(d);

			CheckLayout(CheckFlatHeader(flat, VARSIZE(flat), ERRCODE_INVALID_PARAMETER_VALUE), layout);
			b = DeserializeFlat(flat, layouts[layout].adopts ? aggcxt : CurrentMemoryContext,
								ERRCODE_INVALID_PARAMETER_VALUE);
		}
	}
	if (!PG_ARGISNULL(0))
		a = FetchState(fcinfo, 0, layout, aggcxt, true);
	if (b == NULL)
	{
		fcinfo->context = context;
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(EOHPGetRWDatum(&a->hdr));
	}
	fcinfo->args[0].value = PointerGetDatum(a ? a->state : NULL);
	fcinfo->args[0].isnull = (a == NULL || a->state == NULL);
	fcinfo->args[1].value = PointerGetDatum(b);
	fcinfo->args[1].isnull = false;
	result = layouts[layout].combine(fcinfo);
	fcinfo->context = context;
	if (fcinfo->isnull || DatumGetPointer(result) == NULL)
		elog(ERROR, "combine function of %s state returned NULL", layouts[layout].name);
	if (a == NULL)
		a = NewExpanded(layout, aggcxt, aggcxt, DatumGetPointer(result));
	else
	{
		a->state = DatumGetPointer(result);
		Touch(a);
	}
	PG_RETURN_DATUM(EOHPGetRWDatum(&a->hdr));
}

Datum
AggStateFinal(FunctionCallInfo fcinfo, AggStateLayout layout, PGFunction inner)
{
	AggState	fake;
	ExprContext econtext;
	Node	   *context = fcinfo->context;
	AggStateExpanded *es = NULL;
	Datum		result;

	SupportContext(fcinfo, &fake, &econtext);
	if (!PG_ARGISNULL(0))
		es = FetchState(fcinfo, 0, layout, CurrentMemoryContext, false);
	fcinfo->args[0].value = PointerGetDatum(es ? es->state : NULL);
	fcinfo->args[0].isnull = (es == NULL || es->state == NULL);
	result = inner(fcinfo);
	fcinfo->context = context;
	return result;
}

/* validates a flat value completely, as every reader of it would */
static void
ValidateFlat(AggStateFlat *flat, int errcode_)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "agg_state validation",
											  ALLOCSET_DEFAULT_SIZES);

	CheckFlatHeader(flat, VARSIZE(flat), errcode_);
	MaterializeFlat(flat, cxt, errcode_);
	MemoryContextDelete(cxt);
}

/* Reads an agg_state from its text form (base64), validated. */
PG_FUNCTION_INFO_V1(agg_state_in);
Datum
agg_state_in(PG_FUNCTION_ARGS)
{
	char	   *raw = PG_GETARG_CSTRING(0);
	char	   *str = palloc(strlen(raw) + 1);
	int			len = 0;
	int			maxlen;
	AggStateFlat *flat;
	int			n;

	/* accept base64 split into lines, as encode(..., 'base64') prints it */
	for (const char *c = raw; *c; c++)
		if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r')
			str[len++] = *c;
	str[len] = '\0';
	maxlen = pg_b64_dec_len(len);

	if (len == 0 || maxlen < 0 || (Size) maxlen + VARHDRSZ > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type agg_state")));
	flat = palloc(VARHDRSZ + maxlen);
	n = pg_b64_decode(str, len, (char *) flat + VARHDRSZ, maxlen);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type agg_state"),
				 errdetail("The value is not base64.")));
	SET_VARSIZE(flat, VARHDRSZ + n);
	ValidateFlat(flat, ERRCODE_INVALID_TEXT_REPRESENTATION);
	PG_RETURN_POINTER(flat);
}

/* Returns the text form of an agg_state: base64 of its flat bytes. */
PG_FUNCTION_INFO_V1(agg_state_out);
Datum
agg_state_out(PG_FUNCTION_ARGS)
{
	bytea	   *flat = PG_GETARG_BYTEA_P(0);
	int			len = VARSIZE(flat) - VARHDRSZ;
	int			outlen = pg_b64_enc_len(len);
	char	   *out = palloc(outlen + 1);
	int			n = pg_b64_encode(VARDATA(flat), len, out, outlen);

	if (n < 0)
		elog(ERROR, "could not encode aggregate state");
	out[n] = '\0';
	PG_RETURN_CSTRING(out);
}

/* Reads an agg_state from its binary form (its flat bytes), validated. */
PG_FUNCTION_INFO_V1(agg_state_recv);
Datum
agg_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	AggStateFlat *flat = palloc(VARHDRSZ + len);

	SET_VARSIZE(flat, VARHDRSZ + len);
	pq_copymsgbytes(buf, (char *) flat + VARHDRSZ, len);
	ValidateFlat(flat, ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_POINTER(flat);
}

/* Returns the binary form of an agg_state. */
PG_FUNCTION_INFO_V1(agg_state_send);
Datum
agg_state_send(PG_FUNCTION_ARGS)
{
	bytea	   *flat = PG_GETARG_BYTEA_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA(flat), VARSIZE(flat) - VARHDRSZ);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * The support functions of the aggregates over agg_state: each runs its
 * layout's internal-state function on the wrapped state.
 */
#define AGG_STATE_TRANSFN(name, layout, inner) \
	extern Datum inner(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) { return AggStateTransition(fcinfo, layout, inner); }
#define AGG_STATE_FINALFN(name, layout, inner) \
	extern Datum inner(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) { return AggStateFinal(fcinfo, layout, inner); }
#define AGG_STATE_COMBINEFN(name, layout) \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) { return AggStateCombine(fcinfo, layout); }

AGG_STATE_COMBINEFN(retention_state_combine, AGG_LAYOUT_RETENTION)
AGG_STATE_TRANSFN(retention_rate_state_trans, AGG_LAYOUT_RETENTION, retention_rate_trans)
AGG_STATE_TRANSFN(retention_rate_filter_state_trans, AGG_LAYOUT_RETENTION, retention_rate_filter_trans)
AGG_STATE_FINALFN(retention_rate_state_final, AGG_LAYOUT_RETENTION, retention_rate_final)
AGG_STATE_FINALFN(retention_rate_unbounded_state_final, AGG_LAYOUT_RETENTION, retention_rate_unbounded_final)
AGG_STATE_TRANSFN(cohort_matrix_state_trans, AGG_LAYOUT_RETENTION, cohort_matrix_trans)
AGG_STATE_FINALFN(cohort_matrix_state_final, AGG_LAYOUT_RETENTION, cohort_matrix_final)
AGG_STATE_TRANSFN(lifecycle_state_trans, AGG_LAYOUT_RETENTION, lifecycle_trans)
AGG_STATE_FINALFN(lifecycle_state_final, AGG_LAYOUT_RETENTION, lifecycle_final)
AGG_STATE_TRANSFN(stickiness_state_trans, AGG_LAYOUT_RETENTION, stickiness_trans)
AGG_STATE_FINALFN(stickiness_state_final, AGG_LAYOUT_RETENTION, stickiness_final)

AGG_STATE_COMBINEFN(rolling_state_combine, AGG_LAYOUT_ROLLING)
AGG_STATE_TRANSFN(rolling_state_trans, AGG_LAYOUT_ROLLING, rolling_trans)
AGG_STATE_FINALFN(rolling_state_final, AGG_LAYOUT_ROLLING, rolling_final)
AGG_STATE_FINALFN(rolling_unbounded_state_final, AGG_LAYOUT_ROLLING, rolling_unbounded_final)

AGG_STATE_COMBINEFN(logreg_train_state_combine, AGG_LAYOUT_LOGREG)
AGG_STATE_TRANSFN(logreg_train_state_accum, AGG_LAYOUT_LOGREG, logreg_train_accum)
AGG_STATE_FINALFN(logreg_train_state_final, AGG_LAYOUT_LOGREG, logreg_train_final)

AGG_STATE_COMBINEFN(scored_labels_state_combine, AGG_LAYOUT_SCORED_LABELS)
AGG_STATE_TRANSFN(scored_labels_state_accum, AGG_LAYOUT_SCORED_LABELS, scored_bools_accum)
AGG_STATE_TRANSFN(scored_counts_state_accum, AGG_LAYOUT_SCORED_LABELS, scored_counts_accum)
AGG_STATE_FINALFN(roc_auc_state_final, AGG_LAYOUT_SCORED_LABELS, roc_auc_final)
AGG_STATE_FINALFN(threshold_max_f1_state_final, AGG_LAYOUT_SCORED_LABELS, threshold_max_f1_final)
AGG_STATE_FINALFN(threshold_for_recall_state_final, AGG_LAYOUT_SCORED_LABELS, threshold_for_recall_final)

AGG_STATE_COMBINEFN(item_knn_state_combine, AGG_LAYOUT_ITEM_KNN)
AGG_STATE_TRANSFN(item_knn_state_trans, AGG_LAYOUT_ITEM_KNN, item_knn_transfn)
AGG_STATE_FINALFN(item_knn_state_final, AGG_LAYOUT_ITEM_KNN, item_knn_finalfn)

AGG_STATE_COMBINEFN(customer_groups_state_combine, AGG_LAYOUT_CUSTOMER_GROUPS)
AGG_STATE_TRANSFN(bgnbd_fit_state_trans, AGG_LAYOUT_CUSTOMER_GROUPS, bgnbd_fit_transfn)
AGG_STATE_FINALFN(bgnbd_fit_state_final, AGG_LAYOUT_CUSTOMER_GROUPS, bgnbd_fit_finalfn)
AGG_STATE_FINALFN(pareto_nbd_fit_state_final, AGG_LAYOUT_CUSTOMER_GROUPS, pareto_nbd_fit_finalfn)
AGG_STATE_FINALFN(mbgnbd_fit_state_final, AGG_LAYOUT_CUSTOMER_GROUPS, mbgnbd_fit_finalfn)

AGG_STATE_COMBINEFN(spend_groups_state_combine, AGG_LAYOUT_SPEND_GROUPS)
AGG_STATE_TRANSFN(gamma_gamma_fit_state_trans, AGG_LAYOUT_SPEND_GROUPS, gamma_gamma_fit_transfn)
AGG_STATE_FINALFN(gamma_gamma_fit_state_final, AGG_LAYOUT_SPEND_GROUPS, gamma_gamma_fit_finalfn)

AGG_STATE_COMBINEFN(opportunity_groups_state_combine, AGG_LAYOUT_OPPORTUNITY_GROUPS)
AGG_STATE_TRANSFN(bgbb_fit_state_trans, AGG_LAYOUT_OPPORTUNITY_GROUPS, bgbb_fit_transfn)
AGG_STATE_FINALFN(bgbb_fit_state_final, AGG_LAYOUT_OPPORTUNITY_GROUPS, bgbb_fit_finalfn)

AGG_STATE_COMBINEFN(renewal_groups_state_combine, AGG_LAYOUT_RENEWAL_GROUPS)
AGG_STATE_TRANSFN(sbg_fit_state_trans, AGG_LAYOUT_RENEWAL_GROUPS, sbg_fit_transfn)
AGG_STATE_FINALFN(sbg_fit_state_final, AGG_LAYOUT_RENEWAL_GROUPS, sbg_fit_finalfn)

AGG_STATE_COMBINEFN(survival_groups_state_combine, AGG_LAYOUT_SURVIVAL_GROUPS)
AGG_STATE_TRANSFN(km_fit_state_trans, AGG_LAYOUT_SURVIVAL_GROUPS, km_fit_transfn)
AGG_STATE_FINALFN(km_fit_state_final, AGG_LAYOUT_SURVIVAL_GROUPS, km_fit_finalfn)
