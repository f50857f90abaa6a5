/*-------------------------------------------------------------------------
 *
 * huge_pages.c
 *	  Large buffers backed by transparent huge pages where the kernel
 *	  gives them on request.
 *
 * A fresh area of a hundred megabytes is otherwise faulted in 4 kB at a
 * time, tens of thousands of page faults, and a table read at random takes
 * a TLB miss on most accesses: the per-user tables of the analytics use it.
 * (logreg_train's row buffers, read in order, gained nothing from it.)  With
 * the kernel's default "madvise" mode, huge pages come only where asked
 * for.  It is only advice: where the kernel has no huge page to give, or
 * none at all, nothing changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "utils/memutils.h"

#include "huge_pages.h"

#define HUGE_PAGE_BYTES ((Size) 2 * 1024 * 1024)
#define HUGE_AREA_BYTES (4 * HUGE_PAGE_BYTES)

void
PreferHugePages(void *p, Size size)
{
#ifdef MADV_HUGEPAGE
	if (size >= HUGE_AREA_BYTES)
	{
		uintptr_t	lo = TYPEALIGN(HUGE_PAGE_BYTES, (uintptr_t) p);
		uintptr_t	hi = TYPEALIGN_DOWN(HUGE_PAGE_BYTES, (uintptr_t) p + size);

		if (hi > lo)
			(void) madvise((void *) lo, hi - lo, MADV_HUGEPAGE);
	}
#endif
}

void *
AllocHugePages(MemoryContext cxt, Size size)
{
	void	   *p = MemoryContextAllocHuge(cxt, size);

	PreferHugePages(p, size);
	return p;
}
