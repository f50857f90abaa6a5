-- data/ucla_admissions/load.sql: the UCLA admissions data as table "ucla"
-- (run with psql from the repository root; see README.md).
CREATE TABLE ucla (admit integer, gre float8, gpa float8, rank integer);
\copy ucla FROM 'data/ucla_admissions/binary.csv' WITH (FORMAT csv, HEADER true)
