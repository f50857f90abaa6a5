/*-------------------------------------------------------------------------
 *
 * logreg_block.c
 *	  One Newton pass's arithmetic over a block of kept rows: the per-row
 *	  part (log-odds, likelihood, weights) row by row, then the gradient
 *	  and the Hessian X'WX in register tiles.
 *
 * The block's rows are first copied into a row-major scratch, each padded
 * with zeros to whole vectors of four doubles.  A Hessian tile is four of
 * its rows by one or two such vectors of columns: for every kept row it
 * broadcasts h * x[a] for the tile's four rows and multiplies it into the
 * row's vectors, so eight vector multiply-adds cost two vector loads and
 * four scalar ones, where dot products over columns cost two loads for
 * each.  The Hessian is two thirds of a pass, and the tiles make a pass
 * about twice as fast.
 *
 * Every sum is taken in a fixed order (a Hessian or gradient entry over the
 * block's rows in turn, then added to the running sums; a log-odds over
 * four lanes added as (0 + 1) + (2 + 3)), so the result depends on nothing
 * but the rows' order, which row_order.h makes canonical.  The vectors are
 * GCC's vector extension, in one 4-wide register where the CPU has AVX2
 * and two 2-wide ones elsewhere; not FMA, which rounds once where the
 * plain code rounds twice: every clone gives the same bits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "double4.h"
#include "logreg_block.h"
#include "logreg_newton.h"


#define LOAD4(p)	(*(const Double4 *) (p))

void
LogregBlockBegin(LogregBlockScratch *scratch, const double *beta, int p)
{
	int			width = LogregPaddedWidth(p);

	scratch->rows = palloc(sizeof(double) * width * LOGREG_BLOCK_ROWS);
	scratch->beta = palloc0(sizeof(double) * width);
	memcpy(scratch->beta, beta, sizeof(double) * p);
}

void
LogregBlockEnd(LogregBlockScratch *scratch)
{
	pfree(scratch->rows);
	pfree(scratch->beta);
}

/*
 * A row's log-odds from where the row is kept (reading the padded copy just
 * written would wait for the stores): element j in lane j mod 4, the tail
 * in lane 0, lanes added (0 + 1) + (2 + 3).
 */
static inline double
LogOdds(const double *beta, const double *x, int p)
{
	Double4		acc = {0.0, 0.0, 0.0, 0.0};
	double		lane0;
	int			j = 0;

	for (; j + 4 <= p; j += 4)
		acc += LOAD4(beta + j) * LOAD4(x + j);
	lane0 = acc[0];
	for (; j < p; j++)
		lane0 += beta[j] * x[j];
	return (lane0 + acc[1]) + (acc[2] + acc[3]);
}

/*
 * Adds a tile's sums to the Hessian: rows a0 .. a0 + 3 by columns
 * b0 .. b0 + 4 nv - 1, of which only the upper triangle inside p x p counts.
 */
static inline void
AddTile(double *hess, int p, int a0, int b0, int nv, const Double4 *acc)
{
	for (int a = 0; a < 4 && a0 + a < p; a++)
		for (int c = 0; c < 4 * nv; c++)
		{
			int			b = b0 + c;

			if (b >= a0 + a && b < p)
				hess[(a0 + a) * p + b] += acc[a * nv + c / 4][c % 4];
		}
}

/*
 * The Hessian's rows a0 .. a0 + 3 by columns b0 .. b0 + 7 over the block,
 * in eight named accumulators so that they stay in registers.
 */
static inline __attribute__((always_inline)) void
HessianTile8(double *hess, int p, int width, const double *xs, const double *h,
			 int nb, int a0, int b0)
{
	Double4		acc[8];
	Double4		r00 = {0}, r01 = {0}, r10 = {0}, r11 = {0},
				r20 = {0}, r21 = {0}, r30 = {0}, r31 = {0};

	for (int i = 0; i < nb; i++)
	{
		const double *x = xs + i * width;
		Double4		v0 = LOAD4(x + b0);
		Double4		v1 = LOAD4(x + b0 + 4);
		/* a scalar times a vector: every lane */
		double		w0 = h[i] * x[a0];
		double		w1 = h[i] * x[a0 + 1];
		double		w2 = h[i] * x[a0 + 2];
		double		w3 = h[i] * x[a0 + 3];

		r00 += w0 * v0, r01 += w0 * v1;
		r10 += w1 * v0, r11 += w1 * v1;
		r20 += w2 * v0, r21 += w2 * v1;
		r30 += w3 * v0, r31 += w3 * v1;
	}
	acc[0] = r00, acc[1] = r01, acc[2] = r10, acc[3] = r11;
	acc[4] = r20, acc[5] = r21, acc[6] = r30, acc[7] = r31;
	AddTile(hess, p, a0, b0, 2, acc);
}

