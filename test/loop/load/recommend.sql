-- ten recommendations for a user who has seen three items
\set a random(1, 200)
\set b random(1, 200)
\set c random(1, 200)
SELECT * FROM retention.recommend(retention.item_knn_load('default_item_knn'), ARRAY[:a, :b, :c]::bigint[], 10);
