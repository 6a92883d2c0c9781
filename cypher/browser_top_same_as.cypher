// Neo4j Browser: the strongest alignments first: pairs a person accepted (scored or not:
// seed pairs carry no score) count as 1.0; pairs a person rejected are left out.
//   :param minScore => 0.9
//   :param limit => 50
MATCH (a)-[r:SAME_AS]->(b)
WITH a, r, b, CASE WHEN r.review = 'accepted' THEN 1.0 ELSE r.score END AS strength
WHERE strength >= $minScore AND coalesce(r.review, '') <> 'rejected'
RETURN a, r, b
ORDER BY strength DESC
LIMIT $limit
