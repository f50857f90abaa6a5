-- Structure-aware fuzzer: the corpus (run by test/reliability/fuzz_states.sh).
--
-- Run as the unprivileged fuzzing role, in its own schema fuzz.  Builds
--   fuzz.pool    values of every argument type the fuzzer can write, above
--                all real aggregate states (bigint[] and float8[]) made from
--                real data by "raw state" twins of the extension's
--                aggregates, and mutants of them: each header field set to
--                0, +-1, its neighbours, INT32/INT64 extremes and the other
--                fields' values; lengths off by one, truncated, extended
--                with long tails; NaN, +-Inf and huge values in float states;
--   fuzz.calls   calls of every function of the extension that takes such a
--                value, read from the catalogue (pg_depend), so a function
--                added later is fuzzed without anyone listing it;
--   fuzz.bin     binary values of every base type of the extension (from
--                its send function) and mutants of them, for the COPY
--                (FORMAT binary) stage, with the text form each mutant
--                stands for where the type's layout is known.
-- psql variables: fuzz_seed (default 0.4242), fuzz_calls (total calls
-- generated, default 30000), fuzz_binary (mutated binary values, default
-- 1500).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\if :{?fuzz_seed}
\else
\set fuzz_seed 0.4242
\endif
\if :{?fuzz_calls}
\else
\set fuzz_calls 30000
\endif
\if :{?fuzz_binary}
\else
\set fuzz_binary 1500
\endif
SELECT setseed(:fuzz_seed) AS seed \gset

-- the extension's functions, from the catalogue
CREATE VIEW fuzz.ext_functions AS
SELECT p.oid, p.proname, p.prokind,
       ARRAY(SELECT unnest(p.proargtypes::regtype[])) AS argtypes,  -- from 1, not 0
       coalesce(p.proargnames, '{}') AS argnames
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass
                             AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'retention';

-- real data: events of 300 users over two years
CREATE TABLE fuzz.events AS
SELECT u AS user_id,
       timestamptz '2023-01-01 00:00+00' + (random() * 700) * interval '1 day' AS ts,
       CASE WHEN random() < 0.3 THEN 'purchase' ELSE 'visit' END AS event_type,
       (1 + floor(random() * 40))::bigint AS item_id,
       round((random() * 100)::numeric, 2) AS amount
  FROM generate_series(1, 300) u, generate_series(1, 1 + (random() * 30)::int) e;

-- one row per user, the arguments the aggregates are fed with
CREATE TABLE fuzz.sample AS
SELECT user_id, user_id % 5 AS grp,
       retention.user_activity(ts, 'day') AS act_day,
       retention.user_activity(ts, 'week') AS act_week,
       retention.user_activity(ts, 'month') AS act_month,
       retention.user_activity(ts, 'month', event_type = 'purchase', true) AS act_filtered,
       count(*) FILTER (WHERE event_type = 'purchase') > 2 AS label,
       (count(*) FILTER (WHERE event_type = 'purchase'))::float8 / count(*) AS prob,
       ARRAY[count(*)::float8, sum(amount)::float8 / 100, extract(epoch FROM max(ts) - min(ts)) / 86400 / 100] AS features,
       ARRAY[count(*)::real, avg(amount)::real, (user_id % 7)::real] AS emb
  FROM fuzz.events GROUP BY user_id;

-- candidate argument expressions over fuzz.sample s, by argument name and type
CREATE TABLE fuzz.aggargs (argname text, typ regtype, expr text);
INSERT INTO fuzz.aggargs VALUES
  (NULL, 'retention.activity', 's.act_month'), (NULL, 'retention.activity', 's.act_day'),
  (NULL, 'retention.activity', 's.act_week'), (NULL, 'retention.activity', 's.act_filtered'),
  (NULL, 'integer', '1'), (NULL, 'integer', '3'),
  ('mode', 'text', '''classic'''), ('mode', 'text', '''unbounded'''),
  ('mode', 'text', '''recurring'''), ('mode', 'text', '''recurring_unbounded'''),
  ('period', 'text', '''week'''), ('period', 'text', '''month'''),
  (NULL, 'boolean', 's.label'), (NULL, 'double precision', 's.prob'),
  ('threshold', 'double precision', '0.5'), ('target_recall', 'double precision', '0.8'),
  ('features', 'double precision[]', 's.features'),
  ('coef', 'double precision[]', '''{0.1,-0.2,0.3,0.05}'''), ('coef', 'double precision[]', 'NULL'),
  (NULL, 'jsonb', '''{}'''), (NULL, 'real[]', 's.emb');

