/*-------------------------------------------------------------------------
 *
 * funnel.h
 *	  Conversion funnels in two stages: the per-user aggregate's state
 *	  (funnel_user.c), the search for a user's furthest step
 *	  (funnel_search.c) and the combinable second stage (funnel_stats.c).
 *	  The semantics are described in funnel_user.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_FUNNEL_H
#define RETENTION_FUNNEL_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

/* a funnel has at most this many steps */
#define FUNNEL_MAX_STEPS 32

#define FUNNEL_ORDERED 0
#define FUNNEL_STRICT 1
#define FUNNEL_UNORDERED 2

/* Parses 'ordered', 'strict' or 'unordered' (case-insensitive). */
extern int	FunnelParseMode(const char *name);

#define NO_BREAKDOWN (-1)
#define OTHER_EVENT (-1)
/* at most this many events per user (each costs 16 bytes) */
#define FUNNEL_MAX_EVENTS ((int64) 1 << 26)

typedef struct FunnelEvent
{
	TimestampTz ts;
	int32		type;			/* index into FunnelConfig.types, or OTHER_EVENT */
	int32		brk;			/* offset into the breakdown pool, or NO_BREAKDOWN */
} FunnelEvent;

typedef struct FunnelConfig
{
	int			mode;
	int			nsteps;
	int			ntypes;
	int			step_type[FUNNEL_MAX_STEPS];	/* type index of each step */
	int			mult[FUNNEL_MAX_STEPS];	/* how many steps each type fills */
	int			type_len[FUNNEL_MAX_STEPS];
	char	   *type_name[FUNNEL_MAX_STEPS];	/* not NUL-terminated */
	Interval	window;
	bool		have_from;
	bool		have_to;
	TimestampTz date_from;
	TimestampTz date_to;
} FunnelConfig;

typedef struct FunnelState
{
	FunnelConfig cfg;
	struct varlena *steps_copy; /* the steps argument, as first seen */
	struct varlena *mode_copy;	/* the mode argument, as first seen */
	FunnelEvent *events;
	int64		nevents;
	int64		capacity;
	StringInfoData pool;		/* breakdown values, each NUL-terminated */
	int32		last_brk;		/* offset of the last value stored */
} FunnelState;

/* Can an event of this type begin an attempt (so its breakdown matters)? */
static inline bool
CanStart(const FunnelConfig *cfg, int type)
{
	return cfg->mode == FUNNEL_UNORDERED ? type >= 0 : type == cfg->step_type[0];
}

#endif							/* RETENTION_FUNNEL_H */
