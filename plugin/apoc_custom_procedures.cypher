// custom.kgnAlign.requestJob(kind, params) :: (id): the job request of request_job.cypher as
// a procedure. Needs APOC *Extended* (apoc.custom.* is not in APOC Core; in Docker add
// "apoc-extended" to NEO4J_PLUGINS). Runs on the system database for database 'neo4j':
//   cypher-shell -u neo4j -d system -f plugin/apoc_custom_procedures.cypher
// then, on 'neo4j' (after apoc.custom.procedures.refresh, default 60 s):
//   CALL custom.kgnAlign.requestJob('backfill', '{}') YIELD id RETURN id
CALL apoc.custom.installProcedure(
  'kgnAlign.requestJob(kind :: STRING, params :: STRING) :: (id :: STRING)',
  'CREATE (j:AlignmentJob {
     id: randomUUID(),
     kind: $kind,
     status: "queued",
     params: $params,
     requestedAt: datetime(),
     attempts: 0
   })
   RETURN j.id AS id',
  'neo4j',
  'write',
  'Queue a kgn-align alignment job ($params: a JSON string); returns the job id.'
);
