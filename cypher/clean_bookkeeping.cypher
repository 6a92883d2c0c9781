// kgn-align clean: delete up to $limit of kgn-align's bookkeeping nodes: backfill run
// progress, and alignment jobs that are finished (queued and running jobs stay).
MATCH (n)
WHERE n:KgnBackfillRun OR (n:AlignmentJob AND n.status IN ['done', 'failed'])
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
