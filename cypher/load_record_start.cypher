// A load in progress: kept until the load completes (or its rollback does), so that
// 'kgn-align check' can say a graph was left half-loaded (a load killed, or its rollback
// interrupted). $graphs: the `graph` values the load writes.
CREATE (:KgnLoad {id: $load_id, dataset: $dataset, graphs: $graphs, startedAt: datetime()})
RETURN $load_id AS id
