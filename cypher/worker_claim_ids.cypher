// Claim the named jobs that are still queued, as worker_claim claims one: the first SET
// takes each node's write lock and the status is checked again after it, so a job another
// worker took meanwhile is left to it. Returns the jobs claimed.
UNWIND $ids AS id
MATCH (j:AlignmentJob {id: id})
WHERE j.status = 'queued'
SET j.claimToken = $token
WITH j
WHERE j.claimToken = $token AND j.status = 'queued'
SET j.status = 'running', j.worker = $worker, j.leaseUntil = $now + $lease_ms,
    j.attempts = coalesce(j.attempts, 0) + 1, j.startedAt = datetime()
RETURN j.id AS id, j.attempts AS attempts
