// The worker configurations on graphs whose name starts with $prefix (graph_delete_worker_scopes
// forgets them with those graphs); `seen`: when a worker of each last registered or renewed
// it (epoch milliseconds: hourly while one runs); `stopped`: when one last stopped cleanly
// (null: none has).
MATCH (s:KgnWorkerScope)
WHERE any(g IN s.graphs WHERE g STARTS WITH $prefix)
RETURN s.key AS key, s.name AS name, s.seenMs AS seen, s.stoppedMs AS stopped
ORDER BY name
