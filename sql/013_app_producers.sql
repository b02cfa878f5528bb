-- One organization's producer sees only its own grants. A producer login may be
-- confined to some apps: it then inserts and reads only their jobs, their
-- attempts and their rows of visibility_apps. Managed with
--   visibility-worker apps grant APP ROLE   /   apps revoke APP ROLE
--
-- Who is confined:
--   * A login in visibility_producer with at least one row here: to those apps.
--   * A login in visibility_producer with no row here: nobody, as before this
--     migration, so existing setups keep working. Map every producer login to
--     confine them all (docs/OPERATIONS.md, "Confining producers to apps").
--   * Members of visibility_worker (visibility_acts_as_worker(), 009), also when
--     they are producers too: a worker must see every app's jobs to claim them.
--   * The schema owner and superusers: row-level security is ENABLEd, not
--     FORCEd, so the tables' owner is exempt; superusers always are.
--
-- Mapped by the login (session_user), not by current_user: a confined login is
-- a member of visibility_producer, which has no mapping of its own, so with
-- current_user a `SET ROLE visibility_producer` would shed the confinement.
-- session_user cannot be changed by SET ROLE.
--
-- What workers pay: nothing. Their policy is `true` (which the planner drops);
-- the confining policy applies to visibility_producer's members only, and even
-- there its lookups are scalar subqueries, run once per statement, not per row.

-- ENABLE ROW LEVEL SECURITY and CREATE POLICY take the tables' strongest lock:
-- fail rather than queue every producer and worker behind it (run `migrate` again).
SET LOCAL lock_timeout = '10s';

CREATE TABLE visibility_app_producers (
    app        text        NOT NULL,
    -- A login name (pg_roles.rolname). Not a foreign key: roles live in the catalog.
    role       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (app, role),
    -- No ON DELETE CASCADE: removing an app must not quietly lift a login's last
    -- mapping, which would let it see every app. `apps remove` says to revoke first.
    CONSTRAINT producer_app_must_name_a_row_of_visibility_apps
        FOREIGN KEY (app) REFERENCES visibility_apps (name)
);

-- The lookup of every confined producer's statements goes by login.
CREATE INDEX visibility_app_producers_by_role ON visibility_app_producers (role);

COMMENT ON TABLE visibility_app_producers IS
    'Producer logins confined to apps (row-level security). Managed with visibility-worker apps grant|revoke APP ROLE.';

-- The apps the session's login is confined to, or NULL if it is not confined.
-- SECURITY DEFINER so producers need no privilege on the mapping (they would
-- see other organizations' logins); it tells a caller only its own apps.
CREATE FUNCTION visibility_apps_of_login() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT array_agg(app ORDER BY app) FROM visibility_app_producers WHERE role = session_user
$$;

COMMENT ON FUNCTION visibility_apps_of_login() IS
    'The apps the session''s login (session_user) is confined to by visibility_app_producers; NULL when it is not confined.';

-- A SECURITY DEFINER function runs with its owner's rights: pin its search_path
-- so nobody can put a visibility_app_producers of their own in front of it.
DO $$
DECLARE
    home text := (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                  WHERE c.oid = 'visibility_app_producers'::regclass);
BEGIN
    EXECUTE format('ALTER FUNCTION visibility_apps_of_login() SET search_path = pg_catalog, %I, pg_temp', home);
END;
$$;

-- Every role keeps what its privileges give it (a permissive `true`), and
-- producers are narrowed by a restrictive policy on top. Without the first, any
-- role without a policy of its own (workers, a reporting login) would see no rows.
ALTER TABLE visibility_grant_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE visibility_grant_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE visibility_apps ENABLE ROW LEVEL SECURITY;

CREATE POLICY roles_keep_their_privileges ON visibility_grant_jobs AS PERMISSIVE TO PUBLIC USING (true) WITH CHECK (true);
CREATE POLICY roles_keep_their_privileges ON visibility_grant_attempts AS PERMISSIVE TO PUBLIC USING (true) WITH CHECK (true);
CREATE POLICY roles_keep_their_privileges ON visibility_apps AS PERMISSIVE TO PUBLIC USING (true) WITH CHECK (true);

-- A refused insert names the policy:
--   new row violates row-level security policy "producers_confined_to_their_apps" for table "visibility_grant_jobs"
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_producer') THEN
        RAISE WARNING 'role visibility_producer does not exist (see sql/005_roles.sql): no producer can be confined to apps';
        RETURN;
    END IF;
    CREATE POLICY producers_confined_to_their_apps ON visibility_grant_jobs AS RESTRICTIVE TO visibility_producer
        USING ((SELECT visibility_acts_as_worker()) OR (SELECT visibility_apps_of_login()) IS NULL
               OR app = ANY ((SELECT visibility_apps_of_login())::text[]))
        WITH CHECK ((SELECT visibility_acts_as_worker()) OR (SELECT visibility_apps_of_login()) IS NULL
                    OR app = ANY ((SELECT visibility_apps_of_login())::text[]));
    -- An attempt belongs to the app of its job.
    CREATE POLICY producers_confined_to_their_apps ON visibility_grant_attempts AS RESTRICTIVE TO visibility_producer
        USING ((SELECT visibility_acts_as_worker()) OR (SELECT visibility_apps_of_login()) IS NULL
               OR EXISTS (SELECT FROM visibility_grant_jobs AS j
                          WHERE j.id = job_id AND j.app = ANY ((SELECT visibility_apps_of_login())::text[])));
    -- Other organizations' app keys, comments and pauses are theirs too.
    CREATE POLICY producers_confined_to_their_apps ON visibility_apps AS RESTRICTIVE TO visibility_producer
        USING ((SELECT visibility_acts_as_worker()) OR (SELECT visibility_apps_of_login()) IS NULL
               OR name = ANY ((SELECT visibility_apps_of_login())::text[]));
END;
$$;

-- Workers (and so `apps list` run as one) read the mapping; only the schema
-- owner changes it: a worker's credentials sit on many machines, and must not
-- be enough to lift a producer's confinement.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'visibility_worker') THEN
        GRANT SELECT ON visibility_app_producers TO visibility_worker;
    END IF;
END;
$$;
