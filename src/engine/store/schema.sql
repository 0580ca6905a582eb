-- kiln schema version 1: the whole product's tables. Times are microseconds since the Unix epoch.
-- Columns named stage_id are plain integers (no foreign key): rows go away with their run, and a
-- stage foreign key would force an index on every large table just to delete a stage.

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    root        TEXT NOT NULL UNIQUE,
    language    TEXT,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;

-- A natural-language ask ("a function that parses RFC 3339 dates, with tests").
CREATE TABLE requests (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    text       TEXT NOT NULL,
    origin     TEXT NOT NULL,              -- cli | tui | lsp
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX requests_by_project ON requests(project_id);

-- One pipeline run (or a standalone check, sandbox run or ask).
CREATE TABLE runs (
    id                INTEGER PRIMARY KEY,
    project_id        INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    request_id        INTEGER REFERENCES requests(id) ON DELETE SET NULL,
    kind              TEXT NOT NULL,       -- pipeline | check | sandbox | ask
    status            TEXT NOT NULL,       -- queued | running | succeeded | failed | cancelled
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    error             TEXT,
    log_lines         INTEGER NOT NULL DEFAULT 0,
    log_lines_dropped INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX runs_by_time ON runs(created_at DESC);
CREATE INDEX runs_by_project ON runs(project_id, created_at DESC);
CREATE INDEX runs_by_request ON runs(request_id);

CREATE TABLE stages (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,             -- spec | generate | tests | check | test_run | review | improve | docs | export
    status      TEXT NOT NULL,             -- queued | running | succeeded | failed | cancelled | skipped
    attempt     INTEGER NOT NULL DEFAULT 1,
    started_at  INTEGER,
    finished_at INTEGER,
    error       TEXT
) STRICT;
CREATE INDEX stages_by_run ON stages(run_id);

-- Log lines are stored in chunks of consecutive lines of one run and stage: one row per batch
-- keeps ingest close to the speed of appending to a file. `lines` is a JSON array of
-- [ts, stream, level, text]; the log_lines view below shows one row per line.
CREATE TABLE log_chunks (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage_id   INTEGER,
    first_seq  INTEGER NOT NULL,           -- position of the first line within the run, from 0
    line_count INTEGER NOT NULL,
    first_ts   INTEGER NOT NULL,
    last_ts    INTEGER NOT NULL,
    lines      TEXT NOT NULL
) STRICT;
CREATE INDEX log_chunks_by_run ON log_chunks(run_id, first_seq);

CREATE VIEW log_lines AS
    SELECT c.run_id                  AS run_id,
           c.stage_id                AS stage_id,
           c.first_seq + j.key       AS seq,
           j.value ->> 0             AS ts,
           j.value ->> 1             AS stream,  -- stdout | stderr | kiln
           j.value ->> 2             AS level,   -- error | warn | info | debug | trace
           j.value ->> 3             AS text
    FROM log_chunks AS c, json_each(c.lines) AS j;

-- Versioned file contents produced by a run (generated code, tests, docs, patches).
CREATE TABLE artifacts (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage_id   INTEGER,
    path       TEXT NOT NULL,              -- relative to the project root
    version    INTEGER NOT NULL,           -- 1, 2, ... per (run, path)
    content    BLOB NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (run_id, path, version)
) STRICT;
CREATE INDEX artifacts_by_hash ON artifacts(sha256);

-- Every model call. API keys are never stored.
CREATE TABLE generations (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER REFERENCES runs(id) ON DELETE CASCADE,
    stage_id   INTEGER,
    provider   TEXT NOT NULL,
    model      TEXT NOT NULL,
    messages   TEXT NOT NULL,              -- JSON
    params     TEXT NOT NULL DEFAULT '{}', -- JSON: temperature, max_tokens, ...
    response   TEXT,
    tokens_in  INTEGER,
    tokens_out INTEGER,
    latency_ms INTEGER,
    ttft_ms    INTEGER,
    cost_usd   REAL,
    status     TEXT NOT NULL,              -- ok | error | cancelled
    error      TEXT,
    cache_key  TEXT,
    cache_hit  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX generations_by_run ON generations(run_id);
CREATE INDEX generations_by_time ON generations(created_at);
CREATE INDEX generations_by_cache_key ON generations(cache_key) WHERE cache_key IS NOT NULL;

-- Analysis findings (ranges are 0-based line and UTF-16 column, as the LSP wants them).
CREATE TABLE findings (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER REFERENCES runs(id) ON DELETE CASCADE,
    stage_id   INTEGER,
    rule       TEXT NOT NULL,
    severity   TEXT NOT NULL,              -- error | warning | info | hint
    file       TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    start_col  INTEGER NOT NULL,
    end_line   INTEGER NOT NULL,
    end_col    INTEGER NOT NULL,
    message    TEXT NOT NULL,
    fix        TEXT,                       -- JSON text edits, if the rule offers a fix
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX findings_by_run ON findings(run_id);

-- Every sandboxed process.
CREATE TABLE processes (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER REFERENCES runs(id) ON DELETE CASCADE,
    stage_id      INTEGER,
    command       TEXT NOT NULL,           -- JSON argv
    workdir       TEXT,
    limits        TEXT NOT NULL,           -- JSON
    isolation     TEXT NOT NULL DEFAULT '{}', -- JSON: which layers were active
    status        TEXT NOT NULL,           -- running | exited | signaled | limit | failed_to_start | cancelled
    exit_code     INTEGER,
    signal        INTEGER,
    limit_hit     TEXT,                    -- timeout | cpu | memory | pids | output | disk | files
    wall_ms       INTEGER,
    user_ms       INTEGER,
    sys_ms        INTEGER,
    max_rss_kb    INTEGER,
    stdout_bytes  INTEGER NOT NULL DEFAULT 0,
    stderr_bytes  INTEGER NOT NULL DEFAULT 0,
    bytes_dropped INTEGER NOT NULL DEFAULT 0,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER
) STRICT;
CREATE INDEX processes_by_run ON processes(run_id);

CREATE TABLE test_results (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage_id    INTEGER,
    process_id  INTEGER REFERENCES processes(id) ON DELETE SET NULL,
    name        TEXT NOT NULL,
    outcome     TEXT NOT NULL,             -- passed | failed | error | skipped
    duration_ms INTEGER,
    message     TEXT,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX test_results_by_run ON test_results(run_id);
CREATE INDEX test_results_by_process ON test_results(process_id);

-- A user's verdict on a generation, finding or run.
CREATE TABLE feedback (
    id          INTEGER PRIMARY KEY,
    target_kind TEXT NOT NULL,             -- generation | finding | run
    target_id   INTEGER NOT NULL,
    verdict     TEXT NOT NULL,             -- accept | reject
    comment     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX feedback_by_target ON feedback(target_kind, target_id);

-- Change feed: triggers append one row per changed row so a front-end in another process can
-- catch up from its high-water mark. Only the newest ~10,000 changes are kept; a reader that
-- falls further behind sees the gap and reloads.
CREATE TABLE changes (
    id     INTEGER PRIMARY KEY,
    tbl    TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    op     TEXT NOT NULL                   -- insert | update | delete
) STRICT;
CREATE TRIGGER changes_bounded AFTER INSERT ON changes WHEN new.id % 1000 = 0
BEGIN
    DELETE FROM changes WHERE id <= new.id - 10000;
END;

-- Generated list: every table announces inserts, updates and deletes.
CREATE TRIGGER projects_insert_feed AFTER INSERT ON projects
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('projects', new.id, 'insert');
END;
CREATE TRIGGER projects_update_feed AFTER UPDATE ON projects
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('projects', new.id, 'update');
END;
CREATE TRIGGER projects_delete_feed AFTER DELETE ON projects
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('projects', old.id, 'delete');
END;
CREATE TRIGGER requests_insert_feed AFTER INSERT ON requests
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('requests', new.id, 'insert');
END;
CREATE TRIGGER requests_update_feed AFTER UPDATE ON requests
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('requests', new.id, 'update');
END;
CREATE TRIGGER requests_delete_feed AFTER DELETE ON requests
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('requests', old.id, 'delete');
END;
CREATE TRIGGER runs_insert_feed AFTER INSERT ON runs
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('runs', new.id, 'insert');
END;
CREATE TRIGGER runs_update_feed AFTER UPDATE ON runs
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('runs', new.id, 'update');
END;
CREATE TRIGGER runs_delete_feed AFTER DELETE ON runs
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('runs', old.id, 'delete');
END;
CREATE TRIGGER stages_insert_feed AFTER INSERT ON stages
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('stages', new.id, 'insert');
END;
CREATE TRIGGER stages_update_feed AFTER UPDATE ON stages
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('stages', new.id, 'update');
END;
CREATE TRIGGER stages_delete_feed AFTER DELETE ON stages
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('stages', old.id, 'delete');
END;
CREATE TRIGGER artifacts_insert_feed AFTER INSERT ON artifacts
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('artifacts', new.id, 'insert');
END;
CREATE TRIGGER artifacts_update_feed AFTER UPDATE ON artifacts
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('artifacts', new.id, 'update');
END;
CREATE TRIGGER artifacts_delete_feed AFTER DELETE ON artifacts
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('artifacts', old.id, 'delete');
END;
CREATE TRIGGER generations_insert_feed AFTER INSERT ON generations
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('generations', new.id, 'insert');
END;
CREATE TRIGGER generations_update_feed AFTER UPDATE ON generations
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('generations', new.id, 'update');
END;
CREATE TRIGGER generations_delete_feed AFTER DELETE ON generations
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('generations', old.id, 'delete');
END;
CREATE TRIGGER findings_insert_feed AFTER INSERT ON findings
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('findings', new.id, 'insert');
END;
CREATE TRIGGER findings_update_feed AFTER UPDATE ON findings
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('findings', new.id, 'update');
END;
CREATE TRIGGER findings_delete_feed AFTER DELETE ON findings
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('findings', old.id, 'delete');
END;
CREATE TRIGGER processes_insert_feed AFTER INSERT ON processes
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('processes', new.id, 'insert');
END;
CREATE TRIGGER processes_update_feed AFTER UPDATE ON processes
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('processes', new.id, 'update');
END;
CREATE TRIGGER processes_delete_feed AFTER DELETE ON processes
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('processes', old.id, 'delete');
END;
CREATE TRIGGER test_results_insert_feed AFTER INSERT ON test_results
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('test_results', new.id, 'insert');
END;
CREATE TRIGGER test_results_update_feed AFTER UPDATE ON test_results
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('test_results', new.id, 'update');
END;
CREATE TRIGGER test_results_delete_feed AFTER DELETE ON test_results
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('test_results', old.id, 'delete');
END;
CREATE TRIGGER feedback_insert_feed AFTER INSERT ON feedback
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('feedback', new.id, 'insert');
END;
CREATE TRIGGER feedback_update_feed AFTER UPDATE ON feedback
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('feedback', new.id, 'update');
END;
CREATE TRIGGER feedback_delete_feed AFTER DELETE ON feedback
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('feedback', old.id, 'delete');
END;
CREATE TRIGGER log_chunks_insert_feed AFTER INSERT ON log_chunks
BEGIN
    INSERT INTO changes (tbl, row_id, op) VALUES ('log_lines', new.run_id, 'insert');
END;
