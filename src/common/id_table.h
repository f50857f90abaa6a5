/*-------------------------------------------------------------------------
 *
 * id_table.h
 *	  A simplehash table of entries keyed by a user id (int64 user_id),
 *	  hashed with HashId: define SH_PREFIX and SH_ELEMENT_TYPE, then
 *	  include this file (no include guard: once per table).
 *
 *-------------------------------------------------------------------------
 */
#include "id_hash.h"

#define SH_KEY_TYPE		int64
#define SH_KEY			user_id
#define SH_HASH_KEY(tb, key) HashId(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"
