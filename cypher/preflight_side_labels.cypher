// Preflight: the labels the nodes of one side carry (the side's label, or every node with
// the side's property value: its entities' neighbours too), to check entity_labels.
MATCH (n)
WHERE CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
UNWIND labels(n) AS label
RETURN DISTINCT label
