-- Identity (Keystone v3 subset) schema. Keep in step with ../postgres/ (same file names).
-- Booleans are BIGINT 0/1 and times are BIGINT microseconds since the epoch,
-- the types sqlx's Any driver maps on both engines.
CREATE TABLE identity_domains (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE TABLE identity_projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES identity_domains(id),
    parent_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);
CREATE INDEX identity_projects_parent ON identity_projects(parent_id);
CREATE TABLE identity_users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES identity_domains(id),
    password_hash TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    description TEXT,
    email TEXT,
    default_project_id TEXT,
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT,
    UNIQUE (domain_id, name)
);
CREATE TABLE identity_roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE identity_implied_roles (
    prior_role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);
-- target_type is 'project', 'domain' or 'system' (target_id 'all').
CREATE TABLE identity_assignments (
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (target_type, target_id, user_id, role_id)
);
CREATE INDEX identity_assignments_user ON identity_assignments(user_id);
CREATE INDEX identity_assignments_role ON identity_assignments(role_id);
-- Only the SHA-256 of a token is stored. scope_type is 'unscoped',
-- 'project', 'domain' or 'system'.
CREATE TABLE identity_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    scope_type TEXT NOT NULL,
    scope_id TEXT,
    methods TEXT NOT NULL,
    audit_id TEXT NOT NULL,
    parent_audit_id TEXT,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX identity_tokens_user ON identity_tokens(user_id);
CREATE INDEX identity_tokens_expires ON identity_tokens(expires_at);
