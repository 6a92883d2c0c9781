// Preflight: for each of $properties (name or attribute properties), how many entities of
// one side have it non-empty.
UNWIND $properties AS property
OPTIONAL MATCH (n:{{label}})
WHERE ($side_property IS NULL OR n[$side_property] = $side_value)
  AND n[property] IS NOT NULL AND trim(toString(n[property])) <> ''
RETURN property, count(n) AS entities
