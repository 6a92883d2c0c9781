// Preflight: how many of one side's entities carry a key that is not a string (an integer,
// a float, a list), with a few examples: SAME_AS edges are written and read by string key,
// so such an entity could never be written.
MATCH (n:{{label}})
WHERE ($side_property IS NULL OR n[$side_property] = $side_value)
  AND n.{{key_property}} IS NOT NULL
  AND NOT coalesce(toString(n.{{key_property}}) = n.{{key_property}}, false)
RETURN count(n) AS entities, collect(n.{{key_property}})[..$limit] AS examples
