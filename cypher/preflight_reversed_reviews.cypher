// Preflight: reviewed SAME_AS edges that point from the target side to the source side
// (kgn-align reads reviews from source to target: many such edges mean the sides are
// swapped), next to those that point the configured way.
OPTIONAL MATCH (b:{{target_label}})-[r:{{same_as}}]->(a:{{source_label}})
WHERE r.review IS NOT NULL
  AND ($source_property IS NULL OR a[$source_property] = $source_value)
  AND ($target_property IS NULL OR b[$target_property] = $target_value)
WITH count(r) AS reversed
OPTIONAL MATCH (a:{{source_label}})-[r:{{same_as}}]->(b:{{target_label}})
WHERE r.review IS NOT NULL
  AND ($source_property IS NULL OR a[$source_property] = $source_value)
  AND ($target_property IS NULL OR b[$target_property] = $target_value)
RETURN reversed, count(r) AS forward
