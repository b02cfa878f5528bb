-- What the operator console (`visibility-worker console`) needs to stay fast on a
-- large queue: its job list filters by state, error code or ordering key and pages
-- newest first by id, and its overview counts jobs by state. Without these, a
-- filter for a rare state or code reads the whole table.
-- Like 007, building them blocks writes to the table while it runs: migrate at a quiet time.

-- Filter by state, newest first; also counts a state by an index-only range scan
-- (the overview does so for every state small enough to count quickly).
CREATE INDEX visibility_grant_jobs_by_state
    ON visibility_grant_jobs (state, id);

-- Filter by last error code, newest first. Most jobs never carry a code (a
-- success clears it). With the state included, the overview's (and `status`'s)
-- error codes by state are counted from this index alone.
CREATE INDEX visibility_grant_jobs_by_error_code
    ON visibility_grant_jobs (last_error_code, id) INCLUDE (state)
    WHERE last_error_code IS NOT NULL;

-- Filter by ordering key in any state (004's index holds unfinished jobs only).
CREATE INDEX visibility_grant_jobs_by_ordering_key
    ON visibility_grant_jobs (ordering_key, id)
    WHERE ordering_key IS NOT NULL;
