// Create a backfill run, or take over an existing one (a resume): the newest process to
// start owns the run, and an older one still running is stopped at its next checkpoint.
// $settings: what the fingerprint hashes, as JSON (a refused resume names what differs).
// `touched`: when a process last started, took over or checkpointed the run before this
// one (epoch milliseconds; null for a new run): recent, it may still be writing; `was`:
// the owner it had (a process that could not let it go names itself so).
MERGE (run:KgnBackfillRun {id: $run_id})
ON CREATE SET run.fingerprint = $fingerprint, run.settings = $settings, run.status = 'running',
              run.batches = 0, run.entities = 0, run.pairs = 0, run.startedAt = datetime(),
              run.wholeSide = $whole_side
WITH run, run.touchedMs AS touched, run.owner AS was
SET run.owner = CASE WHEN run.fingerprint = $fingerprint THEN $owner ELSE run.owner END,
    run.total = CASE WHEN run.fingerprint = $fingerprint THEN $total ELSE run.total END,
    run.touchedMs = CASE WHEN run.fingerprint = $fingerprint THEN $now ELSE run.touchedMs END
RETURN run.fingerprint AS fingerprint, run.settings AS settings, run.status AS status,
       run.cursor AS cursor, run.batches AS batches, run.entities AS entities, run.pairs AS pairs,
       run.owner AS owner, run.keysDigest AS keys_digest, run.keysDigestAt AS keys_digest_at, touched, was
