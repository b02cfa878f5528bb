import Foundation
import XCTest

/// The queue's rooms (docs/DESIGN.md, Module map): the engine reaches the worker's
/// hot path and nothing else of the queue. Read from Package.swift, so a new
/// dependency that breaks the rule fails here, not in a review.
final class PackageGraphTests: XCTestCase {
    static let manifest = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Package.swift")

    func testTheEngineReachesNoRoomButTheHotPath() throws {
        let graph = try Self.targetGraph()
        let reached = Self.reachable(from: "GrantWorker", in: graph)
        XCTAssertTrue(reached.contains("QueueHotPath"), "the engine runs the hot path's statements")
        for room in ["QueueReadModels", "QueueOperations", "BulkImport"] {
            XCTAssertFalse(reached.contains(room), "GrantWorker reaches \(room) through \(graph["GrantWorker"] ?? [])")
        }
    }

    func testTheRoomsDependOnTheFoundationNotOnTheEngine() throws {
        let graph = try Self.targetGraph()
        for room in ["QueueHotPath", "QueueReadModels", "QueueOperations", "BulkImport"] {
            let reached = Self.reachable(from: room, in: graph)
            XCTAssertTrue(reached.contains("GrantQueue"), "\(room) builds on the foundation")
            XCTAssertFalse(reached.contains("GrantWorker") || reached.contains("DingTalk"), "\(room) reaches the engine or the API")
        }
        XCTAssertFalse(Self.reachable(from: "QueueHotPath", in: graph).contains("QueueReadModels"))
        XCTAssertFalse(Self.reachable(from: "BulkImport", in: graph).contains("QueueOperations"))
    }

    /// Target name to the package's own targets it names as dependencies (products of
    /// other packages are written `.product(...)` and left out).
    static func targetGraph() throws -> [String: [String]] {
        let text = try String(contentsOf: manifest, encoding: .utf8)
        let target = try NSRegularExpression(pattern: #"\.(?:target|executableTarget|testTarget|systemLibrary)\(\s*name:\s*"([^"]+)""#)
        let matches = target.matches(in: text, range: NSRange(text.startIndex..., in: text))
        var graph: [String: [String]] = [:]
        for (index, match) in matches.enumerated() {
            let name = String(text[Range(match.range(at: 1), in: text)!])
            let end = index + 1 < matches.count ? Range(matches[index + 1].range, in: text)!.lowerBound : text.endIndex
            let body = String(text[Range(match.range, in: text)!.upperBound..<end])
            guard let open = body.range(of: "dependencies: [") else { graph[name] = []; continue }
            var depth = 1
            var cursor = open.upperBound
            while depth > 0, cursor < body.endIndex {
                if body[cursor] == "[" { depth += 1 } else if body[cursor] == "]" { depth -= 1 }
                cursor = body.index(after: cursor)
            }
            let list = body[open.upperBound..<cursor]
            // Drop `.product(name: "X", package: "y")`; what is left quoted names a target.
            let withoutProducts = list.replacingOccurrences(of: #"\.product\([^)]*\)"#, with: "", options: .regularExpression)
            let quoted = try NSRegularExpression(pattern: #""([^"]+)""#)
            graph[name] = quoted.matches(in: withoutProducts, range: NSRange(withoutProducts.startIndex..., in: withoutProducts))
                .map { String(withoutProducts[Range($0.range(at: 1), in: withoutProducts)!]) }
        }
        XCTAssertNotNil(graph["GrantWorker"], "Package.swift was not read as expected")
        return graph
    }

    static func reachable(from start: String, in graph: [String: [String]]) -> Set<String> {
        var seen: Set<String> = []
        var stack = graph[start] ?? []
        while let next = stack.popLast() {
            if seen.insert(next).inserted { stack += graph[next] ?? [] }
        }
        return seen
    }
}
