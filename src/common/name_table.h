/*-------------------------------------------------------------------------
 *
 * name_table.h
 *	  The words a text argument may take (a period, a mode) and the values
 *	  they stand for, looked up in one place.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_NAME_TABLE_H
#define RETENTION_NAME_TABLE_H

typedef struct NamedValue
{
	const char *name;
	int			value;				/* not negative */
} NamedValue;

/*
 * The value of "name" among the n entries of "table", compared ignoring
 * ASCII case when "nocase"; -1 when it is none of them.
 */
extern int	LookupName(const char *name, const NamedValue *table, int n, bool nocase);

/* As LookupName, but none is the 22023 error "unknown <what> "<name>"" with "hint". */
extern int	ParseName(const char *name, const NamedValue *table, int n, bool nocase,
					  const char *what, const char *hint);

#endif							/* RETENTION_NAME_TABLE_H */
