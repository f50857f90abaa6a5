/*-------------------------------------------------------------------------
 *
 * funnel.h
 *	  Conversion funnels (funnel.c) and user paths (paths.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_FUNNEL_H
#define RETENTION_FUNNEL_H

/* a funnel has at most this many steps */
#define FUNNEL_MAX_STEPS 32

#define FUNNEL_ORDERED 0
#define FUNNEL_STRICT 1
#define FUNNEL_UNORDERED 2

/* Parses 'ordered', 'strict' or 'unordered' (case-insensitive). */
extern int	FunnelParseMode(const char *name);

#endif							/* RETENTION_FUNNEL_H */