-- values of every argument type, as SQL literals; "origin" names the
-- aggregate a state came from, so mutants reach the layout's own readers
CREATE TABLE fuzz.pool (typ regtype, lit text, origin regprocedure, mutant boolean);

-- raw-state twins of every aggregate with a concrete state: the same
-- transition function, no final function, so they return the state itself
DO $$
DECLARE
    a record;
    combo text[];
    n int := 0;
BEGIN
    FOR a IN
        SELECT ag.aggfnoid::regprocedure AS agg, f.argtypes, f.argnames,
               ag.aggtransfn::regproc AS sfunc, ag.aggtranstype::regtype AS stype,
               ag.agginitval
          FROM pg_catalog.pg_aggregate ag
          JOIN fuzz.ext_functions f ON f.oid = ag.aggfnoid
         WHERE ag.aggtranstype <> 'internal'::regtype
    LOOP
        n := n + 1;
        EXECUTE format('CREATE AGGREGATE fuzz.raw_%s(%s) (SFUNC = %s, STYPE = %s%s)',
                       n, array_to_string(a.argtypes, ', '), a.sfunc, a.stype,
                       CASE WHEN a.agginitval IS NULL THEN ''
                            ELSE format(', INITCOND = %L', a.agginitval) END);
        -- every combination of the candidate arguments (at most 16)
        FOR combo IN
            WITH RECURSIVE c(i, exprs) AS (
                SELECT 0, ARRAY[]::text[]
                UNION ALL
                SELECT c.i + 1, c.exprs || x.expr
                  FROM c, LATERAL (
                        SELECT expr FROM fuzz.aggargs g
                         WHERE g.typ = a.argtypes[c.i + 1]
                           AND (g.argname = a.argnames[c.i + 1]
                                OR (g.argname IS NULL AND NOT EXISTS (
                                        SELECT 1 FROM fuzz.aggargs h
                                         WHERE h.typ = a.argtypes[c.i + 1]
                                           AND h.argname = a.argnames[c.i + 1])))) x
                 WHERE c.i < array_length(a.argtypes, 1))
            SELECT exprs FROM c WHERE i = array_length(a.argtypes, 1) LIMIT 16
        LOOP
            BEGIN
                EXECUTE format('INSERT INTO fuzz.pool SELECT %L, st::text, %L, false FROM '
                               '(SELECT fuzz.raw_%s(%s) AS st FROM fuzz.sample s GROUP BY ROLLUP (s.grp)) q '
                               'WHERE st IS NOT NULL',
                               a.stype, a.agg, n, array_to_string(combo, ', '));
            EXCEPTION WHEN OTHERS THEN
                NULL;           -- an invalid combination (mode vs filtered activities...)
            END;
        END LOOP;
    END LOOP;
END
$$;

-- the interesting values of one element
CREATE FUNCTION fuzz.int8_values(v bigint[], i int) RETURNS SETOF bigint
LANGUAGE sql AS $$
SELECT x FROM unnest(ARRAY[0, 1, -1, v[i] + 1, v[i] - 1, 2147483647, -2147483648,
                           2147483648, 4294967296, 9223372036854775807, -9223372036854775808,
                           -2305843009213693952, 4096, 4097, 1048576]) x
UNION ALL
SELECT v[j] FROM generate_series(1, least(array_length(v, 1), 8)) j WHERE j <> i
$$;

-- mutants of a bigint[] state: header fields and a few body elements, lengths
CREATE FUNCTION fuzz.int8_mutants(v bigint[]) RETURNS SETOF bigint[]
LANGUAGE sql AS $$
SELECT v[:i - 1] || x || v[i + 1:]
  FROM generate_series(1, least(array_length(v, 1), 8)) i, fuzz.int8_values(v, i) x
 WHERE x IS NOT NULL AND x IS DISTINCT FROM v[i]
