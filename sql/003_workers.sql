-- The live fleet: each `visibility-worker run` process registers here and keeps
-- its heartbeat fresh, so operators (`status`) and the quota logic can see it.
-- A row whose heartbeat is old belongs to a process that is gone.

CREATE TABLE visibility_workers (
    id           text        PRIMARY KEY,
    host         text        NOT NULL,
    pid          int         NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE visibility_workers IS
    'visibility-worker processes and their heartbeats.';
