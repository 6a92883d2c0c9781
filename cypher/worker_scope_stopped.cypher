// A worker of this configuration stopped cleanly (epoch milliseconds): `server stop` does
// not warn of it when no worker of it registered or renewed it since. No row: forgotten.
MATCH (s:KgnWorkerScope {key: $key})
SET s.stoppedMs = $now
RETURN s.key AS key
