-- Schema v3: appended to v2. Never edit once shipped; append a v4 instead.
-- Each change says which feature needs it.

-- Dashboard (issue 14): the home tiles count a project's runs and read its newest status from
-- this index alone (no table lookups), so the first frame costs the same at 10,000 runs.
CREATE INDEX runs_by_project_tile ON runs(project_id, created_at DESC, id DESC, status);

-- Sandbox byte chunks (issue 12): output that is not newline-terminated UTF-8 text (newline-free
-- output, binary data, lines over 64 KiB) is stored exactly as a blob. Such a row has
-- `bytes` set and `lines` = '[ts,"stream","level"]' (its metadata only); `line_count` is the
-- number of lines it is presented as (split after each newline and every 64 KiB).
ALTER TABLE log_chunks ADD COLUMN bytes BLOB;
DROP VIEW log_lines;
CREATE VIEW log_lines AS
    SELECT c.run_id                  AS run_id,
           c.stage_id                AS stage_id,
           c.first_seq + j.key       AS seq,
           j.value ->> 0             AS ts,
           j.value ->> 1             AS stream,
           j.value ->> 2             AS level,
           j.value ->> 3             AS text
    FROM log_chunks AS c, json_each(c.lines) AS j
    WHERE c.bytes IS NULL
    UNION ALL
    -- A byte chunk is one row here (its presented lines are split by the store's readers).
    SELECT c.run_id, c.stage_id, c.first_seq, c.lines ->> 0, c.lines ->> 1, c.lines ->> 2,
           CAST(c.bytes AS TEXT)
    FROM log_chunks AS c
    WHERE c.bytes IS NOT NULL;
