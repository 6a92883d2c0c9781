// Preflight: keys that more than one entity of a side carries (they must be unique per side:
// edges are written by key). At most $limit examples, most copies first.
MATCH (n:{{label}})
WHERE ($side_property IS NULL OR n[$side_property] = $side_value) AND n.{{key_property}} IS NOT NULL
WITH n.{{key_property}} AS key, count(*) AS copies
WHERE copies > 1
RETURN key, copies
ORDER BY copies DESC, key
LIMIT $limit
