// Entities of one graph and one label. $rows: [{key, props: {name, ...}}].
UNWIND $rows AS row
MERGE (n:{{label}} {graph: $graph, key: row.key})
ON CREATE SET n.kgn_load = $load_id
SET n += row.props
RETURN count(n) AS merged
