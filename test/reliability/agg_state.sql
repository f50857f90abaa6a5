-- pgTAP: retention.agg_state, the pushed-down state of the aggregates that
-- Citus runs on its workers (src/common/agg_state.c, doc/citus.md).
-- Real states of every layout, printed and read back, give the same answers;
-- mutated ones (every header byte and a sample of payload bytes set to
-- extreme values, truncated, extended) are read back or refused with a
-- class-22 error, never a crash, as a role with USAGE on the schema only.
BEGIN;
SET TimeZone = 'UTC';
SET client_min_messages = warning;
SELECT plan(24);

-- aggregates that return the state itself, over the layouts' transition functions
CREATE AGGREGATE pg_temp.retention_state(bigint, timestamptz, integer, text)
    (SFUNC = retention.retention_rate_trans, STYPE = retention.agg_state, COMBINEFUNC = retention.retention_combine);
CREATE AGGREGATE pg_temp.rolling_state(bigint, timestamptz, timestamptz, integer, interval)
    (SFUNC = retention.rolling_trans, STYPE = retention.agg_state, COMBINEFUNC = retention.rolling_combine);
CREATE AGGREGATE pg_temp.logreg_state(boolean, float8[])
    (SFUNC = retention.logreg_train_accum, STYPE = retention.agg_state, COMBINEFUNC = retention.logreg_train_combine);
CREATE AGGREGATE pg_temp.scored_state(float8, boolean)
    (SFUNC = retention.scored_labels_accum, STYPE = retention.agg_state, COMBINEFUNC = retention.scored_labels_combine);
CREATE AGGREGATE pg_temp.knn_state(bigint, bigint, float8, integer)
    (SFUNC = retention.item_knn_transfn, STYPE = retention.agg_state, COMBINEFUNC = retention.item_knn_combinefn);
CREATE AGGREGATE pg_temp.groups_state(float8, float8, float8)
    (SFUNC = retention.bgnbd_fit_transfn, STYPE = retention.agg_state, COMBINEFUNC = retention.customer_groups_combine);
CREATE AGGREGATE pg_temp.spend_state(float8, float8)
    (SFUNC = retention.gamma_gamma_fit_transfn, STYPE = retention.agg_state, COMBINEFUNC = retention.spend_groups_combine);

CREATE TEMP TABLE ev AS
SELECT (i % 40)::bigint AS user_id, (i % 7)::bigint AS item_id,
       timestamptz '2024-01-01' + (i * 37 % 60) * interval '1 day' AS ts,
       (i * 13 % 17) / 17.0 AS score, i % 3 = 0 AS label,
       ARRAY[(i % 5)::float8, (i * 7 % 11)::float8] AS features,
       (i % 6)::float8 AS x, (i % 6 + 10)::float8 AS tx, 40.0::float8 AS t, (10 + i % 9)::float8 AS m
  FROM generate_series(1, 400) i;

-- layout | the state (text) | the final function applied to a state, %s for it | its answer
CREATE TEMP TABLE layouts AS
SELECT * FROM (VALUES
  ('retention', (SELECT pg_temp.retention_state(user_id, ts, 7, 'day')::text FROM ev), 'retention.retention_rate_final(%s)',
   (SELECT retention.retention_rate(user_id, ts, 7, 'day')::text FROM ev)),
  ('rolling', (SELECT pg_temp.rolling_state(user_id, '2024-01-01', ts, 7, '7 days')::text FROM ev), 'retention.rolling_final(%s)',
   (SELECT retention.retention_rate_rolling(user_id, '2024-01-01', ts, 7, '7 days')::text FROM ev)),
  ('logreg', (SELECT pg_temp.logreg_state(label, features)::text FROM ev), 'retention.logreg_train_final(%s)',
   (SELECT retention.logreg_train(label, features)::text FROM ev)),
  ('scored labels', (SELECT pg_temp.scored_state(score, label)::text FROM ev), 'retention.roc_auc_final(%s)',
   (SELECT retention.roc_auc(score, label)::text FROM ev)),
  ('item-kNN', (SELECT pg_temp.knn_state(user_id, item_id, 1.0, 3)::text FROM ev), 'retention.item_knn_finalfn(%s)',
   (SELECT retention.item_knn(user_id, item_id, 1.0, 3)::text FROM ev)),
  ('customer groups', (SELECT pg_temp.groups_state(x, tx, t)::text FROM ev), 'retention.bgnbd_fit_finalfn(%s)',
   (SELECT retention.bgnbd_fit(x, tx, t)::text FROM ev)),
  ('spend groups', (SELECT pg_temp.spend_state(x + 1, m)::text FROM ev), 'retention.gamma_gamma_fit_finalfn(%s)',
   (SELECT retention.gamma_gamma_fit(x + 1, m)::text FROM ev))
) v(layout, state, final, answer);

