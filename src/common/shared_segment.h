/*-------------------------------------------------------------------------
 *
 * shared_segment.h
 *	  A dynamic shared memory segment that may be refused, not an error,
 *	  when shared memory has no room for it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_SHARED_SEGMENT_H
#define RETENTION_SHARED_SEGMENT_H

#include "storage/dsm.h"

/*
 * A segment of size bytes owned by the current resource owner, or NULL when
 * there is no room (the free space of /dev/shm, a full /dev/shm, no segment
 * slot left).  For work that can be done without it, in private memory.
 * reserve: the shared memory the caller asks for next, where a failure
 * cannot be caught (a parallel context's segment); it must fit as well.
 */
extern dsm_segment *SharedSegmentIfRoom(Size size, Size reserve);

#endif							/* RETENTION_SHARED_SEGMENT_H */
