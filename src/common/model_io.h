/*-------------------------------------------------------------------------
 *
 * model_io.h
 *	  Shared pieces of the model types' text (JSON) input: every model type
 *	  (logreg_model, item_knn_model, the customer-base models) reads a JSON
 *	  object whose keys it knows, and rejects any other key by name, so a
 *	  misspelt key ("mean" for "feature_means") is an error, not a silently
 *	  ignored field.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_MODEL_IO_H
#define RETENTION_MODEL_IO_H

#include "utils/jsonb.h"

/*
 * Raises 22P02 naming the first key of the object that is not in "known"
 * (a NULL-terminated list); "type_name" names the type in the message.
 */
extern void CheckModelKeys(JsonbContainer *object, const char *const *known,
						   const char *type_name);

#endif							/* RETENTION_MODEL_IO_H */
