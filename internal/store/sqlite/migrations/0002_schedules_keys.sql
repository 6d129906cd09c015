-- Schedules (issue 5): the latest tick each script's schedule fired. It is
-- written in the transaction that records the tick's run, so that one tick
-- never starts two runs, across restarts too.
CREATE TABLE schedule_ticks (
    script_id    TEXT PRIMARY KEY REFERENCES scripts(id),
    last_tick    INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
) WITHOUT ROWID;

-- Secrets at rest (issue 5): the keys configuration packages were encrypted
-- with, by key id, with a check value (an HMAC of a constant under the key)
-- that tells a wrong key from the right one without storing the key.
CREATE TABLE encryption_keys (
    id          TEXT PRIMARY KEY,
    check_value TEXT NOT NULL,
    date_added  INTEGER NOT NULL
) WITHOUT ROWID;
