// An index on the key alone, so sampling_trees finds its seeds by key without scanning
// (the loader's (graph, key) uniqueness constraint cannot serve a key-only lookup).
CREATE INDEX {{name}} IF NOT EXISTS
FOR (n:{{label}}) ON (n.{{key_property}})
