// Neo4j Browser: record a reviewer's verdict on one SAME_AS edge. The model never
// overwrites a reviewed edge, and reviewed edges are training labels for the next run.
//   :param edgeId => '<edgeId from browser_review_queue>'
//   :param review => 'accepted'
//   :param reviewer => 'ana'
MATCH ()-[r:SAME_AS]->()
WHERE elementId(r) = $edgeId AND $review IN ['accepted', 'rejected']
SET r.review = $review, r.reviewedBy = $reviewer, r.reviewedAt = datetime()
RETURN elementId(r) AS edgeId, r.review AS review, r.score AS score
