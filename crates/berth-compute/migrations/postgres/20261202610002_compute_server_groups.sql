-- Nova server groups (os-server-groups) and their members (postgres; keep in
-- step with the file of the same name for sqlite). Members stay listed
-- after their instance is deleted (views and the scheduler skip deleted
-- instances, as Nova does). Times in microseconds since the Unix epoch.
CREATE TABLE compute_server_groups (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    max_server_per_host BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX compute_server_groups_project ON compute_server_groups (project_id);
CREATE TABLE compute_server_group_members (
    group_id BIGINT NOT NULL REFERENCES compute_server_groups (id) ON DELETE CASCADE,
    instance_uuid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, instance_uuid)
);
CREATE INDEX compute_server_group_members_instance ON compute_server_group_members (instance_uuid);
