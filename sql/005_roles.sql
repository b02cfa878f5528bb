-- Least-privilege roles. Grant them to login users, e.g.
--   CREATE USER hr_sync PASSWORD '...' IN ROLE visibility_producer;
--   CREATE USER grant_worker PASSWORD '...' IN ROLE visibility_worker;
--
-- visibility_producer: may insert jobs and read them (and their attempts), nothing else.
-- visibility_worker:   may claim, complete, retry, cancel and prune jobs, write the
--                      audit trail and register itself; it cannot insert jobs.
-- Neither owns the tables, so neither can alter or drop the schema.
--
-- Roles belong to the whole cluster; if the migrating user may not create roles,
-- this step says so and the grants are left for an administrator.
DO $$
BEGIN
    BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_producer') THEN
            CREATE ROLE visibility_producer NOLOGIN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_worker') THEN
            CREATE ROLE visibility_worker NOLOGIN;
        END IF;
    EXCEPTION
        WHEN duplicate_object THEN NULL;  -- another database's migration created it just now
        WHEN insufficient_privilege THEN
            RAISE WARNING 'cannot create roles visibility_producer / visibility_worker: run sql/005_roles.sql as a user with CREATEROLE';
            RETURN;
    END;

    GRANT SELECT, INSERT ON visibility_grant_jobs TO visibility_producer;
    GRANT SELECT ON visibility_grant_attempts TO visibility_producer;

    GRANT SELECT, UPDATE, DELETE ON visibility_grant_jobs TO visibility_worker;
    GRANT SELECT, INSERT, DELETE ON visibility_grant_attempts TO visibility_worker;
    GRANT SELECT, INSERT, UPDATE, DELETE ON visibility_workers TO visibility_worker;
    GRANT SELECT ON visibility_schema_migrations TO visibility_worker, visibility_producer;
END;
$$;
