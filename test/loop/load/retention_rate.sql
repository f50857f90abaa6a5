-- weekly retention of a slice of 50 users
\set u random(1000001, 1001450)
SELECT retention.retention_rate(user_id, ts, 1, 'week') FROM events WHERE user_id BETWEEN :u AND :u + 50;
