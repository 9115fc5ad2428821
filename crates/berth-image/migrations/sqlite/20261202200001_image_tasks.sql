-- Glance's tasks: one `api_image_import` task per interoperable import
-- (`POST /v2/images/{id}/import`). `input` and `result` are JSON text;
-- timestamps are microseconds since the Unix epoch.
CREATE TABLE image_tasks (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    owner       TEXT,
    user_id     TEXT,
    image_id    TEXT,
    request_id  TEXT,
    input       TEXT NOT NULL,
    result      TEXT,
    message     TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    expires_at  BIGINT
);
CREATE INDEX image_tasks_owner_idx ON image_tasks (owner);
CREATE INDEX image_tasks_image_idx ON image_tasks (image_id);
