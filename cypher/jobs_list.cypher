// Alignment jobs as users see them, the newest request first ($status null: every status).
// Times as text (instant_text makes Neo4j's and ArcadeDB's alike).
MATCH (j:AlignmentJob)
WHERE $status IS NULL OR j.status = $status
RETURN j.id AS id, j.kind AS kind, j.status AS status, j.attempts AS attempts,
       toString(j.requestedAt) AS requested, toString(j.finishedAt) AS finished,
       j.error AS error, j.worker AS worker
ORDER BY j.requestedAt DESC, j.id
LIMIT $limit
