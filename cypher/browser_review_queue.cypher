// Neo4j Browser: edges awaiting review (no r.review yet) in a score band, the most
// uncertain (closest to 0.5) first. Accept or reject one with browser_review_set.cypher.
//   :param minScore => 0.3
//   :param maxScore => 0.9
//   :param limit => 50
MATCH (a)-[r:SAME_AS]->(b)
WHERE r.review IS NULL AND $minScore <= r.score <= $maxScore
RETURN elementId(r) AS edgeId, a, r, b
ORDER BY abs(r.score - 0.5) ASC
LIMIT $limit
