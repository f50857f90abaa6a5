/*-------------------------------------------------------------------------
 *
 * funnel_search.c
 *	  The final function of stage one of the funnel, funnel_user: sorts a
 *	  user's events once, finds the furthest step any attempt reaches
 *	  (ordered, strict or unordered; see funnel_user.c for the semantics),
 *	  the times of the earliest attempt that got there and its first-touch
 *	  breakdown.
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
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "agg_context.h"
#include "funnel.h"

static int
CompareEvents(const void *a, const void *b)
{
	const FunnelEvent *x = a;
	const FunnelEvent *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return 0;
}

/* The user's events grouped by instant, with counts per step type. */
typedef struct Instants
{
	int			n;
	int			ntypes;
	TimestampTz *ts;
	int		   *first;			/* index of the instant's first event */
	int32	   *count;			/* n x ntypes */
	int		   *next;			/* (n + 1) x ntypes, for FunnelOrdered */
} Instants;

static void
BuildInstants(Instants *in, const FunnelEvent *ev, int64 nev, int ntypes, FunnelScratch *scratch)
{
	int			j = -1;
	Size		per = Max(ntypes, 1) * sizeof(int32);

	in->ntypes = ntypes;
	if (scratch == NULL)
	{
		in->ts = palloc(Max(nev, 1) * sizeof(TimestampTz));
		in->first = palloc(Max(nev, 1) * sizeof(int));
		in->count = palloc0(Max(nev, 1) * per);
		in->next = palloc((nev + 1) * per);
	}
	else
	{
		if (nev > scratch->cap || ntypes != scratch->ntypes)
		{
			MemoryContext old = MemoryContextSwitchTo(scratch->cxt);

			if (scratch->cap > 0)
			{
				pfree(scratch->ts);
				pfree(scratch->first);
				pfree(scratch->count);
				pfree(scratch->next);
			}
			scratch->cap = Max(nev, Max(2 * scratch->cap, 64));
			scratch->ntypes = ntypes;
			scratch->ts = palloc(scratch->cap * sizeof(TimestampTz));
			scratch->first = palloc(scratch->cap * sizeof(int));
			scratch->count = palloc(scratch->cap * per);
			scratch->next = palloc((scratch->cap + 1) * per);
			MemoryContextSwitchTo(old);
		}
		in->ts = scratch->ts;
		in->first = scratch->first;
		in->count = scratch->count;
		in->next = scratch->next;
		memset(in->count, 0, Max(nev, 1) * per);
	}
	for (int64 i = 0; i < nev; i++)
	{
		if (j < 0 || ev[i].ts != in->ts[j])
		{
			j++;
			in->ts[j] = ev[i].ts;
			in->first[j] = (int) i;
		}
		if (ev[i].type >= 0)
			in->count[j * ntypes + ev[i].type]++;
	}
	in->n = j + 1;
}

static inline bool
InRange(const FunnelConfig *cfg, TimestampTz t)
{
	return (!cfg->have_from || t >= cfg->date_from) && (!cfg->have_to || t < cfg->date_to);
}

static TimestampTz
Deadline(const FunnelConfig *cfg, TimestampTz t)
{
	TimestampTz d;
	long		gmtoff;

	/* a window of hours and less needs no calendar (nor time zone) */
	if (cfg->window.month == 0 && cfg->window.day == 0)
		return pg_add_s64_overflow(t, cfg->window.time, &d) ? PG_INT64_MAX : d;

	/*
	 * In a zone of one fixed offset (UTC) a day is 24 hours; away from the
	 * ends of the range, where the calendar's checks could raise errors
	 */
	if (cfg->window.month == 0 && t >= MIN_TIMESTAMP + 2 * USECS_PER_DAY &&
		pg_get_timezone_offset(session_timezone, &gmtoff) &&
		!pg_mul_s64_overflow(cfg->window.day, USECS_PER_DAY, &d) &&
		!pg_add_s64_overflow(d, cfg->window.time, &d) &&
		!pg_add_s64_overflow(d, t, &d) && d < END_TIMESTAMP - 2 * USECS_PER_DAY)
		return d;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(t),
												   IntervalPGetDatum(&cfg->window)));
}

/*
 * Ordered: from a start instant, each step takes the earliest instant at or
 * after the previous step's that holds an unused event of its type.  Taking
 * as many steps as possible at every instant is optimal (an earlier choice
 * leaves a superset of the later ones), so the walk is greedy.  next[T][j]
 * is the first instant at or after j with an event of type T.
 */
