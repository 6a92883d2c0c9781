// Keys, names and labels of one side's entities, for the name-similarity scorer.
// $name_properties: property names tried in order (values, not query text).
MATCH (n:{{label}})
WHERE n.{{property}} = coalesce($value, n.{{property}})
RETURN n.{{key}} AS key, [p IN $name_properties | n[p]] AS names, labels(n) AS labels
ORDER BY key
