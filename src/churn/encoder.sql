--------------------------------------------------------------------------
-- Churn feature encoder: raw rows (to_jsonb(row)) to feature vectors,
-- learned from the training rows and stored inside the model.
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.churn_label_expr(label_column text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.format(
        $e$(CASE WHEN (src.%1$I)::pg_catalog.text OPERATOR(pg_catalog.~) '^\s*[-+]?[0-9.]+\s*$'
                 THEN (src.%1$I)::pg_catalog.text::pg_catalog.numeric::integer::boolean
                 ELSE (src.%1$I)::pg_catalog.text::boolean END)$e$, label_column)
$$;

COMMENT ON FUNCTION @extschema@.churn_label_expr(text) IS
'the SQL expression (over the FROM item src) that reads a label column as boolean: a number (0/1), a boolean, or text that reads as one (''Yes'', ''no'', ''t'', ''1''); used by train_churn_model and logreg_cv';

CREATE FUNCTION @extschema@.churn_encoder(source text, columns text[], options jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $$
DECLARE
    opts        pg_catalog.jsonb := COALESCE(options, '{}'::pg_catalog.jsonb);
    min_count   pg_catalog.int8;
    max_levels  integer;
    standardize boolean;
    k           pg_catalog.text;
    st          record;
    n_levels    pg_catalog.int8;
    cols        pg_catalog.jsonb := '[]'::pg_catalog.jsonb;
    kept        pg_catalog.text[];
    rare        pg_catalog.text[];
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'source must not be NULL';
    END IF;
    IF columns IS NULL OR pg_catalog.cardinality(columns) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.array_position(columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'columns must name at least one column and hold no NULL';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT c) FROM pg_catalog.unnest(columns) AS c)
       OPERATOR(pg_catalog.<>) pg_catalog.cardinality(columns) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'columns names a column twice';
    END IF;
    IF pg_catalog.jsonb_typeof(opts) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'encoder options must be a JSON object';
    END IF;
    FOR k IN SELECT pg_catalog.jsonb_object_keys(opts) LOOP
        IF k OPERATOR(pg_catalog.<>) ALL (ARRAY['min_level_count', 'max_levels', 'standardize']) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('unrecognized encoder option "%s"', k),
                HINT = 'Valid options are min_level_count, max_levels and standardize.';
        END IF;
    END LOOP;
    BEGIN
        min_count := COALESCE((opts OPERATOR(pg_catalog.->>) 'min_level_count')::pg_catalog.int8, 10);
        max_levels := COALESCE((opts OPERATOR(pg_catalog.->>) 'max_levels')::integer, 1000);
        standardize := COALESCE((opts OPERATOR(pg_catalog.->>) 'standardize')::boolean, false);
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid encoder option value',
            DETAIL = 'min_level_count and max_levels are integers, standardize is true or false.';
    END;
    IF min_count OPERATOR(pg_catalog.<) 1 OR max_levels OPERATOR(pg_catalog.<) 1
       OR max_levels OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid encoder option value',
            DETAIL = 'min_level_count must be at least 1 and max_levels between 1 and 1000.';
    END IF;

    -- one scan: every cell of the named columns, typed; per column its
    -- counts, mean and standard deviation, and the level counts of the
    -- columns that hold text
    FOR st IN EXECUTE pg_catalog.format(
        $q$WITH cells AS (
             SELECT u.i, x.t, e.value OPERATOR(pg_catalog.#>>) '{}' AS txt,
                    CASE WHEN x.t OPERATOR(pg_catalog.=) 'bool'
                         THEN (e.value OPERATOR(pg_catalog.#>>) '{}')::boolean::integer::pg_catalog.float8
                         WHEN x.t OPERATOR(pg_catalog.=) 'number'
                         THEN (e.value OPERATOR(pg_catalog.#>>) '{}')::pg_catalog.float8 END AS num
               FROM (SELECT pg_catalog.to_jsonb(src) AS r FROM %s OFFSET 0) AS j
              CROSS JOIN LATERAL pg_catalog.jsonb_each(j.r) AS e
               JOIN pg_catalog.unnest($1) WITH ORDINALITY AS u(name, i) ON u.name OPERATOR(pg_catalog.=) e.key
              CROSS JOIN LATERAL (SELECT CASE
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'null' THEN 'missing'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'boolean' THEN 'bool'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'number' THEN 'number'
                        WHEN pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.<>) 'string' THEN 'bad'
                        WHEN (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^\s*$' THEN 'missing'
                        WHEN (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~)
                             '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$' THEN 'number'
                        ELSE 'text' END AS t) AS x),
           stats AS (
             SELECT u.i, u.name,
                    pg_catalog.count(c.t) AS n_present,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'missing') AS n_missing,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'text') AS n_text,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'bad') AS n_bad,
                    pg_catalog.count(c.num) AS n_num,
                    pg_catalog.count(c.t) FILTER (WHERE c.t OPERATOR(pg_catalog.=) 'bool') AS n_bool,
                    pg_catalog.avg(c.num) AS mean,
                    pg_catalog.stddev_pop(c.num) AS sd
               FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(name, i)
               LEFT JOIN cells AS c ON c.i OPERATOR(pg_catalog.=) u.i
              GROUP BY u.i, u.name),
           levels AS (
             SELECT l.i, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(l.txt, l.n) ORDER BY l.txt COLLATE "C") AS counts
               FROM (SELECT c.i, c.txt, pg_catalog.count(*) AS n
                       FROM cells AS c
                      WHERE c.t OPERATOR(pg_catalog.<>) 'missing'
                        AND c.i OPERATOR(pg_catalog.=) ANY (SELECT s.i FROM stats AS s WHERE s.n_text OPERATOR(pg_catalog.>) 0)
                      GROUP BY c.i, c.txt) AS l
              GROUP BY l.i)
           SELECT s.*, l.counts FROM stats AS s LEFT JOIN levels AS l ON l.i OPERATOR(pg_catalog.=) s.i ORDER BY s.i$q$,
        @extschema@.source_from_item(source))
        USING columns
    LOOP
        IF st.n_present OPERATOR(pg_catalog.=) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '42703',
                MESSAGE = pg_catalog.format('column "%s" is not in the rows of the source', st.name),
                HINT = 'Name columns of the source (their names are case-sensitive).';
        ELSIF st.n_bad OPERATOR(pg_catalog.>) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('column "%s" holds arrays or objects', st.name),
                HINT = 'Encode scalar columns: numbers, booleans and text.';
        ELSIF st.n_text OPERATOR(pg_catalog.=) 0 AND st.n_num OPERATOR(pg_catalog.=) 0 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = pg_catalog.format('column "%s" has no values', st.name),
                HINT = 'Every value is NULL or blank; leave the column out.';
        ELSIF st.n_text OPERATOR(pg_catalog.=) 0 THEN
            cols := cols OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'name', st.name, 'kind', 'numeric', 'mean', st.mean, 'sd', st.sd,
                -- booleans are indicators, like the one-hot levels: never rescaled
                'standardize', standardize AND st.n_bool OPERATOR(pg_catalog.<) st.n_num,
                'missing_indicator', st.n_missing OPERATOR(pg_catalog.>) 0));
        ELSE
            SELECT pg_catalog.count(*),
                   pg_catalog.array_agg(x.e OPERATOR(pg_catalog.->>) 0 ORDER BY x.o)
                       FILTER (WHERE (x.e OPERATOR(pg_catalog.->>) 1)::pg_catalog.int8 OPERATOR(pg_catalog.>=) min_count),
                   pg_catalog.array_agg(x.e OPERATOR(pg_catalog.->>) 0 ORDER BY x.o)
                       FILTER (WHERE (x.e OPERATOR(pg_catalog.->>) 1)::pg_catalog.int8 OPERATOR(pg_catalog.<) min_count)
              INTO n_levels, kept, rare
              FROM pg_catalog.jsonb_array_elements(st.counts) WITH ORDINALITY AS x(e, o);
            IF n_levels OPERATOR(pg_catalog.>) max_levels THEN
                RAISE EXCEPTION USING ERRCODE = '54000',
                    MESSAGE = pg_catalog.format('column "%s" has %s distinct values, more than max_levels (%s)',
                                                st.name, n_levels, max_levels),
                    HINT = 'Leave identifiers out of the feature columns, or raise the max_levels option (at most 1000).';
            END IF;
            cols := cols OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'name', st.name, 'kind', 'categorical',
                'reference', kept[1],
                'levels', pg_catalog.to_jsonb(COALESCE(kept[2:], '{}'::pg_catalog.text[])),
                'rare', pg_catalog.to_jsonb(COALESCE(rare, '{}'::pg_catalog.text[])),
                'other', rare IS NOT NULL,
                'missing', st.n_missing OPERATOR(pg_catalog.>) 0));
        END IF;
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('version', 1, 'standardize', standardize,
                                         'min_level_count', min_count, 'columns', cols);
