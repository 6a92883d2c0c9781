// APOC trigger (APOC Core 5.x): queue an alignment job whenever entity nodes are created,
// get a label, have a property set or removed, or gain a relationship (both ends count: a
// new link changes both neighbourhoods), or a SAME_AS edge's review is set or removed (both
// ends: a verdict frees or takes them), so the kgn-align worker re-aligns just what they
// touch. Unlike the plugin's change capture, it does not see deleted relationships (their
// ends cannot be read after the commit, when 'afterAsync' runs): prefer the plugin.
//
// Needs apoc.trigger.enabled=true (apoc.conf, or APOC_TRIGGER_ENABLED=true in the
// environment: docker-compose.yml sets it). Trigger procedures run on the system database
// and take the target database ('neo4j' below; change it if yours differs):
//   cypher-shell -u neo4j -d system -f plugin/apoc_triggers.cypher
// Installing is eventually consistent (apoc.trigger.refresh, default 60 s). Re-running
// replaces the trigger; remove it with CALL apoc.trigger.drop('neo4j', 'kgn_align_changes').
//
// The job: (:AlignmentJob {kind: 'changed', params: '{"nodeIds": [...], "total": n}'}) with
// the element ids of the changed nodes (at most 10,000 per transaction; "total" says how
// many changed, so a worker can fall back to a scan when it is larger). Ignored, so that the
// worker's own writes and bookkeeping (and this trigger's CREATE) never queue further jobs:
// AlignmentJob, KgnBackfillRun and KgnWorkerScope nodes, SAME_AS relationships, and the
// sampler's kgnHash property (edit SAME_AS in both places if your config names another
// same_as_type), and every transaction kgn-align runs itself (its transaction metadata says
// app: 'kgn-align').
// 'afterAsync' runs after the commit, in its own transaction: a failing trigger never rolls
// back the user's write nor fails the client ('after' would: the client gets an error for a
// committed write). The price: APOC drops an async run now and then, silently (about 1 in
// 100 of quick successive writes to one node on Neo4j 5.26 + APOC 5.26; the plugin's
// change capture missed none of 450): a job the worker never sees. Another reason to
// prefer the plugin, or to run a backfill now and then.
CALL apoc.trigger.install(
  'neo4j',
  'kgn_align_changes',
  'WITH $metaData AS meta
   WHERE coalesce(meta.app, "") <> "kgn-align"
   UNWIND $createdNodes
     + reduce(acc = [], k IN [p IN keys($assignedNodeProperties) WHERE p <> "kgnHash"] |
              acc + [c IN $assignedNodeProperties[k] | c.node])
     + reduce(acc = [], k IN [p IN keys($removedNodeProperties) WHERE p <> "kgnHash"] |
              acc + [c IN $removedNodeProperties[k] | c.node])
     + reduce(acc = [], l IN keys($assignedLabels) | acc + $assignedLabels[l])
     + [r IN $createdRelationships WHERE type(r) <> "SAME_AS" | startNode(r)]
     + [r IN $createdRelationships WHERE type(r) <> "SAME_AS" | endNode(r)]
     + reduce(acc = [], c IN coalesce($assignedRelationshipProperties["review"], [])
                             + coalesce($removedRelationshipProperties["review"], []) |
              acc + CASE WHEN type(c.relationship) = "SAME_AS"
                         THEN [startNode(c.relationship), endNode(c.relationship)] ELSE [] END) AS n
   WITH n
   WHERE NOT n:AlignmentJob AND NOT n:KgnBackfillRun AND NOT n:KgnWorkerScope
   WITH collect(DISTINCT elementId(n)) AS nodeIds
   WHERE size(nodeIds) > 0
   CREATE (:AlignmentJob {
     id: randomUUID(),
     kind: "changed",
     status: "queued",
     params: apoc.convert.toJson({nodeIds: nodeIds[..10000], total: size(nodeIds)}),
     requestedAt: datetime(),
     attempts: 0,
     capturedBy: "apoc-trigger"
   })',
  {phase: 'afterAsync'},
  {}
);
