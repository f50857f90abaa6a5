/*-------------------------------------------------------------------------
 *
 * feature_table_io.c
 *	  The bytea forms of user_feature_table (feature_table.h): its state
 *	  for parallel workers, read back with every field checked here, and
 *	  its result, turned into user_features' rows by user_feature_rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "agg_context.h"
#include "bytea_state.h"
#include "feature_table.h"

#define FT_STATE_MAGIC		INT64CONST(0x55465453)	/* "UFTS" */

/* the header of a serialised state: counts of what follows */
typedef struct FtHeader
{
	int64		magic;
	int64		cutoff;
	int64		horizon;
	int64		gap;
	int64		churn_on_purchase;
	int64		nusers;
	int64		ntimes;
	int64		nints;
	int64		ntexts;
	int64		ndict;
	int64		dict_bytes;
	int64		nbigs;
} FtHeader;

/* a user as serialised: FtUser's fields as int64s, the spend in two halves */
typedef struct FtUserDisk
{
	int64		user_id;
	int64		counts[7];		/* views, clicks, carts, purchases, last30, prev30, future */
	int64		first_t;
	int64		last_t;
	int64		first_p;
	int64		last_p;
	int64		ntimes;
	int64		nints;
	int64		ntexts;
	int64		spend_hi;
	int64		spend_lo;
	int64		scale;
	int64		big;
} FtUserDisk;

static void
WriteList(StringInfo buf, const FtList *list)
{
	for (FtChunk *c = list->head; c != NULL; c = c->next)
		appendBinaryStringInfo(buf, (char *) c->uidx, c->n * sizeof(uint32));
	for (FtChunk *c = list->head; c != NULL; c = c->next)
		appendBinaryStringInfo(buf, (char *) c->value, c->n * sizeof(int64));
}

static void
WriteUser(StringInfo buf, const FtUser *u)
{
	FtUserDisk	d;

	d.user_id = u->user_id;
	d.counts[0] = u->views;
	d.counts[1] = u->clicks;
	d.counts[2] = u->carts;
	d.counts[3] = u->purchases;
	d.counts[4] = u->last30;
	d.counts[5] = u->prev30;
	d.counts[6] = u->future;
	d.first_t = u->first_t;
	d.last_t = u->last_t;
	d.first_p = u->first_p;
	d.last_p = u->last_p;
	d.ntimes = u->ntimes;
	d.nints = u->nints;
	d.ntexts = u->ntexts;
#ifdef HAVE_INT128
	d.spend_hi = (int64) (u->spend.sum >> 64);
	d.spend_lo = (int64) (uint64) u->spend.sum;
#else
	d.spend_hi = u->spend.sum < 0 ? -1 : 0;
	d.spend_lo = u->spend.sum;
#endif
	d.scale = u->spend.scale;
	d.big = u->big;
	appendBinaryStringInfo(buf, (char *) &d, sizeof(d));
}

/* Serialises a state: header, users, the three lists, texts, numeric spends. */
PG_FUNCTION_INFO_V1(user_feature_table_serialize);
Datum
user_feature_table_serialize(PG_FUNCTION_ARGS)
{
	FtState    *s = (FtState *) PG_GETARG_POINTER(0);
	FtHeader	h;
	StringInfoData buf;

	FtFlush(s);
	h = (FtHeader) {FT_STATE_MAGIC, s->cutoff, s->horizon, s->gap, s->churn_on_purchase,
		s->nusers, s->times.n, s->ints.n, s->texts.n, s->ndict,
	s->ndict > 0 ? s->doff[s->ndict] : 0, s->nbigs};

	ByteaStateBegin(&buf);
	/* the bytes known in advance, so that the buffer is not copied as it grows */
	enlargeStringInfo(&buf, Min(MaxAllocSize - VARHDRSZ - 1,
								sizeof(h) + s->nusers * sizeof(FtUserDisk) +
								(s->times.n + s->ints.n + s->texts.n) * (sizeof(uint32) + sizeof(int64)) +
								s->ndict * sizeof(int32) + h.dict_bytes));
	appendBinaryStringInfo(&buf, (char *) &h, sizeof(h));
	for (int64 i = 0; i < s->nusers; i++)
		WriteUser(&buf, &s->users[i]);
	WriteList(&buf, &s->times);
	WriteList(&buf, &s->ints);
	WriteList(&buf, &s->texts);
	for (int64 i = 0; i < s->ndict; i++)
	{
		int32		len = s->doff[i + 1] - s->doff[i];

		appendBinaryStringInfo(&buf, (char *) &len, sizeof(len));
	}
	if (s->ndict > 0)
		appendBinaryStringInfo(&buf, s->dbuf, s->doff[s->ndict]);
	for (int32 i = 0; i < s->nbigs; i++)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(s->bigs[i])));
		int32		len = strlen(text);

		appendBinaryStringInfo(&buf, (char *) &len, sizeof(len));
		appendBinaryStringInfo(&buf, text, len);
		pfree(text);
	}
	PG_RETURN_BYTEA_P(ByteaStateEnd(&buf));
}

