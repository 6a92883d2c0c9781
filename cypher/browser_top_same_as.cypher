// Neo4j Browser: the strongest alignments first (pairs a person rejected are left out).
//   :param minScore => 0.9
//   :param limit => 50
MATCH (a)-[r:SAME_AS]->(b)
WHERE r.score >= $minScore AND coalesce(r.review, '') <> 'rejected'
RETURN a, r, b
ORDER BY r.score DESC
LIMIT $limit