static void
FunnelOrdered(const FunnelConfig *cfg, const Instants *in, FunnelOutcome *best)
{
	int			nt = cfg->ntypes;
	int			n = in->n;
	int		   *next = in->next;
	int			avail[FUNNEL_MAX_STEPS];
	int			t1 = cfg->step_type[0];

	for (int t = 0; t < nt; t++)
		next[n * nt + t] = -1;
	for (int j = n - 1; j >= 0; j--)
		for (int t = 0; t < nt; t++)
			next[j * nt + t] = in->count[j * nt + t] > 0 ? j : next[(j + 1) * nt + t];

	for (int j0 = 0; j0 < n; j0++)
	{
		FunnelOutcome cur;
		TimestampTz deadline;
		bool		cut = false;
		int			i = 0;
		int			j = j0;

		if (in->count[j0 * nt + t1] == 0 || !InRange(cfg, in->ts[j0]))
			continue;
		CHECK_FOR_INTERRUPTS();
		deadline = Deadline(cfg, in->ts[j0]);
		for (;;)
		{
			memcpy(avail, &in->count[j * nt], nt * sizeof(int));
			while (i < cfg->nsteps && avail[cfg->step_type[i]] > 0)
			{
				avail[cfg->step_type[i]]--;
				cur.times[i++] = in->ts[j];
			}
			if (i == cfg->nsteps)
				break;
			j = next[(j + 1) * nt + cfg->step_type[i]];
			if (j < 0)
				break;
			if (in->ts[j] > deadline)
			{
				cut = true;
				break;
			}
		}
		if (i > best->reached)
		{
			best->reached = i;
			best->start = j0;
			memcpy(best->times, cur.times, i * sizeof(TimestampTz));
		}
		/* a later start only helps when the window cut this attempt short */
		if (i == cfg->nsteps || !cut)
			break;
	}
}

/*
 * Strict: an attempt occupies consecutive instants of the user's events,
 * filling a non-empty run of steps at each (any instant skipped would hold
 * an event between two steps).  R[d][i], for the d-th instant after the
 * start with steps 0..i-1 already filled, is the furthest step reachable;
 * the attempt reported takes the longest run at every instant that still
 * reaches the best, which gives each step its earliest possible time.
 */
static void
FunnelStrict(const FunnelConfig *cfg, const Instants *in, FunnelOutcome *best)
{
	int			nt = cfg->ntypes;
	int			ns = cfg->nsteps;
	int			t1 = cfg->step_type[0];
	int		   *R = palloc((Size) (ns + 1) * (ns + 1) * sizeof(int));

	for (int j0 = 0; j0 < in->n; j0++)
	{
		TimestampTz deadline;
		int			span;
		int			i;
		int			d;
		FunnelOutcome cur;

		if (in->count[j0 * nt + t1] == 0 || !InRange(cfg, in->ts[j0]))
			continue;
		CHECK_FOR_INTERRUPTS();
		deadline = Deadline(cfg, in->ts[j0]);
		/* instants usable: at most one per step, none after the deadline */
		for (span = 1; span < ns && j0 + span < in->n && in->ts[j0 + span] <= deadline; span++)
			;
		for (d = span; d >= 0; d--)
			for (i = ns; i >= 0; i--)
			{
				int			r = i;

				if (d < span && i < ns)
				{
					int			avail[FUNNEL_MAX_STEPS];

					memcpy(avail, &in->count[(j0 + d) * nt], nt * sizeof(int));
					for (int m = i; m < ns && avail[cfg->step_type[m]] > 0; m++)
					{
						int			via;

						avail[cfg->step_type[m]]--;
						via = R[(d + 1) * (ns + 1) + m + 1];
						if (via > r)
							r = via;
					}
				}
				R[d * (ns + 1) + i] = r;
			}

		/* R[d][i] >= i; at the start, step 0 fits by the test above */
		if (R[0] <= best->reached)
			continue;
		cur.reached = R[0];
		i = 0;
		for (d = 0; i < cur.reached; d++)
		{
			int			avail[FUNNEL_MAX_STEPS];
			int			m;
			int			take = i;

			memcpy(avail, &in->count[(j0 + d) * nt], nt * sizeof(int));
			for (m = i; m < ns && avail[cfg->step_type[m]] > 0; m++)
			{
				avail[cfg->step_type[m]]--;
				if (R[(d + 1) * (ns + 1) + m + 1] == cur.reached)
					take = m + 1;
			}
			Assert(take > i);
			for (; i < take; i++)
				cur.times[i] = in->ts[j0 + d];
		}
		best->reached = cur.reached;
		best->start = j0;
		memcpy(best->times, cur.times, cur.reached * sizeof(TimestampTz));
		if (best->reached == ns)
			break;
	}
	pfree(R);
}

/*
 * Unordered: for each start instant, the window [start, deadline] holds
 * min(count, multiplicity) usable events of each step type; the earliest
 * start with the largest total wins, and its steps are the earliest such
 * events in time order.  Both window ends only move forward.
 */
