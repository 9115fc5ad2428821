-- Glance's metadata definitions catalog: namespaces and what they hold
-- (objects, properties, tags, resource-type associations). Property and
-- object schemas are JSON text. Children name their namespace; renaming or
-- deleting a namespace updates them in the same transaction. Tag names are
-- unique without regard to case (`name_key` is the lower-cased name), as
-- Glance's are. Timestamps are microseconds since the Unix epoch.
CREATE TABLE image_metadef_namespaces (
    namespace    TEXT PRIMARY KEY,
    display_name TEXT,
    description  TEXT,
    visibility   TEXT NOT NULL,
    protected    BIGINT NOT NULL DEFAULT 0,
    owner        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX image_metadef_namespaces_owner_idx ON image_metadef_namespaces (owner);

CREATE TABLE image_metadef_objects (
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    required    TEXT,
    properties  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE image_metadef_properties (
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    json_schema TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE image_metadef_tags (
    namespace  TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, name_key)
);

CREATE TABLE image_metadef_resource_types (
    name       TEXT PRIMARY KEY,
    protected  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE image_metadef_resource_type_associations (
    namespace         TEXT NOT NULL,
    resource_type     TEXT NOT NULL,
    prefix            TEXT,
    properties_target TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (namespace, resource_type)
);
CREATE INDEX image_metadef_rta_type_idx ON image_metadef_resource_type_associations (resource_type);

-- The resource types Glance's shipped definitions associate namespaces
-- with, as system types (they cannot be deleted). No namespaces are seeded.
-- Associating a namespace with another name creates that resource type, as
-- Glance does.
INSERT INTO image_metadef_resource_types (name, protected, created_at, updated_at) VALUES
    ('OS::Glance::Image', 1, 1796169600000000, 1796169600000000),
    ('OS::Cinder::Volume', 1, 1796169600000000, 1796169600000000),
    ('OS::Nova::Flavor', 1, 1796169600000000, 1796169600000000),
    ('OS::Nova::Server', 1, 1796169600000000, 1796169600000000),
    ('OS::Nova::Aggregate', 1, 1796169600000000, 1796169600000000);
