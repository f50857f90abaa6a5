/*-------------------------------------------------------------------------
 *
 * refresh_guard.c
 *	  Keeps a cancel of retention.refresh() inside the procedure's own
 *	  exception blocks, and its pipeline lock from outliving an error.
 *
 * refresh() is a PL/pgSQL procedure that commits after every step and
 * catches query_canceled in every block, to mark its run cancelled and
 * release the session-level advisory lock that keeps two refreshes of a
 * pipeline apart.  But PL/pgSQL checks for interrupts before every
 * statement, and the statements between its blocks (COMMIT above all,
 * which flushes WAL and can take a while) run outside any handler: a
 * statement_timeout or pg_cancel_backend that arrives there ends the
 * procedure with the lock held and the run marked "running".
 *
 * While armed, the guard holds off query cancels (not pg_terminate_backend)
 * everywhere in the procedure except inside its own exception blocks, the
 * subtransactions one level below the procedure's transaction: a cancel
 * arriving between two blocks waits for the next block, where it is caught
 * and handled.  Should any error still escape, the abort of the top-level
 * transaction releases the lock.  The guard ends with the CALL at the
 * latest (with the transaction, if armed outside a procedure), and never
 * holds back pg_terminate_backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"

/* the procedure's transaction; its blocks are subtransactions of this + 1 */
#define PROCEDURE_NEST_LEVEL 1

typedef struct RefreshGuard
{
	bool		armed;
	bool		holding;		/* we added one to QueryCancelHoldoffCount */
	LOCKTAG		lock;			/* the pipeline's advisory lock */
} RefreshGuard;

static RefreshGuard guard;
static bool callbacks_registered = false;

static void
HoldCancel(void)
{
	if (!guard.holding)
	{
		HOLD_CANCEL_INTERRUPTS();
		guard.holding = true;
	}
}

/* An error resets the holdoff count to zero: never decrement below it. */
static void
ResumeCancel(void)
{
	if (guard.holding)
	{
		if (QueryCancelHoldoffCount > 0)
			QueryCancelHoldoffCount--;
		guard.holding = false;
	}
}

static void
ReleasePipelineLock(void)
{
	if (LockHeldByMe(&guard.lock, ExclusiveLock))
		LockRelease(&guard.lock, ExclusiveLock, true);
}

static void
Disarm(void)
{
	ResumeCancel();
	guard.armed = false;
}

/* Cancels are let through inside the procedure's blocks only. */
static void
RefreshGuardSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	if (!guard.armed || GetCurrentTransactionNestLevel() != PROCEDURE_NEST_LEVEL + 1)
		return;
	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			ResumeCancel();
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
		case SUBXACT_EVENT_ABORT_SUB:
			/* an error that was caught zeroed the count: hold again */
			guard.holding = false;
			HoldCancel();
			break;
		default:
			break;
	}
}

/*
 * The procedure's own COMMITs keep the guard; the commit that ends the CALL
 * (no procedure on the stack any more) and every top-level abort end it.
 * An abort while armed is an error that escaped the procedure.
 */
static void
RefreshGuardXactCallback(XactEvent event, void *arg)
{
	if (!guard.armed)
		return;
	switch (event)
	{
		case XACT_EVENT_ABORT:
			ReleasePipelineLock();
			guard.holding = false;	/* the error zeroed the count */
			Disarm();
			break;
		case XACT_EVENT_COMMIT:
			if (!SPI_inside_nonatomic_context())
				Disarm();
			break;
		default:
			break;
	}
}

/*
 * refresh_guard_begin(lock_class integer, lock_key integer): arms the guard
 * for the pipeline lock (the two-integer advisory lock); called from one of
 * the procedure's blocks.
 */
PG_FUNCTION_INFO_V1(refresh_guard_begin);
Datum
refresh_guard_begin(PG_FUNCTION_ARGS)
{
	int32		lock_class = PG_GETARG_INT32(0);
	int32		lock_key = PG_GETARG_INT32(1);

	/*
	 * Inside a block SPI counts as atomic, so the procedure cannot be asked
	 * for; called elsewhere (a savepoint of a plain transaction) the guard
	 * still ends with that transaction.
	 */
	if (GetCurrentTransactionNestLevel() != PROCEDURE_NEST_LEVEL + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("refresh_guard_begin can only be called from an exception block of a procedure called outside a transaction block")));
	if (!callbacks_registered)
	{
		RegisterXactCallback(RefreshGuardXactCallback, NULL);
		RegisterSubXactCallback(RefreshGuardSubXactCallback, NULL);
		callbacks_registered = true;
	}
	SET_LOCKTAG_ADVISORY(guard.lock, MyDatabaseId, (uint32) lock_class, (uint32) lock_key, 2);
	guard.holding = false;
	guard.armed = true;
	PG_RETURN_VOID();
}

/*
 * refresh_guard_end(): releases the pipeline lock if this session holds it,
 * disarms the guard and lets a held cancel through.
 */
PG_FUNCTION_INFO_V1(refresh_guard_end);
Datum
refresh_guard_end(PG_FUNCTION_ARGS)
{
	if (guard.armed)
	{
		ReleasePipelineLock();
		Disarm();
	}
	PG_RETURN_VOID();
}
