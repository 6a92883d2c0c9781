// Relationships of one type inside one graph. $rows: [{head, tail, head_id, tail_id,
// relation}]: entity keys, the element ids load_nodes.cypher returned for them in this
// load, and the relation's own name where the type differs from it, else null.
// Each end is found by its element id (a direct lookup; two index seeks a row were most of
// a load's server time) and then checked to be that entity by its graph and key: an
// element id may be reused once its node is deleted, so a stale one matches nothing here.
// The label is not checked (it costs ~5 % of the load): a reused id would have to land on
// a node of the same graph and key. No label or key in the pattern: with one the planner
// prefers the (graph, key) index seek again.
UNWIND $rows AS row
MATCH (a) WHERE elementId(a) = row.head_id
MATCH (b) WHERE elementId(b) = row.tail_id
WITH row, a, b
WHERE a.key = row.head AND b.key = row.tail AND a.graph = $graph AND b.graph = $graph
MERGE (a)-[r:{{type}}]->(b)
ON CREATE SET r.kgn_load = $load_id, r.relation = row.relation
RETURN count(r) AS merged
