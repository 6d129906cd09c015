-- GitHub OIDC exchange: trust rules per workspace, the ids of ID tokens
-- already exchanged (kept until the token expires), and the service users
-- the exchange logs in as.

-- Optional fields are '' rather than NULL so that UNIQUE sees two rules
-- with the same fields as the same rule.
CREATE TABLE oidc_trust_rules (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id),
    repository_id       INTEGER NOT NULL CHECK (repository_id > 0),
    repository_owner_id INTEGER NOT NULL CHECK (repository_owner_id > 0),
    ref                 TEXT NOT NULL DEFAULT '',
    environment         TEXT NOT NULL DEFAULT '',
    workflow_ref        TEXT NOT NULL DEFAULT '',
    date_added          INTEGER NOT NULL,
    UNIQUE (workspace_id, repository_id, repository_owner_id, ref, environment, workflow_ref)
);
CREATE INDEX oidc_trust_rules_repository ON oidc_trust_rules(repository_id, repository_owner_id);

CREATE TABLE oidc_used_jtis (
    issuer  TEXT NOT NULL,
    jti     TEXT NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
) WITHOUT ROWID;
CREATE INDEX oidc_used_jtis_expires ON oidc_used_jtis(expires);

-- A service user belongs to one workspace: the same key (a repository) in
-- another workspace is another user.
CREATE TABLE service_users (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    key          TEXT NOT NULL,
    user_id      TEXT NOT NULL UNIQUE REFERENCES users(id),
    date_added   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
) WITHOUT ROWID;
