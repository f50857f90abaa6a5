/*-------------------------------------------------------------------------
 *
 * funnel_stats.c
 *	  Stage two of the funnel: retention.funnel_matrix(reached, seconds)
 *	  counts users per furthest step and keeps every step-to-step duration,
 *	  so that the median is exact (as percentile_cont(0.5)).  Its state,
 *	  retention.funnel_stats, has text and binary I/O, so Citus can ship
 *	  partial states between nodes and combine them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "funnel.h"

/* ---------------------------------------------------------------------
 * Stage two: retention.funnel_stats and funnel_matrix
 * ---------------------------------------------------------------------
 */

#define FUNNEL_STATS_MAGIC 0x464e5331	/* "FNS1" */
/* at most this many step-to-step durations in one state (1.5 GB) */
#define FUNNEL_MAX_DURATIONS ((int64) 1 << 26)

typedef struct FunnelDuration
{
	float8		seconds;
	int32		step;			/* 2..nsteps: the step reached */
	int32		pad;
} FunnelDuration;

/*
 * The varlena may be longer than the durations in use: inside an aggregate
 * the state grows by doubling, and "capacity" says how many fit.  Text and
 * binary forms carry only the used ones.
 */
struct FunnelStats
{
	int32		vl_len_;
	uint32		magic;
	int32		nsteps;
	int32		pad;
	int64		ndurations;
	int64		capacity;
	int64		users[FUNNEL_MAX_STEPS];	/* users whose furthest step is k + 1 */
	FunnelDuration durations[FLEXIBLE_ARRAY_MEMBER];
};

#define FUNNEL_STATS_SIZE(cap) (offsetof(FunnelStats, durations) + (Size) (cap) * sizeof(FunnelDuration))

static void
InvalidStats(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid retention.funnel_stats value"),
			 errdetail("%s", detail)));
}

/* Do the header's step count and sizes agree with each other and "size"? */
static inline bool
HeaderSizesAgree(const FunnelStats *s, Size size)
{
	return s->nsteps >= 1 && s->nsteps <= FUNNEL_MAX_STEPS && s->ndurations >= 0 &&
		s->capacity >= s->ndurations && s->capacity <= FUNNEL_MAX_DURATIONS &&
		size == FUNNEL_STATS_SIZE(s->capacity);
}

/*
 * The one reader of the layout: every header field against its limits and
 * the others, and the durations against the user counts (every user at
 * furthest step r contributes one duration to each step 2..r).
 */
static void
ValidateStats(const FunnelStats *s, Size size)
{
	int64		expect[FUNNEL_MAX_STEPS + 1] = {0};
	int64		have[FUNNEL_MAX_STEPS + 1] = {0};
	int64		cum = 0;

	if (size < offsetof(FunnelStats, durations) || s->magic != FUNNEL_STATS_MAGIC)
		InvalidStats("The header is missing or of another version.");
	if (!HeaderSizesAgree(s, size))
		InvalidStats("The header's sizes disagree.");
	for (int k = FUNNEL_MAX_STEPS - 1; k >= 0; k--)
	{
		if (s->users[k] < 0 || (k >= s->nsteps && s->users[k] != 0) ||
			pg_add_s64_overflow(cum, s->users[k], &cum))
			InvalidStats("A user count is negative, out of range or beyond the last step.");
		expect[k + 1] = cum;
	}
	for (int64 i = 0; i < s->ndurations; i++)
	{
		const FunnelDuration *d = &s->durations[i];

		if (d->step < 2 || d->step > s->nsteps || isnan(d->seconds) || isinf(d->seconds) ||
			d->seconds < 0)
			InvalidStats("A duration is negative, not finite or of no step.");
		have[d->step]++;
	}
	for (int k = 2; k <= s->nsteps; k++)
		if (have[k] != expect[k])
			InvalidStats("The durations do not match the user counts.");
}

static FunnelStats *
AllocStats(int nsteps, int64 capacity, MemoryContext cxt)
{
	FunnelStats *s;

	if (capacity > FUNNEL_MAX_DURATIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a funnel summary holds at most %lld step durations", (long long) FUNNEL_MAX_DURATIONS),
				 errhint("Break the funnel down into smaller groups.")));
	s = MemoryContextAllocZero(cxt, FUNNEL_STATS_SIZE(capacity));
	SET_VARSIZE(s, FUNNEL_STATS_SIZE(capacity));
	s->magic = FUNNEL_STATS_MAGIC;
	s->nsteps = nsteps;
	s->capacity = capacity;
	return s;
}

