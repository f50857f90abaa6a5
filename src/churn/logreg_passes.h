/*-------------------------------------------------------------------------
 *
 * logreg_passes.h
 *	  The Newton passes of logreg_train over its kept rows, shared with
 *	  helper processes when the fit is large.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_LOGREG_PASSES_H
#define RETENTION_LOGREG_PASSES_H

#include "logreg_options.h"

/* the kept rows in the canonical order (row_order.h) */
typedef struct OrderedRows
{
	int64		n;
	int			k;
	const double **row;			/* each row (a leading 1, then the features) */
	bool	   *labels;
} OrderedRows;

typedef struct LogregPasses LogregPasses;

/*
 * Begin starts the helpers when the fit is worth them (logreg_passes.c);
 * SharedRows is then where the caller puts the rows in their order (n rows
 * of a leading 1 and k features, and n labels), and NULL without helpers.
 * Evaluate sums one pass at beta (under opts) into s, whose fixed part (the sums that do
 * not depend on beta) it copies from fixed; the rows are the same rows in
 * the same order each time.  End stops the helpers.  The sums are the same
 * bits with helpers or without.
 */
extern LogregPasses *LogregPassesBegin(int64 n, int k, int p);
extern double *LogregPassesSharedRows(LogregPasses *passes, bool **labels);
extern void LogregPassesEvaluate(LogregPasses *passes, const OrderedRows *rows,
								 const LogregOptions *opts, const double *beta,
								 const double *fixed, double *s);
extern void LogregPassesEnd(LogregPasses *passes);
extern int	LogregPassesHelpers(const LogregPasses *passes);

#endif							/* RETENTION_LOGREG_PASSES_H */
