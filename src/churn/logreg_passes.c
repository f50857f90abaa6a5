/*-------------------------------------------------------------------------
 *
 * logreg_passes.c
 *	  The Newton passes of logreg_train over its kept rows, shared with
 *	  helper processes when the fit is large.
 *
 * A pass sums the likelihood, gradient and Hessian over every row at one
 * coefficient vector; a fit takes about seven.  The rows, in their canonical
 * order, are cut into chunks of a few thousand, each chunk is summed apart,
 * and the chunks' sums are added in chunk order.  Which process sums a chunk
 * changes nothing, so the model is the same bits with helpers or without.
 *
 * Helpers are PostgreSQL parallel workers, started by the final function
 * itself: the rows reach logreg_train_final only once the scan is over, when
 * the workers of a parallel plan have usually gone.  The rows go, in their
 * order, to a segment of dynamic shared memory of their own; the helpers
 * stay for the whole fit, and each pass they and the leader claim chunks
 * from a shared counter until none is left.  They are asked for only when a
 * pass is long enough to share, up to max_parallel_workers_per_gather of
 * them, when the segment fits in maintenance_work_mem, and when shared
 * memory has room for it (shared_segment.c): containers often give /dev/shm
 * little room (Docker's default is 64 MB), and the fit must then run here
 * rather than fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/condition_variable.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/combocid.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "logreg_block.h"
#include "logreg_newton.h"
#include "logreg_passes.h"
#include "shared_segment.h"

/* the most rows a chunk holds, and the work (rows x p^2) it aims at */
#define CHUNK_MAX_ROWS		(64 * LOGREG_BLOCK_ROWS)
#define CHUNK_WORK			((double) (1 << 24))

/* multiply-adds per pass (rows x p^2) below which helpers cost more than they save */
#define HELPER_MIN_WORK		((double) (1 << 25))

/* how long the leader waits for a chunk before it checks on the helpers */
#define HELPER_CHECK_MS		1000L

#define KEY_SHARED			UINT64CONST(0x524C470000000001)
#define KEY_QUERY			UINT64CONST(0x524C470000000002)

/* what the leader and the helpers share, besides the row segment */
typedef struct PassesShared
{
	int64		n;
	int			k;
	int			p;
	int			chunk_rows;
	int			n_chunks;
	int			n_helpers;		/* as asked for: the length of holding[] */
	dsm_handle	rows_handle;	/* the row segment: RowSegmentLayout */
	LogregOptions opts;			/* the pass's, without the feature names */
	pg_atomic_uint64 claim;		/* the pass in the high half, the next chunk in the low */
	pg_atomic_uint32 chunks_done;	/* of the current pass */
	pg_atomic_uint32 pass;		/* the pass to join; 0 before the first */
	pg_atomic_uint32 finished;	/* the fit is over: helpers exit */
	ConditionVariable pass_cv;	/* a pass begins, or the fit ends */
	ConditionVariable done_cv;	/* the last chunk of a pass is summed */
	/* per helper: pass << 32 | chunk + 1 while it sums a chunk, else 0 */
	pg_atomic_uint64 holding[FLEXIBLE_ARRAY_MEMBER];
} PassesShared;

struct LogregPasses
{
	int64		n;
	int			k;
	int			p;
	int			chunk_rows;
	int			n_chunks;
	uint32		pass;			/* the passes begun so far */
	double	   *partial;		/* one chunk's sums (no helpers) */
	ParallelContext *pcxt;		/* NULL: no helpers */
	PassesShared *shared;
	dsm_segment *rows_seg;		/* beta, the chunks' sums, the rows, the labels */
	double	   *beta;
	double	   *partials;		/* n_chunks x SumsLength */
	double	   *shared_rows;	/* the rows in order */
	bool	   *shared_labels;
};

/*
 * The row segment: the pass's coefficients, each chunk's sums, then the
 * rows (a leading 1 and k features) and their labels, in their order.
 */
typedef struct RowSegmentLayout
{
	Size		partials;
	Size		rows;
	Size		labels;
	Size		size;
} RowSegmentLayout;

static void
LayRowSegment(int64 n, int k, int p, int n_chunks, RowSegmentLayout *layout)
{
	layout->partials = MAXALIGN(mul_size(sizeof(double), p));
	layout->rows = add_size(layout->partials,
							mul_size(mul_size(sizeof(double), SumsLength(k, p)), n_chunks));
	layout->labels = add_size(layout->rows, mul_size(mul_size(sizeof(double), k + 1), n));
	layout->size = add_size(layout->labels, n);
}

