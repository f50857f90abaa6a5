-- pgTAP: call every IMMUTABLE or STABLE function and every aggregate of the
-- schema retention with random arguments, edge values included (NaN,
-- infinities, 1e300, subnormals, empty and multi-dimensional arrays, NULL
-- elements, extreme integers and timestamps, malformed JSON and options),
-- and check that each call either returns or raises an error of a class
-- users can handle: 22 (data exception), 54 (program limit exceeded), 42
-- (a named relation or column that does not exist) or 0A (not supported).
-- An internal error (XX000, from elog) or a crash fails the suite.
--
-- The harness reads the catalogue, so functions added later are fuzzed
-- without changes here; a function with an argument type it cannot generate
-- is reported by a diagnostic, not silently passed.  Set the psql variable
-- fuzz_calls to change the number of calls per function (default 150) and
-- fuzz_seed for another random sequence.

BEGIN;
SELECT no_plan();
SET client_min_messages = warning;

\if :{?fuzz_calls}
\else
\set fuzz_calls 150
\endif
\if :{?fuzz_seed}
\else
\set fuzz_seed 0.1234
\endif
SELECT setseed(:fuzz_seed);

CREATE FUNCTION pg_temp.pick(VARIADIC choices text[]) RETURNS text
LANGUAGE sql VOLATILE AS
$$ SELECT choices[1 + floor(random() * array_length(choices, 1))::int] $$;

-- one float8 element, written as SQL text: usually ordinary, sometimes extreme
CREATE FUNCTION pg_temp.random_float() RETURNS text
LANGUAGE sql VOLATILE AS
$$
SELECT CASE WHEN random() < 0.85
            THEN round((random() * 20 - 10)::numeric, 3)::text
            ELSE pg_temp.pick('NaN', 'Infinity', '-Infinity', '0', '-0', '1e300', '-1e300',
                              '1e-310', '5e-324', '1e38', '3.4e38', '-1e-45')
       END
$$;

-- an array literal of floats: the usual length is the call's "dimension"
CREATE FUNCTION pg_temp.random_float_array(dimension int, elemtype text) RETURNS text
LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    r float8 := random();
    n int := dimension;
    elems text[] := '{}';
BEGIN
    IF r < 0.04 THEN RETURN 'NULL::' || elemtype || '[]'; END IF;
    IF r < 0.08 THEN RETURN '''{}''::' || elemtype || '[]'; END IF;
    IF r < 0.11 THEN RETURN '''{{1,2},{3,4}}''::' || elemtype || '[]'; END IF;
    IF r < 0.16 THEN n := 1 + floor(random() * 6)::int; END IF;
    FOR i IN 1 .. n LOOP
        elems := elems || CASE WHEN random() < 0.03 THEN 'NULL' ELSE pg_temp.random_float() END;
    END LOOP;
    RETURN format('%L::%s[]', '{' || array_to_string(elems, ',') || '}', elemtype);
END
$$;

