-- kiln schema version 2: finish reasons of model calls, run ownership (so a run whose process
-- died is found and marked interrupted), what a run was asked (for retry and resume), stage
-- identity and caching for the pipeline, gate verdicts, and trusted project config files.

-- The provider's reason the reply ended, normalised: stop | length | tool_calls |
-- content_filter | error | cancelled (NULL for calls recorded before version 2).
ALTER TABLE generations ADD COLUMN finish_reason TEXT;

-- The process that owns a running run: its pid and start time (clock ticks after boot, from
-- /proc/PID/stat, so a reused pid is not mistaken for the owner). NULL once the run ended.
ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
ALTER TABLE runs ADD COLUMN owner_start INTEGER;
-- JSON: the operation's parameters (request, language, overrides), enough to retry or resume.
ALTER TABLE runs ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
CREATE INDEX runs_by_status ON runs(status) WHERE status IN ('queued', 'running');

-- A stage's name (the kind for built-in stages, the project's name for a custom one), its
-- improve-loop iteration (0 before the loop), the hash of its inputs (a cache key: an unchanged
-- stage is reused) and a JSON summary of its result.
ALTER TABLE stages ADD COLUMN name TEXT;
ALTER TABLE stages ADD COLUMN iteration INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stages ADD COLUMN input_hash TEXT;
ALTER TABLE stages ADD COLUMN output TEXT;
CREATE INDEX stages_by_input_hash ON stages(input_hash) WHERE input_hash IS NOT NULL;

-- One verdict of one gate (syntax, tests, findings, review, integrity) after one iteration.
CREATE TABLE gates (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage_id   INTEGER,
    iteration  INTEGER NOT NULL,
    gate       TEXT NOT NULL,
    passed     INTEGER NOT NULL,           -- 0 | 1
    detail     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX gates_by_run ON gates(run_id, iteration);
CREATE TRIGGER gates_insert_feed AFTER INSERT ON gates
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('gates', new.id, 'insert');
END;
CREATE TRIGGER gates_update_feed AFTER UPDATE ON gates
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('gates', new.id, 'update');
END;
CREATE TRIGGER gates_delete_feed AFTER DELETE ON gates
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('gates', old.id, 'delete');
END;

-- Project config files (`kiln.toml`) the user trusted with `kiln trust`, by canonical path and
-- the SHA-256 of the content trusted: a changed file is untrusted again.
CREATE TABLE trusted_configs (
    path       TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL,
    trusted_at INTEGER NOT NULL
) STRICT;

-- The owner's boot id and pid namespace ('<boot_id>/pid:[inode]'): a pid is only compared within
-- the namespace it was recorded in, and every owner from an earlier boot is gone.
ALTER TABLE runs ADD COLUMN owner_ns TEXT;

-- A long-running sandboxed service (`kiln serve`): its run (kind `service`), what it serves,
-- where (the host URL and port, the app's port inside the sandbox), the kiln process that owns
-- it (pid and start time in clock ticks after boot, so `kiln stop` never signals a reused pid),
-- and how it ended. status: starting | up | stopped | failed.
CREATE TABLE services (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    dir         TEXT NOT NULL,
    command     TEXT NOT NULL,             -- JSON array
    url         TEXT NOT NULL,
    host_port   INTEGER NOT NULL,
    app_port    INTEGER NOT NULL,
    pid         INTEGER NOT NULL,
    pid_start   INTEGER,
    status      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    up_at       INTEGER,
    stopped_at  INTEGER,
    exit_code   INTEGER,
    error       TEXT
) STRICT;
CREATE INDEX services_by_status ON services(status);

-- Where a test is defined (project-relative file, 1-based line) when the test tool says, so
-- front-ends can point at a failing test.
ALTER TABLE test_results ADD COLUMN file TEXT;
ALTER TABLE test_results ADD COLUMN line INTEGER;

-- The directory a run works on (its files are relative to it) and what it read there: the
-- SHA-256 of each project file when the run read it (NULL: the file did not exist). Export
-- refuses to overwrite a file whose content changed since (unless forced).
CREATE TABLE run_roots (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    root   TEXT NOT NULL
) STRICT;
CREATE TABLE run_reads (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    sha256     TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
) STRICT;

-- Another process asked the run's owner to cancel it (`kiln cancel RUN` from a second terminal):
-- the owner polls this between and during stages.
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
