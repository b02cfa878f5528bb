-- What a fleet under an autoscaler, and a producer following its grant, need
-- from the schema:
--
-- * A producer's trace context. A producer may store the W3C `traceparent` of
--   the span that inserted the job, so that the spans of the job's attempts can
--   join the producer's trace. A malformed value is refused at INSERT by a named
--   constraint (version 00, a trace id and a parent id that are not all zeros,
--   lowercase hex).
--
-- * Each worker's last outcome per app, reported with its heartbeat, so that
--   `status`, the console and every worker's gauges can tell an app whose due
--   jobs nobody finishes (a stall) from one drained at its rate cap.
--
-- Gate: unchanged. Workers of 020 never name these columns; jobs they claim
-- simply carry a trace context they do not read.

ALTER TABLE visibility_grant_jobs ADD COLUMN traceparent text NULL;

COMMENT ON COLUMN visibility_grant_jobs.traceparent IS
    'The W3C Trace Context traceparent of the producer''s span that queued the job (optional), for the spans of its attempts to join.';

-- NOT VALID: rows that predate the column are all NULL; VALIDATE below checks
-- them after commit without holding a lock that stops producers.
ALTER TABLE visibility_grant_jobs
    ADD CONSTRAINT traceparent_must_be_w3c CHECK (
        traceparent IS NULL OR (
            traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
            AND substr(traceparent, 4, 32) <> '00000000000000000000000000000000'
            AND substr(traceparent, 37, 16) <> '0000000000000000'
        )
    ) NOT VALID;

-- Producers insert only the columns granted to them (009).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_producer') THEN
        GRANT INSERT (traceparent) ON visibility_grant_jobs TO visibility_producer;
    END IF;
END;
$$;

ALTER TABLE visibility_workers ADD COLUMN last_outcome_by_app jsonb NULL;

COMMENT ON COLUMN visibility_workers.last_outcome_by_app IS
    'When this worker last wrote an outcome of each app''s jobs, as {"app": unix seconds}: the stall flag of status and /metrics.';

-- migrate: after commit
ALTER TABLE visibility_grant_jobs VALIDATE CONSTRAINT traceparent_must_be_w3c;