static void
FunnelUnordered(const FunnelConfig *cfg, const Instants *in, FunnelOutcome *best)
{
	int			nt = cfg->ntypes;
	int			win[FUNNEL_MAX_STEPS] = {0};
	int			end = 0;		/* first instant past the window */
	int			bestj = -1;

	for (int j0 = 0; j0 < in->n; j0++)
	{
		TimestampTz deadline;
		int			total = 0;

		/* drop the previous instant, if the window held it */
		if (j0 > 0 && end > j0 - 1)
			for (int t = 0; t < nt; t++)
				win[t] -= in->count[(j0 - 1) * nt + t];
		if (end < j0)
			end = j0;
		if (!InRange(cfg, in->ts[j0]))
			continue;
		CHECK_FOR_INTERRUPTS();
		deadline = Deadline(cfg, in->ts[j0]);
		for (; end < in->n && in->ts[end] <= deadline; end++)
			for (int t = 0; t < nt; t++)
				win[t] += in->count[end * nt + t];
		for (int t = 0; t < nt; t++)
			total += Min(win[t], cfg->mult[t]);
		if (total > best->reached)
		{
			best->reached = total;
			bestj = j0;
			if (total == cfg->nsteps)
				break;
		}
	}
	if (bestj >= 0)
	{
		int			taken[FUNNEL_MAX_STEPS] = {0};
		int			k = 0;

		best->start = bestj;
		for (int j = bestj; k < best->reached; j++)
			for (int t = 0; t < nt; t++)
			{
				int			c = Min(in->count[j * nt + t], cfg->mult[t] - taken[t]);

				taken[t] += c;
				while (c-- > 0)
					best->times[k++] = in->ts[j];
			}
	}
}

/* The least breakdown (byte order, NULL last) of the events that can start at event "first"'s instant. */
const char *
FunnelFirstTouch(const FunnelConfig *cfg, const char *pool, const FunnelEvent *ev, int64 nev,
				 int64 first)
{
	const char *least = NULL;

	for (int64 i = first; i < nev && ev[i].ts == ev[first].ts; i++)
	{
		const char *s;

		if (!CanStart(cfg, ev[i].type) || ev[i].brk == NO_BREAKDOWN)
			continue;
		s = pool + ev[i].brk;
		if (least == NULL || strcmp(s, least) < 0)
			least = s;
	}
	return least;
}

/* Sorts events by (ts, type): insertion sort for the few events most users have. */
void
FunnelSortEvents(FunnelEvent *ev, int64 n)
{
	if (n > 24)
	{
		qsort(ev, n, sizeof(FunnelEvent), CompareEvents);
		return;
	}
	for (int64 i = 1; i < n; i++)
	{
		FunnelEvent x = ev[i];
		int64		j = i;

		while (j > 0 && (ev[j - 1].ts > x.ts || (ev[j - 1].ts == x.ts && ev[j - 1].type > x.type)))
		{
			ev[j] = ev[j - 1];
			j--;
		}
		ev[j] = x;
	}
}

/* The furthest step of one user's sorted events, and the attempt that got there. */
void
FunnelSearch(const FunnelConfig *cfg, const FunnelEvent *ev, int64 nev, FunnelOutcome *best,
			 FunnelScratch *scratch)
{
	Instants	in;

	BuildInstants(&in, ev, nev, cfg->ntypes, scratch);
	best->reached = 0;
	best->start = -1;
	best->start_event = -1;
	if (in.n > 0)
	{
		if (cfg->mode == FUNNEL_ORDERED)
			FunnelOrdered(cfg, &in, best);
		else if (cfg->mode == FUNNEL_STRICT)
			FunnelStrict(cfg, &in, best);
		else
			FunnelUnordered(cfg, &in, best);
	}
	if (best->reached > 0)
		best->start_event = in.first[best->start];
}

/*
 * Final of funnel_user: the composite retention.funnel_progress
 * (reached, started, breakdown, seconds).
 */
PG_FUNCTION_INFO_V1(funnel_user_final);
Datum
funnel_user_final(PG_FUNCTION_ARGS)
{
	FunnelState *state = STATE_ARG(FunnelState, 0);
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, true, true, true};
	FunnelOutcome best;
	FunnelEvent *ev;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "funnel_user_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (state == NULL)
		PG_RETURN_NULL();

	/* sort a copy: a final function must leave its state as it found it */
	ev = palloc(Max(state->nevents, 1) * sizeof(FunnelEvent));
	memcpy(ev, state->events, state->nevents * sizeof(FunnelEvent));
	FunnelSortEvents(ev, state->nevents);
	FunnelSearch(&state->cfg, ev, state->nevents, &best, NULL);

	values[0] = Int32GetDatum(best.reached);
	if (best.reached > 0)
	{
		Datum		secs[FUNNEL_MAX_STEPS];
		bool		secnulls[FUNNEL_MAX_STEPS];
		int			dims[1] = {state->cfg.nsteps};
		int			lbs[1] = {1};
		const char *brk = FunnelFirstTouch(&state->cfg, state->pool.data, ev, state->nevents,
												   best.start_event);

		values[1] = TimestampTzGetDatum(best.times[0]);
		nulls[1] = false;
		if (brk != NULL)
		{
			values[2] = CStringGetTextDatum(brk);
			nulls[2] = false;
		}
		for (int k = 0; k < state->cfg.nsteps; k++)
		{
			secnulls[k] = k == 0 || k >= best.reached;
			secs[k] = secnulls[k] ? (Datum) 0 :
				Float8GetDatum((double) (best.times[k] - best.times[k - 1]) / USECS_PER_SEC);
		}
		values[3] = PointerGetDatum(construct_md_array(secs, secnulls, 1, dims, lbs, FLOAT8OID,
													   sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		nulls[3] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
