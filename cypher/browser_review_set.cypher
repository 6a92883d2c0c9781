// Neo4j Browser: record a reviewer's verdict on one SAME_AS edge. The model never
// overwrites a reviewed edge, and reviewed edges are training labels for the next run.
//   :param edgeId => '<edgeId from browser_review_queue>'
//   :param review => 'accepted'
//   :param reviewer => 'ana'
// Always one row: outcome 'recorded', or what was wrong (then nothing is changed).
OPTIONAL MATCH ()-[r:SAME_AS]->()
WHERE elementId(r) = $edgeId
WITH r, $review IN ['accepted', 'rejected'] AS valid
FOREACH (_ IN CASE WHEN r IS NOT NULL AND valid THEN [1] ELSE [] END |
  SET r.review = $review, r.reviewedBy = $reviewer, r.reviewedAt = datetime())
RETURN CASE
         WHEN NOT valid THEN "not recorded: review must be 'accepted' or 'rejected'"
         WHEN r IS NULL THEN 'not recorded: no SAME_AS edge has this edgeId'
         ELSE 'recorded'
       END AS outcome,
       elementId(r) AS edgeId, r.review AS review, r.score AS score
