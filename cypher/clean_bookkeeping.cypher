// kgn-align clean: delete up to $limit of kgn-align's bookkeeping nodes: backfill run
// progress, and alignment jobs that are finished (queued and running jobs stay). A run
// still 'running' that a process touched (started, took over or checkpointed) since
// $active_since (epoch milliseconds) stays too: it may be writing now.
MATCH (n)
WHERE (n:KgnBackfillRun AND NOT (n.status = 'running' AND coalesce(n.touchedMs, 0) >= $active_since))
   OR (n:AlignmentJob AND n.status IN ['done', 'failed'])
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
