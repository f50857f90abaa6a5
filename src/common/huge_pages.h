/*-------------------------------------------------------------------------
 *
 * huge_pages.h
 *	  Large buffers backed by transparent huge pages where the kernel
 *	  gives them on request.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_HUGE_PAGES_H
#define RETENTION_HUGE_PAGES_H

/*
 * Marks the whole 2 MB pages of an area of at least four of them for
 * transparent huge pages (madvise mode), before anything touches them.
 */
extern void PreferHugePages(void *p, Size size);

/* MemoryContextAllocHuge, the result marked as PreferHugePages does */
extern void *AllocHugePages(MemoryContext cxt, Size size);

#endif							/* RETENTION_HUGE_PAGES_H */
