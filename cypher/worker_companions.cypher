// Queued and due jobs of one kind, oldest first: those a worker may run together with the
// one it just claimed (captured changes: one re-alignment of all their nodes). A read; the
// worker claims the ones it takes with worker_claim_ids.
MATCH (j:AlignmentJob)
WHERE j.kind = $kind AND j.status = 'queued' AND coalesce(j.notBefore, 0) <= $now
  AND coalesce(j.scope, '') = coalesce($scope, '') AND j.id = toString(j.id)  // as worker_claim
RETURN j.id AS id, j.params AS params
ORDER BY j.requestedAt, j.id
LIMIT $limit
