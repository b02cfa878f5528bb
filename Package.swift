// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "visibility-worker",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "visibility-worker", targets: ["visibility-worker"]),
    ],
    dependencies: [
        // The CLI's command and flag parsing.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Logging facade shared by every module.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // The C layer: libpq as a Swift module, plus the few macros Swift cannot import.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // A safe Swift wrapper over libpq: connections, parameters, rows, LISTEN, errors.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The queue's SQL: migrations, enqueue, claim, complete, stats.
        .target(
            name: "GrantQueue",
            dependencies: [
                "Postgres",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The command line, kept thin: parsing flags and printing results.
        .executableTarget(
            name: "visibility-worker",
            dependencies: [
                "GrantQueue",
                "Postgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        .testTarget(name: "GrantQueueTests", dependencies: ["GrantQueue"]),
        // Tests against a real PostgreSQL (DATABASE_URL) and the built binary; scripts/test provides both.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "GrantQueue",
                "Postgres",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
