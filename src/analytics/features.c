/*-------------------------------------------------------------------------
 *
 * features.c
 *	  user_feature_values: the per-user behaviour features of
 *	  retention.user_features as one aggregate, grouped by user.
 *
 * A group is one user.  Counts, sums and extreme timestamps are kept as
 * they come; the timestamps (for sessions and active days) and the item
 * keys (for distinct items) are collected and sorted once in the final
 * function, so the input needs no ORDER BY and no window function: the
 * state is proportional to the user's events before the cutoff.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "agg_context.h"
#include "bytea_state.h"
#include "feature_args.h"
#include "periods.h"

/* argument positions (0 is the state) */
enum
{
	A_TS = 1, A_KIND, A_ITEM, A_AMOUNT, A_CUTOFF, A_HORIZON, A_GAP,
	A_VIEW, A_CLICK, A_CART, A_PURCHASE, A_CHURN_ON, N_ARGS
};

StaticAssertDecl(A_CHURN_ON == A_CUTOFF + FEATURE_SETTING_ARGS - 1 && N_ARGS == A_CHURN_ON + 1,
				 "the settings arguments come last, in feature_args.h's order");

typedef struct FeatureState
{
	TimestampTz cutoff;
	int64		horizon;		/* microseconds */
	int64		gap;			/* microseconds */
	bool		churn_on_purchase;
	int64		views;
	int64		clicks;
	int64		carts;
	int64		purchases;
	int64		last30;
	int64		prev30;
	int64		future;
	Numeric		spend;			/* exact, so that the order of rows cannot matter */
	TimestampTz first_t;
	TimestampTz last_t;
	TimestampTz first_p;
	TimestampTz last_p;
	int			ntimes;
	int			maxtimes;
	TimestampTz *times;
	int			nitems;
	/* item keys back to back, each an int32 length and its bytes */
	char	   *itembuf;
	int64		itemlen;
	int64		itemcap;
	MemoryContext cxt;
} FeatureState;

/* an item key inside itembuf, for sorting */
typedef struct ItemRef
{
	const char *data;
	int32		len;
} ItemRef;

#define NFEATURES 18			/* 17 features and the churn label */

/* spend += amount, in the state's context */
static void
AddSpend(FeatureState *s, Numeric amount)
{
	MemoryContext old = MemoryContextSwitchTo(s->cxt);
	Numeric		sum;

	if (s->spend == NULL)
		sum = DatumGetNumericCopy(NumericGetDatum(amount));
	else
	{
		sum = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(s->spend),
												  NumericGetDatum(amount)));
		pfree(s->spend);
	}
	s->spend = sum;
	MemoryContextSwitchTo(old);
}

static double
SpendDouble(FeatureState *s)
{
	if (s->spend == NULL)
		return 0;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(s->spend)));
}

static FeatureState *
NewFeatureState(MemoryContext cxt)
{
	FeatureState *s = MemoryContextAllocZero(cxt, sizeof(FeatureState));

	s->cxt = cxt;
	s->first_t = DT_NOEND;
	s->last_t = DT_NOBEGIN;
	s->first_p = DT_NOEND;
	s->last_p = DT_NOBEGIN;
	return s;
}

static void
AddTime(FeatureState *s, TimestampTz t)
{
	if (s->ntimes == s->maxtimes)
	{
		s->maxtimes = Max(8, s->maxtimes * 2);
		s->times = s->times
			? repalloc_huge(s->times, s->maxtimes * sizeof(TimestampTz))
			: MemoryContextAlloc(s->cxt, s->maxtimes * sizeof(TimestampTz));
	}
	s->times[s->ntimes++] = t;
}

static void
AddItem(FeatureState *s, const char *data, int32 len)
{
	int64		need = s->itemlen + (int64) sizeof(int32) + len;

	if (need > s->itemcap)
	{
		s->itemcap = Max(64, Max(need, s->itemcap * 2));
		s->itembuf = s->itembuf
			? repalloc_huge(s->itembuf, s->itemcap)
			: MemoryContextAllocHuge(s->cxt, s->itemcap);
	}
	memcpy(s->itembuf + s->itemlen, &len, sizeof(int32));
	memcpy(s->itembuf + s->itemlen + sizeof(int32), data, len);
	s->itemlen = need;
	s->nitems++;
}

