// Alignment jobs as users see them, the newest request first ($status null: every status),
// each with the worker configuration it is for (scope: a KgnWorkerScope's key; null: every
// configuration's, not adopted yet). Times as text (instant_text makes Neo4j's and
// ArcadeDB's alike).
MATCH (j:AlignmentJob)
WHERE $status IS NULL OR j.status = $status
WITH j
ORDER BY j.requestedAt DESC, j.id
LIMIT $limit
OPTIONAL MATCH (s:KgnWorkerScope {key: j.scope})
RETURN j.id AS id, j.kind AS kind, j.status AS status, j.attempts AS attempts,
       toString(j.requestedAt) AS requested, toString(j.finishedAt) AS finished,
       j.error AS error, j.worker AS worker, j.scope AS scope, s.name AS configuration
ORDER BY j.requestedAt DESC, j.id
