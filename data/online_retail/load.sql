-- data/online_retail/load.sql: load UCI Online Retail into the current schema.
-- Run from the repository root (psql -f or \i), as scripts/test and bench/run do.
--
--   online_retail   every invoice line as published (541,909 rows)
--   items           product items (stock codes starting with a digit), with a bigint item_id
--   purchases       one row per kept line: customer, item, invoice time, quantity
--                   (no cancellations, no missing customer, quantity and price > 0)

CREATE TABLE online_retail (
    invoice_no   text,
    stock_code   text,
    description  text,
    quantity     integer,
    invoice_date timestamp,
    unit_price   numeric,
    customer_id  bigint,
    country      text
);
\copy online_retail FROM PROGRAM 'gzip -dc data/online_retail/OnlineRetail.csv.gz' WITH (FORMAT csv, HEADER true)

CREATE TABLE items AS
SELECT row_number() OVER (ORDER BY stock_code)::bigint AS item_id, stock_code
  FROM (SELECT DISTINCT stock_code FROM online_retail WHERE stock_code ~ '^[0-9]') s;
ALTER TABLE items ADD PRIMARY KEY (item_id);

CREATE TABLE purchases AS
SELECT r.customer_id, i.item_id, r.invoice_date, r.quantity, r.country
  FROM online_retail r JOIN items i USING (stock_code)
 WHERE r.customer_id IS NOT NULL AND r.invoice_no NOT LIKE 'C%'
   AND r.quantity > 0 AND r.unit_price > 0;
ANALYZE online_retail, items, purchases;
