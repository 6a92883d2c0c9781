// Relationships of many types inside one graph, in one statement: the type travels in the
// row (Neo4j 5.26+ dynamic types, `$(...)`), so a graph with thousands of relationship
// types is loaded with one query plan instead of one per type. The loader validates every
// type as an identifier first. $rows: [{head, tail, type, relation}] (entity keys;
// relation: the relation's own name where the type differs from it, else null).
UNWIND $rows AS row
MATCH (a:{{head_label}} {graph: $graph, key: row.head})
MATCH (b:{{tail_label}} {graph: $graph, key: row.tail})
MERGE (a)-[r:$(row.type)]->(b)
ON CREATE SET r.kgn_load = $load_id, r.relation = row.relation
RETURN count(r) AS merged
