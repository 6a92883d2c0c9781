// Preflight: values the side's filter property takes on nodes with its label (a bounded
// sample), for a hint when label and filter together match nothing (a graph loaded with
// another --prefix, a value differing in case).
MATCH (n:{{label}})
WHERE n[$side_property] IS NOT NULL
WITH n LIMIT $sample
RETURN DISTINCT toString(n[$side_property]) AS value
LIMIT $limit