UNION ALL
SELECT v[:i - 1] || x || v[i + 1:]
  FROM (SELECT 1 + floor(random() * array_length(v, 1))::int AS i FROM generate_series(1, 4)) r,
       LATERAL (VALUES (-1::bigint), (9223372036854775807), (v[r.i] + 1)) m(x)
 WHERE r.i > 8
UNION ALL
SELECT * FROM (VALUES (v[:array_length(v, 1) - 1]), (v[:array_length(v, 1) / 2]), (v[:1]),
                      (v || 0::bigint), (v || array_fill(7::bigint, ARRAY[1000])),
                      (v || v), ('{}'::bigint[]), (ARRAY[v]), (v[:1] || NULL::bigint || v[2:])) t
$$;

CREATE FUNCTION fuzz.float8_mutants(v float8[]) RETURNS SETOF float8[]
LANGUAGE sql AS $$
SELECT v[:i - 1] || x || v[i + 1:]
  FROM generate_series(1, least(array_length(v, 1), 10)) i,
       unnest(ARRAY[0, 1, -1, 'NaN', 'Infinity', '-Infinity', 1e308, -1e308, 5e-324, 2147483648,
                    9007199254740993, v[i] + 1, v[i] * 2, -v[i], v[1], v[2], v[3]]::float8[]) x
 WHERE x IS NOT NULL
UNION ALL
SELECT * FROM (VALUES (v[:array_length(v, 1) - 1]), (v[:array_length(v, 1) / 2]), (v[:1]),
                      (v || 0::float8), (v || array_fill(7::float8, ARRAY[1000])), (v || v),
                      ('{}'::float8[]), (ARRAY[v]), (v[:1] || NULL::float8 || v[2:])) t
$$;

-- one real state of 20 to 100 kB per aggregate stays in the pool, not mutated
-- (larger ones, cohort tables by day, only slow the run down); of the
-- smaller ones, up to 12 per aggregate are mutated
CREATE TABLE fuzz.seeds AS
SELECT typ, lit, origin FROM (
    SELECT p.*, row_number() OVER (PARTITION BY origin ORDER BY random()) AS r
      FROM fuzz.pool p
     WHERE p.typ IN ('bigint[]'::regtype, 'double precision[]'::regtype)
       AND NOT p.mutant AND length(p.lit) < 20000) q
 WHERE r <= 12;
DELETE FROM fuzz.pool p WHERE length(p.lit) >= 100000 OR (length(p.lit) >= 20000 AND p.lit NOT IN (
    SELECT DISTINCT ON (origin) lit FROM fuzz.pool WHERE length(lit) BETWEEN 20000 AND 99999 ORDER BY origin, random()));
INSERT INTO fuzz.pool
SELECT DISTINCT p.typ, m::text, p.origin, true
  FROM fuzz.seeds p, fuzz.int8_mutants(p.lit::bigint[]) m
 WHERE p.typ = 'bigint[]'::regtype;
INSERT INTO fuzz.pool
SELECT DISTINCT p.typ, m::text, p.origin, true
  FROM fuzz.seeds p, fuzz.float8_mutants(p.lit::float8[]) m
 WHERE p.typ = 'double precision[]'::regtype;

-- values of the extension's types and of plain types
INSERT INTO fuzz.pool (typ, lit, mutant)
SELECT 'retention.activity'::regtype, a::text, false
  FROM (SELECT act_day AS a FROM fuzz.sample UNION ALL SELECT act_week FROM fuzz.sample
        UNION ALL SELECT act_month FROM fuzz.sample UNION ALL SELECT act_filtered FROM fuzz.sample) q
 WHERE a IS NOT NULL
UNION ALL
SELECT 'retention.activity'::regtype, x, true
  FROM unnest(ARRAY['day:-:-5:0:', 'day:-:106751983:0:', 'day:-2451545:106751983:-2451545:1',
                    'week:-350221:15250283:15250283:1', 'month:1:1:1:1', 'month:-:0:0:',
                    'day:0:70000:0:1' || repeat('0', 69999) || '1']) x
