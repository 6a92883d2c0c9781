// Nodes of one label in one graph, and the relationships between nodes of that graph.
MATCH (n:{{label}})
WHERE n.graph = $graph
RETURN count(n) AS nodes, sum(COUNT { (n)-->(m) WHERE m.graph = $graph }) AS relationships
