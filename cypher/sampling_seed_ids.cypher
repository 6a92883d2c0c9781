// The element ids of seeds given by key, for sampling without a stored hash (then
// sampling_candidates reads their candidates). Seeds carry the side's label and pass its
// property filter, as in sampling_trees.cypher.
UNWIND $keys AS key
MATCH (x:{{label}})
WHERE x.{{key_property}} = key
  AND ($side_property IS NULL OR x[$side_property] = $side_value)
RETURN key, elementId(x) AS id
