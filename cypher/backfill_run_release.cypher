// A process that stops its backfill run cleanly (Ctrl-C, SIGTERM: nothing half-written) lets
// the run go: the next process to resume it is not told that another may still be writing
// it, and `clean --bookkeeping` need not wait for it. A run another process took over
// (another owner) is left as it is.
MATCH (run:KgnBackfillRun {id: $run_id})
WHERE run.owner = $owner AND run.status = 'running'
SET run.touchedMs = null
RETURN run.id AS id
