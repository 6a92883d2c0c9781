// Preflight: labels in use, for "did you mean" hints when a configured label matches nothing.
// Looks at a bounded sample of nodes so that it stays cheap on a large graph.
MATCH (n)
WITH n LIMIT $sample
UNWIND labels(n) AS label
RETURN DISTINCT label
