// Preflight: property keys the entities of one side carry (a bounded sample), for "did you
// mean" hints when a configured name property matches nothing.
MATCH (n:{{label}})
WHERE $side_property IS NULL OR n[$side_property] = $side_value
WITH n LIMIT $sample
UNWIND keys(n) AS key
RETURN DISTINCT key
