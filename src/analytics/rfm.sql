--------------------------------------------------------------------------
-- RFM scores and segments
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.rfm_segment(r_score integer, f_score integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN r_score NOT BETWEEN 1 AND 5 OR f_score NOT BETWEEN 1 AND 5 THEN NULL
        WHEN r_score = 5 AND f_score >= 4 THEN 'champions'
        WHEN r_score >= 3 AND f_score >= 4 THEN 'loyal customers'
        WHEN r_score >= 4 AND f_score BETWEEN 2 AND 3 THEN 'potential loyalists'
        WHEN r_score = 5 AND f_score = 1 THEN 'new customers'
        WHEN r_score = 4 AND f_score = 1 THEN 'promising'
        WHEN r_score = 3 AND f_score = 3 THEN 'need attention'
        WHEN r_score = 3 AND f_score <= 2 THEN 'about to sleep'
        WHEN r_score <= 2 AND f_score = 5 THEN 'can''t lose them'
        WHEN r_score <= 2 AND f_score >= 3 THEN 'at risk'
        WHEN r_score = 1 AND f_score = 1 THEN 'lost'
        ELSE 'hibernating'
    END
$$;

COMMENT ON FUNCTION @extschema@.rfm_segment(integer, integer) IS
'the customary RFM segment of a recency and a frequency score (1-5, 5 best): champions, loyal customers, potential loyalists, new customers, promising, need attention, about to sleep, can''t lose them, at risk, hibernating, lost';

CREATE FUNCTION @extschema@.rfm(
    events regclass,
    as_of timestamptz DEFAULT NULL,
    user_column name DEFAULT 'user_id',
    time_column name DEFAULT 'ts',
    amount_column name DEFAULT 'amount',
    event_column name DEFAULT NULL,
    purchase_event text DEFAULT 'purchase')
RETURNS TABLE (user_id bigint, recency_days float8, frequency bigint, monetary float8,
               r_score integer, f_score integer, m_score integer, rfm_cell text, segment text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH p AS (
        SELECT %1$I::bigint AS u, %2$I AS t, %3$I::float8 AS amount
          FROM %4$s
         WHERE %1$I IS NOT NULL AND %2$I IS NOT NULL AND %5$s
           AND ($1 IS NULL OR %2$I <= $1)),
    ref AS (SELECT COALESCE($1, pg_catalog.max(t)) AS as_of FROM p),
    c AS (
        SELECT u, pg_catalog.date_part('epoch', ref.as_of - pg_catalog.max(t)) / 86400 AS recency_days,
               pg_catalog.count(*) AS frequency, COALESCE(pg_catalog.sum(amount), 0) AS monetary
          FROM p, ref GROUP BY u, ref.as_of),
    s AS (
        SELECT c.*,
               pg_catalog.ntile(5) OVER (ORDER BY recency_days DESC, u)::integer AS r,
               pg_catalog.ntile(5) OVER (ORDER BY frequency, u)::integer AS f,
               pg_catalog.ntile(5) OVER (ORDER BY monetary, u)::integer AS m
          FROM c)
    SELECT u, recency_days, frequency, monetary, r, f, m, r::text || f::text || m::text,
           @extschema@.rfm_segment(r, f)
      FROM s ORDER BY u $q$,
        user_column, time_column, amount_column, events,
        CASE WHEN event_column IS NULL THEN 'true'
             ELSE pg_catalog.format('%I::text = %L', event_column, purchase_event) END)
    USING as_of;
END
$$;

COMMENT ON FUNCTION @extschema@.rfm(regclass, timestamptz, name, name, name, name, text) IS
'RFM per customer as of as_of (default: the latest purchase): recency in days, frequency, monetary total, quintile scores 1-5 (recency reversed, ties broken by user id), the cell ''RFM'' and the segment of rfm_segment(r, f)';
