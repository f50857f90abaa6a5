/*-------------------------------------------------------------------------
 *
 * retention_state.c
 *	  The aggregate state behind retention_rate, the cohort table,
 *	  lifecycle, stickiness and the per-user activity stage: the common
 *	  transition step, and the combine, serialise and deserialise functions
 *	  every one of those aggregates declares.
 *
 * The state keeps every user's activity bitmap (see user_activity.h);
 * each aggregate's final function reads it its own way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "agg_context.h"
#include "bytea_state.h"
#include "name_table.h"
#include "retention_state.h"

/* version tag of the serialised state */
#define STATE_MAGIC 0x52455431	/* "RET1" */

static RetentionState *
NewState(MemoryContext aggcxt, int32 n, PeriodKind kind, uint64 size_hint)
{
	RetentionState *state = MemoryContextAllocZero(aggcxt, sizeof(RetentionState));

	state->users = UserTableCreate(aggcxt, (uint32) Min(size_hint, PG_UINT32_MAX / 2));
	state->n = n;
	state->kind = kind;
	state->have_max = false;
	state->max_period = 0;
	PeriodCalcInit(&state->calc, kind);
	state->period_text.len = -1;
	state->mode_text.len = -1;
	state->blob.data = NULL;
	return state;
}

void
RetentionRefuseState(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid retention aggregate state"),
			 errdetail("%s", detail)));
}

bool
RetentionSameText(ArgText *last, text *t)
{
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len == last->len && memcmp(VARDATA_ANY(t), last->bytes, len) == 0)
		return true;
	if (len <= (int) sizeof(last->bytes))
	{
		memcpy(last->bytes, VARDATA_ANY(t), len);
		last->len = len;
	}
	else
		last->len = -1;
	return false;
}

/* the latest period a state's users may have: its max, when it has one */
static int64
Latest(const RetentionState *state)
{
	return state->have_max ? state->max_period : PG_INT64_MIN;
}

UserTable *
RetentionUsers(RetentionState *state)
{
	if (state->blob.data != NULL)
	{
		StringInfoData blob = state->blob;

		state->blob.data = NULL;
		UserTableDeserialize(state->users, &blob, Latest(state));
	}
	return state->users;
}

static int32
CheckN(int32 n)
{
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period number n must not be negative, got %d", n)));
	return n;
}

static void
CheckSameN(int32 expected, int32 got)
{
	if (expected != got)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period number n changed from %d to %d within a group", expected, got),
				 errhint("Pass the same n for every row of a group.")));
}

static void
CheckSameKind(PeriodKind expected, PeriodKind got)
{
	if (expected != got)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period changed from \"%s\" to \"%s\" within a group",
						PeriodKindName(expected), PeriodKindName(got)),
				 errhint("Pass the same period for every row of a group.")));
}

static PeriodKind
PeriodArg(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	char	   *s;
	PeriodKind	kind;

	if (argno < 0)
		return PERIOD_DAY;		/* or the arguments' fixed_kind, see below */
	t = PG_GETARG_TEXT_PP(argno);
	s = text_to_cstring(t);
	kind = ParsePeriodKind(s);
	pfree(s);
	return kind;
}

int64
RetentionEarliest(RetentionState *state, bool active)
{
	UserTableIter *iter;
	UserEntry  *u;
	int64		lo = PG_INT64_MAX;

	iter = UserTableIterBegin(RetentionUsers(state));
	while ((u = UserTableIterNext(state->users, iter)) != NULL)
	{
		if (active)
		{
			if (u->nbits > 0)
				lo = Min(lo, u->base);
		}
		else if (u->first_start != NO_START)
			lo = Min(lo, u->first_start);
	}
	pfree(iter);
	return lo;
}

static int32
ParseMode(FunctionCallInfo fcinfo, int argno)
{
	char	   *m = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	int32		mode = ParseCohortMode(m);

	pfree(m);
	return mode;
}

/*
 * The common transition step.  Rows with a NULL user, timestamp, n or period
 * are skipped, so a group of such rows yields NULL.
 */