/* A copy of s with room for at least "room" durations, in the current context. */
static FunnelStats *
GrowStats(const FunnelStats *s, int64 room)
{
	int64		cap = Max(Max(room, s->capacity * 2), 16);
	FunnelStats *g;

	cap = Min(cap, Max(room, FUNNEL_MAX_DURATIONS));
	g = AllocStats(s->nsteps, cap, CurrentMemoryContext);
	memcpy(g->users, s->users, sizeof(s->users));
	memcpy(g->durations, s->durations, s->ndurations * sizeof(FunnelDuration));
	g->ndurations = s->ndurations;
	return g;
}

/* The state argument, detoasted; a private copy unless we are its aggregate. */
static FunnelStats *
StatsArg(FunctionCallInfo fcinfo, int argno)
{
	FunnelStats *s;

	if (AggCheckCallContext(fcinfo, NULL))
		s = (FunnelStats *) PG_DETOAST_DATUM(PG_GETARG_DATUM(argno));
	else
		s = (FunnelStats *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(argno));
	/* the full check costs a pass over the durations: once per value seen */
	if (VARSIZE(s) < offsetof(FunnelStats, durations) || s->magic != FUNNEL_STATS_MAGIC ||
		!HeaderSizesAgree(s, VARSIZE(s)))
		InvalidStats("The header's sizes disagree.");
	return s;
}

static void
CheckStatsSteps(int expected, int got)
{
	if (expected != got)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel of %d steps cannot be combined with one of %d steps", expected, got),
				 errhint("Pass seconds arrays of the same length (one element per step) in a group.")));
}

/*
 * Transition of funnel_matrix(reached, seconds): counts the user at their
 * furthest step and keeps their durations.
 */
PG_FUNCTION_INFO_V1(funnel_matrix_trans);
Datum
funnel_matrix_trans(PG_FUNCTION_ARGS)
{
	FunnelStats *s = PG_ARGISNULL(0) ? NULL : StatsArg(fcinfo, 0);
	ArrayType  *secs;
	int32		reached;
	int			nsteps;
	float8	   *v;
	bits8	   *nullbits;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_GETARG_INT32(1) <= 0)
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	reached = PG_GETARG_INT32(1);
	secs = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(secs) != 1 || ARR_ELEMTYPE(secs) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("funnel seconds must be a one-dimensional float8 array")));
	nsteps = ARR_DIMS(secs)[0];
	if (nsteps < 1 || nsteps > FUNNEL_MAX_STEPS || reached > nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("furthest step %d does not fit a funnel of %d steps", reached, nsteps),
				 errdetail("A funnel has between 1 and %d steps.", FUNNEL_MAX_STEPS)));
	if (s == NULL)
	{
		MemoryContext cxt = CurrentMemoryContext;

		s = AllocStats(nsteps, 16, cxt);
	}
	else
		CheckStatsSteps(s->nsteps, nsteps);
	if (s->ndurations + reached - 1 > s->capacity)
		s = GrowStats(s, s->ndurations + reached - 1);

	v = (float8 *) ARR_DATA_PTR(secs);
	nullbits = ARR_NULLBITMAP(secs);
	/* elements 2..reached must be present; pos walks the packed data */
	for (int k = 0, pos = 0; k < nsteps; k++)
	{
		bool		isnull = nullbits && !(nullbits[k / 8] & (1 << (k % 8)));
		FunnelDuration *d;

		if (k >= 1 && k < reached)
		{
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("the seconds to step %d of a user who reached step %d are NULL", k + 1, reached)));
			if (isnan(v[pos]) || isinf(v[pos]) || v[pos] < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the seconds to step %d must be finite and not negative, got %g", k + 1, v[pos])));
			d = &s->durations[s->ndurations++];
			d->seconds = v[pos];
			d->step = k + 1;
			d->pad = 0;
		}
		if (!isnull)
			pos++;
	}
	s->users[reached - 1]++;
	PG_RETURN_POINTER(s);
}

/*
 * Counts one user's outcome (reached > 0) into s, a summary in the current
 * context or NULL, as funnel_matrix_trans would count the user's
 * funnel_progress; the result may be a new, larger copy (s is freed).
 */
FunnelStats *
FunnelStatsAddUser(FunnelStats *s, int nsteps, const FunnelOutcome *o)
{
	if (s == NULL)
		s = AllocStats(nsteps, 16, CurrentMemoryContext);
	if (s->ndurations + o->reached - 1 > s->capacity)
	{
		FunnelStats *g = GrowStats(s, s->ndurations + o->reached - 1);

		pfree(s);
		s = g;
	}
	for (int k = 1; k < o->reached; k++)
	{
		FunnelDuration *d = &s->durations[s->ndurations++];

		d->seconds = (double) (o->times[k] - o->times[k - 1]) / USECS_PER_SEC;
		d->step = k + 1;
		d->pad = 0;
	}
	s->users[o->reached - 1]++;
	return s;
}

