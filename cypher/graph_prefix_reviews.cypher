// How many relationships a person reviewed (r.review set) go out of nodes under a folder of
// graph names ($prefix), less the seed pairs a load wrote (r.kgn_load set): the reviews
// `kgn-align load remove` deletes for good (a reload brings back the seed pairs only).
MATCH (a)-[r]->()
WHERE a.graph STARTS WITH $prefix AND r.review IS NOT NULL AND r.kgn_load IS NULL
RETURN count(r) AS reviews
