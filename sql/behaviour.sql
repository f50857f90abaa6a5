-- lifecycle, stickiness, sessions, per-user features and RFM on hand-made
-- event sets whose answers are worked out in the comments.
\set VERBOSITY sqlstate
SET extra_float_digits = 0;
SET TimeZone = 'UTC';

CREATE TABLE ev (user_id bigint, ts timestamptz);
-- active days: u1 Jan 1, 2, 4; u2 Jan 2, 3; u3 Jan 3; u4 Jan 5
INSERT INTO ev VALUES
  (1, '2024-01-01 10:00+00'), (1, '2024-01-02 09:00+00'), (1, '2024-01-04 23:59+00'),
  (2, '2024-01-02 00:00+00'), (2, '2024-01-03 12:00+00'), (3, '2024-01-03 08:00+00'),
  (4, '2024-01-05 07:00+00');

-- lifecycle by day:
--   Jan 1: new u1
--   Jan 2: new u2, returning u1
--   Jan 3: new u3, returning u2, dormant u1 (active Jan 2, not Jan 3): -1
--   Jan 4: resurrecting u1, dormant u2 and u3: -2
--   Jan 5: new u4, dormant u1: -1
SELECT * FROM retention.lifecycle('ev', 'day');
-- the same from per-user activities (the form for distributed tables)
SELECT retention.lifecycle_matrix(a)
  FROM (SELECT user_id, retention.user_activity(ts, 'day') AS a FROM ev GROUP BY user_id) u;
-- by week (2024-01-01 is a Monday): all four are new in one week
SELECT * FROM retention.lifecycle('ev', 'week');

-- stickiness: in the week of Jan 1, u1 was active on 3 days, u2 on 2, u3
-- and u4 on 1: shares 1/2, 1/4, 1/4
SELECT * FROM retention.stickiness('ev', 'week');
-- across a week boundary: u9 active Sun Jan 7 and Mon Jan 8, Jan 9: one
-- day in the first week, two in the second; by month, three days in January
INSERT INTO ev VALUES (9, '2024-01-07 12:00+00'), (9, '2024-01-08 12:00+00'), (9, '2024-01-09 01:00+00'),
                      (9, '2024-01-09 02:00+00');
SELECT * FROM retention.stickiness('ev', 'week') WHERE period_start = '2024-01-08';
SELECT * FROM retention.stickiness('ev', 'month');
-- the same from per-user daily activities
SELECT retention.stickiness_matrix(a, 'month')
  FROM (SELECT user_id, retention.user_activity(ts, 'day') AS a FROM ev GROUP BY user_id) u;

-- sessions with the default 30-minute gap: a gap of exactly 30 minutes
-- continues a session, 30 minutes and one second starts a new one
CREATE TABLE clicks (visitor integer, at timestamptz);
INSERT INTO clicks VALUES
  (1, '2024-01-01 10:00:00+00'), (1, '2024-01-01 10:30:00+00'), (1, '2024-01-01 11:00:01+00'),
  (1, '2024-01-01 11:10:00+00'), (2, '2024-01-01 09:00:00+00'), (NULL, '2024-01-01 09:00:00+00');
-- visitor 1: [10:00, 10:30] 2 events 30 min; [11:00:01, 11:10] 2 events 9:59;
-- visitor 2: one event, zero duration
SELECT * FROM retention.sessions('clicks', user_column => 'visitor', time_column => 'at');
SELECT * FROM retention.sessions('clicks', '1 hour', user_column => 'visitor', time_column => 'at');
SELECT * FROM retention.session_summary('clicks', user_column => 'visitor', time_column => 'at');

-- per-user features as of 2024-01-31 00:00
CREATE TABLE shop (user_id bigint, ts timestamptz, event_type text, item_id int, amount numeric);
INSERT INTO shop VALUES
 (1, '2024-01-01 10:00', 'view', 1, NULL), (1, '2024-01-01 10:05', 'click', 1, NULL),
 (1, '2024-01-01 10:10', 'purchase', 1, 20), (1, '2024-01-01 12:00', 'view', 2, NULL),
 (1, '2024-01-20 09:00', 'purchase', 2, 40), (1, '2024-02-05 09:00', 'view', 3, NULL),
 (2, '2024-01-10 08:00', 'view', 5, NULL), (2, '2024-01-10 08:20', 'cart', 5, NULL),
 (2, '2024-01-10 08:55', 'view', 6, NULL), (3, '2024-02-02 00:00', 'view', 1, NULL);