/*
 * Reads n entries of a list into one chunk, checking the user indexes and,
 * below vmax, the values; counts[i] = the entries of user i.
 */
static FtChunk *
ReadList(ByteaReader *r, FtState *s, FtList *list, int64 n, int64 vmax, int64 *counts)
{
	FtChunk    *c;

	if (n < 0 || (uint64) n > ByteaLeft(r) / (sizeof(uint32) + sizeof(int64)))
		ByteaReaderError(r);
	c = FtAddChunk(s, list, Max(n, 1));
	ByteaRead(r, c->uidx, n * sizeof(uint32));
	ByteaRead(r, c->value, n * sizeof(int64));
	c->n = list->n = n;
	memset(counts, 0, Max(s->nusers, 1) * sizeof(int64));
	for (int64 i = 0; i < n; i++)
	{
		if (c->uidx[i] >= s->nusers ||
			(vmax >= 0 && (c->value[i] < 0 || c->value[i] >= vmax)))
			ByteaReaderError(r);
		counts[c->uidx[i]]++;
	}
	return c;
}

/* each user's count at offset equals the entries of the list that name it */
static void
CheckCounts(ByteaReader *r, FtState *s, const int64 *counts, size_t offset)
{
	for (int64 i = 0; i < s->nusers; i++)
		if (*(int64 *) ((char *) &s->users[i] + offset) != counts[i])
			ByteaReaderError(r);
}

/* Checks one user read as d into u; big_used marks the numeric spends taken. */
static void
ReadUser(ByteaReader *r, const FtUserDisk *dp, FtUser *u, bool *big_used, int64 nbigs, TimestampTz cutoff)
{
	FtUserDisk	d = *dp;
	int64		sum = 0;

	for (int i = 0; i < 7; i++)
		if (d.counts[i] < 0 || (i < 6 && d.counts[i] > d.ntimes) || d.counts[i] > (INT64CONST(1) << 53))
			ByteaReaderError(r);
	for (int i = 0; i < 4; i++)
		sum += d.counts[i];
	if (d.ntimes < 0 || d.nints < 0 || d.ntexts < 0 || sum > d.ntimes ||
		d.counts[4] + d.counts[5] > d.ntimes || d.scale < 0 || d.scale > SCALED_MAX_SCALE ||
		d.big < -1 || d.big >= nbigs || (d.big >= 0 && (big_used[d.big] || d.spend_hi != 0 || d.spend_lo != 0)))
		ByteaReaderError(r);
	/* the extreme times: finite, in order, at or before the cutoff, or none */
	if (d.ntimes > 0
		? (TIMESTAMP_NOT_FINITE(d.first_t) || TIMESTAMP_NOT_FINITE(d.last_t) ||
		   d.first_t > d.last_t || d.last_t > cutoff)
		: (d.first_t != DT_NOEND || d.last_t != DT_NOBEGIN))
		ByteaReaderError(r);
	if (d.counts[3] > 0
		? (d.first_p < d.first_t || d.first_p > d.last_p || d.last_p > d.last_t)
		: (d.first_p != DT_NOEND || d.last_p != DT_NOBEGIN))
		ByteaReaderError(r);
#ifndef HAVE_INT128
	if (d.spend_hi != (d.spend_lo < 0 ? -1 : 0))
		ByteaReaderError(r);
#endif
	u->views = d.counts[0];
	u->clicks = d.counts[1];
	u->carts = d.counts[2];
	u->purchases = d.counts[3];
	u->last30 = d.counts[4];
	u->prev30 = d.counts[5];
	u->future = d.counts[6];
	u->first_t = d.first_t;
	u->last_t = d.last_t;
	u->first_p = d.first_p;
	u->last_p = d.last_p;
	u->ntimes = d.ntimes;
	u->nints = d.nints;
	u->ntexts = d.ntexts;
#ifdef HAVE_INT128
	u->spend.sum = (int128) (((uint128) (uint64) d.spend_hi << 64) | (uint64) d.spend_lo);
#else
	u->spend.sum = d.spend_lo;
#endif
	u->spend.scale = (int32) d.scale;
	u->big = (int32) d.big;
	if (d.big >= 0)
		big_used[d.big] = true;
}

