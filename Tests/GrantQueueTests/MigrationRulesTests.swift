import Foundation
import XCTest

@testable import GrantQueue

/// The rules every migration from 017 on follows, so that `migrate` never stops the
/// queue and can always finish what it started (docs/DESIGN.md, "Migrations"). Files
/// before 017 are applied on live databases and cannot change: they are not held to them.
struct MigrationRules {
    static let firstMigrationUnderRules = 17

    /// The tables that hold one row per job or attempt: never rewritten or scanned
    /// under a lock that writers wait for.
    static let bigTables = ["visibility_grant_jobs", "visibility_grant_attempts"]

    /// What `migration` breaks, one line each; empty when it follows every rule.
    static func violations(of migration: Migration) -> [String] {
        var found: [String] = []
        let statements = sqlWords(migration.transactionalPart)
            .split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        for statement in statements {
            found += transactionalViolations(statement)
        }
        for statement in migration.afterCommitStatements {
            let text = sqlWords(statement).trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";")))
            if IndexStep(statement: statement) == nil && !text.hasPrefix("alter table") || text.hasPrefix("alter table")
                && !text.contains(" validate constraint ") {
                found.append("after commit, `\(text.prefix(60))` cannot run again: only CREATE INDEX CONCURRENTLY IF NOT EXISTS, "
                    + "DROP INDEX CONCURRENTLY IF EXISTS and VALIDATE CONSTRAINT may follow the commit")
            }
        }
        let code = Migration.withoutComments(migration.sql)
        for word in code.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }) where word.utf8.count > 63 {
            found.append("the name \(word) is longer than 63 bytes: PostgreSQL would cut it short")
        }
        found += gateViolations(migration)
        return found
    }

    private static func transactionalViolations(_ statement: String) -> [String] {
        var found: [String] = []
        func refuse(_ why: String) { found.append("`\(statement.prefix(70))`: \(why)") }
        if statement.range(of: #"^set (local |session )?(lock_timeout|statement_timeout)"#, options: .regularExpression) != nil {
            refuse("the migrator sets lock_timeout for the whole file; a file does not set its own")
        }
        if statement.range(of: #"^create (unique )?index"#, options: .regularExpression) != nil {
            refuse("build indexes CONCURRENTLY, after `-- migrate: after commit`")
        }
        if statement.hasPrefix("reindex") || statement.hasPrefix("cluster") || statement.hasPrefix("vacuum full")
            || statement.hasPrefix("lock table") || statement.hasPrefix("lock ") {
            refuse("takes a lock that writers wait for, for as long as the table is big")
        }
        for table in bigTables {
            if statement.hasPrefix("update \(table)") || statement.hasPrefix("delete from \(table)")
                || statement.hasPrefix("insert into \(table)") {
                refuse("writes every matching row of \(table) in the transaction that holds the file's locks; "
                    + "do it in batches from the workers, or after commit")
            }
        }
        if statement.hasPrefix("alter table") {
            if statement.range(of: #" alter column \w+ (set data )?type "#, options: .regularExpression) != nil {
                refuse("a column's type change rewrites the table under an exclusive lock")
            }
            if statement.contains(" set not null") {
                refuse("SET NOT NULL scans the table under an exclusive lock; add a CHECK (… IS NOT NULL) NOT VALID and VALIDATE it after commit")
            }
            if statement.range(of: #" add column [^,]* not null"#, options: .regularExpression) != nil
                && statement.range(of: #" add column [^,]* default "#, options: .regularExpression) == nil {
                refuse("a NOT NULL column without a default fails on a table with rows")
            }
            if statement.range(of: #" default [^,]*(now|random|clock_timestamp|nextval|gen_random_uuid|timeofday)\("#,
                               options: .regularExpression) != nil {
                refuse("a volatile default rewrites the table under an exclusive lock")
            }
            if statement.range(of: #" add (constraint \w+ )?(check|foreign key)"#, options: .regularExpression) != nil
                && !statement.contains(" not valid") {
                refuse("a CHECK or FOREIGN KEY scans the table under its lock: add it NOT VALID and VALIDATE it after commit")
            }
            if statement.range(of: #" add (constraint \w+ )?(primary key|unique)"#, options: .regularExpression) != nil
                && !statement.contains(" using index ") {
                refuse("builds an index under an exclusive lock: build it CONCURRENTLY first, then ADD … USING INDEX")
            }
        }
        return found
    }

    /// A migration says what it does to the gate: it raises oldest_worker_schema to its
    /// own number in its own transaction, or says in a line `-- Gate: unchanged …` why
    /// workers built before it keep working.
    private static func gateViolations(_ migration: Migration) -> [String] {
        let code = sqlWords(migration.transactionalPart)
        let raises = code.ranges(of: #"update visibility_schema_compatibility set oldest_worker_schema = (\d+)"#)
        let says = migration.sql.split(separator: "\n").contains { $0.hasPrefix("-- Gate: unchanged") }
        if raises.isEmpty && !says {
            return ["says nothing of the gate: raise oldest_worker_schema to \(migration.version) in this file, "
                + "or say why older workers keep working in a line `-- Gate: unchanged, …`"]
        }
        if !raises.isEmpty && says { return ["both raises the gate and says it is unchanged"] }
        if let number = raises.last, number != migration.version {
            return ["raises oldest_worker_schema to \(number), not to its own number \(migration.version)"]
        }
        return []
    }

    /// Lower case, comments and dollar-quoted bodies (functions, DO blocks) removed,
    /// whitespace collapsed: what the statements themselves say.
    static func sqlWords(_ sql: String) -> String {
        var text = Migration.withoutComments(sql)
        while let open = text.range(of: #"\$[A-Za-z_]*\$"#, options: .regularExpression) {
            let tag = String(text[open])
            guard let close = text.range(of: tag, range: open.upperBound..<text.endIndex) else { break }
            text.replaceSubrange(open.lowerBound..<close.upperBound, with: "''")
        }
        return text.lowercased().replacingOccurrences(of: #"\s+"#, with: " ", options: .regularExpression)
    }
}

private extension String {
    /// The first capture group's number in each match of `pattern`.
    func ranges(of pattern: String) -> [Int] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(startIndex..., in: self)
        return regex.matches(in: self, range: range).compactMap { match in
            Range(match.range(at: 1), in: self).flatMap { Int(self[$0]) }
        }
    }
}

final class MigrationRulesTests: XCTestCase {
    static let sqlDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("sql")

    func testEveryMigrationFrom017FollowsTheRules() throws {
        let migrator = try SchemaMigrator(directory: Self.sqlDirectory, logger: .init(label: "test"))
        let underRules = migrator.migrations.filter { $0.version >= MigrationRules.firstMigrationUnderRules }
        XCTAssertFalse(underRules.isEmpty)
        for migration in underRules {
            XCTAssertEqual(MigrationRules.violations(of: migration), [], migration.name)
        }
    }

    /// Each rule, broken once: the check finds it.
    func testTheRulesCatchWhatStopsTheQueue() {
        func check(_ sql: String, finds fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            let migration = Migration(version: 99, name: "099_bad", sql: "-- Gate: unchanged, a test\n" + sql)
            let found = MigrationRules.violations(of: migration)
            XCTAssertTrue(found.contains { $0.contains(fragment) }, "\(found)", file: file, line: line)
        }
        check("SET LOCAL lock_timeout = '10s';", finds: "sets lock_timeout")
        check("CREATE INDEX visibility_x ON visibility_grant_jobs (app);", finds: "CONCURRENTLY")
        check("UPDATE visibility_grant_jobs SET priority = 0;", finds: "writes every matching row")
        check("ALTER TABLE visibility_grant_jobs ALTER COLUMN priority TYPE bigint;", finds: "rewrites the table")
        check("ALTER TABLE visibility_grant_jobs ALTER COLUMN app SET NOT NULL;", finds: "SET NOT NULL")
        check("ALTER TABLE visibility_grant_jobs ADD COLUMN x int NOT NULL;", finds: "without a default")
        check("ALTER TABLE visibility_grant_jobs ADD COLUMN x timestamptz DEFAULT now();", finds: "volatile default")
        check("ALTER TABLE visibility_grant_jobs ADD CONSTRAINT x CHECK (priority > 0);", finds: "NOT VALID")
        check("ALTER TABLE visibility_grant_jobs ADD CONSTRAINT x UNIQUE (app);", finds: "USING INDEX")
        check("\n-- migrate: after commit\nCREATE INDEX CONCURRENTLY visibility_x ON visibility_grant_jobs (app);",
              finds: "cannot run again")
        check("CREATE TABLE visibility_\(String(repeating: "x", count: 60)) (id int);", finds: "longer than 63 bytes")
        let silent = Migration(version: 99, name: "099_silent", sql: "CREATE TABLE visibility_x (id int);")
        XCTAssertTrue(MigrationRules.violations(of: silent).contains { $0.contains("says nothing of the gate") })
        let wrong = Migration(version: 99, name: "099_wrong",
                              sql: "UPDATE visibility_schema_compatibility SET oldest_worker_schema = 98;")
        XCTAssertTrue(MigrationRules.violations(of: wrong).contains { $0.contains("not to its own number") })
        // Statements inside a function body are the function's, not the migration's.
        let function = Migration(version: 99, name: "099_function", sql: """
            -- Gate: unchanged, a test
            CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ UPDATE visibility_grant_jobs SET priority = 0 $$;
            """)
        XCTAssertEqual(MigrationRules.violations(of: function), [])
    }

    func testIndexStepsAreReadFromTheirStatements() {
        XCTAssertEqual(IndexStep(statement: "-- why\nCREATE INDEX CONCURRENTLY IF NOT EXISTS visibility_a\n ON t (x)"),
                       .create(index: "visibility_a"))
        XCTAssertEqual(IndexStep(statement: "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS visibility_b ON t (x);"),
                       .create(index: "visibility_b"))
        XCTAssertEqual(IndexStep(statement: "DROP INDEX CONCURRENTLY IF EXISTS visibility_c;"), .drop(index: "visibility_c"))
        XCTAssertNil(IndexStep(statement: "ALTER TABLE t VALIDATE CONSTRAINT c;"))
    }
}
