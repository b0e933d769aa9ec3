-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d).
-- Each service owns its own database; the services create their tables by migrating on start.
CREATE DATABASE mcp_audit;
CREATE DATABASE mcp_domain;
