// Entities of one graph and one label. $rows: [{key, props: {name, ...}}].
// Returns each node's element id: the relationship batches that follow find their ends by
// it (load_edges*.cypher), a direct lookup instead of an index seek per end.
UNWIND $rows AS row
MERGE (n:{{label}} {graph: $graph, key: row.key})
ON CREATE SET n.kgn_load = $load_id
SET n += row.props
RETURN collect([row.key, elementId(n)]) AS ids
