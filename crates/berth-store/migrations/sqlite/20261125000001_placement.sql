-- Placement schema (SQLite). Keep in step with ../postgres/ (same file names).
CREATE TABLE resource_classes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE traits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE resource_providers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    generation BIGINT NOT NULL DEFAULT 0,
    parent_id BIGINT REFERENCES resource_providers(id),
    root_id BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX resource_providers_parent ON resource_providers(parent_id);
CREATE INDEX resource_providers_root ON resource_providers(root_id);
CREATE TABLE inventories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES resource_providers(id) ON DELETE CASCADE,
    resource_class TEXT NOT NULL,
    total BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    min_unit BIGINT NOT NULL,
    max_unit BIGINT NOT NULL,
    step_size BIGINT NOT NULL,
    allocation_ratio DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider_id, resource_class)
);
CREATE INDEX inventories_class ON inventories(resource_class);
CREATE TABLE provider_traits (
    provider_id BIGINT NOT NULL REFERENCES resource_providers(id) ON DELETE CASCADE,
    trait_id BIGINT NOT NULL REFERENCES traits(id),
    PRIMARY KEY (provider_id, trait_id)
);
CREATE INDEX provider_traits_trait ON provider_traits(trait_id);
-- Aggregates are numbered in first-seen order; membership lists follow it.
CREATE TABLE aggregates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE
);
CREATE TABLE provider_aggregates (
    provider_id BIGINT NOT NULL REFERENCES resource_providers(id) ON DELETE CASCADE,
    aggregate_id BIGINT NOT NULL REFERENCES aggregates(id),
    PRIMARY KEY (provider_id, aggregate_id)
);
CREATE INDEX provider_aggregates_agg ON provider_aggregates(aggregate_id);
CREATE TABLE consumers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    consumer_type TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX consumers_project_user ON consumers(project_id, user_id);
CREATE TABLE allocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id BIGINT NOT NULL REFERENCES resource_providers(id),
    consumer_uuid TEXT NOT NULL,
    resource_class TEXT NOT NULL,
    used BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX allocations_provider_class ON allocations(provider_id, resource_class);
CREATE INDEX allocations_consumer ON allocations(consumer_uuid);
-- One row: bumped by every write that changes what allocation candidates
-- depend on, so caches of the provider graph know when to reload.
CREATE TABLE placement_state (
    id INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO placement_state (id, version) VALUES (1, 0);