PGDLLEXPORT void logreg_passes_helper(dsm_segment *seg, shm_toc *toc);

static inline Size
SumsBytes(int k, int p)
{
	return sizeof(double) * SumsLength(k, p);
}

/*
 * Where a participant reads the rows: the leader through its pointers to
 * the kept rows, a helper in the shared copy (rows of k + 1 doubles).
 */
typedef struct RowSource
{
	const double *const *row;	/* or NULL: read base */
	const double *base;
	int			width;
	const bool *labels;
} RowSource;

/*
 * The sums of rows first .. first + nrows - 1 at the beta given to scratch,
 * into partial, which starts from zero: a chunk's share of one pass.
 */
static void
SumChunk(const RowSource *src, int64 first, int nrows, int k, int p,
		 const LogregOptions *opts, LogregBlockScratch *scratch, double *partial)
{
	const double *tile[LOGREG_BLOCK_ROWS];

	memset(partial, 0, SumsBytes(k, p));
	for (int i = 0; i < nrows; i += LOGREG_BLOCK_ROWS)
	{
		int			nb = Min(LOGREG_BLOCK_ROWS, nrows - i);
		const double *const *rows = src->row == NULL ? tile : src->row + first + i;

		/* a block is at most 64 x 1001^2 multiply-adds: a few milliseconds */
		CHECK_FOR_INTERRUPTS();
		if (src->row == NULL)
			for (int j = 0; j < nb; j++)
				tile[j] = src->base + (Size) src->width * (first + i + j);
		LogregAccumBlock(partial, k, p, rows, src->labels + first + i, nb, opts, scratch);
	}
}

/*
 * Rows per chunk: whole blocks, about CHUNK_WORK multiply-adds, and at
 * least 4p rows, so that the chunks' sums (p^2 each) take a quarter of the
 * rows' room at most.  It depends on p alone, so the partition on n and p.
 */
static int
RowsPerChunk(int p)
{
	double		by_work = floor(CHUNK_WORK / ((double) p * p) / LOGREG_BLOCK_ROWS) * LOGREG_BLOCK_ROWS;
	int			at_least_4p = (4 * p + LOGREG_BLOCK_ROWS - 1) / LOGREG_BLOCK_ROWS * LOGREG_BLOCK_ROWS;

	return Max(at_least_4p, (int) Max(LOGREG_BLOCK_ROWS, Min(CHUNK_MAX_ROWS, by_work)));
}

static inline int
ChunkRows(int64 n, int chunk_rows, int chunk)
{
	return (int) Min(chunk_rows, n - (int64) chunk * chunk_rows);
}

/* Adds a chunk's sums to the pass's: the parts that depend on beta. */
static void
AddChunk(double *s, const double *partial, int k, int p)
{
	double	   *g = SumsG(s, k);
	double	   *hess = SumsH(s, k, p);
	const double *pg = SumsG(partial, k);
	const double *ph = SumsH(partial, k, p);

	s[SUMS_NLL] += partial[SUMS_NLL];
	s[SUMS_N_EXTREME] += partial[SUMS_N_EXTREME];
	for (int j = 0; j < p; j++)
		g[j] += pg[j];
	for (int j = 0; j < p * p; j++)
		hess[j] += ph[j];
}

/* Takes the next unclaimed chunk of the pass, if any is left. */
static bool
ClaimChunk(PassesShared *shared, uint32 pass, int *chunk)
{
	uint64		cur = pg_atomic_read_u64(&shared->claim);

	for (;;)
	{
		if ((uint32) (cur >> 32) != pass || (uint32) cur >= (uint32) shared->n_chunks)
			return false;
		if (pg_atomic_compare_exchange_u64(&shared->claim, &cur, cur + 1))
		{
			*chunk = (int) (uint32) cur;
			return true;
		}
	}
}

/*
 * Sums chunks of the pass until none is left to claim; helper is the
 * helper's number, or -1 for the leader.
 */
