// Neo4j Browser: clusters of SAME_AS, i.e. connected components over edges a reviewer
// accepted or scored at least $minScore and not rejected, largest first. A cluster with two entities from
// the same graph usually holds a wrong edge. Paths are capped at 6 hops to stay cheap.
//   :param minScore => 0.5
//   :param limit => 25
MATCH (n)-[s:SAME_AS]-()
WHERE (s.review = 'accepted' OR s.score >= $minScore AND coalesce(s.review, '') <> 'rejected')
WITH DISTINCT n
MATCH (n) (()-[r:SAME_AS WHERE r.review = 'accepted'
                           OR r.score >= $minScore AND coalesce(r.review, '') <> 'rejected']-()){0,6} (m)
WITH n, collect(DISTINCT m) AS members
// One row per cluster: the member with the smallest element id speaks for it.
WHERE all(x IN members WHERE elementId(n) <= elementId(x))
RETURN size(members) AS size, members
ORDER BY size DESC
LIMIT $limit
