/*-------------------------------------------------------------------------
 *
 * shared_segment.c
 *	  A dynamic shared memory segment that may be refused, not an error,
 *	  when shared memory has no room for it.
 *
 * dsm_create raises an error when the segment's memory cannot be had: with
 * POSIX shared memory, the usual kind on Linux, when /dev/shm is full, which
 * containers make likely (Docker gives it 64 MB).  A caller that could work
 * without the segment would fail for nothing, so the free space is measured
 * first, and the creation runs in an internal subtransaction that turns a
 * failed allocation into NULL.  The leader of a parallel plan cannot start a
 * subtransaction: there, the measured free space is all that protects it,
 * and without a measure (another kind of shared memory) it gets NULL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __linux__
#include <sys/statvfs.h>
#include <unistd.h>
#endif

#include "access/xact.h"
#include "storage/dsm_impl.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "shared_segment.h"

/* Free bytes where POSIX shared memory lives, or -1 when not known. */
static double
SharedMemoryFree(void)
{
#ifdef __linux__
	struct statvfs st;

	if (dynamic_shared_memory_type == DSM_IMPL_POSIX && statvfs("/dev/shm", &st) == 0)
	{
		/* a tmpfs mounted with size=0 has no limit and reports no blocks */
		if (st.f_blocks == 0)
			return (double) sysconf(_SC_AVPHYS_PAGES) * (double) sysconf(_SC_PAGESIZE);
		return (double) st.f_bavail * (double) st.f_frsize;
	}
#endif
	return -1.0;
}

/*
 * Whether an error from dsm_create means only that the segment could not be
 * had: 53100 disk full, 53200 out of memory, or any failure of the system
 * calls of dsm_impl.c (sysv's shmget reports a segment over kernel.shmmax as
 * EINVAL, which becomes XX000).
 */
static bool
IsAllocationFailure(const ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_DISK_FULL ||
		edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY ||
		(edata->filename != NULL && strcmp(edata->filename, "dsm_impl.c") == 0);
}

/*
 * dsm_create in an internal subtransaction: a failed allocation gives NULL,
 * any other error is raised again.  The segment is handed to the caller's
 * resource owner, not left to the subtransaction's, which would detach it.
 */
static dsm_segment *
CreateInSubtransaction(Size size)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	dsm_segment *volatile seg = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		seg = dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
		if (seg != NULL)
			dsm_pin_mapping(seg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/* pinned, so no resource owner detaches it: the commit itself failed */
		if (seg != NULL)
			dsm_detach(seg);
		if (!IsAllocationFailure(edata))
			ReThrowError(edata);
		FreeErrorData(edata);
		return NULL;
	}
	PG_END_TRY();
	if (seg != NULL)
		dsm_unpin_mapping(seg);
	return seg;
}

dsm_segment *
SharedSegmentIfRoom(Size size, Size reserve)
{
	double		free_bytes = SharedMemoryFree();

	/* half the free space at most: others may be asking for it meanwhile */
	if (free_bytes >= 0.0 && (double) size + (double) reserve > free_bytes / 2.0)
		return NULL;
	if (!IsInParallelMode())
		return CreateInSubtransaction(size);
	if (free_bytes < 0.0)
		return NULL;
	return dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
}
