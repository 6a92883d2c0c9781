// Known pairs (training labels) as reviewed SAME_AS edges; a person's later review wins.
// $rows: [{source, target, review}] with review 'accepted' or 'rejected'.
UNWIND $rows AS row
MATCH (a:{{source_label}} {graph: $source_graph, key: row.source})
MATCH (b:{{target_label}} {graph: $target_graph, key: row.target})
MERGE (a)-[r:{{same_as}}]->(b)
ON CREATE SET r.review = row.review, r.source = $origin, r.kgn_load = $load_id,
              r.createdAt = datetime(), r.updatedAt = datetime()
RETURN count(r) AS merged
