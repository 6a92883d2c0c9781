// Neo4j Browser: the alignments one model wrote (r.model is its name and content hash),
// weakest first, to see where it hesitates.
//   :param model => 'cg-mualign@3f2a9c1e'
//   :param limit => 50
MATCH (a)-[r:SAME_AS]->(b)
WHERE r.model = $model
RETURN a, r, b
ORDER BY r.score ASC
LIMIT $limit
