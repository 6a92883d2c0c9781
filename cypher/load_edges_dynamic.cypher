// Relationships of many types inside one graph, in one statement: the type travels in the
// row (Neo4j 5.26+ dynamic types, `$(...)`), so a graph with thousands of relationship
// types is loaded with one query plan instead of one per type. The loader validates every
// type as an identifier first. $rows: [{head, tail, head_id, tail_id, type, relation}]:
// entity keys, their element ids from load_nodes.cypher, the type, and the relation's own
// name where the type differs from it, else null. Ends found and checked as in
// load_edges.cypher (by element id, then checked by graph and key).
UNWIND $rows AS row
MATCH (a) WHERE elementId(a) = row.head_id
MATCH (b) WHERE elementId(b) = row.tail_id
WITH row, a, b
WHERE a.key = row.head AND b.key = row.tail AND a.graph = $graph AND b.graph = $graph
MERGE (a)-[r:$(row.type)]->(b)
ON CREATE SET r.kgn_load = $load_id, r.relation = row.relation
RETURN count(r) AS merged
