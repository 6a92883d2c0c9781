// Record a job's outcome: 'done', 'failed' (permanent), or 'queued' again after a
// transient failure, not before $not_before (epoch milliseconds). A job queued again has
// not finished: no finishedAt. $handed_back: the worker was stopped during the job and gave
// it back (the job did nothing wrong: that try does not count among its attempts).
MATCH (j:AlignmentJob {id: $id})
WHERE j.worker = $worker AND j.status = 'running'
SET j.status = $status, j.result = $result, j.error = $error,
    j.finishedAt = CASE WHEN $status = 'queued' THEN null ELSE datetime() END,
    j.attempts = CASE WHEN $handed_back THEN j.attempts - 1 ELSE j.attempts END,
    j.notBefore = $not_before, j.leaseUntil = null
RETURN j.id AS id, j.status AS status