static void
SumClaimedChunks(PassesShared *shared, double *partials, const RowSource *src,
				 uint32 pass, const double *beta, int helper)
{
	int			k = shared->k;
	int			p = shared->p;
	LogregBlockScratch scratch;
	int			chunk;

	LogregBlockBegin(&scratch, beta, p);
	while (ClaimChunk(shared, pass, &chunk))
	{
		/* no interrupt check between the claim and this: only SIGKILL, which restarts the server, lands here */
		if (helper >= 0)
			pg_atomic_write_u64(&shared->holding[helper], ((uint64) pass << 32) | (chunk + 1));
		SumChunk(src, (int64) chunk * shared->chunk_rows,
				 ChunkRows(shared->n, shared->chunk_rows, chunk),
				 k, p, &shared->opts, &scratch,
				 partials + (Size) chunk * SumsLength(k, p));
		if (helper >= 0)
			pg_atomic_write_u64(&shared->holding[helper], 0);
		/* a full barrier: the sums are written before the chunk counts as done */
		if (pg_atomic_add_fetch_u32(&shared->chunks_done, 1) == (uint32) shared->n_chunks)
			ConditionVariableBroadcast(&shared->done_cv);
	}
	LogregBlockEnd(&scratch);
}

/*
 * How many helpers to ask for: none inside a parallel worker, in a
 * single-user backend, without an active snapshot to hand them, when the
 * session allows no parallel workers, or when the fit is too small to share
 * or its row segment too large for maintenance_work_mem.
 */
static int
HelpersWanted(int64 n, int p, int n_chunks, Size segment_size)
{
	if (!IsUnderPostmaster || IsParallelWorker() || !ActiveSnapshotSet() ||
		max_parallel_workers_per_gather <= 0 || max_parallel_workers <= 0 || n_chunks < 2)
		return 0;
	if ((double) n * p * p < HELPER_MIN_WORK)
		return 0;
	if ((double) segment_size > (double) maintenance_work_mem * 1024.0)
		return 0;
	return Min(max_parallel_workers_per_gather, n_chunks - 1);
}

/*
 * A bound on the parallel context's own segment, which InitializeParallelDSM
 * creates in parallel mode, where a failed allocation cannot be caught: the
 * shared state, the session's settings, combo command ids and snapshots, an
 * error queue of 16 kB per helper, and 64 kB for the rest.
 */
static Size
ParallelContextBytes(int n_helpers, Size shared_size)
{
	Size		bytes = add_size(shared_size, EstimateGUCStateSpace());

	bytes = add_size(bytes, EstimateComboCIDStateSpace());
	bytes = add_size(bytes, mul_size(2, EstimateSnapshotSpace(GetActiveSnapshot())));
	bytes = add_size(bytes, mul_size(n_helpers, 16384));
	if (debug_query_string != NULL)
		bytes = add_size(bytes, strlen(debug_query_string) + 1);
	return add_size(bytes, 65536);
}

/*
 * Starts the helpers: a segment for the rows, which the caller puts there,
 * and a parallel context with the shared state.  Leaves passes->pcxt NULL
 * when shared memory has no room or no helper could be had.
 */
static void
StartHelpers(LogregPasses *passes, int n_helpers, const RowSegmentLayout *layout)
{
	Size		shared_size = add_size(offsetof(PassesShared, holding),
									   mul_size(sizeof(pg_atomic_uint64), n_helpers));
	ParallelContext *pcxt;
	PassesShared *shared;
	char	   *base;

	/* first, outside parallel mode, where a failed allocation can be caught */
	passes->rows_seg = SharedSegmentIfRoom(layout->size,
										   ParallelContextBytes(n_helpers, shared_size));
	if (passes->rows_seg == NULL)
		return;
	base = dsm_segment_address(passes->rows_seg);
	passes->beta = (double *) base;
	passes->partials = (double *) (base + layout->partials);
	passes->shared_rows = (double *) (base + layout->rows);
	passes->shared_labels = (bool *) (base + layout->labels);

	EnterParallelMode();
	pcxt = CreateParallelContext("$libdir/retention", "logreg_passes_helper", n_helpers);
	shm_toc_estimate_chunk(&pcxt->estimator, shared_size);
	shm_toc_estimate_keys(&pcxt->estimator, 1);
	if (debug_query_string != NULL)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, strlen(debug_query_string) + 1);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	InitializeParallelDSM(pcxt);
	passes->pcxt = pcxt;
	if (pcxt->seg == NULL)
	{
		/* no segment slot left: the passes run here */
		LogregPassesEnd(passes);
		return;
	}

	shared = shm_toc_allocate(pcxt->toc, shared_size);
	shared->n = passes->n;
	shared->k = passes->k;
	shared->p = passes->p;
	shared->chunk_rows = passes->chunk_rows;
	shared->n_chunks = passes->n_chunks;
	shared->n_helpers = n_helpers;
	shared->rows_handle = dsm_segment_handle(passes->rows_seg);
	pg_atomic_init_u64(&shared->claim, 0);
	pg_atomic_init_u32(&shared->chunks_done, 0);
	pg_atomic_init_u32(&shared->pass, 0);
	pg_atomic_init_u32(&shared->finished, 0);
	ConditionVariableInit(&shared->pass_cv);
	ConditionVariableInit(&shared->done_cv);
	for (int i = 0; i < n_helpers; i++)
		pg_atomic_init_u64(&shared->holding[i], 0);
	shm_toc_insert(pcxt->toc, KEY_SHARED, shared);
	/* the query the helpers show in pg_stat_activity */
	if (debug_query_string != NULL)
	{
		char	   *query = shm_toc_allocate(pcxt->toc, strlen(debug_query_string) + 1);

		strcpy(query, debug_query_string);
		shm_toc_insert(pcxt->toc, KEY_QUERY, query);
	}

	LaunchParallelWorkers(pcxt);
	passes->shared = shared;
	if (pcxt->nworkers_launched == 0)
		LogregPassesEnd(passes);
}

