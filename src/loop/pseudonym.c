/*-------------------------------------------------------------------------
 *
 * pseudonym.c
 *	  Keyed pseudonyms for user identifiers: HMAC-SHA256.
 *
 * A keyed hash, unlike a plain one, cannot be reversed by hashing every
 * possible identifier: without the key the pseudonyms reveal nothing, and
 * with it the same identifier always gets the same pseudonym, so events
 * tables can be joined and modelled on pseudonyms alone.  The digest is
 * PostgreSQL's own (OpenSSL's when the server is built with it), over the
 * identifier's text, so anyone holding the key can check a pseudonym with
 * any HMAC-SHA256 implementation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"

/* shorter keys are guessable; RFC 2104 advises at least the digest length */
#define MIN_KEY_BYTES 16

static void
HmacSha256(bytea *key, const char *message, size_t message_len,
		   uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	pg_hmac_ctx *ctx;
	size_t		key_len = VARSIZE_ANY_EXHDR(key);

	if (key_len < MIN_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pseudonym key has %zu bytes but at least %d are required",
						key_len, MIN_KEY_BYTES),
				 errhint("Use a secret of 32 random bytes, for example from gen_random_bytes(32) of pgcrypto.")));

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) VARDATA_ANY(key), key_len) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) message, message_len) < 0 ||
		pg_hmac_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		const char *reason = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		elog(ERROR, "could not compute HMAC-SHA256: %s", reason);
	}
	pg_hmac_free(ctx);
}

/* Returns the HMAC-SHA256 of an identifier's text under a key, in hex. */
PG_FUNCTION_INFO_V1(pseudonymize_text);
Datum
pseudonymize_text(PG_FUNCTION_ARGS)
{
	text	   *id = PG_GETARG_TEXT_PP(0);
	bytea	   *key = PG_GETARG_BYTEA_PP(1);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[2 * PG_SHA256_DIGEST_LENGTH + 1];

	HmacSha256(key, VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id), digest);
	hex[hex_encode((const char *) digest, sizeof(digest), hex)] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/*
 * Returns a bigint pseudonym: the first 8 bytes, big-endian, of the
 * HMAC-SHA256 of the identifier's decimal text, so that it agrees with the
 * text form (pseudonymize(42, k) is the head of pseudonymize('42', k)).
 */
PG_FUNCTION_INFO_V1(pseudonymize_bigint);
Datum
pseudonymize_bigint(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	bytea	   *key = PG_GETARG_BYTEA_PP(1);
	char		decimal[MAXINT8LEN + 1];
	int			len = pg_lltoa(id, decimal);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	uint64		head = 0;

	HmacSha256(key, decimal, len, digest);
	for (int i = 0; i < 8; i++)
		head = (head << 8) | digest[i];
	PG_RETURN_INT64((int64) head);
}
