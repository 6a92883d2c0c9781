// Ask the kgn-align worker for an alignment job, from plain Cypher (no plugin needed).
//   $kind:   what to do, e.g. 'backfill' or 'changed'
//   $params: a JSON string with the job's options (threshold, policy, run_id, k; see
//            plugin/README.md), e.g. '{"threshold": 0.6}'
// Returns the job id; watch it with MATCH (j:AlignmentJob {id: $id}) RETURN j.status.
CREATE (j:AlignmentJob {
  id: randomUUID(),
  kind: $kind,
  status: 'queued',
  params: $params,
  requestedAt: datetime(),
  attempts: 0
})
RETURN j.id AS id
