// Remove one job node (housekeeping).
MATCH (j:AlignmentJob {id: $id})
DETACH DELETE j
RETURN count(*) AS deleted
