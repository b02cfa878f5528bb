// swift-tools-version:6.1
import PackageDescription

// The git commit a build is made from, for `--version` and `status`. scripts/package
// passes it in the environment (VISIBILITY_WORKER_COMMIT=abc1234 swift build …), so no
// generated file is committed or left behind; any other build says "unknown". Only a
// C define can carry a value into the binary, and only the small CBuildInfo target
// gets it, so a new commit recompiles one C file rather than every module. Anything
// but letters, digits and '-' is dropped: the value ends up in a C string literal.
let buildCommit = String((Context.environment["VISIBILITY_WORKER_COMMIT"] ?? "").filter {
    $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-")
}.prefix(64))

let package = Package(
    name: "visibility-worker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "visibility-worker", targets: ["visibility-worker"]),
    ],
    dependencies: [
        // The CLI's command and flag parsing.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Logging facade shared by every module.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The fake DingTalk server's HTTP stack (and AsyncHTTPClient's).
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        // The DingTalk API client: pooled keep-alive connections, TLS, timeouts (docs/DESIGN.md, HTTP client).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // TLS settings for that client (certificate verification on by default).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        // HTTP/2 for the fake's HTTPS listener (AsyncHTTPClient already depends on it).
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        // Metrics facade: the engine counts and times through it, whatever the backend.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        // The backend for `run --metrics-port`: Prometheus text format.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Tracing facade: the engine and the DingTalk client make spans through it, whatever the backend.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
        // The backend for traces: OTLP export, only over HTTP (the gRPC trait would add grpc-swift's build).
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        // Runs and stops swift-otel's exporter service (already one of swift-otel's dependencies).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.4.1"),
    ],
    targets: [
        // The C layer: libpq as a Swift module, plus the few macros Swift cannot import.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // Build facts that only the build knows: the commit (see buildCommit above).
        .target(
            name: "CBuildInfo",
            cSettings: buildCommit.isEmpty ? [] : [.define("VISIBILITY_WORKER_COMMIT", to: "\"\(buildCommit)\"")]
        ),
        // A safe Swift wrapper over libpq: connections, parameters, rows, LISTEN, errors.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The queue's foundation: its connection, the schema and its migrations, and the
        // vocabulary every room shares (apps, new jobs, the throttle count, the horizon report).
        .target(
            name: "GrantQueue",
            dependencies: [
                "Postgres",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Room 1, the worker's hot path: claim, complete, admit, rescue, heartbeat,
        // rate slots, app pauses, prune. The only room the engine may reach.
        .target(name: "QueueHotPath", dependencies: ["GrantQueue", "Postgres"]),
        // Room 2, what `status` and the console read: counts, activity, apps, job lists.
        .target(name: "QueueReadModels", dependencies: ["GrantQueue", "Postgres"]),
        // Room 3, the operators' commands: apps, producers, enqueue, retry, cancel, wait,
        // and the console's bulk actions (through its job filter, hence the read models).
        .target(name: "QueueOperations", dependencies: ["GrantQueue", "QueueReadModels", "Postgres"]),
        // Room 4, the bulk import: JSON Lines and CSV files, COPY through a staging table.
        .target(name: "BulkImport", dependencies: ["GrantQueue", "Postgres"]),
        // The DingTalk API: models, access tokens, HTTP transport, outcome classification.
        // Knows nothing of the queue.
        .target(
            name: "DingTalk",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // A small HTTP server on SwiftNIO, shared by the fake API and the metrics endpoint:
        // plain HTTP/1.1, or TLS offering HTTP/2 and HTTP/1.1 by ALPN.
        .target(
            name: "HTTPServerSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ]
        ),
        // A local stand-in for the DingTalk API, with fault injection.
        .target(
            name: "FakeDingTalk",
            dependencies: [
                "DingTalk",
                "HTTPServerSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The engine: claim loop, Dispatch concurrency limits, rate limits, leases, shutdown.
        .target(
            name: "GrantWorker",
            dependencies: [
                "GrantQueue",
                "QueueHotPath",
                "DingTalk",
                "Postgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Spans out over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set: the only module that knows swift-otel.
        .target(
            name: "TraceExport",
            dependencies: [
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `run --metrics-port`: Prometheus text at /metrics, health at /healthz and /livez.
        .target(
            name: "MetricsEndpoint",
            dependencies: [
                "HTTPServerSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // `console`: the operator console in the browser, reading through the read models.
        .target(
            name: "Console",
            dependencies: [
                "GrantQueue",
                "QueueOperations",
                "QueueReadModels",
                "HTTPServerSupport",
                "Postgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The command line, kept thin: parsing flags and printing results.
        .executableTarget(
            name: "visibility-worker",
            dependencies: [
                "BulkImport",
                "CBuildInfo",
                "Console",
                "GrantQueue",
                "GrantWorker",
                "DingTalk",
                "FakeDingTalk",
                "HTTPServerSupport",
                "MetricsEndpoint",
                "Postgres",
                "QueueHotPath",
                "QueueOperations",
                "QueueReadModels",
                "TraceExport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        .testTarget(name: "GrantQueueTests", dependencies: ["BulkImport", "GrantQueue", "QueueHotPath"]),
        .testTarget(
            name: "GrantWorkerTests",
            dependencies: ["GrantWorker", "GrantQueue", "QueueHotPath", "DingTalk", "Postgres", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "DingTalkTests",
            dependencies: [
                "DingTalk",
                "FakeDingTalk",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Tests against a real PostgreSQL (DATABASE_URL) and the built binary; scripts/test provides both.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "BulkImport",
                "GrantQueue",
                "QueueHotPath",
                "QueueOperations",
                "QueueReadModels",
                "Postgres",
                "DingTalk",
                "FakeDingTalk",
                "HTTPServerSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
