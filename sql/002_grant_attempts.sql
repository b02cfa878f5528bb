-- One row per attempt at a job: the audit trail an operator needs for a
-- privacy-sensitive grant (who called the API for which job, when, and what came back).

CREATE TABLE visibility_grant_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id        bigint      NOT NULL REFERENCES visibility_grant_jobs (id) ON DELETE CASCADE,
    attempt       int         NOT NULL,
    worker_id     text        NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    http_status   int         NULL,
    error_code    text        NULL,
    error_message text        NULL,
    request_id    text        NULL,
    -- succeeded / failed: final; retry: back to pending with a later run_at;
    -- released: back to pending without using up the attempt (pause, shutdown);
    -- lease_expired: the worker vanished or hung and the rescuer took the job back.
    outcome       text        NOT NULL,

    CONSTRAINT outcome_must_be_a_known_outcome
        CHECK (outcome IN ('succeeded', 'failed', 'retry', 'released', 'lease_expired'))
);

COMMENT ON TABLE visibility_grant_attempts IS
    'Audit trail: one row per attempt at a visibility_grant_jobs row.';

CREATE INDEX visibility_grant_attempts_by_job
    ON visibility_grant_attempts (job_id, attempt);
