-- pgTAP: statement_timeout (and so a cancel request, which arrives the same
-- way) stops every long-running aggregate and function promptly.
--
-- Each input is scanned in a few tens of milliseconds but keeps the final
-- function (Newton passes, likelihood optimisation, similarity products)
-- busy for seconds (measured on a development machine: logreg_train 2 s,
-- bgnbd_fit 7 s, pareto_nbd_fit over 30 s, gamma_gamma_fit 1 s, item_knn
-- 2 s), so a loop that
-- never calls CHECK_FOR_INTERRUPTS would run far past the 200 ms timeout.
-- The bound of 5 s is a hang check, not a performance assertion.
--
-- pgTAP's throws_ok cannot be used: PL/pgSQL's WHEN OTHERS, which it
-- relies on, deliberately does not catch query_canceled.  pg_temp.interrupt
-- catches it by name instead and returns the SQLSTATE and the elapsed time.
--
-- Aggregates and functions of the schema that this file does not exercise
-- are listed in a diagnostic, so a long one merged later is noticed.

BEGIN;
SELECT no_plan();
SET client_min_messages = error;
SELECT setseed(0.5);

-- 5,000 rows of 400 features: each Newton pass is 5000 * 400^2 multiply-adds
CREATE TABLE public.cancel_features AS
SELECT random() < 0.5 AS label,
       ARRAY(SELECT random() + i * 0 FROM generate_series(1, 400)) AS features
  FROM generate_series(1, 5000) i;
-- the same as 400 columns, for the functions that read named columns
CREATE TABLE public.cancel_columns_query (q text);
INSERT INTO public.cancel_columns_query
SELECT format('SELECT label::int AS churned, %s FROM public.cancel_features',
              string_agg(format('features[%s] AS f%s', j, j), ', ' ORDER BY j))
  FROM generate_series(1, 400) j;

-- 200,000 customers with summaries no model fits well: long optimisations
CREATE TABLE public.cancel_customers AS
SELECT x, least(floor(random() * t), t) AS t_x, t, 1 + random() * 100 AS monetary
  FROM (SELECT floor(random() * 50 + i * 0)::float8 AS x, random() * 100 + i * 0 AS t
          FROM generate_series(1, 200000) i) s;

-- 500,000 purchases of 1,000 users among 3,000 items: 2.5e8 co-occurrences
CREATE TABLE public.cancel_purchases AS
SELECT (i % 1000)::bigint AS user_id, floor(random() * 3000)::bigint AS item_id
  FROM generate_series(1, 500000) i;

CREATE TABLE pg_temp.cases (subject text PRIMARY KEY, call text NOT NULL);
INSERT INTO pg_temp.cases
SELECT * FROM (VALUES
    ('retention.logreg_train(boolean,double precision[])',
     'SELECT retention.logreg_train(label, features) FROM public.cancel_features'),
    ('retention.logreg_train(boolean,double precision[],jsonb)',
     'SELECT retention.logreg_train(label, features, ''{"lambda": 0.5}'') FROM public.cancel_features'),
    ('retention.logreg_train_multipass(text,text,text[],jsonb)',
     format('SELECT retention.logreg_train_multipass(%L, ''churned'', %L)',
            (SELECT q FROM public.cancel_columns_query),
            (SELECT array_agg('f' || j ORDER BY j) FROM generate_series(1, 400) j))),
    ('retention.train_churn_model(text,text,text,text[],jsonb,text,double precision,integer)',
     format('CALL retention.train_churn_model(''cancel'', %L, ''churned'', %L)',
            (SELECT q FROM public.cancel_columns_query),
            (SELECT array_agg('f' || j ORDER BY j) FROM generate_series(1, 400) j))),
    ('retention.bgnbd_fit(double precision,double precision,double precision)',
     'SELECT retention.bgnbd_fit(x, t_x, t) FROM public.cancel_customers'),
    ('retention.pareto_nbd_fit(double precision,double precision,double precision)',
     'SELECT retention.pareto_nbd_fit(x, t_x, t) FROM public.cancel_customers'),
    ('retention.gamma_gamma_fit(double precision,double precision)',
     -- its fit is the quickest: three times the customers, for a margin
     'SELECT retention.gamma_gamma_fit(x, monetary + g) FROM public.cancel_customers, generate_series(0, 2) g'),
    ('retention.item_knn(bigint,bigint,double precision,integer)',
     'SELECT retention.item_knn(user_id, item_id, 1.0, 20) FROM public.cancel_purchases'),
    ('retention.retention_rate(bigint,timestamp with time zone,integer,text)',
     'SELECT retention.retention_rate(g % 1000000, timestamptz ''2024-01-01'' + (g % 365) * interval ''1 day'', 7, ''day'')
        FROM generate_series(1, 50000000) g'),
    ('retention.cohort_matrix(bigint,timestamp with time zone,text,text,boolean,boolean)',
     'SELECT retention.cohort_matrix(g % 1000000, timestamptz ''2024-01-01'' + (g % 365) * interval ''1 day'', ''day'', ''classic'', true, true)
        FROM generate_series(1, 50000000) g'),
    ('retention.evaluate_item_knn(regclass,regclass,integer,integer,name,name)',
     'SELECT * FROM retention.evaluate_item_knn(''public.cancel_purchases'', ''public.cancel_purchases'', 20, 10)')
) v;

-- Runs call; returns the SQLSTATE it ended with (NULL when it finished) and
-- how long it took.
CREATE FUNCTION pg_temp.interrupt(call text, OUT state text, OUT elapsed interval)
LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    BEGIN
        EXECUTE call;
    EXCEPTION WHEN query_canceled OR others THEN
        state := SQLSTATE;
    END;
    elapsed := clock_timestamp() - started;
END
$$;

CREATE TABLE pg_temp.outcomes (subject text, state text, elapsed interval);

-- top-level statements (\gexec runs each column as one), so that each call
-- gets its own timeout and nothing else runs under it
SELECT 'SET statement_timeout = ''200ms''',
       format('INSERT INTO pg_temp.outcomes SELECT %L, i.* FROM pg_temp.interrupt(%L) i', subject, call),
       'RESET statement_timeout'
  FROM pg_temp.cases ORDER BY subject
\gexec

SELECT is(o.state, '57014', format('%s is cancelled by statement_timeout', o.subject))
  FROM pg_temp.outcomes o ORDER BY o.subject;
SELECT cmp_ok(o.elapsed, '<', interval '5 s',
              format('%s stops promptly after the timeout (took %s)', o.subject,
                     to_char(extract(epoch FROM o.elapsed), 'FM990.00') || ' s'))
  FROM pg_temp.outcomes o ORDER BY o.subject;

SELECT is(count(*), (SELECT count(*) FROM pg_temp.cases), 'every case ran') FROM pg_temp.outcomes;

SELECT diag('cancel: not exercised here (short-running, or merged later): '
            || string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text))
  FROM pg_proc p
 WHERE p.pronamespace = 'retention'::regnamespace
   AND (p.prokind IN ('a', 'p') OR
        (p.prokind = 'f' AND p.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('sql', 'plpgsql'))))
   AND p.oid::regprocedure::text NOT IN (SELECT subject FROM pg_temp.cases);

SELECT * FROM finish();
ROLLBACK;
