// Extend the lease of a job this worker holds; returns nothing if it lost the job.
MATCH (j:AlignmentJob {id: $id})
WHERE j.worker = $worker AND j.status = 'running'
SET j.leaseUntil = $now + $lease_ms
RETURN j.id AS id
