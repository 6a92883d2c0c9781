// Neo4j Browser: edges awaiting review (no r.review yet) in a score band, the most
// uncertain (closest to 0.5) first. Accept or reject one with browser_review_set.cypher.
// $model: one model's edges (as r.model says: 'kgn-align/<hash>', the "edges_model" that
// kgn-align train printed): one pair of graphs where a server holds several; null: every model's.
//   :param minScore => 0.3
//   :param maxScore => 0.9
//   :param model => null
//   :param limit => 50
MATCH (a)-[r:SAME_AS]->(b)
WHERE r.review IS NULL AND $minScore <= r.score <= $maxScore
  AND ($model IS NULL OR r.model = $model)
RETURN elementId(r) AS edgeId, a, r, b
ORDER BY abs(r.score - 0.5) ASC
LIMIT $limit
