/*-------------------------------------------------------------------------
 *
 * model_io.c
 *	  Shared pieces of the model types' JSON input (model_io.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "model_io.h"

void
CheckModelKeys(JsonbContainer *object, const char *const *known, const char *type_name)
{
	JsonbIterator *it = JsonbIteratorInit(object);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			depth++;
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			depth--;
		else if (tok == WJB_KEY && depth == 1)
		{
			bool		found = false;

			for (const char *const *k = known; *k; k++)
				if (strlen(*k) == (size_t) v.val.string.len &&
					memcmp(*k, v.val.string.val, v.val.string.len) == 0)
				{
					found = true;
					break;
				}
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid input syntax for type %s: unknown key \"%.*s\"",
								type_name, v.val.string.len, v.val.string.val),
						 errhint("Check the spelling; the model's text form lists the keys it reads.")));
		}
	}
}
