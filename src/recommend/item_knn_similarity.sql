--------------------------------------------------------------------------
-- Recommendation: item-kNN (and user-user) neighbours by Pearson
-- correlation or adjusted cosine
--
-- The same aggregate with a fifth argument naming the similarity; the
-- model is an ordinary item_knn_model (only positive similarities are
-- kept), so recommend() and the registry work unchanged.  With the user
-- and item columns swapped it gives user-user neighbours.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.item_knn_transfn(@extschema@.agg_state, bigint, bigint, float8, integer, text)
RETURNS @extschema@.agg_state
AS 'MODULE_PATHNAME', 'item_knn_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.item_knn_transfn(@extschema@.agg_state, bigint, bigint, float8, integer, text) IS
'transition function of retention.item_knn with a similarity: collects (user, item, weight) triples';

CREATE AGGREGATE @extschema@.item_knn(user_id bigint, item_id bigint, weight float8, k integer, similarity text) (
    SFUNC = @extschema@.item_knn_transfn,
    STYPE = @extschema@.agg_state,
    FINALFUNC = @extschema@.item_knn_finalfn,
    FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = @extschema@.item_knn_combinefn,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.item_knn(bigint, bigint, float8, integer, text) IS
'item-kNN model with the given similarity: ''cosine'', ''pearson'' (correlation of the whole item vectors over the users of the input, absent = 0) or ''adjusted_cosine'' (Sarwar et al. 2001: weights minus each user''s mean weight, over the users both items have); only positive similarities are kept';
