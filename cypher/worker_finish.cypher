// Record a job's outcome: 'done', 'failed' (permanent), or 'queued' again after a
// transient failure, not before $not_before (epoch milliseconds).
MATCH (j:AlignmentJob {id: $id})
WHERE j.worker = $worker AND j.status = 'running'
SET j.status = $status, j.finishedAt = datetime(), j.result = $result, j.error = $error,
    j.notBefore = $not_before, j.leaseUntil = null
RETURN j.id AS id, j.status AS status
