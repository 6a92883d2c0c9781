// How many nodes, and which graph names, lie under a folder of graph names ($prefix): what
// `kgn-align load remove` deletes.
MATCH (n)
WHERE n.graph STARTS WITH $prefix
RETURN count(n) AS nodes, collect(DISTINCT n.graph)[..10] AS graphs