-- u1: last event Jan 20 09:00 = 10 d 15 h = 10.625 days before the cutoff,
--     also its last purchase; 2 purchases on 2 active days; sessions
--     [10:00-10:10], [12:00], [Jan 20]: 3, average (10 + 0 + 0) / 3 = 3.33
--     minutes; spend 60, 30 per order; tenure from Jan 1 10:00 = 29 d 14 h
--     = 29.583 days; 2 views, 1 click, 0 carts: CTR 1/2, view-to-purchase
--     2/2; all 5 events in the last 30 days: trend (5 - 0) / (5 + 0) = 1;
--     items {1, 2}; purchases 18 d 22 h 50 min apart = 18.951 days; a view
--     on Feb 5 is within 30 days of the cutoff: not churned
-- u2: no purchase (recency of purchase imputed by the tenure 20.667 days
--     in the array), sessions [08:00-08:20] and [08:55]: 2, average 10
--     minutes; no event after the cutoff: churned
-- u3: no event before the cutoff: no row
\x on
SELECT * FROM retention.user_features('shop', '2024-01-31');
\x off
-- churn on purchases: u1 buys nothing in the 30 days after: churned
SELECT user_id, churned FROM retention.user_features('shop', '2024-01-31', churn_on => 'purchase');
-- a short horizon: nothing by Feb 3, so u1 churns too
SELECT user_id, churned FROM retention.user_features('shop', '2024-01-31', '3 days');
SELECT retention.user_feature_names();
SELECT array_length(features, 1) = array_length(retention.user_feature_names(), 1) AS lengths_match,
       bool_and(NOT (features::text LIKE '%NULL%')) OVER () AS no_nulls
  FROM retention.user_features('shop', '2024-01-31');
-- without an item column
SELECT user_id, distinct_items, features[16] FROM retention.user_features('shop', '2024-01-31', item_column => NULL);

-- RFM: five customers with 1..5 purchases, the last on the first of
-- January..May 2024, spending 10, 40, 30, 100 and 50; as of May 1.
-- Recency scores (most recent best) 1..5, frequency 1..5, monetary by
-- total: 10 -> 1, 30 -> 2, 40 -> 3, 50 -> 4, 100 -> 5.
-- Segments by (R, F): (1,1) lost, (2,2) hibernating, (3,3) need attention,
-- (4,4) loyal customers, (5,5) champions
CREATE TABLE orders (customer bigint, ordered_at timestamptz, total numeric);
INSERT INTO orders VALUES
  (1, '2024-01-01', 10),
  (2, '2024-01-15', 20), (2, '2024-02-01', 20),
  (3, '2024-02-10', 10), (3, '2024-02-20', 10), (3, '2024-03-01', 10),
  (4, '2024-03-10', 25), (4, '2024-03-15', 25), (4, '2024-03-20', 25), (4, '2024-04-01', 25),
  (5, '2024-04-10', 10), (5, '2024-04-15', 10), (5, '2024-04-20', 10), (5, '2024-04-25', 10), (5, '2024-05-01', 10);
SELECT * FROM retention.rfm('orders', '2024-05-01', user_column => 'customer', time_column => 'ordered_at',
                            amount_column => 'total');
-- only purchases count when an event column is given
SELECT user_id, frequency, monetary FROM retention.rfm('shop', event_column => 'event_type');
-- the segment grid, recency score down, frequency score across:
-- r=5: new customers, potential loyalists x2, champions x2
-- r=4: promising, potential loyalists x2, loyal customers x2
-- r=3: about to sleep x2, need attention, loyal customers x2
-- r=2: hibernating x2, at risk x2, can't lose them
-- r=1: lost, hibernating, at risk x2, can't lose them
SELECT r, array_agg(retention.rfm_segment(r, f) ORDER BY f) AS by_frequency
  FROM generate_series(5, 1, -1) r, generate_series(1, 5) f GROUP BY r ORDER BY r DESC;