LogregPasses *
LogregPassesBegin(int64 n, int k, int p)
{
	LogregPasses *passes = palloc0(sizeof(LogregPasses));
	int			chunk_rows = RowsPerChunk(p);
	int64		n_chunks = (n + chunk_rows - 1) / chunk_rows;
	RowSegmentLayout layout;
	int			n_helpers;

	if (n_chunks >= PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logreg_train cannot fit %lld rows", (long long) n)));
	passes->n = n;
	passes->k = k;
	passes->p = p;
	passes->chunk_rows = chunk_rows;
	passes->n_chunks = (int) n_chunks;
	passes->partial = palloc(SumsBytes(k, p));

	LayRowSegment(n, k, p, passes->n_chunks, &layout);
	n_helpers = HelpersWanted(n, p, passes->n_chunks, layout.size);
	if (n_helpers > 0)
		StartHelpers(passes, n_helpers, &layout);
	elog(DEBUG1, "logreg_train: %d chunks, %d of %d helpers", passes->n_chunks,
		 LogregPassesHelpers(passes), n_helpers);
	return passes;
}

double *
LogregPassesSharedRows(LogregPasses *passes, bool **labels)
{
	*labels = passes->pcxt == NULL ? NULL : passes->shared_labels;
	return passes->pcxt == NULL ? NULL : passes->shared_rows;
}

int
LogregPassesHelpers(const LogregPasses *passes)
{
	return passes->pcxt == NULL ? 0 : passes->pcxt->nworkers_launched;
}

/*
 * Waits until every chunk of the pass is summed.  A helper that stopped
 * while it held a chunk would leave the leader waiting for ever: its error,
 * if it sent one, is raised by the interrupt check in the sleep; otherwise
 * the connection to it is lost.
 */
static void
WaitForChunks(LogregPasses *passes)
{
	PassesShared *shared = passes->shared;
	ParallelContext *pcxt = passes->pcxt;

	ConditionVariablePrepareToSleep(&shared->done_cv);
	while (pg_atomic_read_u32(&shared->chunks_done) < (uint32) shared->n_chunks)
	{
		if (!ConditionVariableTimedSleep(&shared->done_cv, HELPER_CHECK_MS, PG_WAIT_EXTENSION))
			continue;
		for (int i = 0; i < pcxt->nworkers_launched; i++)
		{
			pid_t		pid;
			BgwHandleStatus status = GetBackgroundWorkerPid(pcxt->worker[i].bgwhandle, &pid);

			if (status == BGWH_STOPPED && pg_atomic_read_u64(&shared->holding[i]) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("lost connection to a logreg_train helper process")));
		}
	}
	ConditionVariableCancelSleep();
	pg_read_barrier();
}

