import GrantQueue
import Postgres

extension GrantQueue {
    /// The columns `UnexplainedRows` reads, counted in the same scan as the states.
    static let unexplainedRowCounts = """
        count(*) FILTER (WHERE state = 'running' AND (locked_by IS NULL OR locked_until IS NULL))::bigint,
               count(*) FILTER (WHERE state = 'running' AND locked_until > now() + \(longestLeaseSQL))::bigint,
               count(*) FILTER (WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at IS NULL)::bigint,
               count(*) FILTER (WHERE state IN ('pending', 'running') AND finished_at IS NOT NULL)::bigint,
               count(*) FILTER (WHERE state = 'succeeded' AND attempts = 0)::bigint
        """
}