END
$$;

COMMENT ON FUNCTION @extschema@.churn_encoder(text, text[], jsonb) IS
'learns a feature encoder from the rows of a table, view or query for the named columns: numeric columns (numbers, booleans as 0/1, text that is all numbers) with an optional standardisation and a missing-value indicator, text columns one-hot with the first level in byte order as the reference and levels seen fewer than min_level_count times (default 10) grouped as "(other)"; options min_level_count, max_levels (default 1000), standardize (default false)';

CREATE FUNCTION @extschema@.churn_encode(encoder jsonb, "row" jsonb)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'churn_encode'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_encode(jsonb, jsonb) IS
'the feature vector of a raw row (to_jsonb(row)) under an encoder from churn_encoder; a level never seen in training encodes as the reference level';

CREATE FUNCTION @extschema@.churn_encoder_features(encoder jsonb)
RETURNS text[]
AS 'MODULE_PATHNAME', 'churn_encoder_features'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_encoder_features(jsonb) IS
'the readable names of the features an encoder makes, in order (for example "Contract=Two year", "TotalCharges (missing)")';

CREATE FUNCTION @extschema@.churn_model_with_encoder(model @extschema@.logreg_model, encoder jsonb)
RETURNS @extschema@.logreg_model
AS 'MODULE_PATHNAME', 'churn_model_with_encoder'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_model_with_encoder(@extschema@.logreg_model, jsonb) IS
'the model with the encoder its features were made by stored inside it, so that churn_prob_row, churn_logit_row and churn_explain_row take raw rows; feature names from the encoder';

