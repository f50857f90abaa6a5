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
#include "fmgr.h"
#include "lib/stringinfo.h"

#include "bytea_state.h"

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

/* The outcome for one user. */
typedef struct FunnelOutcome
{
	int			reached;
	int			start;			/* instant of the first event */
	int64		start_event;	/* first event (sorted) at that instant */
	TimestampTz times[FUNNEL_MAX_STEPS];
} FunnelOutcome;

/*
 * Stage one's configuration from the arguments of a transition call whose
 * time argument is argument "base" (steps at base + 2, window base + 3,
 * mode base + 4, date_from base + 6, date_to base + 7), in funnel_user.c.
 */
extern void FunnelParseConfig(FunctionCallInfo fcinfo, int base, FunnelConfig *cfg,
							  MemoryContext cxt);
extern bool FunnelArgsMatch(FunctionCallInfo fcinfo, int base, const FunnelConfig *cfg,
							const struct varlena *steps, const struct varlena *mode);
extern struct varlena *FunnelCopyBytes(MemoryContext cxt, Datum d);
extern void FunnelCheckSameConfig(const FunnelConfig *a, const FunnelConfig *b);
extern void FunnelWriteConfig(StringInfo buf, uint32 magic, const FunnelConfig *cfg,
							  int32 poollen, int64 nevents);
extern void FunnelReadConfig(ByteaReader *r, uint32 magic, FunnelConfig *cfg,
							 MemoryContext cxt, int32 *poollen, int64 *nevents, int64 max_events);
extern void FunnelSetStepType(FunnelConfig *cfg, int i, char *name, int len);
extern void FunnelCopyConfig(FunnelConfig *dst, const FunnelConfig *src, MemoryContext cxt);

/* The type named by the len bytes at name, or OTHER_EVENT. */
static inline int
FindStepType(const FunnelConfig *cfg, const char *name, int len)
{
	for (int k = 0; k < cfg->ntypes; k++)
		if (cfg->type_len[k] == len &&
			(len == 0 || (cfg->type_name[k][0] == name[0] && memcmp(cfg->type_name[k], name, len) == 0)))
			return k;
	return OTHER_EVENT;
}

/* The search's buffers, kept from user to user; zeroed, then grown in cxt. */
typedef struct FunnelScratch
{
	MemoryContext cxt;
	int64		cap;			/* events they hold */
	int			ntypes;
	TimestampTz *ts;
	int		   *first;
	int32	   *count;
	int		   *next;
} FunnelScratch;

/*
 * The search over one user's events sorted by (ts, type), in funnel_search.c:
 * the furthest step and its earliest attempt; allocates in the current
 * context, little with a scratch (NULL: none).  FunnelFirstTouch is that attempt's breakdown (the least value
 * among the events that can start it at its first instant), a string of
 * "pool", or NULL.
 */
extern void FunnelSortEvents(FunnelEvent *ev, int64 n);
extern void FunnelSearch(const FunnelConfig *cfg, const FunnelEvent *ev, int64 nev,
						 FunnelOutcome *best, FunnelScratch *scratch);
extern const char *FunnelFirstTouch(const FunnelConfig *cfg, const char *pool,
									const FunnelEvent *ev, int64 nev, int64 first);

/*
 * Stage two's summary (funnel_stats.c), opaque: users per furthest step and
 * their step-to-step seconds, and its float8[nsteps][3] matrix.
 */
typedef struct FunnelStats FunnelStats;
extern FunnelStats *FunnelStatsAddUser(FunnelStats *s, int nsteps, const FunnelOutcome *o);
extern Datum FunnelStatsMatrix(const FunnelStats *s);

/* Can an event of this type begin an attempt (so its breakdown matters)? */
static inline bool
CanStart(const FunnelConfig *cfg, int type)
{
	return cfg->mode == FUNNEL_UNORDERED ? type >= 0 : type == cfg->step_type[0];
}

#endif							/* RETENTION_FUNNEL_H */