/* Transition: one event of the group's user. */
PG_FUNCTION_INFO_V1(user_feature_values_trans);
Datum
user_feature_values_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FeatureState *s;
	TimestampTz t;
	text	   *kind;
	bool		is_purchase;

	aggcxt = AggregateContext(fcinfo, "user_feature_values_trans");
	s = STATE_ARG(FeatureState, 0);

	FeatureCheckSettings(fcinfo, A_CUTOFF, "user_feature_values");
	/* SQL NULL, never a null pointer, until a row counts: serialise reads it */
	if (PG_ARGISNULL(A_TS))
		return KeepState(fcinfo);

	if (s == NULL)
	{
		s = NewFeatureState(aggcxt);
		FeatureReadSettings(fcinfo, A_CUTOFF, &s->cutoff, &s->horizon, &s->gap, &s->churn_on_purchase);
	}
	else
		FeatureCheckSameSettings(fcinfo, A_CUTOFF, s->cutoff, s->horizon, s->gap,
								 s->churn_on_purchase, "user_feature_values");

	t = PG_GETARG_TIMESTAMPTZ(A_TS);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot compute features from an infinite timestamp")));
	kind = PG_ARGISNULL(A_KIND) ? NULL : PG_GETARG_TEXT_PP(A_KIND);
	is_purchase = kind && FeatureTextEquals(kind, PG_GETARG_TEXT_PP(A_PURCHASE));

	if (t > s->cutoff)
	{
		/* after the cutoff: only the churn label looks */
		if (t - s->cutoff <= s->horizon && (!s->churn_on_purchase || is_purchase))
			s->future++;
		PG_RETURN_POINTER(s);
	}

	s->first_t = Min(s->first_t, t);
	s->last_t = Max(s->last_t, t);
	if (s->cutoff - t < 30 * USECS_PER_DAY)
		s->last30++;
	else if (s->cutoff - t < 60 * USECS_PER_DAY)
		s->prev30++;
	if (kind)
	{
		if (is_purchase)
		{
			s->purchases++;
			s->first_p = Min(s->first_p, t);
			s->last_p = Max(s->last_p, t);
			if (!PG_ARGISNULL(A_AMOUNT))
				AddSpend(s, PG_GETARG_NUMERIC(A_AMOUNT));
		}
		else if (FeatureTextEquals(kind, PG_GETARG_TEXT_PP(A_VIEW)))
			s->views++;
		else if (FeatureTextEquals(kind, PG_GETARG_TEXT_PP(A_CLICK)))
			s->clicks++;
		else if (FeatureTextEquals(kind, PG_GETARG_TEXT_PP(A_CART)))
			s->carts++;
	}
	AddTime(s, t);
	if (!PG_ARGISNULL(A_ITEM))
	{
		text	   *item = PG_GETARG_TEXT_PP(A_ITEM);

		AddItem(s, VARDATA_ANY(item), VARSIZE_ANY_EXHDR(item));
	}
	PG_RETURN_POINTER(s);
}

static int
CompareTimes(const void *a, const void *b)
{
	TimestampTz x = *(const TimestampTz *) a;
	TimestampTz y = *(const TimestampTz *) b;

	return (x > y) - (x < y);
}

