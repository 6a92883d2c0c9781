// A worker's configuration (its pair of graphs), kept after its workers stop: jobs queued
// with no scope are copied to it (worker_adopt) while its workers ran in the last days, so a
// worker stopped for a while finds the changes made meanwhile. `graphs`: the sides' graph
// names, by which deleting those graphs forgets it (graph_delete_worker_scopes). `first`: no
// worker of it had registered; `others`: the other configurations registered.
OPTIONAL MATCH (known:KgnWorkerScope {key: $key})
WITH known IS NULL AS first
MERGE (s:KgnWorkerScope {key: $key})
ON CREATE SET s.since = datetime()
SET s.name = $name, s.graphs = $graphs, s.seenMs = $now
WITH first, s
OPTIONAL MATCH (other:KgnWorkerScope)
WHERE other.key <> $key
RETURN first, count(other) AS others