/* Combines two funnel summaries (parallel workers, Citus nodes). */
PG_FUNCTION_INFO_V1(funnel_matrix_combine);
Datum
funnel_matrix_combine(PG_FUNCTION_ARGS)
{
	FunnelStats *a = StatsArg(fcinfo, 0);
	FunnelStats *b = StatsArg(fcinfo, 1);
	int64		need;

	CheckStatsSteps(a->nsteps, b->nsteps);
	if (pg_add_s64_overflow(a->ndurations, b->ndurations, &need) || need > FUNNEL_MAX_DURATIONS)
		AllocStats(a->nsteps, FUNNEL_MAX_DURATIONS + 1, CurrentMemoryContext);	/* raises */
	if (need > a->capacity)
		a = GrowStats(a, need);
	for (int k = 0; k < FUNNEL_MAX_STEPS; k++)
		if (pg_add_s64_overflow(a->users[k], b->users[k], &a->users[k]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("funnel user count out of range")));
	for (int64 i = 0; i < b->ndurations; i++)
	{
		if (b->durations[i].step < 2 || b->durations[i].step > a->nsteps)
			InvalidStats("A duration is of no step.");
		a->durations[a->ndurations++] = b->durations[i];
	}
	PG_RETURN_POINTER(a);
}

/* by step, then seconds: pg_qsort's algorithm, with the comparison inlined */
static inline int
CompareDurations(const FunnelDuration *x, const FunnelDuration *y)
{
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (x->seconds != y->seconds)
		return x->seconds < y->seconds ? -1 : 1;
	return 0;
}

#define ST_SORT sort_durations
#define ST_ELEMENT_TYPE FunnelDuration
#define ST_COMPARE(a, b) CompareDurations(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Final of funnel_matrix: a float8[nsteps][3] of {users at the step or
 * further, conversion rate from step 1, median seconds from the previous
 * step}; NULL where undefined.
 */
