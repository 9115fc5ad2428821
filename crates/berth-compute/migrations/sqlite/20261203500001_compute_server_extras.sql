-- Server extras (sqlite; keep in step with the file of the same name for the
-- other engine): who locked a server and why (os-lock-server, 2.73), server
-- tags (2.26), and the console log the simulated hypervisor writes
-- (os-getConsoleOutput). Times in microseconds since the Unix epoch.
ALTER TABLE compute_instances ADD COLUMN locked_by TEXT;
ALTER TABLE compute_instances ADD COLUMN locked_reason TEXT;
CREATE TABLE compute_instance_tags (
    instance_uuid TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, tag)
);
CREATE INDEX compute_instance_tags_tag ON compute_instance_tags(tag);
CREATE TABLE compute_console_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_uuid TEXT NOT NULL,
    line TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX compute_console_log_instance ON compute_console_log(instance_uuid, id);
