-- OS-TRUST: a trustor delegates some of its roles on a project to a
-- trustee. roles is a JSON list of role ids; remaining_uses NULL is
-- unlimited. Keep in step with ../postgres/ (same file names).
CREATE TABLE identity_trusts (
    id TEXT PRIMARY KEY,
    trustor_user_id TEXT NOT NULL,
    trustee_user_id TEXT NOT NULL,
    project_id TEXT,
    impersonation BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT,
    remaining_uses BIGINT,
    roles TEXT NOT NULL DEFAULT '[]',
    extra TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX identity_trusts_trustor ON identity_trusts(trustor_user_id);
CREATE INDEX identity_trusts_trustee ON identity_trusts(trustee_user_id);

-- The trust a token was issued through: its roles are recomputed from the
-- trust on every validation, and deleting the trust ends the token.
ALTER TABLE identity_tokens ADD COLUMN trust_id TEXT;
