/*-------------------------------------------------------------------------
 *
 * logreg_block.h
 *	  One Newton pass's arithmetic over a block of kept rows (logreg_train).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_LOGREG_BLOCK_H
#define RETENTION_LOGREG_BLOCK_H

#include "logreg_options.h"

/* rows a block holds at the most */
#define LOGREG_BLOCK_ROWS 64

/* p rounded up to whole vectors of four: the width of a padded row */
static inline int
LogregPaddedWidth(int p)
{
	return (p + 3) & ~3;
}

/*
 * Scratch for LogregAccumBlock: the block's rows padded to
 * LogregPaddedWidth(p) columns, and beta padded the same way.
 */
typedef struct LogregBlockScratch
{
	double	   *rows;			/* LOGREG_BLOCK_ROWS x padded width */
	double	   *beta;			/* padded width */
} LogregBlockScratch;

extern void LogregBlockBegin(LogregBlockScratch *scratch, const double *beta, int p);
extern void LogregBlockEnd(LogregBlockScratch *scratch);

/*
 * Adds nb (at most LOGREG_BLOCK_ROWS) kept rows, each a leading 1 and k
 * features, to the sums at the beta given to LogregBlockBegin: the
 * likelihood, the gradient and the Hessian (logreg_newton.h).
 */
extern void LogregAccumBlock(double *s, int k, int p, const double *const *rows,
							 const bool *labels, int nb, const LogregOptions *opts,
							 LogregBlockScratch *scratch);

#endif							/* RETENTION_LOGREG_BLOCK_H */
