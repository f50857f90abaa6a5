-- cosine_sim: worked example, symmetry, edge cases and errors.
\set VERBOSITY sqlstate
SET extra_float_digits = 0;

-- A = (4,3,2,5,4), B = (3,5,4,3,2): 58 / sqrt(70 * 63) = 0.873391...
SELECT retention.cosine_sim(ARRAY[4,3,2,5,4]::float8[], ARRAY[3,5,4,3,2]::float8[]);
SELECT retention.cosine_sim(ARRAY[4,3,2,5,4]::float4[], ARRAY[3,5,4,3,2]::float4[]);
SELECT round(retention.cosine_sim('{4,3,2,5,4}', '{3,5,4,3,2}'::float8[])::numeric, 6);

-- same direction, opposite direction, orthogonal: exactly 1, -1 and 0
SELECT retention.cosine_sim('{1,2,3}'::float8[], '{2,4,6}'::float8[]);
SELECT retention.cosine_sim('{1,2,3}'::float8[], '{-1,-2,-3}'::float8[]);
SELECT retention.cosine_sim('{1,0}'::float8[], '{0,1}'::float8[]);
SELECT retention.cosine_sim('{1,1}'::float4[], '{-1,1}'::float4[]);

-- symmetric; scaling either vector by a positive factor changes nothing
SELECT retention.cosine_sim('{1,2,7}'::float8[], '{3,-1,2}'::float8[])
     = retention.cosine_sim('{3,-1,2}'::float8[], '{1,2,7}'::float8[]) AS symmetric;
SELECT abs(retention.cosine_sim('{1,2,7}'::float8[], '{3,-1,2}'::float8[])
         - retention.cosine_sim('{10,20,70}'::float8[], '{0.3,-0.1,0.2}'::float8[])) < 1e-15
       AS scale_invariant;

-- a single dimension: the sign of the product
SELECT retention.cosine_sim('{5}'::float8[], '{0.1}'::float8[]),
       retention.cosine_sim('{5}'::float8[], '{-3}'::float8[]);

-- zero vectors have no direction: NULL, so avg() and ORDER BY skip them
SELECT retention.cosine_sim('{0,0,0}'::float8[], '{1,2,3}'::float8[]) IS NULL AS zero_a;
SELECT retention.cosine_sim('{1,2,3}'::float8[], '{0,0,0}'::float8[]) IS NULL AS zero_b;
SELECT retention.cosine_sim('{0,0}'::float4[], '{0,0}'::float4[]) IS NULL AS zero_float4;
SELECT retention.cosine_sim('{-0.0,0}'::float8[], '{1,1}'::float8[]) IS NULL AS negative_zero;

-- NULL arguments (STRICT)
SELECT retention.cosine_sim(NULL::float8[], '{1}'::float8[]) IS NULL AS null_a;
SELECT retention.cosine_sim('{1}'::float4[], NULL::float4[]) IS NULL AS null_b;

-- huge and tiny magnitudes neither overflow nor vanish
SELECT retention.cosine_sim('{1e300,1e300}'::float8[], '{1e300,1e300}'::float8[]);
SELECT retention.cosine_sim('{1e300,-1e300}'::float8[], '{1e300,1e300}'::float8[]);
SELECT round(retention.cosine_sim('{4e300,3e300,2e300,5e300,4e300}'::float8[],
                                  '{3,5,4,3,2}'::float8[])::numeric, 12);
SELECT round(retention.cosine_sim('{4e-300,3e-300,2e-300,5e-300,4e-300}'::float8[],
                                  '{3e-310,5e-310,4e-310,3e-310,2e-310}'::float8[])::numeric, 12);
SELECT retention.cosine_sim('{1e-320,0}'::float8[], '{5e-324,0}'::float8[]);
SELECT round(retention.cosine_sim('{3e38,1e38}'::float4[], '{3e38,1e38}'::float4[])::numeric, 12);
SELECT round(retention.cosine_sim('{1e-45,0}'::float4[], '{1e-45,1e-45}'::float4[])::numeric, 12);

-- rounding never leaves [-1, 1]
SELECT max(retention.cosine_sim(ARRAY[x, x / 3, x / 7], ARRAY[x, x / 3, x / 7])) <= 1
  FROM (SELECT g * 0.1::float8 AS x FROM generate_series(1, 1000) g) s;

-- errors: lengths differ, naming both lengths
SELECT retention.cosine_sim('{1,2,3}'::float8[], '{1,2,3,4,5}'::float8[]);
SELECT retention.cosine_sim('{1,2}'::float4[], '{1}'::float4[]);
-- NULL elements
SELECT retention.cosine_sim('{1,NULL,3}'::float8[], '{1,2,3}'::float8[]);
SELECT retention.cosine_sim('{1,2}'::float4[], '{NULL,2}'::float4[]);
-- empty arrays
SELECT retention.cosine_sim('{}'::float8[], '{}'::float8[]);
SELECT retention.cosine_sim('{1}'::float4[], '{}'::float4[]);
-- more than one dimension
SELECT retention.cosine_sim('{{1,2},{3,4}}'::float8[], '{{1,2},{3,4}}'::float8[]);
SELECT retention.cosine_sim('{1,2,3,4}'::float4[], '{{1,2},{3,4}}'::float4[]);
-- NaN and infinity
SELECT retention.cosine_sim('{1,NaN}'::float8[], '{1,2}'::float8[]);
SELECT retention.cosine_sim('{1,2}'::float8[], '{Infinity,2}'::float8[]);
SELECT retention.cosine_sim('{-Infinity,2}'::float4[], '{1,2}'::float4[]);
SELECT retention.cosine_sim('{0,0}'::float8[], '{NaN,0}'::float8[]);
-- with full messages, as users see them
\set VERBOSITY default
SELECT retention.cosine_sim('{1,2,3}'::float8[], '{1,2,3,4,5}'::float8[]);
SELECT retention.cosine_sim('{1,NaN}'::float8[], '{1,2}'::float8[]);
SELECT retention.cosine_sim('{{1,2},{3,4}}'::float8[], '{{1,2},{3,4}}'::float8[]);

-- arrays with a lower bound other than 1 are vectors all the same
SELECT retention.cosine_sim('[0:1]={3,4}'::float8[], '{3,4}'::float8[]);

-- embedding-sized vectors: 1,536 dimensions, float4 against float8 of the same values
WITH v AS (
  SELECT array_agg(sin(i)::float8 ORDER BY i) AS a, array_agg(cos(i * 0.5)::float8 ORDER BY i) AS b
    FROM generate_series(1, 1536) i
)
SELECT abs(retention.cosine_sim(a, b) - retention.cosine_sim(a::float4[], b::float4[])) < 1e-6
       AS float4_close_to_float8,
       abs(retention.cosine_sim(a, b)
           - (SELECT sum(x * y) / sqrt(sum(x * x) * sum(y * y)) FROM unnest(a, b) u(x, y))) < 1e-12
       AS matches_plain_sql
  FROM v;
