// Create a backfill run, or take over an existing one (a resume): the newest process to
// start owns the run, and an older one still running is stopped at its next checkpoint.
// $settings: what the fingerprint hashes, as JSON (a refused resume names what differs).
MERGE (run:KgnBackfillRun {id: $run_id})
ON CREATE SET run.fingerprint = $fingerprint, run.settings = $settings, run.status = 'running',
              run.batches = 0, run.entities = 0, run.pairs = 0, run.startedAt = datetime()
SET run.owner = CASE WHEN run.fingerprint = $fingerprint THEN $owner ELSE run.owner END,
    run.total = CASE WHEN run.fingerprint = $fingerprint THEN $total ELSE run.total END
RETURN run.fingerprint AS fingerprint, run.settings AS settings, run.status AS status,
       run.cursor AS cursor, run.batches AS batches, run.entities AS entities, run.pairs AS pairs,
       run.owner AS owner
