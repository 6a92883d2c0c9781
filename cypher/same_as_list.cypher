// SAME_AS edges between graphs whose names start with $prefix (for checks and tests).
MATCH (a)-[r:SAME_AS]->(b)
WHERE a.graph STARTS WITH $prefix
RETURN a.key AS source, b.key AS target, r.review AS review, r.source AS origin, r.score AS score
