// Preflight: which of $properties some node on one side carries, whatever its label (the
// side's neighbours: authors, artists), for a name property no entity has: the names of
// neighbours are read too. Only for a side selected by a property filter (without one,
// the side holds its label's nodes alone).
UNWIND $properties AS property
OPTIONAL MATCH (n)
WHERE n[$side_property] = $side_value AND n[property] IS NOT NULL
WITH property, count(n) AS nodes
WHERE nodes > 0
RETURN property
