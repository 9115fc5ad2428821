-- Compute schema (PostgreSQL). Keep in step with ../sqlite/ (same file names).
CREATE TABLE compute_flavors (
    id BIGSERIAL PRIMARY KEY,
    flavorid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    root_gb BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL DEFAULT 0,
    swap BIGINT NOT NULL DEFAULT 0,
    rxtx_factor DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    is_public BIGINT NOT NULL DEFAULT 1,
    disabled BIGINT NOT NULL DEFAULT 0,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE TABLE compute_flavor_extra_specs (
    flavor_id BIGINT NOT NULL REFERENCES compute_flavors(id) ON DELETE CASCADE,
    spec_key TEXT NOT NULL,
    spec_value TEXT NOT NULL,
    PRIMARY KEY (flavor_id, spec_key)
);
CREATE TABLE compute_flavor_projects (
    flavor_id BIGINT NOT NULL REFERENCES compute_flavors(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);
CREATE TABLE compute_services (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    service_binary TEXT NOT NULL,
    availability_zone TEXT NOT NULL DEFAULT 'nova',
    disabled BIGINT NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    forced_down BIGINT NOT NULL DEFAULT 0,
    last_seen_up BIGINT,
    report_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    UNIQUE (host, service_binary)
);
CREATE TABLE compute_nodes (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    hypervisor_hostname TEXT NOT NULL UNIQUE,
    hypervisor_type TEXT NOT NULL,
    hypervisor_version BIGINT NOT NULL,
    host_ip TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    local_gb BIGINT NOT NULL,
    cpu_allocation_ratio DOUBLE PRECISION NOT NULL,
    ram_allocation_ratio DOUBLE PRECISION NOT NULL,
    disk_allocation_ratio DOUBLE PRECISION NOT NULL,
    reserved_host_cpus BIGINT NOT NULL DEFAULT 0,
    reserved_host_memory_mb BIGINT NOT NULL DEFAULT 0,
    reserved_host_disk_gb BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX compute_nodes_host ON compute_nodes(host);
CREATE TABLE compute_instances (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    hostname TEXT,
    description TEXT,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    image_ref TEXT NOT NULL DEFAULT '',
    flavor TEXT NOT NULL,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state BIGINT NOT NULL DEFAULT 0,
    host TEXT,
    node TEXT,
    node_uuid TEXT,
    availability_zone TEXT,
    requested_az TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    key_name TEXT,
    access_ip_v4 TEXT,
    access_ip_v6 TEXT,
    locked BIGINT NOT NULL DEFAULT 0,
    reservation_id TEXT NOT NULL,
    launch_index BIGINT NOT NULL DEFAULT 0,
    launched_at BIGINT,
    terminated_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX compute_instances_project ON compute_instances(project_id, deleted);
CREATE INDEX compute_instances_host ON compute_instances(host, deleted);
CREATE TABLE compute_instance_faults (
    id BIGSERIAL PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    code BIGINT NOT NULL,
    message TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '',
    host TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX compute_instance_faults_instance ON compute_instance_faults(instance_uuid, id);
CREATE TABLE compute_migrations (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    instance_uuid TEXT NOT NULL,
    source_compute TEXT,
    dest_compute TEXT,
    source_node_uuid TEXT,
    dest_node_uuid TEXT,
    status TEXT NOT NULL,
    migration_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE TABLE compute_tasks (
    id BIGSERIAL PRIMARY KEY,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    instance_uuid TEXT,
    payload TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);
CREATE INDEX compute_tasks_queue ON compute_tasks(host, state, id);
CREATE TABLE compute_outbox (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    consumer_uuid TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE compute_availability_zones (
    name TEXT PRIMARY KEY,
    aggregate_uuid TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE compute_quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
