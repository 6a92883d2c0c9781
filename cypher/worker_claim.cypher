// Claim the oldest claimable job of a kind this worker handles: queued and due, or running
// under an expired lease (its worker died). The first SET takes the node's write lock;
// the condition is checked again after it, so two workers never both win the same job.
// `was`: the status before the claim ('running': taken over from a worker that died).
// $scope: the worker's configuration (worker_adopt); a worker without one (the library's
// Worker, given none) takes the jobs no configuration adopted.
// A job without a string id (a node made by hand) is never claimed: its outcome could not be
// recorded; an idle worker fails it (worker_fail_bad_status).
MATCH (j:AlignmentJob)
WHERE j.kind IN $kinds AND coalesce(j.scope, '') = coalesce($scope, '')
  AND j.id = toString(j.id)
  AND ((j.status = 'queued' AND coalesce(j.notBefore, 0) <= $now)
       OR (j.status = 'running' AND coalesce(j.leaseUntil, 0) < $now))
WITH j ORDER BY j.requestedAt, j.id LIMIT 1
SET j.claimToken = $token
WITH j
WHERE j.claimToken = $token
  AND ((j.status = 'queued' AND coalesce(j.notBefore, 0) <= $now)
       OR (j.status = 'running' AND coalesce(j.leaseUntil, 0) < $now))
WITH j, j.status AS was
SET j.status = 'running', j.worker = $worker, j.leaseUntil = $now + $lease_ms,
    j.attempts = coalesce(j.attempts, 0) + 1, j.startedAt = datetime()
RETURN j.id AS id, j.kind AS kind, j.params AS params, j.attempts AS attempts, was
