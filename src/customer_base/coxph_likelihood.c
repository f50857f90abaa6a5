/*-------------------------------------------------------------------------
 *
 * coxph_likelihood.c
 *	  Cox proportional hazards: the log partial likelihood with its score
 *	  and information (Efron or Breslow ties) and Harrell's concordance.
 *
 * With centred features z_i = x_i - mean, r_i = exp(z_i b), and at an event
 * time with risk set R and d deaths D:
 *	 Breslow:  l += sum_D z_i b - d log S0(R)
 *	 Efron:	   l += sum_D z_i b - sum_{k<d} log(S0(R) - k/d S0(D))
 * with S0(A) = sum_A r_i, and the score and information from the first and
 * second moments the same way (as R's coxph; Therneau & Grambsch 2000,
 * sec. 3.3).  The baseline cumulative hazard at the mean has increments
 * d/S0(R) (Breslow) or sum_{k<d} 1/(S0(R) - k/d S0(D)) (Efron), as R's
 * survfit.coxph.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"

#include "coxph.h"

/*
 * Log partial likelihood at beta, with its score u[p] and information
 * info[p x p] when asked (NULL skips them).  With hazard != NULL, also the
 * baseline cumulative hazard increments at the event times (ascending order
 * is restored by the caller).
 */
double
CoxLogLik(const CoxData *d, const double *beta, double *u, double *info,
		  double *event_time, double *hazard, int *nhazard)
{
	int			p = d->p;
	double		ll = 0.0;
	double		s0 = 0.0;
	double	   *s1 = palloc0(sizeof(double) * p);
	double	   *s2 = palloc0(sizeof(double) * p * p);
	double	   *d1 = palloc(sizeof(double) * p);
	double	   *d2 = palloc(sizeof(double) * p * p);
	double	   *m1 = palloc(sizeof(double) * p);
	bool		want_deriv = (u != NULL);
	int64		i = 0;

	if (want_deriv)
	{
		memset(u, 0, sizeof(double) * p);
		memset(info, 0, sizeof(double) * p * p);
	}
	if (nhazard)
		*nhazard = 0;

	while (i < d->n)
	{
		double		t = d->time[i];
		double		deaths = 0.0;
		double		d0 = 0.0;

		if (want_deriv)
		{
			memset(d1, 0, sizeof(double) * p);
			memset(d2, 0, sizeof(double) * p * p);
		}
		/* everyone at this time joins the risk set; the deaths also form D */
		for (; i < d->n && d->time[i] == t; i++)
		{
			const double *z = d->z + i * p;
			double		eta = 0.0;
			double		r;

			for (int j = 0; j < p; j++)
				eta += z[j] * beta[j];
			r = exp(eta);
			s0 += r;
			if (want_deriv)
				for (int a = 0; a < p; a++)
				{
					s1[a] += r * z[a];
					for (int b = a; b < p; b++)
						s2[a * p + b] += r * z[a] * z[b];
				}
			if (d->event[i] != 0.0)
			{
				deaths += 1.0;
				d0 += r;
				ll += eta;
				if (want_deriv)
					for (int a = 0; a < p; a++)
					{
						u[a] += z[a];
						d1[a] += r * z[a];
						for (int b = a; b < p; b++)
							d2[a * p + b] += r * z[a] * z[b];
					}
			}
		}
		CHECK_FOR_INTERRUPTS();
		if (deaths == 0.0)
			continue;

		{
			int			nd = (d->ties == COX_TIES_EFRON) ? (int) deaths : 1;
			double		weight = (d->ties == COX_TIES_EFRON) ? 1.0 : deaths;
			double		dh = 0.0;

			for (int k = 0; k < nd; k++)
			{
				double		f = (d->ties == COX_TIES_EFRON) ? k / deaths : 0.0;
				double		sk = s0 - f * d0;

				ll -= weight * log(sk);
				dh += weight / sk;
				if (!want_deriv)
					continue;
				for (int a = 0; a < p; a++)
				{
					m1[a] = (s1[a] - f * d1[a]) / sk;
					u[a] -= weight * m1[a];
				}
				for (int a = 0; a < p; a++)
					for (int b = a; b < p; b++)
						info[a * p + b] += weight * ((s2[a * p + b] - f * d2[a * p + b]) / sk - m1[a] * m1[b]);
			}
			if (hazard)
			{
				event_time[*nhazard] = t;
				hazard[(*nhazard)++] = dh;
			}
		}
	}
	if (want_deriv)
		for (int a = 0; a < p; a++)
			for (int b = 0; b < a; b++)
				info[a * p + b] = info[b * p + a];
	pfree(s1);
	pfree(s2);
	pfree(d1);
	pfree(d2);
	pfree(m1);
	return ll;
}

/* Fenwick tree of weights over ranks 1..n, for the concordance */
static void
BitAdd(double *tree, int64 n, int64 k, double w)
{
	for (; k <= n; k += k & (-k))
		tree[k] += w;
}

static double
BitSum(const double *tree, int64 k)
{
	double		s = 0.0;

	for (; k > 0; k -= k & (-k))
		s += tree[k];
	return s;
}

static int
CompareDoubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* 1-based index of v among the n distinct sorted values */
static int64
RankOf(const double *distinct, int64 n, double v)
{
	int64		lo = 0,
				hi = n;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (distinct[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}

/*
 * Harrell's concordance as R's coxph reports it: over pairs where the
 * shorter time is an event (an event and a censoring at one time count, the
 * censored subject as the longer; two events at one time do not), the share
 * where the shorter time has the higher risk, ties in risk counting one half.
 * Walking the times downwards with a Fenwick tree of the risks seen makes it
 * O(n log n).
 */
double
CoxConcordance(const CoxData *d, const double *lp)
{
	int64		n = d->n;
	double	   *sorted = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	double	   *tree = palloc_extended(sizeof(double) * (n + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int64		i = 0;
	double		concordant = 0.0,
				discordant = 0.0,
				tied = 0.0;
	double		seen = 0.0;

	int64		ndistinct = 0;

	/* ranks over the distinct risks, so tied risks share one slot */
	memcpy(sorted, lp, sizeof(double) * n);
	qsort(sorted, n, sizeof(double), CompareDoubles);
	for (int64 k = 0; k < n; k++)
		if (ndistinct == 0 || sorted[k] != sorted[ndistinct - 1])
			sorted[ndistinct++] = sorted[k];
	while (i < n)
	{
		double		t = d->time[i];
		int64		end = i;

		while (end < n && d->time[end] == t)
			end++;
		/* the censored at t are later than the events at t */
		for (int64 k = i; k < end; k++)
			if (d->event[k] == 0.0)
			{
				BitAdd(tree, ndistinct, RankOf(sorted, ndistinct, lp[k]), 1.0);
				seen += 1.0;
			}
		for (int64 k = i; k < end; k++)
			if (d->event[k] != 0.0)
			{
				int64		r = RankOf(sorted, ndistinct, lp[k]);
				double		below = BitSum(tree, r - 1);
				double		at_or_below = BitSum(tree, r);

				concordant += below;
				tied += at_or_below - below;
				discordant += seen - at_or_below;
			}
		for (int64 k = i; k < end; k++)
			if (d->event[k] != 0.0)
			{
				BitAdd(tree, ndistinct, RankOf(sorted, ndistinct, lp[k]), 1.0);
				seen += 1.0;
			}
		i = end;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(sorted);
	pfree(tree);
	if (concordant + discordant + tied == 0.0)
		return NAN;
	return (concordant + 0.5 * tied) / (concordant + discordant + tied);
}
