// Extend the leases of the jobs this worker holds (a job and those run together with it);
// returns the ones it still holds: one missing is lost to another worker.
UNWIND $ids AS id
MATCH (j:AlignmentJob {id: id})
WHERE j.worker = $worker AND j.status = 'running'
SET j.leaseUntil = $now + $lease_ms
RETURN j.id AS id