RetentionState *
RetentionTransition(FunctionCallInfo fcinfo, const RetentionArgs *args)
{
	MemoryContext aggcxt = AggregateContext(fcinfo, "retention aggregate");
	RetentionState *state = STATE_ARG(RetentionState, 0);
	int64		user_id;
	TimestampTz ts;
	int32		n = NO_N;
	int32		p;
	bool		is_start = true;
	bool		is_return = true;

	if ((args->user_arg >= 0 && PG_ARGISNULL(args->user_arg)) || PG_ARGISNULL(args->ts_arg) ||
		(args->n_arg >= 0 && PG_ARGISNULL(args->n_arg)) ||
		(args->period_arg >= 0 && PG_ARGISNULL(args->period_arg)) ||
		(args->mode_arg >= 0 && PG_ARGISNULL(args->mode_arg)))
		return state;

	/* the per-user stage has no user column: one user per group */
	user_id = args->user_arg >= 0 ? PG_GETARG_INT64(args->user_arg) : 0;
	ts = PG_GETARG_TIMESTAMPTZ(args->ts_arg);
	if (args->n_arg >= 0)
		n = PG_GETARG_INT32(args->n_arg);
	if (args->start_arg >= 0)
		is_start = !PG_ARGISNULL(args->start_arg) && PG_GETARG_BOOL(args->start_arg);
	if (args->return_arg >= 0)
		is_return = !PG_ARGISNULL(args->return_arg) && PG_GETARG_BOOL(args->return_arg);

	if (state == NULL)
	{
		PeriodKind	kind = args->period_arg < 0 && args->fixed_kind != 0 ?
			args->fixed_kind : PeriodArg(fcinfo, args->period_arg);

		state = NewState(aggcxt, args->n_arg >= 0 ? CheckN(n) : NO_N, kind, 1024);
		if (args->user_arg < 0)
			UserTableSetAnonymous(state->users);
		if (args->period_arg >= 0)
			(void) RetentionSameText(&state->period_text, PG_GETARG_TEXT_PP(args->period_arg));
		if (args->mode_arg >= 0)
		{
			(void) RetentionSameText(&state->mode_text, PG_GETARG_TEXT_PP(args->mode_arg));
			state->mode = ParseMode(fcinfo, args->mode_arg);
		}
	}
	else
	{
		if (args->period_arg >= 0 &&
			!RetentionSameText(&state->period_text, PG_GETARG_TEXT_PP(args->period_arg)))
			CheckSameKind(state->kind, PeriodArg(fcinfo, args->period_arg));
		if (args->mode_arg >= 0 &&
			!RetentionSameText(&state->mode_text, PG_GETARG_TEXT_PP(args->mode_arg)) &&
			ParseMode(fcinfo, args->mode_arg) != state->mode)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cohort mode changed within a group"),
					 errhint("Pass the same mode for every row of a group.")));
		if (n != state->n)
			CheckSameN(state->n, CheckN(n));
	}

	p = PeriodIndex(&state->calc, ts);
	if (!state->have_max || p > state->max_period)
	{
		state->max_period = p;
		state->have_max = true;
	}
	if (is_start || is_return)
		UserTableAdd(state->users, user_id, p, is_start, is_return);
	return state;
}

static const NamedValue cohort_modes[] = {
	{"classic", COHORT_CLASSIC}, {"unbounded", COHORT_UNBOUNDED},
	{"recurring", COHORT_RECURRING}, {"recurring_unbounded", COHORT_RECURRING_UNBOUNDED}
};

int32
ParseCohortMode(const char *name)
{
	/* case matters here, unlike for periods and funnel modes */
	return ParseName(name, cohort_modes, lengthof(cohort_modes), false, "cohort mode",
					 "Use \"classic\", \"unbounded\", \"recurring\" or \"recurring_unbounded\".");
}