CREATE FUNCTION pg_temp.final_of(final text, state text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT (' || final || ')::text', format('%L::retention.agg_state', state)) INTO result;
    RETURN result;
END
$$;

-- 1. printed, read back: the same answer as the aggregate
SELECT is(pg_temp.final_of(final, state), answer, layout || ': a state printed and read back gives the aggregate''s answer')
  FROM layouts ORDER BY layout;

-- 2. binary: COPY out and in
CREATE TEMP TABLE bin (layout text, s retention.agg_state);
INSERT INTO bin SELECT layout, state::retention.agg_state FROM layouts;
COPY bin TO '/tmp/retention_agg_state_test.bin' (FORMAT binary);
CREATE TEMP TABLE bin2 (LIKE bin);
COPY bin2 FROM '/tmp/retention_agg_state_test.bin' (FORMAT binary);
SELECT is((SELECT count(*)::int FROM bin2 JOIN layouts USING (layout) WHERE bin2.s::text = layouts.state), 7,
          'every layout: binary COPY out and in keeps the value');

-- 3. a state of another layout is refused by name
SELECT throws_ok(format('SELECT retention.rolling_final(%L::retention.agg_state)', (SELECT state FROM layouts WHERE layout = 'retention')),
                 '22023', 'aggregate state holds a retention state, expected a rolling retention state',
                 'a retention state given to a rolling-retention function is refused');
SELECT throws_ok($$SELECT 'U0dBUg=='::retention.agg_state$$, '22P02', NULL, 'a truncated value is refused');
SELECT throws_ok($$SELECT '*'::retention.agg_state$$, '22P02', NULL, 'text that is not base64 is refused');
SELECT throws_ok(format('SELECT %L::retention.agg_state',
                        encode(set_byte(decode((SELECT state FROM layouts WHERE layout = 'logreg'), 'base64'), 6, 9), 'base64')),
                 '22P02', 'aggregate state has version 9, expected 1', 'a future version is refused, named');
SELECT throws_ok(format('SELECT %L::retention.agg_state',
                        encode(set_byte(decode((SELECT state FROM layouts WHERE layout = 'logreg'), 'base64'), 4, 99), 'base64')),
                 '22P02', 'aggregate state has unknown layout 99', 'an unknown layout is refused, named');

-- logreg_train keeps the shares of a combine apart and orders them in its final
-- function: states combined by hand, their rows in scan order, in any grouping,
-- give the aggregate's model bit for bit
SELECT is((SELECT retention.logreg_train_final(retention.logreg_train_combine(retention.logreg_train_combine(a, b), c))::text
             FROM (SELECT pg_temp.logreg_state(label, features) FILTER (WHERE user_id % 3 = 0) AS a,
                          pg_temp.logreg_state(label, features) FILTER (WHERE user_id % 3 = 1) AS b,
                          pg_temp.logreg_state(label, features) FILTER (WHERE user_id % 3 = 2) AS c FROM ev) s),
          (SELECT answer FROM layouts WHERE layout = 'logreg'),
          'logreg: three states combined by hand give the aggregate''s model');
SELECT is((SELECT retention.logreg_train_final(retention.logreg_train_combine(a, retention.logreg_train_combine(b, a)))::text
             FROM (SELECT pg_temp.logreg_state(label, features) FILTER (WHERE user_id % 2 = 0) AS a,
                          pg_temp.logreg_state(label, features) AS b FROM ev) s),
          (SELECT retention.logreg_train(label, features)::text
             FROM (SELECT label, features FROM ev UNION ALL SELECT label, features FROM ev WHERE user_id % 2 = 0
                   UNION ALL SELECT label, features FROM ev WHERE user_id % 2 = 0) u),
          'logreg: a state combined with itself counts its rows twice');

-- 4. mutated real states, as a role with USAGE on the schema only
CREATE ROLE agg_state_fuzzer;
GRANT USAGE ON SCHEMA retention TO agg_state_fuzzer;
GRANT SELECT ON layouts TO agg_state_fuzzer;
CREATE TEMP TABLE verdicts (layout text, sqlstate text, message text);
GRANT INSERT ON verdicts TO agg_state_fuzzer;
CREATE FUNCTION pg_temp.fuzz() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    l record;
    b bytea;
    m bytea;
    n int;
    pos int;
    v int;
    mutants bytea[];
    state text;
    dummy text;
BEGIN
    FOR l IN SELECT * FROM layouts LOOP
        b := decode(l.state, 'base64');
        n := length(b);
        mutants := ARRAY[substr(b, 1, n - 1), substr(b, 1, n / 2), substr(b, 1, 16), substr(b, 1, 20),
                         b || '\x0000000000000000'::bytea, b || decode(repeat('ff', 100), 'hex')];
        -- every header byte, and up to 120 payload positions spread over the value
        FOR pos IN SELECT p FROM generate_series(0, least(n, 32) - 1) p
                   UNION SELECT DISTINCT (p * (n - 1) / 119) FROM generate_series(0, 119) p LOOP
            FOREACH v IN ARRAY ARRAY[0, 1, 127, 128, 255, (get_byte(b, pos) + 1) % 256, (get_byte(b, pos) + 255) % 256] LOOP
                mutants := mutants || set_byte(b, pos, v);
            END LOOP;
        END LOOP;
        FOREACH m IN ARRAY mutants LOOP
            BEGIN
                dummy := pg_temp.final_of(l.final, encode(m, 'base64'));
                INSERT INTO verdicts VALUES (l.layout, 'accepted', NULL);
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO verdicts VALUES (l.layout, SQLSTATE, SQLERRM);
            END;
        END LOOP;
    END LOOP;
END
$$;
SELECT pg_postmaster_start_time() AS started \gset
SET ROLE agg_state_fuzzer;
SELECT pg_temp.fuzz();
RESET ROLE;
SELECT is(pg_postmaster_start_time(), :'started'::timestamptz, 'mutated states of every layout never restart the server');
SELECT is((SELECT count(*)::int FROM verdicts WHERE sqlstate <> 'accepted' AND left(sqlstate, 2) NOT IN ('22', '54')), 0,
          'every mutated state is accepted or refused with a class-22 (or 54) error');
SELECT diag(format('%s: %s (%s)', layout, message, count(*))) FROM verdicts
 WHERE sqlstate <> 'accepted' AND left(sqlstate, 2) NOT IN ('22', '54') GROUP BY layout, message ORDER BY 1;
SELECT ok((SELECT count(*) FROM verdicts WHERE sqlstate <> 'accepted' AND layout = l.layout) > 0,
          l.layout || ': mutations are refused')
  FROM layouts l ORDER BY layout;
SELECT diag(format('agg_state fuzz: %s calls; %s', (SELECT count(*) FROM verdicts),
                   (SELECT string_agg(sqlstate || ' ' || c, ', ' ORDER BY sqlstate)
                      FROM (SELECT sqlstate, count(*) c FROM verdicts GROUP BY 1) s)));

SELECT * FROM finish();
ROLLBACK;