-- an SQL expression for a random value of the given type, or NULL if the
-- harness does not know how to make one
CREATE FUNCTION pg_temp.random_value(t regtype, argname text, dimension int) RETURNS text
LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    typ text := format_type(t, NULL);
BEGIN
    IF random() < 0.03 THEN
        RETURN 'NULL::' || typ;
    END IF;
    CASE typ
    WHEN 'double precision', 'real' THEN
        RETURN format('%L::%s', pg_temp.random_float(), typ);
    WHEN 'double precision[]' THEN
        RETURN pg_temp.random_float_array(dimension, 'float8');
    WHEN 'real[]' THEN
        RETURN pg_temp.random_float_array(dimension, 'float4');
    WHEN 'integer', 'smallint' THEN
        RETURN format('%s::%s', CASE WHEN random() < 0.8 THEN pg_temp.pick('1', '2', '3', '5', '10')
                                     ELSE pg_temp.pick('0', '-1', '-32768', '32767', '100000') END, typ);
    WHEN 'bigint' THEN
        RETURN CASE WHEN random() < 0.9 THEN (1 + floor(random() * 30))::int::text
                    ELSE pg_temp.pick('0', '-1', '9223372036854775807', '-9223372036854775808') END
               || '::bigint';
    WHEN 'numeric' THEN
        RETURN format('%L::numeric', pg_temp.pick('0', '1', '-1', '12.5', 'NaN', '1e100'));
    WHEN 'boolean' THEN
        RETURN pg_temp.pick('true', 'false');
    WHEN 'text', 'name', 'character varying' THEN
        RETURN format('%L::%s', pg_temp.pick('day', 'week', 'month', 'year', '', 'Day', 'bogus',
                                              'purchase', 'view', 'x'), typ);
    WHEN 'text[]' THEN
        RETURN format('%L::text[]', pg_temp.pick('{a,b}', '{}', '{NULL}', '{a}', '{purchase,view}'));
    WHEN 'bigint[]', 'integer[]' THEN
        RETURN format('%L::%s', pg_temp.pick('{1,2,3}', '{}', '{NULL}', '{1,1,2}', '{{1,2},{3,4}}',
                                              '{9223372036854775807}', '{5}', '{-1,0}'), typ);
    WHEN 'timestamp with time zone', 'timestamp without time zone', 'date' THEN
        RETURN format('%L::%s',
                      CASE WHEN random() < 0.85
                           THEN (timestamptz '2024-01-01' + random() * interval '400 days')::text
                           ELSE pg_temp.pick('-infinity', 'infinity', '1900-01-01', '1969-12-31 23:59:59.999999',
                                             '4713-01-01 BC', '294276-12-31', '2000-02-29') END,
                      typ);
    WHEN 'bytea' THEN
        RETURN format('%L::bytea', pg_temp.pick('', 'short', 'retention-demo-key-32-bytes-long',
                                                 repeat('k', 200), '\x00000000000000000000000000000000'));
    WHEN 'interval' THEN
        RETURN format('%L::interval', pg_temp.pick('30 minutes', '1 day', '7 days', '0', '-1 day',
                                                    '1 month', '100 years', '1 microsecond'));
    WHEN 'jsonb', 'json' THEN
        RETURN format('%L::%s', pg_temp.pick('{}', 'null', '[]', '"x"', '{"lambda":1}', '{"lambda":-1}',
                                              '{"lambda":"NaN"}', '{"max_iter":0}', '{"max_iter":-5}',
                                              '{"tol":"x"}', '{"fit_intercept":false}',
                                              '{"feature_names":["a","b"]}', '{"lambda":1e308}',
                                              '{"unknown_option":1}', '{"class_weight":{"true":2}}'), typ);
    ELSE
        -- a type of the extension (a model): its text input, usually a
        -- plausible model of that kind (extreme parameters included), else
        -- JSON of any shape
        IF (SELECT typnamespace = 'retention'::regnamespace FROM pg_type WHERE oid = t) THEN
            RETURN format('%L::%s', CASE
                WHEN random() < 0.3 THEN pg_temp.pick(
                    '{}', '', 'null', '[1,2]', 'garbage', '{"intercept":"NaN","coef":[1]}',
                    '{"intercept":1,"coef":[1e400]}', '{"r":-1,"alpha":0,"a":1,"b":1}', '{"items":[]}')
                WHEN typ LIKE '%bgnbd%' THEN pg_temp.pick(
                    '{"r":0.243,"alpha":4.414,"a":0.793,"b":2.426}', '{"r":1e-8,"alpha":1e8,"a":5e7,"b":1e-8}',
                    '{"r":100,"alpha":1e-6,"a":1,"b":1}')
                WHEN typ LIKE '%pareto%' THEN pg_temp.pick(
                    '{"r":0.553,"alpha":10.578,"s":0.606,"beta":11.669}', '{"r":1e-8,"alpha":1e8,"s":1e8,"beta":1e-8}')
                WHEN typ LIKE '%gamma_gamma%' THEN pg_temp.pick(
                    '{"p":6.25,"q":3.74,"v":15.44}', '{"p":1e-6,"q":1.000001,"v":1e10}')
                WHEN typ LIKE '%logreg%' THEN pg_temp.pick(
                    '{"intercept":0.5,"coef":[0.3,0.2]}', '{"intercept":0,"coef":[1]}',
                    '{"intercept":-1e300,"coef":[1e300,-1e300,1]}', '{"intercept":0.1,"coef":[1,2,3,4,5]}')
                ELSE '{}' END, typ);
        END IF;
        RETURN NULL;
    END CASE;
END
$$;

-- Fuzz one function or aggregate: returns the number of calls that raised an
-- error of an unexpected class, with a diagnostic for the first few.
CREATE FUNCTION pg_temp.fuzz(fn regprocedure, calls int) RETURNS TABLE(bad int, skipped bool)
LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    p pg_proc := (SELECT x FROM pg_proc x WHERE x.oid = fn);
    is_agg bool := p.prokind = 'a';
    argtypes oid[] := ARRAY(SELECT unnest(p.proargtypes::oid[]));  -- oidvector starts at 0
    nargs int := coalesce(array_length(argtypes, 1), 0);
    call_sql text;
    exprs text[];
    rows_sql text[];
    const_exprs text[];
    columns text;
    dimension int;
    expr text;
    state text;
    msg text;
