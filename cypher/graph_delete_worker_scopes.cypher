// The worker configurations on graphs whose name starts with $prefix, and the jobs queued
// for them alone (deleted with those graphs: no worker of them would run the jobs).
MATCH (s:KgnWorkerScope)
WHERE any(g IN s.graphs WHERE g STARTS WITH $prefix)
WITH s, s.key AS key
DETACH DELETE s
WITH DISTINCT key
MATCH (j:AlignmentJob {scope: key})
WHERE j.status = 'queued'
DETACH DELETE j
RETURN count(*) AS deleted
