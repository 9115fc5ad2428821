-- Nova host aggregates (os-aggregates) (sqlite; keep in step with the file of
-- the same name for postgres). metadata is a JSON object of strings;
-- availability_zone repeats its "availability_zone" key so a host's zone is
-- one join away. Times in microseconds since the Unix epoch.
CREATE TABLE compute_aggregates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    metadata TEXT NOT NULL,
    availability_zone TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE TABLE compute_aggregate_hosts (
    aggregate_id BIGINT NOT NULL REFERENCES compute_aggregates (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (aggregate_id, host)
);
CREATE INDEX compute_aggregate_hosts_host ON compute_aggregate_hosts (host);
