// When a worker of one configuration last registered or renewed it (epoch milliseconds:
// hourly while one runs), and when one last stopped cleanly (null: none has); no row: no
// worker of it ever ran, or it was forgotten.
MATCH (s:KgnWorkerScope {key: $key})
RETURN s.name AS name, s.seenMs AS seen, s.stoppedMs AS stopped
