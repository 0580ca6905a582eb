-- Schema v3: appended to v2. Never edit once shipped; append a v4 instead.
-- Each change says which feature needs it.

-- Dashboard (issue 14): the home tiles count a project's runs and read its newest status from
-- this index alone (no table lookups), so the first frame costs the same at 10,000 runs.
CREATE INDEX runs_by_project_tile ON runs(project_id, created_at DESC, id DESC, status);
