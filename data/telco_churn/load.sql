-- data/telco_churn/load.sql: the IBM Telco churn data as table "telco" and the
-- one-hot feature view "telco_features" (run with psql from the repository root).
--
-- The encoding is the one the independent references (R glm, scikit-learn and
-- an exact Newton solve) were computed with: every CSV column read as text, an
-- identity column recording file order, the 11 rows with a blank TotalCharges
-- dropped (7,032 rows remain), 23 features with the reference levels DSL,
-- Month-to-month and Bank transfer (automatic), and a holdout of every fifth row.
CREATE TABLE telco (
  file_row          bigint GENERATED ALWAYS AS IDENTITY,  -- 1..7043 in file order
  "customerID" text, gender text, "SeniorCitizen" text, "Partner" text, "Dependents" text,
  tenure text, "PhoneService" text, "MultipleLines" text, "InternetService" text,
  "OnlineSecurity" text, "OnlineBackup" text, "DeviceProtection" text, "TechSupport" text,
  "StreamingTV" text, "StreamingMovies" text, "Contract" text, "PaperlessBilling" text,
  "PaymentMethod" text, "MonthlyCharges" text, "TotalCharges" text, "Churn" text);

\copy telco ("customerID",gender,"SeniorCitizen","Partner","Dependents",tenure,"PhoneService","MultipleLines","InternetService","OnlineSecurity","OnlineBackup","DeviceProtection","TechSupport","StreamingTV","StreamingMovies","Contract","PaperlessBilling","PaymentMethod","MonthlyCharges","TotalCharges","Churn") FROM PROGRAM 'gzip -dc data/telco_churn/Telco-Customer-Churn.csv.gz' WITH (FORMAT csv, HEADER true)

CREATE VIEW telco_features AS
SELECT
  "customerID"                                              AS customer_id,
  row_number() OVER (ORDER BY file_row)                     AS rn,        -- 1..7032 after dropping blanks
  (row_number() OVER (ORDER BY file_row)) % 5 = 0           AS is_test,   -- holdout: rn divisible by 5
  ("Churn" = 'Yes')::int                                    AS churn,     -- label
  (gender = 'Male')::int                                    AS gender_male,
  "SeniorCitizen"::int                                      AS senior_citizen,
  ("Partner" = 'Yes')::int                                  AS partner,
  ("Dependents" = 'Yes')::int                               AS dependents,
  tenure::int                                               AS tenure,
  ("PhoneService" = 'Yes')::int                             AS phone_service,
  ("MultipleLines" = 'Yes')::int                            AS multiple_lines,
  ("InternetService" = 'Fiber optic')::int                  AS internet_fiber,   -- reference level: DSL
  ("InternetService" = 'No')::int                           AS internet_none,
  ("OnlineSecurity" = 'Yes')::int                           AS online_security,
  ("OnlineBackup" = 'Yes')::int                             AS online_backup,
  ("DeviceProtection" = 'Yes')::int                         AS device_protection,
  ("TechSupport" = 'Yes')::int                              AS tech_support,
  ("StreamingTV" = 'Yes')::int                              AS streaming_tv,
  ("StreamingMovies" = 'Yes')::int                          AS streaming_movies,
  ("Contract" = 'One year')::int                            AS contract_one_year, -- reference: Month-to-month
  ("Contract" = 'Two year')::int                            AS contract_two_year,
  ("PaperlessBilling" = 'Yes')::int                         AS paperless_billing,
  ("PaymentMethod" = 'Credit card (automatic)')::int        AS pay_credit_card,   -- reference: Bank transfer (automatic)
  ("PaymentMethod" = 'Electronic check')::int               AS pay_electronic_check,
  ("PaymentMethod" = 'Mailed check')::int                   AS pay_mailed_check,
  "MonthlyCharges"::float8                                  AS monthly_charges,
  "TotalCharges"::float8                                    AS total_charges
FROM telco
WHERE btrim("TotalCharges") <> '';