UNION ALL
SELECT t::regtype, x, false
  FROM (VALUES
    ('integer', ARRAY['0', '1', '3', '-1', '2147483647', '-2147483648']),
    ('bigint', ARRAY['0', '1', '-1', '9223372036854775807', '-9223372036854775808']),
    ('double precision', ARRAY['0.5', '0', 'NaN', 'Infinity', '-Infinity', '1e308', '-1']),
    ('real', ARRAY['0.5', 'NaN', 'Infinity']),
    ('numeric', ARRAY['1.5', 'NaN', '-1e100']),
    ('text', ARRAY['day', 'week', 'month', 'classic', 'unbounded', 'recurring',
                   'recurring_unbounded', '', 'x']),
    ('boolean', ARRAY['true', 'false']),
    ('timestamp with time zone', ARRAY['2024-01-01 00:00+00', 'infinity', '-infinity',
                                       '4713-01-01 00:00+00 BC', '294276-12-31 23:59+00']),
    ('interval', ARRAY['7 days', '0', '-1 day', '178000000 years']),
    ('jsonb', ARRAY['{}', '{"max_iter": 1}', '[]', 'null']),
    ('name', ARRAY['user_id', 'ts', 'event_type', 'item_id', 'amount']),
    ('regclass', ARRAY['fuzz.events']),
    ('text[]', ARRAY['{a,b}', '{}', '{NULL}']),
    ('real[]', ARRAY['{1,2,3}', '{}', '{NaN,Infinity}', '{{1,2},{3,4}}']),
    ('bytea', ARRAY['\x', '\x00', '\x52414354']),
    ('retention.bgnbd_model', ARRAY['{"r":0.24,"alpha":4.41,"a":0.79,"b":2.43}']),
    ('retention.gamma_gamma_model', ARRAY['{"p":6.25,"q":3.74,"v":15.44}']),
    ('retention.pareto_nbd_model', ARRAY['{"r":0.55,"alpha":10.58,"s":0.61,"beta":11.67}']),
    ('retention.logreg_model', ARRAY['{"intercept":0.1,"coef":[0.5,-0.2,0.1]}']),
    ('retention.item_knn_model', ARRAY['{"kind": "item_knn", "format": 1, "k": 2, "items": [[1, [[2, 0.5]]], [2, [[1, 0.5]]]]}'])
  ) v(t, xs), unnest(xs) x;
INSERT INTO fuzz.pool (typ, lit, mutant)
SELECT 'bigint[]'::regtype, x, false FROM unnest(ARRAY['{1,2,3}', '{}', '{{1,2},{3,4}}']) x
UNION ALL
SELECT 'double precision[]', x, false FROM unnest(ARRAY['{0.5,1,2}', '{}', '{NaN}']) x;

-- the functions fuzzed: every function of the extension that takes a state
-- (bigint[], float8[]) or a value of one of its base types (agg_state and
-- the model types included), and whose every argument the pool can
-- write (internal arguments cannot be written from SQL at all)
CREATE VIEW fuzz.targets AS
SELECT f.oid::regprocedure AS fn, f.proname, f.argtypes,
       (SELECT array_agg(ag.aggfnoid::regprocedure) FROM pg_catalog.pg_aggregate ag
         WHERE f.oid IN (ag.aggtransfn, ag.aggcombinefn, ag.aggfinalfn)) AS aggregates
  FROM fuzz.ext_functions f
 WHERE f.prokind = 'f'
   AND f.argtypes && (ARRAY['bigint[]', 'double precision[]']::regtype[] ||
                      ARRAY(SELECT ty.oid::regtype FROM pg_catalog.pg_type ty
                              JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_type'::regclass
                                                         AND d.objid = ty.oid AND d.deptype = 'e'
                              JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                                                            AND e.extname = 'retention'
                             WHERE ty.typtype = 'b'))
   AND NOT EXISTS (SELECT 1 FROM unnest(f.argtypes) t
                    WHERE NOT EXISTS (SELECT 1 FROM fuzz.pool p WHERE p.typ = t));

CREATE VIEW fuzz.untargeted AS
SELECT f.oid::regprocedure AS fn
  FROM fuzz.ext_functions f
 WHERE f.prokind = 'f'
   AND f.argtypes && ARRAY['bigint[]', 'double precision[]', 'retention.activity']::regtype[]
   AND f.oid NOT IN (SELECT fn::oid FROM fuzz.targets);

-- the pool numbered per type and per type and origin, for quick random picks
CREATE TABLE fuzz.pool_k AS
SELECT typ, lit, origin,
       row_number() OVER (PARTITION BY typ ORDER BY random()) AS k_typ,
       row_number() OVER (PARTITION BY typ, origin ORDER BY random()) AS k_origin
  FROM fuzz.pool;
