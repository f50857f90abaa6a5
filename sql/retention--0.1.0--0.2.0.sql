/* retention--0.1.0--0.2.0.sql: update a 0.1.0 installation to 0.2.0.
 *
 * Every change to the extension's SQL made for 0.2.0 is here too, in the
 * commit that makes it; test/upgrade/upgrade.sh checks that an updated
 * database holds exactly the objects of a fresh 0.2.0 install. */

\echo Use "ALTER EXTENSION retention UPDATE TO '0.2.0'" to load this file. \quit

-- churn: logreg_train's elastic net (issue 16)
COMMENT ON AGGREGATE @extschema@.logreg_train(boolean, float8[], jsonb) IS
'logistic regression with options: lambda and l1_ratio (elastic-net penalty lambda ((1 - l1_ratio)/2 ||coef||^2 + l1_ratio ||coef||_1), intercept unpenalised), max_iter, tol, fit_intercept, class_weight, feature_names, max_memory_mb';