/* the same for columns b0 .. b0 + 3 */
static inline __attribute__((always_inline)) void
HessianTile4(double *hess, int p, int width, const double *xs, const double *h,
			 int nb, int a0, int b0)
{
	Double4		acc[4];
	Double4		r0 = {0}, r1 = {0}, r2 = {0}, r3 = {0};

	for (int i = 0; i < nb; i++)
	{
		const double *x = xs + i * width;
		Double4		v = LOAD4(x + b0);

		r0 += (h[i] * x[a0]) * v;
		r1 += (h[i] * x[a0 + 1]) * v;
		r2 += (h[i] * x[a0 + 2]) * v;
		r3 += (h[i] * x[a0 + 3]) * v;
	}
	acc[0] = r0, acc[1] = r1, acc[2] = r2, acc[3] = r3;
	AddTile(hess, p, a0, b0, 1, acc);
}

DOUBLE4_TARGET_CLONES
void
LogregAccumBlock(double *s, int k, int p, const double *const *rows,
				 const bool *labels, int nb, const LogregOptions *opts,
				 LogregBlockScratch *scratch)
{
	int			off = opts->fit_intercept ? 0 : 1;
	int			width = LogregPaddedWidth(p);
	double	   *xs = scratch->rows;
	double	   *g = SumsG(s, k);
	double	   *hess = SumsH(s, k, p);
	double		r[LOGREG_BLOCK_ROWS];
	double		h[LOGREG_BLOCK_ROWS];
	/* in registers, added in the same order as before, row by row */
	double		nll = s[SUMS_NLL];
	double		n_extreme = s[SUMS_N_EXTREME];

	/*
	 * The likelihood's log1p(exp(-|z|)) terms, one product per class: each
	 * factor 1 + exp(-|z|) is in (1, 2], so a block's product is at most
	 * 2^64 and one log per class and block replaces a log1p per row (which
	 * was a sixth of the fit).  Each factor and product rounds by at most
	 * 2^-53, so the sum moves by at most about 2^-52 per row.
	 */
	double		product[2] = {1.0, 1.0};

	StaticAssertStmt(LOGREG_BLOCK_ROWS <= 1000, "a block's product must stay finite");
	Assert(nb <= LOGREG_BLOCK_ROWS);

	for (int i = 0; i < nb; i++)
	{
		double	   *x = xs + i * width;
		/* the class as 0 or 1 whatever byte the bool holds: it indexes */
		int			label = *(const unsigned char *) &labels[i] != 0;
		double		weight = label ? opts->weight_pos : opts->weight_neg;
		double		y = label ? 1.0 : 0.0;
		double		z;
		double		e;
		double		prob;

		const double *row = rows[i] + off;
		int			j = 0;

		for (; j + 4 <= p; j += 4)
			*(Double4 *) (x + j) = LOAD4(row + j);
		for (; j < p; j++)
			x[j] = row[j];
		for (; j < width; j++)
			x[j] = 0.0;
		z = LogOdds(scratch->beta, row, p);
		/* as in LogregAccumRow: one exp for the likelihood and the probability */
		e = exp(-fabs(z));
		nll += weight * (Max(z, 0.0) - y * z);
		product[label] *= 1.0 + e;
		if (fabs(z) > SEPARATION_Z)
			n_extreme += 1.0;
		prob = (z >= 0.0) ? 1.0 / (1.0 + e) : e / (1.0 + e);
		r[i] = weight * (prob - y);
		h[i] = weight * prob * (1.0 - prob);
	}
	s[SUMS_NLL] = nll + opts->weight_neg * log(product[0]) + opts->weight_pos * log(product[1]);
	s[SUMS_N_EXTREME] = n_extreme;

	for (int b0 = 0; b0 < width; b0 += 4)
	{
		Double4		acc = {0.0, 0.0, 0.0, 0.0};

		for (int i = 0; i < nb; i++)
			acc += r[i] * LOAD4(xs + i * width + b0);
		for (int c = 0; c < 4 && b0 + c < p; c++)
			g[b0 + c] += acc[c];
	}

	/* the upper triangle, in tiles of four rows by eight columns, then four */
	for (int a0 = 0; a0 < p; a0 += 4)
	{
		int			b0 = a0;

		for (; b0 + 8 <= width; b0 += 8)
			HessianTile8(hess, p, width, xs, h, nb, a0, b0);
		if (b0 < width)
			HessianTile4(hess, p, width, xs, h, nb, a0, b0);
	}
}
