-- Several DingTalk apps in one queue: a group company with several member
-- organizations, or an integrator with several customers, has one internal app
-- per organization, each with its own key, QPS limit, monthly quota and IP
-- allow-list. Each job names its app; no secret is ever stored here (workers
-- read them from DINGTALK_APP_SECRETS_DIR, one file per app key).
--
-- The app `default` stands for the single app of DINGTALK_APP_KEY /
-- DINGTALK_ACCESS_TOKEN: existing rows and single-app setups keep working.
--
-- Safe on a large, busy queue: ADD COLUMN with a constant default changes only
-- the catalog, and the foreign key is added NOT VALID (new rows are checked at
-- once). The index and the check of existing rows run after this file's
-- transaction commits (below the marker), without blocking producers.

CREATE TABLE visibility_apps (
    name         text        PRIMARY KEY,
    app_key      text        NULL,
    global_qps   float8      NULL,
    comment      text        NULL,
    -- A pause of this app's calls (config error, monthly quota), shared by every
    -- worker: while paused_until is set, no worker claims the app's jobs, except
    -- the one holding the probe (probe_by) once paused_until has passed.
    paused_until timestamptz NULL,
    pause_reason text        NULL,
    paused_since timestamptz NULL,
    probe_by     text        NULL,
    probe_until  timestamptz NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT app_name_must_be_1_to_64_letters_digits_dots_dashes_or_underscores
        CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    CONSTRAINT app_key_must_be_unique
        UNIQUE (app_key),
    CONSTRAINT app_key_must_be_set_except_for_the_default_app
        CHECK (app_key IS NOT NULL OR name = 'default'),
    CONSTRAINT app_key_must_not_be_blank_or_contain_a_slash
        CHECK (btrim(app_key) <> '' AND strpos(app_key, '/') = 0 AND left(app_key, 1) <> '.'),
    CONSTRAINT global_qps_must_be_0_01_to_100000
        CHECK (global_qps BETWEEN 0.01 AND 100000)
);

COMMENT ON TABLE visibility_apps IS
    'DingTalk apps whose jobs this queue holds (no secrets). Managed with visibility-worker apps add|list|remove.';

INSERT INTO visibility_apps (name, comment)
VALUES ('default', 'The app of DINGTALK_APP_KEY or DINGTALK_ACCESS_TOKEN; jobs that name no app.');

ALTER TABLE visibility_grant_jobs
    ADD COLUMN app text NOT NULL DEFAULT 'default';

-- A producer's typo is refused at INSERT with this name in the message.
ALTER TABLE visibility_grant_jobs
    ADD CONSTRAINT app_must_name_a_row_of_visibility_apps
    FOREIGN KEY (app) REFERENCES visibility_apps (name) NOT VALID;

-- Which apps this worker has no secret for (their jobs are left to other workers), for `status`.
ALTER TABLE visibility_workers
    ADD COLUMN apps_without_secret text[] NULL;

-- Each app's fleet budget as reserved call times (a virtual scheduling, or GCRA,
-- bucket): a worker reserves up to p_wanted slots spaced 1/p_rate apart,
-- starting at the app's next free slot, as long as they start within
-- p_horizon seconds, and sends each call at its slot. Unlike tokens that must be
-- taken on time, a slot nobody asked for is not lost, and no burst builds up.
CREATE TABLE visibility_rate_slots (
    app_key   text        PRIMARY KEY,
    next_slot timestamptz NOT NULL
);

COMMENT ON TABLE visibility_rate_slots IS
    'The next free call time of each app key under a fleet budget (visibility_apps.global_qps or run --global-qps).';

-- Returns how many slots were granted, in how many seconds the first one is (0
-- or more), and, when none was, how long until one would be.
CREATE FUNCTION visibility_reserve_rate_slots(p_app_key text, p_rate float8, p_wanted int, p_horizon float8)
RETURNS TABLE (granted int, first_in float8, wait_seconds float8)
LANGUAGE plpgsql AS $$
DECLARE
    slot   timestamptz;
    now_ts timestamptz;
    room   float8;
BEGIN
    SELECT next_slot INTO slot FROM visibility_rate_slots WHERE app_key = p_app_key FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO visibility_rate_slots (app_key, next_slot) VALUES (p_app_key, clock_timestamp())
        ON CONFLICT (app_key) DO NOTHING;
        SELECT next_slot INTO slot FROM visibility_rate_slots WHERE app_key = p_app_key FOR UPDATE;
    END IF;
    -- Read the clock after the lock: time spent waiting for it must not be lost.
    now_ts := clock_timestamp();
    slot := greatest(slot, now_ts);
    room := p_horizon - extract(epoch FROM slot - now_ts);
    granted := CASE WHEN room < 0 THEN 0 ELSE least(p_wanted, floor(room * p_rate)::int + 1) END;
    first_in := extract(epoch FROM slot - now_ts);
    wait_seconds := CASE WHEN granted > 0 THEN 0 ELSE -room END;
    IF granted > 0 THEN
        UPDATE visibility_rate_slots SET next_slot = slot + make_interval(secs => granted / p_rate) WHERE app_key = p_app_key;
    END IF;
    RETURN NEXT;
END;
$$;

-- Producers learn outcomes: one NOTIFY visibility_grant_jobs_done per statement
-- that finished jobs (succeeded, failed or cancelled), whose payload is their
-- ids, comma-separated, in chunks of at most 390 ids (20 bytes each at most),
-- under PostgreSQL's 8,000-byte payload limit. `visibility-worker wait` listens.
CREATE FUNCTION visibility_grant_jobs_notify_done() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT string_agg(id::text, ',' ORDER BY id)
        FROM (
            SELECT n.id, (row_number() OVER (ORDER BY n.id) - 1) / 390 AS chunk
            FROM finished_rows AS n
            JOIN earlier_rows AS o ON o.id = n.id
            WHERE n.state IN ('succeeded', 'failed', 'cancelled')
              AND o.state NOT IN ('succeeded', 'failed', 'cancelled')
        ) AS done
        GROUP BY chunk
    LOOP
        PERFORM pg_notify('visibility_grant_jobs_done', payload);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER visibility_grant_jobs_notify_done_on_update
    AFTER UPDATE ON visibility_grant_jobs
    REFERENCING OLD TABLE AS earlier_rows NEW TABLE AS finished_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION visibility_grant_jobs_notify_done();

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_worker') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON visibility_apps TO visibility_worker;
        GRANT SELECT, INSERT, UPDATE ON visibility_rate_slots TO visibility_worker;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_producer') THEN
        GRANT SELECT ON visibility_apps TO visibility_producer;
        -- Producers insert only the columns granted to them (009): `app` is one of theirs.
        GRANT INSERT (app) ON visibility_grant_jobs TO visibility_producer;
    END IF;
END;
$$;

-- migrate: after commit
-- Claims go app by app: each finds its app's due jobs in claim order from this
-- index alone, however long another app's backlog is.
CREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_grant_jobs_claimable_by_app
    ON visibility_grant_jobs (app, priority DESC, run_at, id)
    WHERE state = 'pending';

-- migrate: after commit
ALTER TABLE visibility_grant_jobs VALIDATE CONSTRAINT app_must_name_a_row_of_visibility_apps;

-- migrate: after commit
-- Replaced by the index above (same order, app first): one index less to keep up on every insert and claim.
DROP INDEX CONCURRENTLY IF EXISTS visibility_grant_jobs_claimable;
