// Fail alignment jobs whose status no worker knows: none at all, or another spelling
// ('QUEUED'); no worker ever claims them, so they would wait in silence. Run by
// 'kgn-align worker' when idle, at most once a minute (a scan of the job nodes, which housekeeping
// keeps few). $statuses: the statuses workers know. One row per job, with its old status.
MATCH (j:AlignmentJob)
WHERE j.status IS NULL OR NOT j.status IN $statuses
WITH j, j.status AS was
SET j.status = 'failed', j.finishedAt = datetime(), j.leaseUntil = null,
    j.error = CASE WHEN was IS NULL THEN $no_status ELSE $bad_status END
RETURN j.id AS id, j.kind AS kind, was
