// A running worker's configuration seen again (hourly): renewed, not re-created, so that one
// forgotten with its graphs (graph_delete_worker_scopes) stays forgotten. No row: forgotten.
MATCH (s:KgnWorkerScope {key: $key})
SET s.seenMs = $now
RETURN s.key AS key
