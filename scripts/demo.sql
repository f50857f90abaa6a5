-- scripts/demo.sql: a tour of the retention extension on the CDNOW purchase log.
-- Run by scripts/demo in a fresh database where the extension is installed.

\pset footer off
\set ON_ERROR_STOP 1

CREATE TABLE cdnow_purchases (
    customer_id  bigint        NOT NULL,
    purchased_on date          NOT NULL,
    cds          integer       NOT NULL,
    amount       numeric(10,2) NOT NULL
);
\copy cdnow_purchases FROM PROGRAM 'gzip -dc data/cdnow/CDNOW_master.csv.gz' WITH (FORMAT csv, HEADER)
ANALYZE cdnow_purchases;

\echo
\echo '== The data: CDNOW customers acquired in Q1 1997, every purchase until June 1998'
SELECT count(*) AS purchases,
       count(DISTINCT customer_id) AS customers,
       min(purchased_on) AS first_day,
       max(purchased_on) AS last_day,
       sum(cds) AS cds,
       sum(amount) AS revenue_usd
  FROM cdnow_purchases;

-- Each customer's purchases per calendar month, Jan 1997 .. Jun 1998, as a vector.
CREATE TABLE monthly_profiles AS
SELECT c.customer_id,
       array_agg(coalesce(p.purchases, 0)::float8 ORDER BY m.month) AS purchases_per_month
  FROM (SELECT DISTINCT customer_id FROM cdnow_purchases) c
 CROSS JOIN generate_series(date '1997-01-01', date '1998-06-01', interval '1 month') AS m(month)
  LEFT JOIN (SELECT customer_id, date_trunc('month', purchased_on) AS month, count(*) AS purchases
               FROM cdnow_purchases GROUP BY 1, 2) p
         ON p.customer_id = c.customer_id AND p.month = m.month
 GROUP BY c.customer_id;

-- a regular customer: the lowest-numbered one who bought in at least 8 different months
SELECT min(customer_id) AS regular
  FROM monthly_profiles
 WHERE (SELECT count(*) FROM unnest(purchases_per_month) n WHERE n > 0) >= 8 \gset

\echo
\echo '== cosine_sim: the customers who buy in the same rhythm as customer' :regular
\echo '   (monthly purchase counts over 18 months; 1 = same months in the same proportions)'
SELECT p.customer_id,
       round(retention.cosine_sim(p.purchases_per_month, me.purchases_per_month)::numeric, 4) AS similarity,
       p.purchases_per_month::int[] AS purchases_per_month
  FROM monthly_profiles p,
       (SELECT purchases_per_month FROM monthly_profiles WHERE customer_id = :regular) me
 ORDER BY retention.cosine_sim(p.purchases_per_month, me.purchases_per_month) DESC, p.customer_id
 LIMIT 6;

\echo
\echo '== cosine_sim: do the January, February and March 1997 cohorts spend alike over time?'
\echo '   (monthly revenue of each acquisition cohort; the shape, not the size, is compared)'
WITH cohort_of AS (
    SELECT customer_id, date_trunc('month', min(purchased_on))::date AS cohort
      FROM cdnow_purchases GROUP BY customer_id
), curves AS (
    SELECT c.cohort,
           array_agg(coalesce(r.revenue, 0)::float8 ORDER BY m.month) AS revenue_per_month
      FROM (SELECT DISTINCT cohort FROM cohort_of) c
     CROSS JOIN generate_series(date '1997-04-01', date '1998-06-01', interval '1 month') AS m(month)
      LEFT JOIN (SELECT o.cohort, date_trunc('month', p.purchased_on) AS month, sum(p.amount) AS revenue
                   FROM cdnow_purchases p JOIN cohort_of o USING (customer_id)
                  GROUP BY 1, 2) r
             ON r.cohort = c.cohort AND r.month = m.month
     GROUP BY c.cohort
)
SELECT to_char(a.cohort, 'Mon YYYY') AS cohort,
       round(retention.cosine_sim(a.revenue_per_month, b1.revenue_per_month)::numeric, 4) AS vs_jan_1997,
       round(retention.cosine_sim(a.revenue_per_month, b2.revenue_per_month)::numeric, 4) AS vs_feb_1997,
       round(retention.cosine_sim(a.revenue_per_month, b3.revenue_per_month)::numeric, 4) AS vs_mar_1997
  FROM curves a,
       (SELECT revenue_per_month FROM curves WHERE cohort = '1997-01-01') b1,
       (SELECT revenue_per_month FROM curves WHERE cohort = '1997-02-01') b2,
       (SELECT revenue_per_month FROM curves WHERE cohort = '1997-03-01') b3
 ORDER BY a.cohort;
\echo '   (months Apr 1997 .. Jun 1998, after all three cohorts were complete)'
