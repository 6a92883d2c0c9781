// Fail queued jobs of a kind no kgn-align worker runs, saying why, so that they never wait
// forever (run by 'kgn-align worker', which knows every kind: $kinds). One row per job.
MATCH (j:AlignmentJob {status: 'queued'})
WHERE j.kind IS NULL OR NOT j.kind IN $kinds
SET j.status = 'failed', j.finishedAt = datetime(), j.leaseUntil = null,
    j.error = 'unknown job kind ' + coalesce('\'' + j.kind + '\'', '(none)') + ' (known: '
              + reduce(s = '', k IN $kinds | s + CASE s WHEN '' THEN '' ELSE ', ' END + k) + ')'
RETURN j.id AS id, j.kind AS kind
