// Jobs of the kinds this worker runs that another worker holds under a lease: what a
// worker started after a crash waits for (the lease of the dead one runs out first); of its
// scope only, as worker_claim takes them.
MATCH (j:AlignmentJob {status: 'running'})
WHERE j.kind IN $kinds AND coalesce(j.leaseUntil, 0) >= $now
  AND coalesce(j.scope, '') = coalesce($scope, '')
RETURN j.id AS id, j.worker AS worker, j.leaseUntil AS lease_until
ORDER BY lease_until
LIMIT 5
