-- pgTAP: the inputs of issue 11 and variants of them, as a role holding only
-- USAGE on schema retention (and PUBLIC's EXECUTE on its functions): each
-- raises a class-22 error naming the field, never writes past its memory.
-- The fuzzer (fuzz_states.sh) covers the class, binary input included;
-- these pin the known cases.
BEGIN;
SELECT plan(43);

CREATE ROLE hostile_states_role;
GRANT USAGE ON SCHEMA retention TO hostile_states_role;

-- real states to mutate, made by the aggregates themselves
CREATE TEMP TABLE ev AS
SELECT u AS user_id, timestamptz '2023-01-01 00:00+00' + (u * 7 + k * 11) % 300 * interval '1 day' AS ts
  FROM generate_series(1, 40) u, generate_series(1, 5) k;
CREATE TEMP TABLE acts AS
SELECT user_id, retention.user_activity(ts, 'month') AS m, retention.user_activity(ts, 'day') AS d
  FROM ev GROUP BY user_id;
GRANT SELECT ON acts TO hostile_states_role;
-- a logreg_train state (retention.agg_state) as bytes: agg_state header,
-- the trainer's header (k, options length, n, skipped, memory cap), the
-- options as JSON text at byte 48, the label, the row {1, 1, 2}
CREATE TEMP TABLE lr AS
SELECT decode(retention.logreg_train_accum(NULL, true, '{1,2}', '{"lambda": 1}')::text, 'base64') AS b;
GRANT SELECT ON lr TO hostile_states_role;
CREATE FUNCTION pg_temp.lr_state(b bytea) RETURNS retention.agg_state
LANGUAGE sql AS $$ SELECT encode(b, 'base64')::retention.agg_state $$;
CREATE FUNCTION pg_temp.lr_with(pos int, bytes bytea) RETURNS text
LANGUAGE sql AS $$ SELECT encode(overlay(b PLACING bytes FROM pos + 1), 'base64') FROM lr $$;
-- rows no partial state of user_feature_values counts; a real table (workers
-- cannot read temporary ones)
CREATE TABLE public.hostile_null_ts AS
SELECT NULL::timestamptz AS ts, 'view'::text AS event_type FROM generate_series(1, 5000);
ANALYZE public.hostile_null_ts;
GRANT SELECT ON public.hostile_null_ts TO hostile_states_role;
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    result text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        result := result || line || E'\n';
    END LOOP;
    RETURN result;
END
$$;
SET ROLE hostile_states_role;

-- the issue's inputs
SELECT throws_ok($$SELECT retention.activity_cohort_final(ARRAY[1,1,-3,0,1,5,0]::bigint[])$$,
                 '22023', NULL, 'cohort final: negative width, untagged');
SELECT throws_ok($$SELECT retention.activity_lifecycle_final(ARRAY[1, 5, -2305843009213693952, 1, 0,0,0,0]::bigint[])$$,
                 '22023', NULL, 'lifecycle final: lowest period -2^61');
SELECT throws_ok($$SELECT retention.activity_stickiness_final(ARRAY[2, 5, -2305843009213693952, 1]::bigint[])$$,
                 '22023', NULL, 'stickiness final: untagged');

-- real, tagged states with one header field made hostile
SELECT lives_ok($$SELECT retention.cohort_matrix(m, 'classic') FROM acts$$, 'real cohort state works');

CREATE FUNCTION pg_temp.set_elem(a bigint[], i int, v bigint) RETURNS bigint[]
LANGUAGE sql AS $$ SELECT a[:i - 1] || v || a[i + 1:] $$;

-- a rate state: {tag, kind, n, unbounded, max, min_start, nstarts, pairs...}
SELECT throws_ok($$SELECT retention.activity_rate_final(ARRAY[5932085134177140737, 3, 1, 0,
                   9223372036854775807, -9223372036854775808, 1, 1, 0]::bigint[])$$,
                 '22023', 'invalid retention_rate(activity) state: field "latest period" is 9223372036854775807, outside -9223372036854775808 .. 106751983',
                 'rate: latest period INT64_MAX');
SELECT throws_ok($$SELECT retention.activity_rate_final(ARRAY[5932085134177140737, 3, 1, 0,
                   300, 276, 2, 1, 0]::bigint[])$$,
                 '22023', 'invalid retention_rate(activity) state: the header calls for 4 elements after it, the array has 2',
                 'rate: length off by two');
SELECT throws_ok($$SELECT retention.activity_rate_final(ARRAY[5932085134177140737, 3, 1, 0,
                   300, 300, 2, 1, 0, 1, 0]::bigint[])$$,
                 '22023', NULL, 'rate: starts past the latest period');
SELECT throws_ok($$SELECT retention.activity_rate_final(ARRAY[5932085134177140737, 3, 1, 0,
                   300, 276, 1, 1, 5]::bigint[])$$,
                 '22023', NULL, 'rate: more retained than users');
SELECT throws_ok($$SELECT retention.activity_rate_combine(
                   ARRAY[5932085134177140737, 3, 1, 0, 300, 276, 1, 9223372036854775807, 0]::bigint[],
                   ARRAY[5932085134177140737, 3, 1, 0, 300, 276, 1, 9223372036854775807, 0]::bigint[])$$,
                 '22003', NULL, 'rate combine: counts that overflow');
SELECT is(retention.activity_rate_final(ARRAY[5932085134177140737, 3, 1, 0, 300, 276, 1, 4, 1]::bigint[]),
          0.25::float8, 'rate: a valid hand-written state: 1 of 4 retained');

-- a cohort state: {tag, kind, mode, max, lo, n, sizes, n x n}
SELECT throws_ok($$SELECT retention.activity_cohort_final(ARRAY[5932085134177206273, 3, 1, 300,
                   -2305843009213693952, 1, 1, 1]::bigint[])$$,
                 '22023', 'invalid cohort_matrix(activity) state: field "lowest period" is -2305843009213693952, outside -2451546 .. 106751983',
                 'cohort: lowest period -2^61');
SELECT throws_ok($$SELECT retention.activity_cohort_final(ARRAY[5932085134177206273, 3, 1, 300,
                   276, 4097]::bigint[])$$,
                 '22023', NULL, 'cohort: n 4097');
SELECT throws_ok($$SELECT retention.activity_cohort_combine(
                   ARRAY[5932085134177206273, 3, 1, 2147483647, -2147483648, 1, 1, 1]::bigint[],
                   ARRAY[5932085134177206273, 3, 1, 300, 276, 1, 1, 1]::bigint[])$$,
                 '22023', NULL, 'cohort combine: INT32 extremes');
SELECT throws_ok($$SELECT retention.activity_cohort_final(ARRAY[5932085134177206273, 3, 1, 300,
                   276, 1, -1, 1]::bigint[])$$,
                 '22023', NULL, 'cohort: negative cohort size');

-- a lifecycle state fed to the stickiness reader: another layout's tag
SELECT throws_ok($$SELECT retention.activity_stickiness_final(ARRAY[5932085134177271809, 3, 300, 276, 0]::bigint[])$$,
                 '22023', NULL, 'stickiness: a lifecycle state');

-- retention.activity: in and recv share one validator
SELECT throws_ok($$SELECT 'month:-:279:1000279:'::retention.activity$$, '22P02', NULL,
                 'in: empty bitmap, base a million periods past last_event');
SELECT throws_ok($$SELECT 'month:-:2147483647:0:'::retention.activity$$, '22P02', NULL,
                 'in: last_event outside timestamptz');
SELECT throws_ok($$SELECT 'day:3:9:4:1010'::retention.activity$$, '22P02', NULL,
                 'in: bitmap ending inactive');
SELECT is('month:-:-8:0:'::retention.activity::text, 'month:-:-8:0:',
          'in: the empty activity of a user active before 2000 (as user_activity writes it)');

-- a model's std_err must be an object: its keys were looked up in an array
-- as if it were one, reading past the value (the server crashed)
SELECT throws_ok($$SELECT '{"r":1,"alpha":2,"a":3,"b":4,"std_err":["\u0001\u0040","\u0011\u0050\u0062\u007e\u007e\u0010\u0010\u0018",{"r":1},"\u0001",1e+300,"\u0018",{"r":1},"\u0018\u0061\u0018\u0061","\u0072\u007f\u0020\u0050\u0020\u0040\u0062\u007e",0,"\u0061\u0072\u0020\u0050"], "log_likelihood": -3.5}'::retention.mbgnbd_model$$,
                 '22P02', 'invalid input syntax for type mbgnbd_model', 'mbgnbd_model in: std_err an array of crafted strings');
SELECT throws_ok($$SELECT '{"r":1,"alpha":2,"a":3,"b":4,"std_err":[1,2,3,4]}'::retention.bgnbd_model$$,
                 '22P02', 'invalid input syntax for type bgnbd_model', 'bgnbd_model in: std_err an array');

-- a worker that saw no row with a time serialises its state: SQL NULL, not a
-- null pointer (the server crashed)
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- (a statement of its own: pgTAP's functions are not parallel safe)
SELECT matches(pg_temp.plan_of($$CREATE TEMP TABLE ufv AS
                   SELECT retention.user_feature_values(ts, event_type, NULL, NULL, '2024-01-01', '30 days',
                   '30 min', 'view', 'click', 'cart', 'purchase', 'activity') AS v FROM public.hostile_null_ts$$),
               'Partial Aggregate', 'user_feature_values over rows without a time: a parallel plan');
CREATE TEMP TABLE ufv AS
SELECT retention.user_feature_values(ts, event_type, NULL, NULL, '2024-01-01', '30 days', '30 min',
                                     'view', 'click', 'cart', 'purchase', 'activity') AS v
  FROM public.hostile_null_ts;
SELECT is((SELECT v FROM ufv), NULL,
          'user_feature_values: partial states of rows without a time are NULL, not a crash');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET ROLE;

-- logreg_train states carry their options: as a binary jsonb they were
-- trusted (a jsonb container claiming 268 million entries crashed the
-- server); now they are JSON text that goes through jsonb_in
SELECT throws_ok($$SELECT retention.logreg_train_final('U0dBUgMAAQAAAAAAdAEAAAIAAAAgAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAANBBgAAAAP///y8GAACACgAAEGxhbWJkYQAAIAAAAACAAQABAAAAAAAA8D8AAAAAAADwPwAAAAAAAABA'::retention.agg_state)$$,
                 '22P03', NULL, 'logreg state: the binary jsonb options of a crash, refused');
SELECT lives_ok(format('SELECT retention.logreg_train_final(%L::retention.agg_state)', pg_temp.lr_with(0, ''::bytea)),
                'logreg state: the real state works');
SELECT throws_ok(format('SELECT retention.logreg_train_final(%L::retention.agg_state)', pg_temp.lr_with(48, '{"lambda": 1x'::bytea)),
                 '22P02', NULL, 'logreg state: options that are not JSON');
SELECT throws_ok(format('SELECT retention.logreg_train_final(%L::retention.agg_state)', pg_temp.lr_with(48, '[1,2,3,4,5,6]'::bytea)),
                 '22023', NULL, 'logreg state: options that are not an object');
SELECT throws_ok(format('SELECT retention.logreg_train_final(%L::retention.agg_state)', pg_temp.lr_with(62, '\x000000000000f87f'::bytea)),
                 '22P02', NULL, 'logreg state: a NaN feature');
SELECT throws_ok(format('SELECT retention.logreg_train_final(%L::retention.agg_state)', pg_temp.lr_with(24, '\xffffff7f'::bytea)),
                 '22P02', NULL, 'logreg state: an options length past the end');

-- a label byte other than 0 or 1 is read as 1 (it indexed an array of two
-- in the Newton passes, past its end, and crashed the server)
SELECT is(retention.logreg_train_final(pg_temp.lr_state(overlay(b PLACING '\xff'::bytea FROM 62)))::text,
          retention.logreg_train_final(pg_temp.lr_state(b))::text,
          'logreg state: a label byte of 255 is a true label')
  FROM lr;
-- a retention state whose bitmap has bits past its length: cohort finals
-- walked them as periods, past their matrix
CREATE AGGREGATE pg_temp.retention_state(bigint, timestamptz, integer, text)
    (SFUNC = retention.retention_rate_trans, STYPE = retention.agg_state, COMBINEFUNC = retention.retention_combine);
CREATE TEMP TABLE one_user AS
SELECT 7::bigint AS user_id, timestamptz '2024-01-01' + g * interval '1 day' AS ts FROM generate_series(0, 9) g;
SELECT throws_ok(format('SELECT retention.retention_rate_final(%L::retention.agg_state)',
                        (SELECT encode(set_byte(b, length(b) - 1, 255), 'base64')
                           FROM (SELECT decode(pg_temp.retention_state(user_id, ts, 1, 'day')::text, 'base64') AS b
                                   FROM one_user) s)),
                 '22P03', 'retention aggregate state has bits set past a bitmap of 10 bits',
                 'retention state: bits past the bitmap are refused');
-- period numbers no timestamp gives: the cohort finals sized a matrix by
-- their span and reported it as too large (54000), not as forged
SELECT throws_ok(format('SELECT retention.cohort_matrix_final(%L::retention.agg_state)',
                        (SELECT encode(overlay(b PLACING '\x01000080'::bytea
                                               FROM position('\x3e2200003e220000'::bytea IN b)), 'base64')
                           FROM (SELECT decode(pg_temp.retention_state(user_id, ts, 1, 'day')::text, 'base64') AS b
                                   FROM one_user) s)),
                 '22P03', 'retention aggregate state has first start period -2147483647, out of range',
                 'retention state: a first start period out of range is refused');
SELECT throws_ok(format('SELECT retention.lifecycle_final(%L::retention.agg_state)',
                        (SELECT encode(overlay(b PLACING '\x00000080'::bytea
                                               FROM position('\x3e2200003e220000'::bytea IN b) + 4), 'base64')
                           FROM (SELECT decode(pg_temp.retention_state(user_id, ts, 1, 'day')::text, 'base64') AS b
                                   FROM one_user) s)),
                 '22P03', 'retention aggregate state has active periods from -2147483648, out of range',
                 'retention state: active periods out of range are refused');

-- a header whose latest period lies before a user's: lifecycle_final sized
-- its matrix by the header and wrote past it (a segfault; the adversarial
-- review of 2026-12-03): a lifecycle state of users at 2024-01-01 and
-- 2300-01-05 with max_period set to 8766
SELECT throws_ok($$SELECT retention.lifecycle_final('U0dBUgEAAQAAAAAAcAEAADFURVL/////AQAAAAEAAAA+IgAAAAAAAAIAAAAAAAAAAgAAAAAAAAAJrAEACawBAAEAAAABAAAAAAAAAAEAAAAAAAAAPiIAAD4iAAABAAAAAQAAAAAAAAA=')$$,
                 '22P03', 'retention aggregate state has a user active after its latest period',
                 'retention state: a user after the latest period is refused');
-- a final given another aggregate's state: its header fields may mean
-- nothing to it (stickiness read a lifecycle state's mode 0 as a period: XX000)
SELECT throws_ok($$SELECT retention.stickiness_final(retention.lifecycle_trans(NULL, 1, '2024-01-01', 'day'))$$,
                 '22P03', 'invalid retention aggregate state', 'stickiness_final refuses a lifecycle state');
SELECT throws_ok($$SELECT retention.retention_rate_final(retention.lifecycle_trans(NULL, 1, '2024-01-01', 'day'))$$,
                 '22P03', 'invalid retention aggregate state', 'retention_rate_final refuses a lifecycle state');
SELECT throws_ok($$SELECT retention.cohort_matrix_final(retention.lifecycle_trans(NULL, 1, '2024-01-01', 'day'))$$,
                 '22P03', 'invalid retention aggregate state', 'cohort_matrix_final refuses a lifecycle state');
SELECT is(retention.lifecycle_final(retention.lifecycle_trans(retention.lifecycle_trans(NULL, 1, '2024-01-01', 'day'),
                                                              2, '2300-01-05', 'day')) IS NOT NULL,
          true, 'the unforged state of users 100,000 days apart is read');
-- an item_knn state's weights are checked as the transition function checks
-- them: a NaN weight made a model whose similarities were NaN
SELECT throws_ok($$SELECT retention.item_knn_finalfn(encode(overlay(b PLACING '\x000000000000f87f'::bytea
                                                                 FROM position('\x0000000000000c40'::bytea IN b)), 'base64')::retention.agg_state)
                     FROM (SELECT decode(retention.item_knn_transfn(retention.item_knn_transfn(NULL, 1, 10, 3.5, 5),
                                                                    2, 10, 1, 5)::text, 'base64') AS b) s$$,
                 '22P03', 'invalid item_knn state: weight out of range', 'item_knn state: a NaN weight is refused');
SELECT is((SELECT retention.item_knn_finalfn(retention.item_knn_transfn(retention.item_knn_transfn(NULL, 1, 10, 3.5, 5),
                                                                        2, 10, 1, 5)) IS NOT NULL),
          true, 'item_knn state: the unforged state makes a model');
-- user_feature_rows reads bytes anyone can write: rows as user_feature_table
-- writes them, or 22P03 (NaN features and labels came back as numbers)
CREATE TEMP TABLE ft_bytes AS
SELECT retention.user_feature_table(u, t, 'view', NULL, NULL, NULL, '2024-02-01', '30 days', '30 minutes',
                                    'view', 'click', 'cart', 'purchase', 'activity') AS b
  FROM (VALUES (1, '2024-01-01'::timestamptz), (2, '2024-01-02')) v(u, t);
SELECT throws_ok($$SELECT count(*) FROM ft_bytes, retention.user_feature_rows(overlay(b PLACING '\x000000000000f87f'::bytea
                                                                                    FROM length(b) - 7), true)$$,
                 '22P03', 'user_feature_rows needs a result of user_feature_table', 'user_feature_rows: a NaN label is refused');
SELECT throws_ok($$SELECT count(*) FROM ft_bytes, retention.user_feature_rows(overlay(b PLACING substr(b, 9, 8)
                                                                                    FROM 9 + (length(b) - 8) / 2), true)$$,
                 '22P03', 'user_feature_rows needs a result of user_feature_table', 'user_feature_rows: a repeated user is refused');
SELECT is((SELECT count(*)::int FROM ft_bytes, retention.user_feature_rows(b, true)), 2,
          'user_feature_rows: the unforged rows are read');

SELECT * FROM finish();
ROLLBACK;