BEGIN
    bad := 0;
    skipped := false;
    FOR c IN 1 .. calls LOOP
        dimension := pg_temp.pick('1', '2', '3', '5', '10')::int;
        IF NOT is_agg THEN
            exprs := '{}';
            FOR i IN 1 .. nargs LOOP
                expr := pg_temp.random_value(argtypes[i], p.proargnames[i], dimension);
                IF expr IS NULL THEN
                    RAISE WARNING 'fuzz: skipped %, cannot generate type %', fn, format_type(argtypes[i], NULL);
                    skipped := true;
                    RETURN NEXT;
                    RETURN;
                END IF;
                exprs := exprs || expr;
            END LOOP;
            call_sql := format('SELECT %s(%s)', fn::oid::regproc, array_to_string(exprs, ', '));
        ELSE
            -- an aggregate over 0 to 40 rows; arguments after the first two
            -- (k, n, period, options) usually stay the same on every row
            const_exprs := '{}';
            FOR i IN 1 .. nargs LOOP
                expr := pg_temp.random_value(argtypes[i], p.proargnames[i], dimension);
                IF expr IS NULL THEN
                    RAISE WARNING 'fuzz: skipped %, cannot generate type %', fn, format_type(argtypes[i], NULL);
                    skipped := true;
                    RETURN NEXT;
                    RETURN;
                END IF;
                const_exprs := const_exprs || expr;
            END LOOP;
            rows_sql := '{}';
            FOR r IN 1 .. floor(random() * 41)::int LOOP
                exprs := '{}';
                FOR i IN 1 .. nargs LOOP
                    exprs := exprs || CASE WHEN i > 2 AND random() < 0.95 THEN const_exprs[i]
                                           ELSE pg_temp.random_value(argtypes[i], p.proargnames[i], dimension) END;
                END LOOP;
                rows_sql := rows_sql || ('(' || array_to_string(exprs, ', ') || ')');
            END LOOP;
            columns := (SELECT string_agg('a' || i, ', ') FROM generate_series(1, nargs) i);
            IF array_length(rows_sql, 1) IS NULL THEN
                -- no rows at all
                call_sql := format('SELECT %s(%s) FROM (SELECT %s WHERE false) v(%s)',
                                   fn::oid::regproc, columns,
                                   (SELECT string_agg(format('NULL::%s', format_type(argtypes[i], NULL)), ', ')
                                      FROM generate_series(1, nargs) i),
                                   columns);
            ELSE
                call_sql := format('SELECT %s(%s) FROM (VALUES %s) v(%s)',
                                   fn::oid::regproc, columns, array_to_string(rows_sql, ', '), columns);
            END IF;
        END IF;

        BEGIN
            -- the functions' own notices and warnings (no convergence...) are expected
            PERFORM set_config('client_min_messages', 'error', true);
            EXECUTE call_sql;
            PERFORM set_config('client_min_messages', 'warning', true);
        EXCEPTION WHEN OTHERS THEN
            PERFORM set_config('client_min_messages', 'warning', true);
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            IF left(state, 2) NOT IN ('22', '54', '42', '0A') THEN
                bad := bad + 1;
                IF bad <= 3 THEN
                    RAISE WARNING 'fuzz: % raised % (%) for: %', fn, state, msg, left(call_sql, 600);
                END IF;
            END IF;
        END;
    END LOOP;
    RETURN NEXT;
END
$$;

SELECT is(f.bad, 0,
          format('%s %s: random and extreme inputs return or raise a class-22 error',
                 CASE WHEN p.prokind = 'a' THEN 'aggregate' ELSE 'function' END, p.oid::regprocedure))
  FROM pg_proc p
 CROSS JOIN LATERAL pg_temp.fuzz(p.oid::regprocedure, :fuzz_calls) f
 WHERE p.pronamespace = 'retention'::regnamespace
   AND (p.prokind = 'a' OR (p.prokind = 'f' AND p.provolatile IN ('i', 's')))
   -- support functions of types and aggregates cannot be called from SQL
   AND NOT p.proargtypes::oid[] && ARRAY['internal', 'cstring']::regtype[]::oid[]
   AND NOT f.skipped
 ORDER BY p.oid::regprocedure::text;

SELECT * FROM finish();
ROLLBACK;
