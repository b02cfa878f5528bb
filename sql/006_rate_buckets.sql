-- The fleet-wide call budget (`run --global-qps`): one token bucket per app key,
-- shared by every worker process through this table, because DingTalk's QPS
-- limit is per app, not per process. Workers take tokens in small chunks.

CREATE TABLE visibility_rate_buckets (
    app_key     text        PRIMARY KEY,
    tokens      float8      NOT NULL,
    refilled_at timestamptz NOT NULL
);

COMMENT ON TABLE visibility_rate_buckets IS
    'Token buckets for run --global-qps, one per DingTalk app key.';

-- Takes up to p_wanted whole tokens from the bucket of p_app_key, which refills
-- at p_rate per second and holds at most p_burst. Returns how many were granted
-- and, if fewer than wanted, how long until the rest would be there.
CREATE FUNCTION visibility_take_rate_tokens(p_app_key text, p_rate float8, p_burst float8, p_wanted int)
RETURNS TABLE (granted int, wait_seconds float8)
LANGUAGE plpgsql AS $$
DECLARE
    bucket    visibility_rate_buckets;
    available float8;
    now_ts    timestamptz;
BEGIN
    SELECT * INTO bucket FROM visibility_rate_buckets WHERE app_key = p_app_key FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO visibility_rate_buckets (app_key, tokens, refilled_at)
        VALUES (p_app_key, 0, clock_timestamp())
        ON CONFLICT (app_key) DO NOTHING;
        SELECT * INTO bucket FROM visibility_rate_buckets WHERE app_key = p_app_key FOR UPDATE;
    END IF;
    -- Read the clock after the lock: time spent waiting for it must not be lost.
    now_ts := clock_timestamp();
    available := least(p_burst, bucket.tokens + greatest(0, extract(epoch FROM now_ts - bucket.refilled_at)) * p_rate);
    granted := greatest(0, least(floor(available)::int, p_wanted));
    UPDATE visibility_rate_buckets SET tokens = available - granted, refilled_at = now_ts WHERE app_key = p_app_key;
    wait_seconds := CASE WHEN granted >= p_wanted THEN 0
                         ELSE (least(p_wanted, p_burst) - (available - granted)) / p_rate END;
    RETURN NEXT;
END;
$$;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_worker') THEN
        GRANT SELECT, INSERT, UPDATE ON visibility_rate_buckets TO visibility_worker;
    END IF;
END;
$$;
