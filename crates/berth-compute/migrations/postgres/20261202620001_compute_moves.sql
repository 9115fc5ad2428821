-- Moves (issue 10): the rest of Nova's migration record, and instance
-- actions with their events (postgres; keep in step with the file of the same
-- name for the other engine). Times in microseconds since the epoch.
ALTER TABLE compute_migrations ADD COLUMN source_node TEXT;
ALTER TABLE compute_migrations ADD COLUMN dest_node TEXT;
ALTER TABLE compute_migrations ADD COLUMN dest_host TEXT;
ALTER TABLE compute_migrations ADD COLUMN old_flavor TEXT;
ALTER TABLE compute_migrations ADD COLUMN new_flavor TEXT;
ALTER TABLE compute_migrations ADD COLUMN user_id TEXT;
ALTER TABLE compute_migrations ADD COLUMN project_id TEXT;
CREATE INDEX compute_migrations_instance ON compute_migrations(instance_uuid, id);
CREATE INDEX compute_migrations_status ON compute_migrations(status);
CREATE TABLE compute_instance_actions (
    id BIGSERIAL PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    action TEXT NOT NULL,
    request_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    message TEXT,
    start_time BIGINT NOT NULL,
    finish_time BIGINT,
    updated_at BIGINT
);
CREATE INDEX compute_instance_actions_instance ON compute_instance_actions(instance_uuid, id);
CREATE TABLE compute_instance_action_events (
    id BIGSERIAL PRIMARY KEY,
    action_id BIGINT NOT NULL REFERENCES compute_instance_actions(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    result TEXT,
    traceback TEXT,
    details TEXT,
    host TEXT,
    start_time BIGINT NOT NULL,
    finish_time BIGINT
);
CREATE INDEX compute_instance_action_events_action ON compute_instance_action_events(action_id, id);
