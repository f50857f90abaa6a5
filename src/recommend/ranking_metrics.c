/*-------------------------------------------------------------------------
 *
 * ranking_metrics.c
 *	  Per-user offline evaluation of a ranked recommendation list:
 *	  precision@k, recall@k, NDCG@k, average precision@k and hit@k.
 *
 * Definitions follow Microsoft Recommenders with binary relevance; the
 * caller averages them over users with avg(), which is parallel safe and
 * distributes as is:
 *
 *	precision@k = hits in the first k / k
 *	recall@k	= hits in the first k / number of relevant items
 *	NDCG@k		= sum over hits at rank r of 1 / log2(r + 1), divided by the
 *				  same sum for an ideal list, ranks 1 .. min(relevant, k)
 *	AP@k		= sum over hits at rank r of (hits in ranks 1 .. r) / r,
 *				  divided by min(relevant, k); its mean is MAP@k
 *	hit@k		= 1 when there is at least one hit, else 0
 *
 * An item repeated in the recommended list counts once, at its first rank.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"

#include "int8_array.h"
#include "item_knn_model.h"
#include "recommend.h"

/* Returns (precision_at_k, recall_at_k, ndcg_at_k, ap_at_k, hit_at_k) for one user; NULLs when nothing is relevant. */
PG_FUNCTION_INFO_V1(ranking_metrics);
Datum
ranking_metrics(PG_FUNCTION_ARGS)
{
	ArrayType  *recommended = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *relevant_array = PG_GETARG_ARRAYTYPE_P(1);
	int32		k = PG_GETARG_INT32(2);
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	int64	   *relevant;
	int			n_relevant;
	const int64 *ranked;
	int			n_ranked;
	int			hits = 0;
	double		dcg = 0.0;
	double		idcg = 0.0;
	double		ap = 0.0;

	CheckResultK(k);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	ranked = Int8ArrayNoNulls(recommended, "recommended", &n_ranked);

	/* relevant items: a set, so NULLs and repeats mean nothing */
	relevant = Int8ArrayDistinct(relevant_array, "relevant", &n_relevant);
	if (n_relevant == 0)
	{
		for (int i = 0; i < 5; i++)
			nulls[i] = true;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	}

	for (int r = 0; r < n_ranked && r < k; r++)
	{
		bool		repeated = false;

		if (bsearch(&ranked[r], relevant, n_relevant, sizeof(int64), CompareInt64) == NULL)
			continue;
		for (int s = 0; s < r && !repeated; s++)
			repeated = ranked[s] == ranked[r];
		if (repeated)
			continue;
		hits++;
		dcg += 1.0 / log2(r + 2.0);
		ap += (double) hits / (r + 1.0);
	}
	for (int r = 0; r < n_relevant && r < k; r++)
		idcg += 1.0 / log2(r + 2.0);

	values[0] = Float8GetDatum((double) hits / k);
	values[1] = Float8GetDatum((double) hits / n_relevant);
	values[2] = Float8GetDatum(dcg / idcg);
	values[3] = Float8GetDatum(ap / Min(n_relevant, k));
	values[4] = Float8GetDatum(hits > 0 ? 1.0 : 0.0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
