// Preflight: nodes selected by both sides' definitions (both labels and both filters): such
// a node would be aligned with itself. Returns how many, and up to $limit of their keys.
MATCH (n:{{source_label}}:{{target_label}})
WHERE ($source_property IS NULL OR n[$source_property] = $source_value)
  AND ($target_property IS NULL OR n[$target_property] = $target_value)
WITH n.{{key_property}} AS key
RETURN count(*) AS nodes, collect(key)[..$limit] AS keys
