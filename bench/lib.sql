-- bench/lib.sql: timing helpers loaded before every benchmark by bench/run.

CREATE SCHEMA bench;

-- Best (smallest) wall-clock time of several runs of a query, in milliseconds.
-- The first run also warms the cache; the minimum is the least noisy
-- statistic on a shared machine.
CREATE FUNCTION bench.best_ms(query text, runs integer DEFAULT 3)
RETURNS float8
LANGUAGE plpgsql
AS $$
DECLARE
    best  float8 := 'Infinity';
    start timestamptz;
BEGIN
    FOR i IN 1 .. runs LOOP
        start := pg_catalog.clock_timestamp();
        EXECUTE query;
        best := least(best, 1000 * extract(epoch FROM pg_catalog.clock_timestamp() - start));
    END LOOP;
    RETURN best;
END
$$;