/* Combines two partial states of any retention aggregate (parallel workers). */
PG_FUNCTION_INFO_V1(retention_combine);
Datum
retention_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = AggregateContext(fcinfo, "retention_combine");
	RetentionState *a = STATE_ARG(RetentionState, 0);
	RetentionState *b = STATE_ARG(RetentionState, 1);

	if (b == NULL)
		return KeepState(fcinfo);
	if (a == NULL)
		/* copy, never alias; sized for b's users so it need not grow */
		a = NewState(aggcxt, b->n, b->kind,
					 b->blob.data ? UserTableSerializedCount(&b->blob) : UserTableCount(b->users));
	else if (a->mode != b->mode)
		elog(ERROR, "cannot combine cohort states of different modes");
	else
	{
		CheckSameKind(a->kind, b->kind);
		CheckSameN(a->n, b->n);
	}
	a->mode = b->mode;

	if (b->blob.data != NULL)
	{
		/* merge the worker's serialised users straight into a */
		StringInfoData blob = b->blob;

		b->blob.data = NULL;
		UserTableDeserialize(RetentionUsers(a), &blob, Latest(b));
	}
	if (b->have_max && (!a->have_max || b->max_period > a->max_period))
	{
		a->max_period = b->max_period;
		a->have_max = true;
	}
	else
		UserTableMerge(RetentionUsers(a), b->users);
	PG_RETURN_POINTER(a);
}

typedef struct StateHeader
{
	uint32		magic;
	int32		n;
	int32		kind;
	int32		have_max;
	int32		max_period;
	int32		mode;
} StateHeader;

/* The size of the serialised state (a bytea), its varlena header included. */
Size
RetentionFlatSize(void *state)
{
	RetentionState *s = (RetentionState *) state;

	return add_size(VARHDRSZ + sizeof(StateHeader),
					UserTableSerializedSize(RetentionUsers(s)));
}

/* Writes the serialised state, "size" bytes (RetentionFlatSize), to dst. */
void
RetentionFlatWrite(void *state, bytea *dst, Size size)
{
	RetentionState *s = (RetentionState *) state;
	StateHeader h;

	if (size < VARHDRSZ + sizeof(h))
		elog(ERROR, "no room to serialise the retention state");
	h.magic = STATE_MAGIC;
	h.n = s->n;
	h.kind = (int32) s->kind;
	h.have_max = s->have_max;
	h.max_period = s->max_period;
	h.mode = s->mode;
	SET_VARSIZE(dst, size);
	memcpy(VARDATA(dst), &h, sizeof(h));
	UserTableWrite(RetentionUsers(s), VARDATA(dst) + sizeof(h),
				   size - VARHDRSZ - sizeof(h));
}

/* Serialises a retention state to bytea for a parallel worker's leader. */
PG_FUNCTION_INFO_V1(retention_serialize);
Datum
retention_serialize(PG_FUNCTION_ARGS)
{
	RetentionState *state = (RetentionState *) PG_GETARG_POINTER(0);
	Size		size;
	bytea	   *result;

	AggregateContext(fcinfo, "retention_serialize");
	size = RetentionFlatSize(state);
	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("retention aggregate state is too large: %zu bytes", size)));
	result = palloc(size);
	RetentionFlatWrite(state, result, size);
	PG_RETURN_BYTEA_P(result);
}

/* Rebuilds a retention state from retention_serialize's bytea. */
PG_FUNCTION_INFO_V1(retention_deserialize);
Datum
retention_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = AggregateContext(fcinfo, "retention_deserialize");
	ByteaReader r;
	StateHeader h;
	RetentionState *state;

	ByteaReaderInit(&r, PG_GETARG_BYTEA_PP(0), "retention aggregate state is truncated");
	ByteaRead(&r, &h, sizeof(h));
	if (h.magic != STATE_MAGIC || h.kind < PERIOD_DAY || h.kind > PERIOD_KIND_MAX ||
		h.n < NO_N || (h.have_max != 0 && h.have_max != 1) || h.mode < 0 || h.mode > 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid retention aggregate state")));

	state = NewState(aggcxt, h.n, (PeriodKind) h.kind, 0);
	state->have_max = h.have_max;
	state->max_period = h.max_period;
	state->mode = h.mode;

	/*
	 * Keep the users serialised, in place: the combine function that always
	 * follows, while the argument is still there, merges them into its state
	 * in one pass, where building a hash table here would cost a second one
	 * (and a copy, another pass).  The bytes are validated as they are read.
	 */
	state->blob.data = unconstify(char *, r.p);
	state->blob.len = (int) ByteaLeft(&r);
	state->blob.maxlen = state->blob.len;
	state->blob.cursor = 0;
	PG_RETURN_POINTER(state);
}