CREATE INDEX ON fuzz.pool_k (typ, k_typ);
CREATE INDEX ON fuzz.pool_k (typ, origin, k_origin);
CREATE TABLE fuzz.pool_n AS
SELECT typ, origin, GROUPING(origin) = 1 AS total, count(*) AS n
  FROM fuzz.pool GROUP BY GROUPING SETS ((typ), (typ, origin));
ANALYZE fuzz.pool_k;

-- one pool value of a type for a function, as SQL: for a support function,
-- mostly states (and mutants) of its own aggregates
CREATE FUNCTION fuzz.pick(t regtype, aggs regprocedure[]) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    o regprocedure;
    n bigint;
    k bigint;
    v text;
BEGIN
    IF aggs IS NOT NULL AND random() >= 0.1 THEN
        o := aggs[1 + floor(random() * array_length(aggs, 1))::int];
        SELECT pn.n INTO n FROM fuzz.pool_n pn WHERE pn.typ = t AND pn.origin = o AND NOT pn.total;
        IF n > 0 THEN
            k := 1 + floor(random() * n)::bigint;   -- outside the query, so the index serves it
            SELECT lit INTO v FROM fuzz.pool_k WHERE typ = t AND origin = o AND k_origin = k;
            RETURN format('%L::%s', v, t);
        END IF;
    END IF;
    SELECT pn.n INTO n FROM fuzz.pool_n pn WHERE pn.typ = t AND pn.total;
    k := 1 + floor(random() * n)::bigint;
    SELECT lit INTO v FROM fuzz.pool_k WHERE typ = t AND k_typ = k;
    RETURN format('%L::%s', v, t);
END
$$;

CREATE TABLE fuzz.calls AS
WITH t AS (SELECT *, row_number() OVER (ORDER BY fn::text) AS k, count(*) OVER () AS m
             FROM fuzz.targets)
SELECT row_number() OVER (ORDER BY random()) AS ord, t.fn,
       format('SELECT %s(%s);', t.fn::oid::regproc,
              (SELECT string_agg(fuzz.pick(x.typ, t.aggregates), ', ' ORDER BY x.i)
                 FROM unnest(t.argtypes) WITH ORDINALITY x(typ, i) WHERE g > 0)) AS sql
  FROM t, generate_series(1, (:fuzz_calls / (SELECT count(*) FROM fuzz.targets))::int) g;

-- binary values of every base type of the extension that has a send
-- function, and mutants of them: words overwritten, lengths changed
CREATE TABLE fuzz.bin (id serial, typ regtype, payload bytea, text_form text, mutant boolean);
CREATE FUNCTION fuzz.int4_bytes(x bigint) RETURNS bytea LANGUAGE sql AS
$$ SELECT decode(lpad(to_hex(x & 4294967295), 8, '0'), 'hex') $$;
CREATE FUNCTION fuzz.bytes_int4(b bytea, off int) RETURNS int LANGUAGE sql AS
$$ SELECT ('x' || encode(substr(b, off + 1, 4), 'hex'))::bit(32)::int $$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT ty.oid::regtype AS typ, ty.typsend::regproc AS send
          FROM pg_catalog.pg_type ty
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_type'::regclass
                                     AND d.objid = ty.oid AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'retention'
         WHERE ty.typtype = 'b' AND ty.typsend <> 0
    LOOP
        EXECUTE format('INSERT INTO fuzz.bin (typ, payload, mutant) '
                       'SELECT DISTINCT %L::regtype, %s(lit::%s), false FROM fuzz.pool WHERE typ = %L::regtype',
                       t.typ, t.send, t.typ, t.typ);
    END LOOP;
END
$$;

