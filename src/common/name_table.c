/*-------------------------------------------------------------------------
 *
 * name_table.c
 *	  Words of text arguments and their values (name_table.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "name_table.h"

int
LookupName(const char *name, const NamedValue *table, int n, bool nocase)
{
	for (int i = 0; i < n; i++)
		if ((nocase ? pg_strcasecmp(name, table[i].name) : strcmp(name, table[i].name)) == 0)
			return table[i].value;
	return -1;
}

int
ParseName(const char *name, const NamedValue *table, int n, bool nocase,
		  const char *what, const char *hint)
{
	int			value = LookupName(name, table, n, nocase);

	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown %s \"%s\"", what, name),
				 errhint("%s", hint)));
	return value;
}
