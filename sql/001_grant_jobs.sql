-- The job table: producers insert grants here, workers claim and complete them.
-- Producers write the first group of columns; everything from `state` on is the
-- workers' business.
--
-- Every CHECK has a name that says the rule it enforces, so a producer whose
-- INSERT is refused can read what is wrong from the error message alone, e.g.
--   new row ... violates check constraint "to_corp_ids_must_have_1_to_100_entries"

CREATE TABLE visibility_grant_jobs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,

    -- What to grant (producers).
    to_corp_ids        text[]      NOT NULL,
    opt_user_id        text        NOT NULL,
    fields             text[]      NOT NULL DEFAULT '{}',
    idempotency_key    text        NULL,
    ordering_key       text        NULL,
    priority           smallint    NOT NULL DEFAULT 0,
    run_at             timestamptz NOT NULL DEFAULT now(),
    max_attempts       int         NOT NULL DEFAULT 10,

    -- Where it stands (workers).
    state              text        NOT NULL DEFAULT 'pending',
    attempts           int         NOT NULL DEFAULT 0,
    locked_by          text        NULL,
    locked_until       timestamptz NULL,
    last_http_status   int         NULL,
    last_error_code    text        NULL,
    last_error_message text        NULL,
    last_request_id    text        NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz NULL,

    CONSTRAINT to_corp_ids_must_have_1_to_100_entries
        CHECK (cardinality(to_corp_ids) BETWEEN 1 AND 100),
    CONSTRAINT to_corp_ids_must_be_a_flat_list
        CHECK (array_ndims(to_corp_ids) = 1 AND array_lower(to_corp_ids, 1) = 1),
    CONSTRAINT to_corp_ids_must_not_contain_null
        CHECK (array_position(to_corp_ids, NULL) IS NULL),
    CONSTRAINT to_corp_ids_must_not_contain_empty_strings
        CHECK (array_position(to_corp_ids, '') IS NULL),
    CONSTRAINT opt_user_id_must_not_be_blank
        CHECK (btrim(opt_user_id) <> ''),
    CONSTRAINT fields_must_be_mobile_or_status
        CHECK (fields <@ ARRAY['mobile', 'status']::text[]),
    CONSTRAINT fields_must_be_a_flat_list
        CHECK (cardinality(fields) = 0 OR (array_ndims(fields) = 1 AND array_lower(fields, 1) = 1)),
    CONSTRAINT idempotency_key_must_not_be_empty
        CHECK (idempotency_key <> ''),
    CONSTRAINT ordering_key_must_not_be_empty
        CHECK (ordering_key <> ''),
    CONSTRAINT max_attempts_must_be_1_to_1000
        CHECK (max_attempts BETWEEN 1 AND 1000),
    CONSTRAINT state_must_be_a_known_state
        CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    CONSTRAINT attempts_must_not_be_negative
        CHECK (attempts >= 0),
    CONSTRAINT running_jobs_must_have_a_lease
        CHECK (state <> 'running' OR (locked_by IS NOT NULL AND locked_until IS NOT NULL)),
    -- NULLs are distinct, so only rows that carry a key are deduplicated:
    -- INSERT ... ON CONFLICT (idempotency_key) DO NOTHING makes a re-insert a no-op.
    CONSTRAINT idempotency_key_must_be_unique
        UNIQUE (idempotency_key)
)
-- A hot queue table: every job is inserted once and updated two or three times
-- (claim, outcome, maybe a retry). Leaving 30% of each page free lets the new row
-- version land on the same page, and vacuuming after 1% of rows changed (instead
-- of the default 20%) keeps dead versions from piling up in the claim index.
WITH (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 1
);

COMMENT ON TABLE visibility_grant_jobs IS
    'DingTalk visibleInOtherOrg grants to apply. Producers INSERT; visibility-worker processes claim and complete.';

-- The claim index: only rows a worker could claim, in the order it claims them.
-- Finished rows (the vast majority over time) are not in it at all.
CREATE INDEX visibility_grant_jobs_claimable
    ON visibility_grant_jobs (priority DESC, run_at, id)
    WHERE state = 'pending';

-- Finds leases that ran out, for the rescuer.
CREATE INDEX visibility_grant_jobs_running_leases
    ON visibility_grant_jobs (locked_until)
    WHERE state = 'running';

-- Wake idle workers when jobs arrive. FOR EACH STATEMENT: a bulk insert of
-- 100,000 rows sends one notification, not 100,000.
CREATE FUNCTION visibility_grant_jobs_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('visibility_grant_jobs', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER visibility_grant_jobs_notify_on_insert
    AFTER INSERT ON visibility_grant_jobs
    FOR EACH STATEMENT
    EXECUTE FUNCTION visibility_grant_jobs_notify();
