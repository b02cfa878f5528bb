-- Which release each live worker runs (shown by `status`), and the rule that lets
-- workers of an older release keep running against a newer schema during a
-- rolling upgrade.

-- `1.0.0 (commit abc1234)`, written at registration and with every heartbeat.
-- NULL for workers older than this migration (they do not send it).
ALTER TABLE visibility_workers
    ADD COLUMN version text NULL;

-- One row. A worker build knows the migrations up to its own
-- SchemaMigrator.requiredVersion. It refuses to start when the schema is older
-- than that (run `migrate` first), and when `oldest_worker_schema` here is newer
-- than that: the database has had a migration that such workers cannot live
-- with. A migration that older workers can live with (a new nullable column
-- they never name, an index, a table they never read) leaves this row alone; one
-- they cannot (a dropped or renamed column they use, a new NOT NULL column
-- without a default, a changed meaning) sets it to its own number in the same
-- file:
--     UPDATE visibility_schema_compatibility SET oldest_worker_schema = NNN;
-- This migration only adds a nullable column, so workers built for 007 keep working.
CREATE TABLE visibility_schema_compatibility (
    only_row             boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    oldest_worker_schema int     NOT NULL
);
INSERT INTO visibility_schema_compatibility (oldest_worker_schema) VALUES (7);

COMMENT ON TABLE visibility_schema_compatibility IS
    'The oldest worker build (by its newest known migration) that may run against this schema.';

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_worker') THEN
        GRANT SELECT ON visibility_schema_compatibility TO visibility_worker;
    END IF;
END;
$$;
