// Jobs queued with no scope (by change capture, the APOC trigger or kgn.requestAlignment: they
// name no pair of graphs) are every worker configuration's. A worker of configuration $scope
// adopts those of its kinds and queues a copy of each for every other configuration whose
// workers ran since $since (KgnWorkerScope, worker_scope_register), in one transaction: each
// configuration re-aligns what the change moves on its own graphs. As in worker_claim, the
// first SET takes the node's write lock and the condition is checked again after it, so two
// workers never both adopt a job.
// A job claimed without a scope whose lease ran out (its worker died) is adopted too. A job
// whose params name a run_id is adopted and not copied: the run it names is one
// configuration's (copies failed on every other: "run ... was started with other settings").
MATCH (j:AlignmentJob)
WHERE j.scope IS NULL AND j.kind IN $kinds AND j.id = toString(j.id)  // as worker_claim
  AND (j.status = 'queued' OR (j.status = 'running' AND coalesce(j.leaseUntil, 0) < $now))
WITH j ORDER BY j.requestedAt, j.id LIMIT $limit
SET j.adoptToken = $token
WITH j
WHERE j.adoptToken = $token AND j.scope IS NULL
  AND (j.status = 'queued' OR (j.status = 'running' AND coalesce(j.leaseUntil, 0) < $now))
SET j.scope = $scope
WITH j
// a job naming a run id is one run's, and a run is one configuration's: not copied
WHERE NOT coalesce(j.params, '') CONTAINS '"run_id"'
MATCH (s:KgnWorkerScope)
WHERE s.key <> $scope AND s.seenMs >= $since
MERGE (copy:AlignmentJob {id: j.id + '.' + s.key})
ON CREATE SET copy.kind = j.kind, copy.params = j.params, copy.status = 'queued',  // a fresh try
              copy.requestedAt = j.requestedAt, copy.attempts = 0, copy.scope = s.key,
              copy.copyOf = j.id, copy.capturedBy = j.capturedBy
RETURN count(copy) AS copies
