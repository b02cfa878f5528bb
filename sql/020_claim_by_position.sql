-- Workers built for 019 claim through visibility_grant_jobs_claim_order, after
-- a position, and stage scheduled jobs; the index that older builds claimed
-- through goes.
--
-- Gate: raised to 20. Builds before 019's claim would scan the table without
-- the index they name, and never stage scheduled jobs (a fleet of them alone
-- would leave jobs queued for later waiting for ever).

UPDATE visibility_schema_compatibility SET oldest_worker_schema = 20;

-- migrate: after commit
DROP INDEX CONCURRENTLY IF EXISTS visibility_grant_jobs_claimable_heads_by_app;
