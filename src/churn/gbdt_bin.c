/*-------------------------------------------------------------------------
 *
 * gbdt_bin.c
 *	  Quantile binning of the rows of retention.gbdt_train (scikit-learn's
 *	  _find_binning_thresholds) and their canonical order, which makes the
 *	  model independent of the order of the rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "gbdt.h"
#include "gbdt_boost.h"

/* ---------- binning ---------- */

static int
CompareDoubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* a hash of a row's bytes: picks the binning sample independently of order */
static uint64_t
RowHash(const double *x, int k, bool y)
{
	uint64_t	h = y ? UINT64_C(0x51ED27) : UINT64_C(0x1F3D5B79);

	for (int j = 0; j < k; j++)
	{
		uint64_t	bits;
		uint64_t	s;

		memcpy(&bits, &x[j], sizeof(bits));
		s = h ^ bits;
		h = GbdtRandomNext(&s);
	}
	return h;
}

/*
 * Bin edges of one feature from its sorted non-missing values, as
 * scikit-learn's _find_binning_thresholds: midpoints between distinct
 * values when there are at most max_bins of them, otherwise numpy's
 * "midpoint" percentiles at 100 i / max_bins, i = 1 .. max_bins - 1.
 * Duplicate quantiles are dropped (they would only make empty bins).
 */
static int
FeatureEdges(const double *v, int64_t m, int max_bins, double *edges)
{
	int64_t		distinct = 0;
	int			n_edges = 0;

	for (int64_t i = 0; i < m; i++)
		if (i == 0 || v[i] != v[i - 1])
			distinct++;
	if (distinct <= max_bins)
	{
		for (int64_t i = 1; i < m; i++)
			if (v[i] != v[i - 1])
			{
				double		mid = (v[i - 1] + v[i]) * 0.5;

				edges[n_edges++] = Min(mid, DBL_MAX);
			}
		return n_edges;
	}
	for (int i = 1; i < max_bins; i++)
	{
		double		q = (i * (100.0 / max_bins)) / 100.0;
		double		vv = (double) (m - 1) * q;
		double		vi = 0.5 * (floor(vv) + ceil(vv));
		int64_t		lo = (int64_t) floor(vi);
		double		e;

		if (vi >= (double) (m - 1))
			e = v[m - 1];
		else if (vi == floor(vi))
			e = v[lo];
		else
			e = v[lo + 1] - (v[lo + 1] - v[lo]) * 0.5;
		e = Min(e, DBL_MAX);
		if (n_edges == 0 || e > edges[n_edges - 1])
			edges[n_edges++] = e;
	}
	return n_edges;
}