PG_FUNCTION_INFO_V1(funnel_matrix_final);
Datum
funnel_matrix_final(PG_FUNCTION_ARGS)
{
	FunnelStats *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (FunnelStats *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	ValidateStats(s, VARSIZE(s));
	PG_RETURN_DATUM(FunnelStatsMatrix(s));
}

/* The float8[nsteps][3] of a valid summary (funnel_matrix_final's result). */
Datum
FunnelStatsMatrix(const FunnelStats *s)
{
	FunnelDuration *d;
	Datum	   *values;
	bool	   *nulls;
	int			dims[2];
	int			lbs[2] = {1, 1};
	int64		cum[FUNNEL_MAX_STEPS + 1] = {0};
	int64		pos = 0;

	d = palloc(Max(s->ndurations, 1) * sizeof(FunnelDuration));
	memcpy(d, s->durations, s->ndurations * sizeof(FunnelDuration));
	sort_durations(d, s->ndurations);

	for (int k = s->nsteps - 1; k >= 0; k--)
		cum[k] = cum[k + 1] + s->users[k];
	dims[0] = s->nsteps;
	dims[1] = 3;
	values = palloc(sizeof(Datum) * s->nsteps * 3);
	nulls = palloc0(sizeof(bool) * s->nsteps * 3);
	for (int k = 0; k < s->nsteps; k++)
	{
		int64		c = k == 0 ? 0 : cum[k];

		values[k * 3] = Float8GetDatum((double) cum[k]);
		if (cum[0] > 0)
			values[k * 3 + 1] = Float8GetDatum((double) cum[k] / (double) cum[0]);
		else
			nulls[k * 3 + 1] = true;
		if (c > 0)
		{
			/* percentile_cont(0.5): interpolate between the middle two */
			double		rank = 0.5 * (double) (c - 1);
			int64		lo = (int64) floor(rank);
			int64		hi = (int64) ceil(rank);
			double		vlo = d[pos + lo].seconds;
			double		vhi = d[pos + hi].seconds;

			values[k * 3 + 2] = Float8GetDatum(vlo + (rank - (double) lo) * (vhi - vlo));
			pos += c;
		}
		else
			nulls[k * 3 + 2] = true;
	}
	return PointerGetDatum(construct_md_array(values, nulls, 2, dims, lbs, FLOAT8OID,
											  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Text form: nsteps|users at furthest step 1,2,...|step:seconds,...
 * e.g. 3|4,2,1|2:10,2:60,3:5 (the durations in any order).
 */
PG_FUNCTION_INFO_V1(funnel_stats_in);
Datum
funnel_stats_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *p = str;
	char	   *end;
	long		nsteps;
	FunnelStats *s;
	int64		cap = 16;

#define SYNTAX() \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION), \
			 errmsg("invalid input syntax for type %s: \"%s\"", "retention.funnel_stats", str), \
			 errdetail("Expected nsteps|users,...|step:seconds,...")))

	errno = 0;
	nsteps = strtol(p, &end, 10);
	if (end == p || errno != 0 || *end != '|' || nsteps < 1 || nsteps > FUNNEL_MAX_STEPS)
		SYNTAX();
	s = AllocStats((int) nsteps, cap, CurrentMemoryContext);
	p = end + 1;
	for (int k = 0; k < nsteps; k++)
	{
		long long	u;

		errno = 0;
		u = strtoll(p, &end, 10);
		if (end == p || errno != 0 || u < 0 || *end != (k == nsteps - 1 ? '|' : ','))
			SYNTAX();
		s->users[k] = u;
		p = end + 1;
	}
	while (*p != '\0')
	{
		long		step;
		double		sec;

		errno = 0;
		step = strtol(p, &end, 10);
		if (end == p || errno != 0 || *end != ':' || step < 2 || step > nsteps)
			SYNTAX();
		p = end + 1;
		errno = 0;
		sec = strtod(p, &end);
		/* ERANGE for a subnormal too, which float8in accepts, and out writes */
		if (end == p || (errno != 0 && !(errno == ERANGE && sec != 0.0 && isfinite(sec))) ||
			(*end != ',' && *end != '\0'))
			SYNTAX();
		if (s->ndurations == s->capacity)
		{
			FunnelStats *g = GrowStats(s, s->ndurations + 1);

			pfree(s);
			s = g;
		}
		s->durations[s->ndurations].seconds = sec;
		s->durations[s->ndurations].step = (int32) step;
		s->ndurations++;
		p = *end == ',' ? end + 1 : end;
		if (*end == ',' && *p == '\0')
			SYNTAX();
	}
#undef SYNTAX
	ValidateStats(s, VARSIZE(s));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(funnel_stats_out);
Datum
funnel_stats_out(PG_FUNCTION_ARGS)
{
	FunnelStats *s = (FunnelStats *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	ValidateStats(s, VARSIZE(s));
	initStringInfo(&buf);
	appendStringInfo(&buf, "%d|", s->nsteps);
	for (int k = 0; k < s->nsteps; k++)
		appendStringInfo(&buf, "%lld%c", (long long) s->users[k], k == s->nsteps - 1 ? '|' : ',');
	for (int64 i = 0; i < s->ndurations; i++)
	{
		char	   *f = float8out_internal(s->durations[i].seconds);

		appendStringInfo(&buf, "%s%d:%s", i > 0 ? "," : "", s->durations[i].step, f);
		pfree(f);
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(funnel_stats_recv);
Datum
funnel_stats_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		nsteps = pq_getmsgint(buf, 4);
	int64		n;
	FunnelStats *s;

	if (nsteps < 1 || nsteps > FUNNEL_MAX_STEPS)
		InvalidStats("The number of steps is out of range.");
	n = pq_getmsgint64(buf);
	if (n < 0 || n > FUNNEL_MAX_DURATIONS || n > (buf->len - buf->cursor) / 12)
		InvalidStats("The number of durations is out of range.");
	s = AllocStats(nsteps, Max(n, 1), CurrentMemoryContext);
	for (int k = 0; k < nsteps; k++)
		s->users[k] = pq_getmsgint64(buf);
	for (int64 i = 0; i < n; i++)
	{
		s->durations[i].step = pq_getmsgint(buf, 4);
		s->durations[i].seconds = pq_getmsgfloat8(buf);
	}
	s->ndurations = n;
	ValidateStats(s, VARSIZE(s));
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(funnel_stats_send);
Datum
funnel_stats_send(PG_FUNCTION_ARGS)
{
	FunnelStats *s = (FunnelStats *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	ValidateStats(s, VARSIZE(s));
	pq_begintypsend(&buf);
	pq_sendint32(&buf, s->nsteps);
	pq_sendint64(&buf, s->ndurations);
	for (int k = 0; k < s->nsteps; k++)
		pq_sendint64(&buf, s->users[k]);
	for (int64 i = 0; i < s->ndurations; i++)
	{
		pq_sendint32(&buf, s->durations[i].step);
		pq_sendfloat8(&buf, s->durations[i].seconds);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}