/* the texts of the dictionary; map[i] = the state's index of text i */
static int64 *
ReadTexts(ByteaReader *r, FtState *s, int64 ndict, int64 dict_bytes)
{
	int32	   *lens;
	int64	   *map;
	int64		total = 0;
	const char *data;

	if (ndict < 0 || dict_bytes < 0 || (uint64) ndict > ByteaLeft(r) / sizeof(int32))
		ByteaReaderError(r);
	lens = palloc_extended(Max(ndict, 1) * sizeof(int32), MCXT_ALLOC_HUGE);
	map = palloc_extended(Max(ndict, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	ByteaRead(r, lens, ndict * sizeof(int32));
	for (int64 i = 0; i < ndict; i++)
	{
		if (lens[i] < 0)
			ByteaReaderError(r);
		total += lens[i];
	}
	if (total != dict_bytes)
		ByteaReaderError(r);
	data = ByteaTake(r, dict_bytes);
	for (int64 i = 0; i < ndict; i++)
	{
		map[i] = FtTextIndex(s, data, lens[i]);
		data += lens[i];
	}
	pfree(lens);
	return map;
}

static void
ReadBigs(ByteaReader *r, FtState *s, int64 nbigs, const bool *big_used)
{
	s->maxbigs = (int32) Max(nbigs, 1);
	s->bigs = MemoryContextAlloc(s->cxt, s->maxbigs * sizeof(Numeric));
	for (int64 i = 0; i < nbigs; i++)
	{
		int32		len;
		char	   *text;
		MemoryContext old;

		ByteaRead(r, &len, sizeof(len));
		if (len <= 0 || !big_used[i] || (Size) len > ByteaLeft(r))
			ByteaReaderError(r);
		text = pnstrdup(ByteaTake(r, len), len);
		if (strlen(text) != (size_t) len)
			ByteaReaderError(r);
		old = MemoryContextSwitchTo(s->cxt);
		/* numeric_in checks the text */
		s->bigs[i] = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
														 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		MemoryContextSwitchTo(old);
		s->nbigs++;
		pfree(text);
	}
}

/* Rebuilds a state, checking every field and every length against the bytes left. */
PG_FUNCTION_INFO_V1(user_feature_table_deserialize);
Datum
user_feature_table_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ByteaReader r;
	FtHeader	h;
	FtState    *s;
	bool	   *big_used;
	int64	   *counts;
	int64	   *map;
	FtChunk    *times;
	FtChunk    *texts;

	aggcxt = AggregateContext(fcinfo, "user_feature_table_deserialize");
	ByteaReaderInit(&r, PG_GETARG_BYTEA_PP(0), "user_feature_table state is truncated or malformed");
	ByteaRead(&r, &h, sizeof(h));
	if (h.magic != FT_STATE_MAGIC || TIMESTAMP_NOT_FINITE(h.cutoff) || h.horizon <= 0 || h.gap <= 0 ||
		(h.churn_on_purchase != 0 && h.churn_on_purchase != 1) ||
		h.nusers < 0 || (uint64) h.nusers > ByteaLeft(&r) / sizeof(FtUserDisk) ||
		h.nbigs < 0 || h.nbigs > h.nusers || h.ndict < 0 || h.ndict >= PG_INT32_MAX)
		ByteaReaderError(&r);
	s = FtNew(aggcxt);
	s->cutoff = h.cutoff;
	s->horizon = h.horizon;
	s->gap = h.gap;
	s->churn_on_purchase = h.churn_on_purchase != 0;
	FtReserveUsers(s, h.nusers);
	big_used = palloc0(Max(h.nbigs, 1) * sizeof(bool));
	for (int64 i = 0; i < h.nusers; i += FT_BATCH)
	{
		int			n = (int) Min(FT_BATCH, h.nusers - i);
		FtUserDisk	d[FT_BATCH];
		int64		ids[FT_BATCH];
		uint32		idx[FT_BATCH];

		ByteaRead(&r, d, n * sizeof(FtUserDisk));
		for (int j = 0; j < n; j++)
			ids[j] = d[j].user_id;
		FtUserIndexes(s, ids, n, idx);
		for (int j = 0; j < n; j++)
		{
			if (idx[j] != i + j)
				ByteaReaderError(&r);	/* a user twice */
			ReadUser(&r, &d[j], &s->users[i + j], big_used, h.nbigs, s->cutoff);
		}
	}
	counts = palloc_extended(Max(h.nusers, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	times = ReadList(&r, s, &s->times, h.ntimes, -1, counts);
	CheckCounts(&r, s, counts, offsetof(FtUser, ntimes));
	for (int64 i = 0; i < times->n; i++)
		if (TIMESTAMP_NOT_FINITE(times->value[i]) || times->value[i] > s->cutoff)
			ByteaReaderError(&r);
	ReadList(&r, s, &s->ints, h.nints, -1, counts);
	CheckCounts(&r, s, counts, offsetof(FtUser, nints));
	texts = ReadList(&r, s, &s->texts, h.ntexts, h.ndict, counts);
	CheckCounts(&r, s, counts, offsetof(FtUser, ntexts));
	map = ReadTexts(&r, s, h.ndict, h.dict_bytes);
	for (int64 i = 0; i < texts->n; i++)
		texts->value[i] = map[texts->value[i]];
	ReadBigs(&r, s, h.nbigs, big_used);
	if (ByteaLeft(&r) != 0)
		ByteaReaderError(&r);
	pfree(big_used);
	pfree(counts);
	pfree(map);
	PG_RETURN_POINTER(s);
}

/* the value i of a result row, NULL when its bit is set */
#define ROW_NULL(row, i)	(((row)->nulls >> (i)) & 1)

/* element i of features: value i or, when NULL, value fallback[i] (-1: 0, -2: NULL) */
static const int feature_fallback[17] = {-2, 7, -2, -2, -2, -1, -1, -2, -2, -2, -2, -2, -1, -1, -2, -2, 7};
/* the named columns that are bigint casts of values */
static const bool bigint_column[17] = {false, false, true, true, true, false, false, false, false,
true, true, true, false, false, false, true, false};

static Datum
FeaturesArray(const FtRow *row, bool with_items)
{
	Datum		e[17];
	bool		enull[17];
	int			dims[1] = {17};
	int			lbs[1] = {1};

	for (int i = 0; i < 17; i++)
	{
		int			k = i;

		enull[i] = false;
		if (i == 15 && !with_items)
			e[i] = Float8GetDatum(0.0);
		else if (!ROW_NULL(row, k))
			e[i] = Float8GetDatum(row->v[k]);
		else if (feature_fallback[i] == -1)
			e[i] = Float8GetDatum(0.0);
		else if (feature_fallback[i] >= 0 && !ROW_NULL(row, feature_fallback[i]))
			e[i] = Float8GetDatum(row->v[feature_fallback[i]]);
		else
		{
			e[i] = (Datum) 0;
			enull[i] = true;
		}
	}
	return PointerGetDatum(construct_md_array(e, enull, 1, dims, lbs, FLOAT8OID, sizeof(float8),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* the values FillRow (feature_final.c) may leave NULL */
#define FT_NULLABLE ((1 << 1) | (1 << 5) | (1 << 6) | (1 << 12) | (1 << 13) | (1 << 16))

static void
NotFeatureTable(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("user_feature_rows needs a result of user_feature_table"),
			 detail ? errdetail("%s", detail) : 0));
}

/*
 * Checks a row as user_feature_table's final function writes them: users
 * in increasing order, NULL only where a value can be undefined, every
 * value finite but spend (numeric's sum of NaN or infinite amounts is
 * not), counts whole and not negative, the label 0 or 1; the bytes may come
 * from anyone.
 */
static void
CheckRow(const FtRow *row, const FtRow *previous)
{
	if ((row->nulls & ~(int64) FT_NULLABLE) != 0)
		NotFeatureTable("A row has a NULL where no feature can be undefined.");
	if (previous != NULL && row->user_id <= previous->user_id)
		NotFeatureTable("The users are not in increasing order.");
	if (!(row->v[17] == 0.0 || row->v[17] == 1.0))
		NotFeatureTable("A churn label is neither 0 nor 1.");
	for (int i = 0; i < 17; i++)
	{
		if (ROW_NULL(row, i))
			continue;
		if (!isfinite(row->v[i]) && i != 5 && i != 6)
			NotFeatureTable("A feature is not finite.");
		if (bigint_column[i] && !(row->v[i] >= 0.0 && row->v[i] < 9.2e18 && row->v[i] == rint(row->v[i])))
			NotFeatureTable("A count is negative, fractional or too large.");
	}
}

/*
 * user_features' rows from user_feature_table's result: user_id, features
 * (no NULLs), churned, then the named columns; distinct_items only
 * with_items.
 */
PG_FUNCTION_INFO_V1(user_feature_rows);
Datum
user_feature_rows(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	bool		with_items = PG_GETARG_BOOL(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Size		len = VARSIZE_ANY_EXHDR(b);
	int64		magic;
	int64		nrows;
	FtRow		previous;

	InitMaterializedSRF(fcinfo, 0);
	if (len < sizeof(int64) || (len - sizeof(int64)) % sizeof(FtRow) != 0)
		NotFeatureTable(NULL);
	memcpy(&magic, VARDATA_ANY(b), sizeof(int64));
	if (magic != FT_MAGIC)
		NotFeatureTable(NULL);
	nrows = (len - sizeof(int64)) / sizeof(FtRow);
	for (int64 r = 0; r < nrows; r++)
	{
		FtRow		row;
		Datum		values[20];
		bool		nulls[20] = {0};

		CHECK_FOR_INTERRUPTS();
		memcpy(&row, VARDATA_ANY(b) + sizeof(int64) + r * sizeof(FtRow), sizeof(FtRow));
		CheckRow(&row, r > 0 ? &previous : NULL);
		previous = row;
		values[0] = Int64GetDatum(row.user_id);
		values[1] = FeaturesArray(&row, with_items);
		values[2] = BoolGetDatum(row.v[17] == 1.0);
		nulls[2] = ROW_NULL(&row, 17);
		for (int i = 0; i < 17; i++)
		{
			nulls[3 + i] = ROW_NULL(&row, i) || (i == 15 && !with_items);
			if (nulls[3 + i])
				values[3 + i] = (Datum) 0;
			else if (bigint_column[i])
				values[3 + i] = DirectFunctionCall1(dtoi8, Float8GetDatum(row.v[i]));
			else
				values[3 + i] = Float8GetDatum(row.v[i]);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(DatumGetPointer(values[1]));
	}
	return (Datum) 0;
}
