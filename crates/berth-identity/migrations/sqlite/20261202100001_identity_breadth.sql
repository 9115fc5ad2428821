-- Keystone breadth: groups, group and inherited role assignments, the
-- catalog as data, application credentials and access rules, credentials,
-- and extra attributes. Keep in step with ../postgres/ (same file names).

-- Extra (unknown top-level) attributes of users and projects, as a JSON object.
ALTER TABLE identity_users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE identity_projects ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';

CREATE TABLE identity_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES identity_domains(id),
    description TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);
CREATE TABLE identity_group_members (
    group_id TEXT NOT NULL REFERENCES identity_groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX identity_group_members_user ON identity_group_members(user_id);

-- Every role assignment: actor_type 'user' or 'group'; target_type
-- 'project', 'domain' or 'system' (target_id 'all'); inherited 1 for
-- OS-INHERIT assignments (they apply to the projects below the target, not
-- to the target itself). Replaces identity_assignments (users only).
CREATE TABLE identity_role_assignments (
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    inherited BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (actor_type, actor_id, target_type, target_id, role_id, inherited)
);
INSERT INTO identity_role_assignments (actor_type, actor_id, target_type, target_id, role_id, inherited, created_at)
    SELECT 'user', user_id, target_type, target_id, role_id, 0, created_at FROM identity_assignments;
DROP TABLE identity_assignments;
CREATE INDEX identity_role_assignments_target ON identity_role_assignments(target_type, target_id);
CREATE INDEX identity_role_assignments_role ON identity_role_assignments(role_id);

-- The token of an application credential keeps its id: the credential's
-- roles are recomputed on every validation.
ALTER TABLE identity_tokens ADD COLUMN app_cred_id TEXT;

-- The catalog. A url may hold %(base_url)s (berth's public base URL) and
-- Keystone's %(project_id)s / %(tenant_id)s / %(user_id)s substitutions.
CREATE TABLE identity_regions (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE TABLE identity_services (
    id TEXT PRIMARY KEY,
    service_type TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE TABLE identity_endpoints (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES identity_services(id),
    interface TEXT NOT NULL,
    region_id TEXT,
    url TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX identity_endpoints_service ON identity_endpoints(service_id);
-- One-time seeds done (name 'catalog': berth's own services and endpoints).
CREATE TABLE identity_seeds (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- Application credentials: the secret is stored only as an Argon2id hash;
-- roles and access_rules are JSON lists of ids.
CREATE TABLE identity_app_creds (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    description TEXT,
    expires_at BIGINT,
    unrestricted BIGINT NOT NULL DEFAULT 0,
    roles TEXT NOT NULL DEFAULT '[]',
    access_rules TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE identity_access_rules (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    path TEXT NOT NULL,
    method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, service, path, method)
);
CREATE TABLE identity_credentials (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    project_id TEXT,
    cred_type TEXT NOT NULL,
    cred_blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX identity_credentials_user ON identity_credentials(user_id);
