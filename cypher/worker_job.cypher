// One job as users see it (finishedAt as text, null while it has not finished).
MATCH (j:AlignmentJob {id: $id})
RETURN j.id AS id, j.kind AS kind, j.status AS status, j.attempts AS attempts,
       j.result AS result, j.error AS error, j.worker AS worker,
       toString(j.finishedAt) AS finishedAt