static int
CompareItems(const void *a, const void *b)
{
	const ItemRef *x = (const ItemRef *) a;
	const ItemRef *y = (const ItemRef *) b;
	int			c = memcmp(x->data, y->data, Min(x->len, y->len));

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* Pointers to the items of s, one per item. */
static ItemRef *
ItemRefs(FeatureState *s)
{
	ItemRef    *refs = palloc(Max(s->nitems, 1) * sizeof(ItemRef));
	int64		off = 0;

	for (int i = 0; i < s->nitems; i++)
	{
		memcpy(&refs[i].len, s->itembuf + off, sizeof(int32));
		refs[i].data = s->itembuf + off + sizeof(int32);
		off += sizeof(int32) + refs[i].len;
	}
	return refs;
}

/*
 * Returns {days_since_last_event, days_since_last_purchase, purchases,
 * active_days, sessions, total_spend, avg_order_value, tenure_days,
 * avg_session_minutes, views, clicks, carts, click_through_rate,
 * view_to_purchase_rate, activity_trend, distinct_items,
 * mean_days_between_purchases, churned (1 or 0)} with NULL where a value is
 * undefined; NULL for a user without events before the cutoff.
 */
PG_FUNCTION_INFO_V1(user_feature_values_final);
Datum
user_feature_values_final(PG_FUNCTION_ARGS)
{
	FeatureState *s = STATE_ARG(FeatureState, 0);
	Datum		v[NFEATURES];
	bool		nulls[NFEATURES] = {0};
	int64		sessions = 0;
	int64		session_usec = 0;
	int64		days = 0;
	int64		items = 0;
	int32		prev_day = 0;
	PeriodCalc	calc;
	int			dims[1] = {NFEATURES};
	int			lbs[1] = {1};

	if (s == NULL || s->ntimes == 0)
		PG_RETURN_NULL();

	qsort(s->times, s->ntimes, sizeof(TimestampTz), CompareTimes);
	PeriodCalcInit(&calc, PERIOD_DAY);
	for (int i = 0; i < s->ntimes; i++)
	{
		int32		day = PeriodIndex(&calc, s->times[i]);

		if (i == 0 || s->times[i] - s->times[i - 1] > s->gap)
			sessions++;
		else
			session_usec += s->times[i] - s->times[i - 1];
		if (i == 0 || day != prev_day)
			days++;
		prev_day = day;
	}
	if (s->nitems > 0)
	{
		ItemRef    *refs = ItemRefs(s);

		qsort(refs, s->nitems, sizeof(ItemRef), CompareItems);
		for (int i = 0; i < s->nitems; i++)
			if (i == 0 || CompareItems(&refs[i], &refs[i - 1]) != 0)
				items++;
		pfree(refs);
	}

	v[0] = Float8GetDatum(FeatureDays(s->cutoff - s->last_t));
	v[1] = Float8GetDatum(FeatureDays(s->cutoff - s->last_p));
	nulls[1] = s->purchases == 0;
	v[2] = Float8GetDatum((double) s->purchases);
	v[3] = Float8GetDatum((double) days);
	v[4] = Float8GetDatum((double) sessions);
	v[5] = Float8GetDatum(SpendDouble(s));
	nulls[5] = s->purchases == 0;
	v[6] = Float8GetDatum(s->purchases > 0 ? SpendDouble(s) / s->purchases : 0);
	nulls[6] = s->purchases == 0;
	v[7] = Float8GetDatum(FeatureDays(s->cutoff - s->first_t));
	v[8] = Float8GetDatum((double) session_usec / USECS_PER_SEC / 60.0 / sessions);
	v[9] = Float8GetDatum((double) s->views);
	v[10] = Float8GetDatum((double) s->clicks);
	v[11] = Float8GetDatum((double) s->carts);
	v[12] = Float8GetDatum(s->views > 0 ? (double) s->clicks / s->views : 0);
	nulls[12] = s->views == 0;
	v[13] = Float8GetDatum(s->views > 0 ? (double) s->purchases / s->views : 0);
	nulls[13] = s->views == 0;
	v[14] = Float8GetDatum(s->last30 + s->prev30 > 0
						   ? (double) (s->last30 - s->prev30) / (double) (s->last30 + s->prev30) : 0);
	v[15] = Float8GetDatum((double) items);
	v[16] = Float8GetDatum(s->purchases > 1
						   ? FeatureDays(s->last_p - s->first_p) / (double) (s->purchases - 1) : 0);
	nulls[16] = s->purchases <= 1;
	v[17] = Float8GetDatum(s->future == 0 ? 1.0 : 0.0);

	PG_RETURN_ARRAYTYPE_P(construct_md_array(v, nulls, 1, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Combines two partial states of one user (parallel partial aggregation). */
PG_FUNCTION_INFO_V1(user_feature_values_combine);
Datum
user_feature_values_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FeatureState *a = STATE_ARG(FeatureState, 0);
	FeatureState *b = STATE_ARG(FeatureState, 1);

	aggcxt = AggregateContext(fcinfo, "user_feature_values_combine");
	/* nothing to add: the first state as it is, SQL NULL if that is NULL */
	if (b == NULL)
		return KeepState(fcinfo);
	if (a == NULL)
	{
		a = NewFeatureState(aggcxt);
		a->cutoff = b->cutoff;
		a->horizon = b->horizon;
		a->gap = b->gap;
		a->churn_on_purchase = b->churn_on_purchase;
	}
	a->views += b->views;
	a->clicks += b->clicks;
	a->carts += b->carts;
	a->purchases += b->purchases;
	a->last30 += b->last30;
	a->prev30 += b->prev30;
	a->future += b->future;
	if (b->spend != NULL)
		AddSpend(a, b->spend);
	a->first_t = Min(a->first_t, b->first_t);
	a->last_t = Max(a->last_t, b->last_t);
	a->first_p = Min(a->first_p, b->first_p);
	a->last_p = Max(a->last_p, b->last_p);
	for (int i = 0; i < b->ntimes; i++)
		AddTime(a, b->times[i]);
	if (b->nitems > 0)
	{
		ItemRef    *refs = ItemRefs(b);

		for (int i = 0; i < b->nitems; i++)
			AddItem(a, refs[i].data, refs[i].len);
		pfree(refs);
	}
	PG_RETURN_POINTER(a);
}

typedef struct FeatureHeader
{
	int64		cutoff,
				horizon,
				gap,
				churn_on_purchase,
				views,
				clicks,
				carts,
				purchases,
				last30,
				prev30,
				future;
	int64		spend_len;		/* bytes of the numeric after the items, 0 if none */
	int64		first_t,
				last_t,
				first_p,
				last_p,
				ntimes,
				nitems;
} FeatureHeader;

/* Serialises a feature state: header, timestamps, then length-prefixed items. */
PG_FUNCTION_INFO_V1(user_feature_values_serialize);
Datum
user_feature_values_serialize(PG_FUNCTION_ARGS)
{
	FeatureState *s = (FeatureState *) PG_GETARG_POINTER(0);
	FeatureHeader h = {s->cutoff, s->horizon, s->gap, s->churn_on_purchase, s->views, s->clicks,
		s->carts, s->purchases, s->last30, s->prev30, s->future,
		s->spend ? VARSIZE(s->spend) : 0, s->first_t, s->last_t,
	s->first_p, s->last_p, s->ntimes, s->nitems};
	StringInfoData buf;

	ByteaStateBegin(&buf);
	appendBinaryStringInfo(&buf, (char *) &h, sizeof(h));
	appendBinaryStringInfo(&buf, (char *) s->times, s->ntimes * sizeof(TimestampTz));
	/* the item arena is already length-prefixed */
	if (s->itemlen > 0)
		appendBinaryStringInfo(&buf, s->itembuf, s->itemlen);
	if (s->spend)
		appendBinaryStringInfo(&buf, (char *) s->spend, VARSIZE(s->spend));
	PG_RETURN_BYTEA_P(ByteaStateEnd(&buf));
}

/* Rebuilds a feature state, checking every length against the bytes left. */
PG_FUNCTION_INFO_V1(user_feature_values_deserialize);
Datum
user_feature_values_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ByteaReader r;
	FeatureHeader h;
	FeatureState *s;

	aggcxt = AggregateContext(fcinfo, "user_feature_values_deserialize");
	ByteaReaderInit(&r, PG_GETARG_BYTEA_PP(0), "user_feature_values state is truncated or malformed");
	ByteaRead(&r, &h, sizeof(h));
	if (h.ntimes < 0 || h.nitems < 0 || h.nitems > h.ntimes ||
		h.ntimes > (int64) (ByteaLeft(&r) / sizeof(TimestampTz)))
		ByteaReaderError(&r);
	s = NewFeatureState(aggcxt);
	s->cutoff = h.cutoff;
	s->horizon = h.horizon;
	s->gap = h.gap;
	s->churn_on_purchase = h.churn_on_purchase != 0;
	s->views = h.views;
	s->clicks = h.clicks;
	s->carts = h.carts;
	s->purchases = h.purchases;
	s->last30 = h.last30;
	s->prev30 = h.prev30;
	s->future = h.future;
	s->first_t = h.first_t;
	s->last_t = h.last_t;
	s->first_p = h.first_p;
	s->last_p = h.last_p;
	for (int64 i = 0; i < h.ntimes; i++)
	{
		TimestampTz t;

		ByteaRead(&r, &t, sizeof(t));
		AddTime(s, t);
	}
	for (int64 i = 0; i < h.nitems; i++)
	{
		int32		len;

		ByteaRead(&r, &len, sizeof(len));
		if (len < 0)
			ByteaReaderError(&r);
		AddItem(s, ByteaTake(&r, len), len);
	}
	if (h.spend_len != 0)
	{
		if (h.spend_len < VARHDRSZ || ByteaLeft(&r) != (Size) h.spend_len)
			ByteaReaderError(&r);
		s->spend = MemoryContextAlloc(aggcxt, h.spend_len);
		ByteaRead(&r, s->spend, h.spend_len);
		if (VARSIZE(s->spend) != h.spend_len)
			ByteaReaderError(&r);
	}
	if (ByteaLeft(&r) != 0)
		ByteaReaderError(&r);
	PG_RETURN_POINTER(s);
}