void
LogregPassesEvaluate(LogregPasses *passes, const OrderedRows *rows, const LogregOptions *opts,
					 const double *beta, const double *fixed, double *s)
{
	int			k = rows->k;
	int			p = passes->p;
	RowSource	src = {(const double *const *) rows->row, NULL, k + 1, rows->labels};

	memcpy(s + 1, fixed + 1, sizeof(double) * (SumsLength(k, p) - 1));
	passes->pass++;
	if (passes->pcxt == NULL)
	{
		LogregBlockScratch scratch;

		LogregBlockBegin(&scratch, beta, p);
		for (int c = 0; c < passes->n_chunks; c++)
		{
			SumChunk(&src, (int64) c * passes->chunk_rows,
					 ChunkRows(rows->n, passes->chunk_rows, c),
					 k, p, opts, &scratch, passes->partial);
			AddChunk(s, passes->partial, k, p);
		}
		LogregBlockEnd(&scratch);
		return;
	}

	/* beta and options, then the counters, then the pass that lets the helpers in */
	memcpy(passes->beta, beta, sizeof(double) * p);
	passes->shared->opts = *opts;
	passes->shared->opts.n_names = -1;
	passes->shared->opts.names = NULL;
	pg_atomic_write_u32(&passes->shared->chunks_done, 0);
	pg_memory_barrier();
	pg_atomic_write_u64(&passes->shared->claim, (uint64) passes->pass << 32);
	pg_memory_barrier();
	pg_atomic_write_u32(&passes->shared->pass, passes->pass);
	ConditionVariableBroadcast(&passes->shared->pass_cv);

	SumClaimedChunks(passes->shared, passes->partials, &src, passes->pass, beta, -1);
	WaitForChunks(passes);
	for (int c = 0; c < passes->n_chunks; c++)
		AddChunk(s, passes->partials + (Size) c * SumsLength(k, p), k, p);
}

void
LogregPassesEnd(LogregPasses *passes)
{
	if (passes->pcxt != NULL)
	{
		if (passes->shared != NULL)
		{
			pg_atomic_write_u32(&passes->shared->finished, 1);
			ConditionVariableBroadcast(&passes->shared->pass_cv);
			WaitForParallelWorkersToFinish(passes->pcxt);
		}
		DestroyParallelContext(passes->pcxt);
		ExitParallelMode();
		passes->pcxt = NULL;
		passes->shared = NULL;
	}
	if (passes->rows_seg != NULL)
	{
		dsm_detach(passes->rows_seg);
		passes->rows_seg = NULL;
		passes->beta = NULL;
		passes->partials = NULL;
		passes->shared_rows = NULL;
		passes->shared_labels = NULL;
	}
}

/*
 * A helper's life: wait for a pass, sum chunks of it while any is left,
 * and again, until the leader says the fit is over.
 */
void
logreg_passes_helper(dsm_segment *seg, shm_toc *toc)
{
	PassesShared *shared = shm_toc_lookup(toc, KEY_SHARED, false);
	const char *query = shm_toc_lookup(toc, KEY_QUERY, true);
	RowSegmentLayout layout;
	dsm_segment *rows_seg;
	char	   *base;
	RowSource	src;
	uint32		seen = 0;
	uint32		pass = 0;

	debug_query_string = query;
	pgstat_report_activity(STATE_RUNNING, query);

	if (ParallelWorkerNumber < 0 || ParallelWorkerNumber >= shared->n_helpers)
		elog(ERROR, "logreg_train helper %d of %d", ParallelWorkerNumber, shared->n_helpers);
	/* the leader keeps the row segment until every helper has finished */
	rows_seg = dsm_attach(shared->rows_handle);
	if (rows_seg == NULL)
		elog(ERROR, "could not map the rows of logreg_train");
	LayRowSegment(shared->n, shared->k, shared->p, shared->n_chunks, &layout);
	base = dsm_segment_address(rows_seg);
	src.row = NULL;
	src.base = (const double *) (base + layout.rows);
	src.width = shared->k + 1;
	src.labels = (const bool *) (base + layout.labels);

	for (;;)
	{
		ConditionVariablePrepareToSleep(&shared->pass_cv);
		while (!pg_atomic_read_u32(&shared->finished) &&
			   (pass = pg_atomic_read_u32(&shared->pass)) == seen)
			ConditionVariableSleep(&shared->pass_cv, PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
		if (pg_atomic_read_u32(&shared->finished))
			break;
		seen = pass;
		pg_read_barrier();
		SumClaimedChunks(shared, (double *) (base + layout.partials), &src, pass,
						 (const double *) base, ParallelWorkerNumber);
	}
	dsm_detach(rows_seg);
}
