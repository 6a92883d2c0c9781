// Checkpoint of one batch, committed in the same transaction as the batch's edges and run
// before them. The first SET takes the write lock on the run node; if another process has
// taken the run over or moved it on since this one read it, or the run's node is gone
// (kgn-align clean --bookkeeping), the division by zero aborts the whole transaction, so
// none of this batch's edges land. $keys_digest: the digest of every source key written so
// far, this batch's included (a resume checks the keys at or before the cursor against it);
// keysDigestAt names the cursor it belongs to (a version that keeps no digest moves the
// cursor alone: the digest is then not compared).
OPTIONAL MATCH (run:KgnBackfillRun {id: $run_id})
SET run.heartbeatAt = datetime()
WITH run,
     1 / CASE WHEN run IS NOT NULL AND run.owner = $owner AND run.batches = $batches THEN 1 ELSE 0 END AS guard
SET run.cursor = $cursor, run.batches = run.batches + guard,
    run.entities = run.entities + $entities, run.pairs = run.pairs + $pairs,
    run.keysDigest = $keys_digest, run.keysDigestAt = $cursor, run.updatedAt = datetime(), run.touchedMs = $now
RETURN run.batches AS batches