CREATE FUNCTION @extschema@.churn_prob_row(model @extschema@.logreg_model, "row" jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_prob_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_prob_row(@extschema@.logreg_model, jsonb) IS
'churn probability of one raw row (to_jsonb(row)), encoded by the encoder stored in the model';

CREATE FUNCTION @extschema@.churn_logit_row(model @extschema@.logreg_model, "row" jsonb)
RETURNS float8
AS 'MODULE_PATHNAME', 'churn_logit_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_logit_row(@extschema@.logreg_model, jsonb) IS
'log-odds of churn of one raw row (to_jsonb(row)), encoded by the encoder stored in the model';

CREATE FUNCTION @extschema@.churn_explain_row(model @extschema@.logreg_model, "row" jsonb,
    OUT feature_index integer, OUT feature text, OUT value float8, OUT coefficient float8,
    OUT mean float8, OUT contribution float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'churn_explain_row'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION @extschema@.churn_explain_row(@extschema@.logreg_model, jsonb) IS
'churn_explain of one raw row (to_jsonb(row)), encoded by the encoder stored in the model: one row per encoded feature';

CREATE FUNCTION @extschema@.churn_unseen(model @extschema@.logreg_model, "row" jsonb)
RETURNS text[]
AS 'MODULE_PATHNAME', 'churn_unseen'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.churn_unseen(@extschema@.logreg_model, jsonb) IS
'the values of a raw row that the model''s encoder never saw in training ("column=value"), which score as the reference level; empty when none';
