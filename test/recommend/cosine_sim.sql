-- pgTAP: cosine_sim against hand-computed values, its declaration and its errors.
BEGIN;
SELECT plan(31);

-- declarations: both overloads IMMUTABLE, STRICT, PARALLEL SAFE, documented
SELECT has_function('retention', 'cosine_sim', ARRAY['double precision[]', 'double precision[]']);
SELECT has_function('retention', 'cosine_sim', ARRAY['real[]', 'real[]']);
SELECT function_returns('retention', 'cosine_sim', ARRAY['double precision[]', 'double precision[]'], 'double precision');
SELECT function_returns('retention', 'cosine_sim', ARRAY['real[]', 'real[]'], 'double precision');
SELECT volatility_is('retention', 'cosine_sim', ARRAY['double precision[]', 'double precision[]'], 'immutable');
SELECT volatility_is('retention', 'cosine_sim', ARRAY['real[]', 'real[]'], 'immutable');
SELECT is_strict('retention', 'cosine_sim', ARRAY['double precision[]', 'double precision[]']);
SELECT is_strict('retention', 'cosine_sim', ARRAY['real[]', 'real[]']);
SELECT is(
    (SELECT count(*)::int FROM pg_catalog.pg_proc
      WHERE proname = 'cosine_sim' AND pronamespace = 'retention'::regnamespace
        AND proparallel = 's' AND obj_description(oid, 'pg_proc') IS NOT NULL),
    2, 'both cosine_sim overloads are PARALLEL SAFE and have a comment');

-- worked example: A.B = 4*3+3*5+2*4+5*3+4*2 = 58, |A|^2 = 70, |B|^2 = 63,
-- so cos = 58 / sqrt(70 * 63) = 58 / 66.407830...= 0.873391...
SELECT is(round(retention.cosine_sim('{4,3,2,5,4}'::float8[], '{3,5,4,3,2}'::float8[])::numeric, 6),
          0.873391, 'worked example, float8, 6 decimals');
SELECT cmp_ok(abs(retention.cosine_sim('{4,3,2,5,4}'::float8[], '{3,5,4,3,2}'::float8[])
                  - 58 / sqrt(70.0::float8 * 63)), '<', 1e-15::float8,
              'worked example, float8, to the last bits');
SELECT cmp_ok(abs(retention.cosine_sim('{4,3,2,5,4}'::float4[], '{3,5,4,3,2}'::float4[])
                  - 58 / sqrt(70.0::float8 * 63)), '<', 1e-15::float8,
              'worked example, float4 (small integers are exact in float4)');

-- hand-checked geometry
SELECT is(retention.cosine_sim('{1,0}'::float8[], '{1,1}'::float8[]) , 1 / sqrt(2::float8),
          '45 degrees is 1/sqrt(2)');
SELECT is(retention.cosine_sim('{1,2,3}'::float8[], '{-2,-4,-6}'::float8[]), -1::float8, 'opposite');
SELECT is(retention.cosine_sim('{3,0,-4}'::float8[], '{4,7,3}'::float8[]), 0::float8, 'orthogonal');

-- zero vectors: NULL
SELECT is(retention.cosine_sim('{0,0,0}'::float8[], '{1,2,3}'::float8[]), NULL, 'zero vector gives NULL');
SELECT is(retention.cosine_sim('{1,2}'::float4[], '{0,0}'::float4[]), NULL, 'zero float4 vector gives NULL');

-- magnitudes at the ends of the double range
SELECT is(retention.cosine_sim('{1e300,1e300}'::float8[], '{1e300,1e300}'::float8[]), 1::float8,
          '1e300 does not overflow');
SELECT cmp_ok(abs(retention.cosine_sim('{4e300,3e300,2e300,5e300,4e300}'::float8[], '{3e-300,5e-300,4e-300,3e-300,2e-300}'::float8[])
                  - 58 / sqrt(70.0::float8 * 63)), '<', 1e-15::float8,
              'worked example scaled by 1e300 and 1e-300');
SELECT is(retention.cosine_sim('{5e-324}'::float8[], '{1}'::float8[]), 1::float8,
          'the smallest subnormal is still a direction');

-- errors and their SQLSTATEs (class 22)
SELECT throws_ok($$SELECT retention.cosine_sim('{1,2,3}'::float8[], '{1,2,3,4,5}'::float8[])$$,
                 '2202E', 'cannot compare arrays of different lengths 3 and 5',
                 'different lengths: array_subscript_error naming both');
SELECT throws_ok($$SELECT retention.cosine_sim('{1,2}'::float4[], '{1}'::float4[])$$,
                 '2202E', 'cannot compare arrays of different lengths 2 and 1',
                 'different lengths, float4');
SELECT throws_ok($$SELECT retention.cosine_sim('{1,NULL}'::float8[], '{1,2}'::float8[])$$,
                 '22004', 'array "a" must not contain nulls', 'NULL element: null_value_not_allowed');
SELECT throws_ok($$SELECT retention.cosine_sim('{1,2}'::float4[], '{1,NULL}'::float4[])$$,
                 '22004', 'array "b" must not contain nulls', 'NULL element, float4');
SELECT throws_ok($$SELECT retention.cosine_sim('{}'::float8[], '{}'::float8[])$$,
                 '22023', 'array "a" must not be empty', 'empty array');
SELECT throws_ok($$SELECT retention.cosine_sim('{1}'::float4[], '{}'::float4[])$$,
                 '22023', 'array "b" must not be empty', 'empty array, float4');
SELECT throws_ok($$SELECT retention.cosine_sim('{{1,2},{3,4}}'::float8[], '{1,2,3,4}'::float8[])$$,
                 '2202E', 'array "a" must be one-dimensional', 'two-dimensional array');
SELECT throws_ok($$SELECT retention.cosine_sim('{1,NaN}'::float8[], '{1,2}'::float8[])$$,
                 '22023', 'array "a" must not contain NaN or infinite values', 'NaN element');
SELECT throws_ok($$SELECT retention.cosine_sim('{1,2}'::float8[], '{1,-Infinity}'::float8[])$$,
                 '22023', 'array "b" must not contain NaN or infinite values', 'infinite element');
SELECT throws_ok($$SELECT retention.cosine_sim('{NaN,2}'::float4[], '{1,2}'::float4[])$$,
                 '22023', 'array "a" must not contain NaN or infinite values', 'NaN element, float4');
SELECT throws_ok($$SELECT retention.cosine_sim('{0,0}'::float8[], '{NaN,0}'::float8[])$$,
                 '22023', 'array "b" must not contain NaN or infinite values',
                 'NaN is reported even next to a zero vector');

SELECT * FROM finish();
ROLLBACK;
