// Which server and version answers (used once per process to pick the dialect).
CALL dbms.components() YIELD name, versions, edition
RETURN name, versions, edition
