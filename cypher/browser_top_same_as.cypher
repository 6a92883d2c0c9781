// Neo4j Browser: the strongest alignments first.
//   :param minScore => 0.9
//   :param limit => 50
MATCH (a)-[r:SAME_AS]->(b)
WHERE r.score >= $minScore
RETURN a, r, b
ORDER BY r.score DESC
LIMIT $limit
