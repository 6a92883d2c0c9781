// Relationships of one type inside one graph. $rows: [{head, tail, relation}] (entity keys;
// relation: the relation's own name where the type differs from it, else null).
UNWIND $rows AS row
MATCH (a:{{head_label}} {graph: $graph, key: row.head})
MATCH (b:{{tail_label}} {graph: $graph, key: row.tail})
MERGE (a)-[r:{{type}}]->(b)
ON CREATE SET r.kgn_load = $load_id, r.relation = row.relation
RETURN count(r) AS merged
