// Neo4j Browser: the alignments one model wrote (r.model: 'kgn-align/' and its content
// hash, as `kgn-align train` printed it in "edges_model"), weakest first, to see where it hesitates; pairs
// a person has since rejected are left out.
//   :param model => 'kgn-align/404d427061e1'
//   :param limit => 50
MATCH (a)-[r:SAME_AS]->(b)
WHERE r.model = $model AND coalesce(r.review, '') <> 'rejected'
RETURN a, r, b
ORDER BY r.score ASC
LIMIT $limit
