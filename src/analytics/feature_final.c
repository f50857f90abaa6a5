/*-------------------------------------------------------------------------
 *
 * feature_final.c
 *	  The final function of user_feature_table (feature_table.h): the
 *	  events' times and item keys grouped by user with one counting sort,
 *	  each user's few sorted in place, and one FtRow per user, by user id.
 *
 * The values are computed as user_feature_values_final computes them
 * (features.c), expression for expression, so that both give the same
 * bits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "agg_context.h"
#include "feature_args.h"
#include "feature_table.h"
#include "periods.h"

/* the values of list grouped by user: user i's are out[start[i] .. start[i + 1]) */
static int64 *
GroupByUser(FtState *s, const FtList *list, size_t count_offset, int64 **start_out)
{
	const FtUser *users = s->users;
	int64		nusers = s->nusers;
	int64	   *start = palloc_extended((nusers + 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	int64	   *next = palloc_extended(Max(nusers, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	int64	   *out = FtAlloc(s, Max(list->n, 1) * sizeof(int64));

	start[0] = 0;
	for (int64 i = 0; i < nusers; i++)
	{
		start[i + 1] = start[i] + *(const int64 *) ((const char *) &users[i] + count_offset);
		next[i] = start[i];
	}
	Assert(start[nusers] == list->n);
	for (FtChunk *c = list->head; c != NULL; c = c->next)
		for (int64 j = 0; j < c->n; j++)
			out[next[c->uidx[j]]++] = c->value[j];
	pfree(next);
	*start_out = start;
	return out;
}

static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* a user's few values: insertion sort; qsort beyond */
static void
SortValues(int64 *a, int64 n)
{
	if (n > 24)
	{
		qsort(a, n, sizeof(int64), CompareInt64);
		return;
	}
	for (int64 i = 1; i < n; i++)
	{
		int64		x = a[i];
		int64		j = i;

		while (j > 0 && a[j - 1] > x)
		{
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
}

/* distinct values among a[0 .. n), sorting them */
static int64
CountDistinct(int64 *a, int64 n)
{
	int64		d = 0;

	SortValues(a, n);
	for (int64 i = 0; i < n; i++)
		if (i == 0 || a[i] != a[i - 1])
			d++;
	return d;
}

static int
CompareUserIds(const void *a, const void *b, void *arg)
{
	const FtUser *users = (const FtUser *) arg;
	int64		x = users[*(const uint32 *) a].user_id;
	int64		y = users[*(const uint32 *) b].user_id;

	return (x > y) - (x < y);
}

/* one user's row from the summary and the sorted times */
static void
FillRow(FtState *s, FtUser *u, const int64 *times, int64 items, PeriodCalc *calc, FtRow *row)
{
	double	   *v = row->v;
	int64		nulls = 0;
	int64		sessions = 0;
	int64		session_usec = 0;
	int64		days = 0;
	int32		prev_day = 0;

	for (int64 i = 0; i < u->ntimes; i++)
	{
		int32		day = PeriodIndex(calc, times[i]);

		if (i == 0 || times[i] - times[i - 1] > s->gap)
			sessions++;
		else
			session_usec += times[i] - times[i - 1];
		if (i == 0 || day != prev_day)
			days++;
		prev_day = day;
	}
	row->user_id = u->user_id;
	v[0] = FeatureDays(s->cutoff - u->last_t);
	v[1] = FeatureDays(s->cutoff - u->last_p);
	if (u->purchases == 0)
		nulls |= 1 << 1;
	v[2] = (double) u->purchases;
	v[3] = (double) days;
	v[4] = (double) sessions;
	v[5] = u->purchases > 0 ? FtSpendDouble(s, u) : 0;
	v[6] = u->purchases > 0 ? v[5] / u->purchases : 0;
	if (u->purchases == 0)
		nulls |= (1 << 5) | (1 << 6);
	v[7] = FeatureDays(s->cutoff - u->first_t);
	v[8] = (double) session_usec / USECS_PER_SEC / 60.0 / sessions;
	v[9] = (double) u->views;
	v[10] = (double) u->clicks;
	v[11] = (double) u->carts;
	v[12] = u->views > 0 ? (double) u->clicks / u->views : 0;
	v[13] = u->views > 0 ? (double) u->purchases / u->views : 0;
	if (u->views == 0)
		nulls |= (1 << 12) | (1 << 13);
	v[14] = u->last30 + u->prev30 > 0
		? (double) (u->last30 - u->prev30) / (double) (u->last30 + u->prev30) : 0;
	v[15] = (double) items;
	v[16] = u->purchases > 1 ? FeatureDays(u->last_p - u->first_p) / (double) (u->purchases - 1) : 0;
	if (u->purchases <= 1)
		nulls |= 1 << 16;
	v[17] = u->future == 0 ? 1.0 : 0.0;
	row->nulls = nulls;
}

bytea *
FtFinal(FtState *s)
{
	int64	   *tstart,
			   *istart,
			   *xstart;
	int64	   *times;
	int64	   *ints;
	int64	   *texts;
	uint32	   *order;
	int64		nrows = 0;
	bytea	   *result;
	FtRow	   *rows;
	PeriodCalc	calc;

	FtFlush(s);
	times = GroupByUser(s, &s->times, offsetof(FtUser, ntimes), &tstart);
	ints = GroupByUser(s, &s->ints, offsetof(FtUser, nints), &istart);
	texts = GroupByUser(s, &s->texts, offsetof(FtUser, ntexts), &xstart);
	order = palloc_extended(Max(s->nusers, 1) * sizeof(uint32), MCXT_ALLOC_HUGE);

	for (int64 i = 0; i < s->nusers; i++)
		if (s->users[i].ntimes > 0)
			order[nrows++] = (uint32) i;
	qsort_arg(order, nrows, sizeof(uint32), CompareUserIds, s->users);
	result = palloc_extended(VARHDRSZ + sizeof(int64) + nrows * sizeof(FtRow), 0);
	SET_VARSIZE(result, VARHDRSZ + sizeof(int64) + nrows * sizeof(FtRow));
	*(int64 *) VARDATA(result) = FT_MAGIC;
	rows = (FtRow *) (VARDATA(result) + sizeof(int64));
	PeriodCalcInit(&calc, PERIOD_DAY);
	for (int64 r = 0; r < nrows; r++)
	{
		uint32		i = order[r];
		FtUser	   *u = &s->users[i];
		int64		items;

		CHECK_FOR_INTERRUPTS();
		SortValues(times + tstart[i], u->ntimes);
		items = CountDistinct(ints + istart[i], u->nints) + CountDistinct(texts + xstart[i], u->ntexts);
		FillRow(s, u, times + tstart[i], items, &calc, &rows[r]);
	}
	pfree(order);
	pfree(times);
	pfree(ints);
	pfree(texts);
	pfree(tstart);
	pfree(istart);
	pfree(xstart);
	return result;
}

/* Final: one row per user with events at or before the cutoff, by user id. */
PG_FUNCTION_INFO_V1(user_feature_table_final);
Datum
user_feature_table_final(PG_FUNCTION_ARGS)
{
	FtState    *s = STATE_ARG(FtState, 0);

	if (s == NULL)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(FtFinal(s));
}
