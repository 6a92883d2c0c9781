// Fail alignment jobs whose status no worker knows: none at all, or another spelling
// ('QUEUED'), and waiting jobs without a string id (a node made by hand: no worker claims
// them, as their outcome could not be recorded); they would wait in silence. Run by
// 'kgn-align worker' when idle, at most once a minute (a scan of the job nodes, which housekeeping
// keeps few). $statuses: the statuses workers know. One row per job, with its old status and
// whether it has a string id.
MATCH (j:AlignmentJob)
WITH j, coalesce(j.id = toString(j.id), false) AS named
WHERE j.status IS NULL OR NOT j.status IN $statuses
   OR (j.status IN ['queued', 'running'] AND NOT named)
WITH j, j.status AS was, named
SET j.status = 'failed', j.finishedAt = datetime(), j.leaseUntil = null,
    j.error = CASE WHEN NOT named THEN $no_id WHEN was IS NULL THEN $no_status ELSE $bad_status END
RETURN j.id AS id, j.kind AS kind, was, named
