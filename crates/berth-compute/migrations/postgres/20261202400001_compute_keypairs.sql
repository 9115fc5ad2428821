-- Nova key pairs (os-keypairs), one name per user (postgres; keep in step with
-- the file of the same name for the other engine). created_at in
-- microseconds since the Unix epoch (berth-time).
CREATE TABLE compute_key_pairs (
    id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);