/* bin b: the number of edges below x (x <= edges[b] for the first such b) */
static inline uint8_t
BinOf(double x, const double *edges, int n_edges)
{
	int			lo = 0,
				hi = n_edges;

	if (isnan(x))
		return GBDT_MISSING_BIN;
	while (lo < hi)
	{
		int			mid = (lo + hi) >> 1;

		if (x <= edges[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return (uint8_t) lo;
}

void
GbdtBinRows(GbdtRows *rows, const GbdtOptions *opts, Binned *b)
{
	int64_t		n = rows->n;
	int			k = rows->k;
	double	   *vals = GbdtAllocHuge(sizeof(double) * (size_t) Max(n, 1));
	bool	   *in_sample = NULL;
	double	   *edges_tmp = palloc(sizeof(double) * GBDT_MAX_BINS);

	b->n = n;
	b->k = k;
	b->y = rows->y;
	b->n_bins = palloc(sizeof(int) * k);
	b->missing_code = palloc(sizeof(uint8_t) * k);
	b->hist_off = palloc(sizeof(int) * (k + 1));
	b->has_missing = palloc0(sizeof(bool) * k);
	b->edge_start = palloc(sizeof(int) * (k + 1));
	b->edges = palloc(sizeof(double) * (size_t) k * GBDT_MAX_BINS);
	b->n_edges = 0;

	if (n > GBDT_BINNING_SAMPLE)
	{
		/* keep a row when its hash falls in the first sample/n of the range */
		double		cut = ldexp((double) GBDT_BINNING_SAMPLE / (double) n, 64);

		in_sample = GbdtAllocHuge(sizeof(bool) * n);
		for (int64_t i = 0; i < n; i++)
			in_sample[i] = (double) RowHash(rows->x + i * k, k, rows->y[i]) < cut;
	}

	for (int j = 0; j < k; j++)
	{
		int64_t		m = 0;
		int			ne;

		CHECK_FOR_INTERRUPTS();
		for (int64_t i = 0; i < n; i++)
		{
			double		x = rows->x[i * k + j];

			if (isnan(x))
				b->has_missing[j] = true;
			else if (in_sample == NULL || in_sample[i])
				vals[m++] = x;
		}
		qsort(vals, m, sizeof(double), CompareDoubles);
		ne = (m > 0) ? FeatureEdges(vals, m, opts->max_bins, edges_tmp) : 0;
		b->edge_start[j] = b->n_edges;
		memcpy(b->edges + b->n_edges, edges_tmp, sizeof(double) * ne);
		b->n_edges += ne;
		b->n_bins[j] = ne + 1;
		/* missing values get the slot after the last bin: a compact histogram */
		b->missing_code[j] = (uint8_t) (ne + 1);
		b->hist_off[j + 1] = (j == 0 ? 0 : b->hist_off[j]) + ne + 2;
	}
	b->hist_off[0] = 0;
	b->edge_start[k] = b->n_edges;
	pfree(vals);
	if (in_sample)
		pfree(in_sample);

	b->codes = GbdtAllocHuge((size_t) n * k);
	for (int64_t i = 0; i < n; i++)
	{
		const double *x = rows->x + i * k;
		uint8_t    *c = b->codes + i * k;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < k; j++)
		{
			uint8_t		code = BinOf(x[j], b->edges + b->edge_start[j], b->edge_start[j + 1] - b->edge_start[j]);

			c[j] = (code == GBDT_MISSING_BIN) ? b->missing_code[j] : code;
		}
	}
	pfree(rows->x);
	rows->x = NULL;
}

/*
 * Sort the rows by (label, codes) with an LSD radix sort: k + 1 stable
 * counting passes of one byte each.
 */
void
GbdtCanonicalOrder(Binned *b)
{
	int64_t		n = b->n;
	int			k = b->k;
	uint32_t   *perm = GbdtAllocHuge(sizeof(uint32_t) * Max(n, 1));
	uint32_t   *tmp = GbdtAllocHuge(sizeof(uint32_t) * Max(n, 1));
	uint8_t    *codes;
	bool	   *y;

	for (int64_t i = 0; i < n; i++)
		perm[i] = (uint32_t) i;
	for (int pass = k; pass >= 0; pass--)
	{
		int64_t		count[257] = {0};

		CHECK_FOR_INTERRUPTS();
		for (int64_t i = 0; i < n; i++)
		{
			int			key = (pass == 0) ? b->y[perm[i]] : b->codes[(size_t) perm[i] * k + pass - 1];

			count[key + 1]++;
		}
		for (int c = 0; c < 256; c++)
			count[c + 1] += count[c];
		for (int64_t i = 0; i < n; i++)
		{
			int			key = (pass == 0) ? b->y[perm[i]] : b->codes[(size_t) perm[i] * k + pass - 1];

			tmp[count[key]++] = perm[i];
		}
		{
			uint32_t   *s = perm;

			perm = tmp;
			tmp = s;
		}
	}
	codes = GbdtAllocHuge((size_t) n * k + 1);
	y = GbdtAllocHuge(sizeof(bool) * Max(n, 1));
	for (int64_t i = 0; i < n; i++)
	{
		memcpy(codes + i * k, b->codes + (size_t) perm[i] * k, k);
		y[i] = b->y[perm[i]];
	}
	pfree(b->codes);
	pfree(perm);
	pfree(tmp);
	b->codes = codes;
	b->y = y;
}
