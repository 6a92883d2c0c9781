// Fail alignment jobs that have no status (made by hand without one): no worker ever claims
// them, so they would wait in silence. Run by 'kgn-align worker' when idle, at most hourly
// (a scan of the job nodes, which housekeeping keeps few). One row per job.
MATCH (j:AlignmentJob)
WHERE j.status IS NULL
SET j.status = 'failed', j.finishedAt = datetime(), j.error = $error
RETURN j.id AS id, j.kind AS kind