INSERT INTO fuzz.bin (typ, payload, mutant)
SELECT typ, m, true FROM (SELECT DISTINCT b.typ, m
  FROM (SELECT * FROM fuzz.bin WHERE length(payload) < 2000 ORDER BY random() LIMIT 150) b,
       LATERAL (
         SELECT overlay(b.payload PLACING fuzz.int4_bytes(x) FROM off + 1 FOR 4)
           FROM generate_series(0, least(length(b.payload) - 4, 28), 4) off,
                unnest(ARRAY[0, 1, -1, fuzz.bytes_int4(b.payload, off)::bigint + 1,
                             fuzz.bytes_int4(b.payload, off)::bigint - 1, 2147483647, -2147483648,
                             1048576, 1048577, 106751983, 106751984, -2451546, 1381122900,
                             fuzz.bytes_int4(b.payload, 0), fuzz.bytes_int4(b.payload, 4),
                             fuzz.bytes_int4(b.payload, 12)]) x
         UNION ALL
         SELECT * FROM (VALUES (substr(b.payload, 1, length(b.payload) - 1)),
                               (substr(b.payload, 1, length(b.payload) / 2)),
                               (b.payload || '\x00'::bytea), (b.payload || '\xff'::bytea),
                               (substr(b.payload, 9)), ('\x'::bytea),
                               (set_byte(b.payload, length(b.payload) - 1, 255)),
                               (set_byte(b.payload, 0, 0))) l(m)
       ) mm(m)) q
 ORDER BY random() LIMIT :fuzz_binary;

-- the text form a binary activity stands for, field by field, so that recv
-- and in can be compared on the same value (NULL where none can be written)
CREATE FUNCTION fuzz.activity_text(b bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    o int := 0;
    k int;
    nbits int;
    bits text := '';
BEGIN
    IF length(b) >= 8 AND fuzz.bytes_int4(b, 0) = 1380008788 THEN
        IF fuzz.bytes_int4(b, 4) <> 1 THEN RETURN NULL; END IF;
        o := 8;
    END IF;
    IF length(b) < o + 20 THEN RETURN NULL; END IF;
    k := fuzz.bytes_int4(b, o);
    nbits := fuzz.bytes_int4(b, o + 16);
    IF k NOT BETWEEN 1 AND 3 OR nbits < 0 OR nbits > 4096
       OR length(b) <> o + 20 + (nbits + 7) / 8 THEN
        RETURN NULL;
    END IF;
    FOR i IN 0 .. nbits - 1 LOOP
        bits := bits || (get_byte(b, o + 20 + i / 8) >> (i % 8) & 1)::text;
    END LOOP;
    -- pad bits set: text cannot express them
    IF nbits % 8 <> 0 AND get_byte(b, o + 20 + nbits / 8) >> (nbits % 8) <> 0 THEN
        RETURN NULL;
    END IF;
    RETURN format('%s:%s:%s:%s:%s', (ARRAY['day', 'week', 'month'])[k],
                  CASE WHEN fuzz.bytes_int4(b, o + 4) = 2147483647 THEN '-'
                       ELSE fuzz.bytes_int4(b, o + 4)::text END,
                  fuzz.bytes_int4(b, o + 8), fuzz.bytes_int4(b, o + 12), bits);
END
$$;

UPDATE fuzz.bin SET text_form = fuzz.activity_text(payload)
 WHERE typ = 'retention.activity'::regtype;
CREATE FUNCTION fuzz.utf8(b bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;                -- not text: no text form to compare with
END
$$;
UPDATE fuzz.bin SET text_form = fuzz.utf8(substr(payload, 2))
 WHERE typ = 'retention.logreg_model'::regtype AND length(payload) > 1
   AND get_byte(payload, 0) = 1;

-- verdicts of in on the text forms, for comparison with recv's
CREATE TABLE fuzz.in_verdict AS
SELECT id, NULL::text AS sqlstate FROM fuzz.bin WHERE false;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT id, typ, text_form FROM fuzz.bin WHERE text_form IS NOT NULL LOOP
        BEGIN
            EXECUTE format('SELECT %L::%s', r.text_form, r.typ);
            INSERT INTO fuzz.in_verdict VALUES (r.id, NULL);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO fuzz.in_verdict VALUES (r.id, SQLSTATE);
        END;
    END LOOP;
END
$$;

-- recv's verdicts land here: one table per type, filled by COPY FROM
DO $$
DECLARE
    t regtype;
BEGIN
    FOR t IN SELECT DISTINCT typ FROM fuzz.bin LOOP
        EXECUTE format('CREATE TABLE fuzz.%I (id int, v %s)',
                       'recv_' || replace(t::text, 'retention.', ''), t);
    END LOOP;
END
$$;
