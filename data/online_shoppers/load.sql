-- data/online_shoppers/load.sql: UCI Online Shoppers Purchasing Intention as
-- table "shoppers" (run with psql from the repository root).  Columns and
-- order as in the CSV; "session" records the file order (1..12330).
CREATE TABLE shoppers (
  session                   bigint GENERATED ALWAYS AS IDENTITY,
  "Administrative"          integer,
  "Administrative_Duration" float8,
  "Informational"           integer,
  "Informational_Duration"  float8,
  "ProductRelated"          integer,
  "ProductRelated_Duration" float8,
  "BounceRates"             float8,
  "ExitRates"               float8,
  "PageValues"              float8,
  "SpecialDay"              float8,
  "Month"                   text,
  "OperatingSystems"        integer,
  "Browser"                 integer,
  "Region"                  integer,
  "TrafficType"             integer,
  "VisitorType"             text,
  "Weekend"                 boolean,
  "Revenue"                 boolean);

\copy shoppers ("Administrative","Administrative_Duration","Informational","Informational_Duration","ProductRelated","ProductRelated_Duration","BounceRates","ExitRates","PageValues","SpecialDay","Month","OperatingSystems","Browser","Region","TrafficType","VisitorType","Weekend","Revenue") FROM PROGRAM 'gzip -dc data/online_shoppers/online_shoppers_intention.csv.gz' WITH (FORMAT csv, HEADER true)