SELECT retention.rfm_segment(0, 3) IS NULL AS out_of_range, retention.rfm_segment(NULL, 3) IS NULL AS null_score;

-- an empty table: no rows anywhere, no errors
CREATE TABLE empty_ev (user_id bigint, ts timestamptz, event_type text, item_id int, amount numeric);
SELECT (SELECT count(*) FROM retention.cohort_table('empty_ev')) AS cohorts,
       (SELECT count(*) FROM retention.lifecycle('empty_ev')) AS lifecycle,
       (SELECT count(*) FROM retention.stickiness('empty_ev')) AS stickiness,
       (SELECT count(*) FROM retention.sessions('empty_ev')) AS sessions,
       (SELECT count(*) FROM retention.user_features('empty_ev', '2024-01-01')) AS features,
       (SELECT count(*) FROM retention.rfm('empty_ev')) AS rfm;

-- errors
SELECT * FROM retention.sessions('clicks', '0 minutes', user_column => 'visitor', time_column => 'at');
SELECT * FROM retention.sessions('clicks', user_column => 'nobody', time_column => 'at');
SELECT * FROM retention.user_features('shop', '2024-01-31', churn_on => 'logins');
SELECT * FROM retention.user_features('shop', '2024-01-31', '-1 day');
SELECT * FROM retention.user_features('shop', 'infinity');
SELECT * FROM retention.user_features('shop', '2024-01-31', session_gap => '0 seconds');
SELECT * FROM retention.stickiness('ev', 'hour');
SELECT * FROM retention.lifecycle('ev', 'fortnight');
SELECT retention.lifecycle_matrix(a)
  FROM (SELECT user_id, retention.user_activity(ts, 'day', user_id = 1, true) AS a FROM ev GROUP BY user_id) u;
SELECT retention.lifecycle_matrix(a) FROM (VALUES ('day:1:1:1:1'::retention.activity), ('week:1:1:1:1')) v(a);
SELECT retention.stickiness_matrix(a, 'week') FROM (VALUES ('week:1:1:1:1'::retention.activity)) v(a);
SELECT retention.stickiness_matrix(a, 'day') FROM (VALUES ('day:1:1:1:1'::retention.activity)) v(a);
-- two users 12,000 years apart: too many periods to report
SELECT retention.lifecycle_matrix(u, ts, 'day')
  FROM (VALUES (1, '1000-01-01'::timestamptz), (2, '13000-01-01')) v(u, ts);
SELECT retention.stickiness_matrix(u, ts, 'week')
  FROM (VALUES (1, '1000-01-01'::timestamptz), (2, '13000-01-01')) v(u, ts);
SELECT * FROM retention.user_features('shop', '2024-01-31', '1 month');
SELECT retention.user_feature_values(ts, event_type, NULL, NULL, NULL, '1 day', '1 hour',
                                     'view', 'click', 'cart', 'purchase', 'activity') FROM shop;
SELECT retention.user_feature_values(ts, event_type, NULL, NULL, '2024-01-31', '1 day', '1 hour',
                                     'view', 'click', 'cart', 'purchase', 'everything') FROM shop;
SELECT retention.user_feature_values('infinity', 'view', NULL, NULL, '2024-01-31', '1 day', '1 hour',
                                     'view', 'click', 'cart', 'purchase', 'activity');
SELECT retention.user_feature_values(ts, event_type, NULL, NULL, '2024-01-31', '1 mon', '1 hour',
                                     'view', 'click', 'cart', 'purchase', 'activity') FROM shop;
\set VERBOSITY default
SELECT * FROM retention.user_features('shop', '2024-01-31', '1 month');
SELECT * FROM retention.sessions('clicks', '0 minutes', user_column => 'visitor', time_column => 'at');
SELECT * FROM retention.user_features('shop', '2024-01-31', churn_on => 'logins');
SELECT * FROM retention.stickiness('ev', 'hour');

DROP TABLE ev, clicks, shop, orders, empty_ev;
