-- Times are INTEGER microseconds since the Unix epoch, UTC. Lists are ordered
-- by seq (the rowid), which follows creation order.

CREATE TABLE organizations (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    description  TEXT,
    date_added   INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);

CREATE TABLE workspaces (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name            TEXT NOT NULL,
    description     TEXT,
    date_added      INTEGER NOT NULL,
    date_updated    INTEGER NOT NULL
);

CREATE TABLE users (
    seq                  INTEGER PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    identity_id          TEXT NOT NULL UNIQUE,
    email                TEXT NOT NULL,
    github_login         TEXT UNIQUE COLLATE NOCASE,
    default_workspace_id TEXT REFERENCES workspaces(id),
    date_added           INTEGER NOT NULL,
    date_updated         INTEGER NOT NULL
);
CREATE INDEX users_email ON users(email);

CREATE TABLE memberships (
    user_id      TEXT NOT NULL REFERENCES users(id),
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    date_added   INTEGER NOT NULL,
    PRIMARY KEY (user_id, workspace_id)
) WITHOUT ROWID;

CREATE TABLE tokens (
    jti          TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    workspace_id TEXT REFERENCES workspaces(id),
    expires      INTEGER NOT NULL,
    date_added   INTEGER NOT NULL,
    revoked      INTEGER
) WITHOUT ROWID;

CREATE TABLE packages (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('deployment', 'configuration')),
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    version      INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    blob         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    file_count   INTEGER NOT NULL,
    file_names   TEXT NOT NULL,
    size         INTEGER NOT NULL,
    profiles     TEXT NOT NULL DEFAULT '',
    date_added   INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    UNIQUE (workspace_id, kind, version)
);
CREATE INDEX packages_blob ON packages(blob);

CREATE TABLE scripts (
    seq                INTEGER PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    workspace_id       TEXT NOT NULL REFERENCES workspaces(id),
    name               TEXT NOT NULL,
    version            INTEGER NOT NULL,
    version_id         TEXT NOT NULL,
    description        TEXT NOT NULL,
    entry_point        TEXT NOT NULL,
    script_type        TEXT NOT NULL CHECK (script_type IN ('batch', 'interactive')),
    active             INTEGER NOT NULL,
    profile            TEXT,
    schedule           TEXT,
    next_scheduled_run INTEGER,
    created_by         TEXT NOT NULL,
    date_added         INTEGER NOT NULL,
    date_updated       INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
-- the scheduler of a later issue looks for due scripts
CREATE INDEX scripts_next_run ON scripts(next_scheduled_run) WHERE next_scheduled_run IS NOT NULL;

CREATE TABLE script_versions (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    script_id    TEXT NOT NULL REFERENCES scripts(id),
    version      INTEGER NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    entry_point  TEXT NOT NULL,
    script_type  TEXT NOT NULL,
    active       INTEGER NOT NULL,
    profile      TEXT,
    schedule     TEXT,
    created_by   TEXT NOT NULL,
    date_added   INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    UNIQUE (script_id, version)
);

CREATE TABLE runs (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id),
    script_id         TEXT NOT NULL REFERENCES scripts(id),
    script_version_id TEXT NOT NULL REFERENCES script_versions(id),
    deployment_id     TEXT NOT NULL REFERENCES packages(id),
    configuration_id  TEXT NOT NULL REFERENCES packages(id),
    number            INTEGER NOT NULL,
    status            TEXT NOT NULL,
    trigger_type      TEXT NOT NULL,
    triggered_by      TEXT,
    profile           TEXT NOT NULL,
    pgid              INTEGER NOT NULL DEFAULT 0,
    time_started      INTEGER,
    time_ended        INTEGER,
    duration          INTEGER,
    date_added        INTEGER NOT NULL,
    date_updated      INTEGER NOT NULL,
    UNIQUE (script_id, number)
);
CREATE INDEX runs_workspace ON runs(workspace_id, seq);
CREATE INDEX runs_workspace_script ON runs(workspace_id, script_id, seq);
CREATE INDEX runs_workspace_status ON runs(workspace_id, status, seq);
CREATE INDEX runs_status ON runs(status, seq);
