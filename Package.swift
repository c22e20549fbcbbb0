// swift-tools-version:6.0
// minirt: a small container runtime. One target per concern; see README.md "Architecture".
import PackageDescription

let package = Package(
    name: "minirt",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "minirt", targets: ["minirt"]),
        .executable(name: "minirt-supervisor", targets: ["minirt-supervisor"]),
        .executable(name: "minirt-init", targets: ["minirt-init"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // Thin command line: one file per verb, turns flags into a RunRequest.
        // Linked fully static (libc, libstdc++, libseccomp, libcap and the Swift
        // runtime inside): nothing for ld.so to map, relocate and look up at each
        // start, which `run` pays twice (it re-executes from a read-only clone).
        // bench/run measured it: 8 ms of 34 off `run --rm busybox true`.
        .executableTarget(
            name: "minirt",
            dependencies: [
                "MinirtKit", "MinirtCNI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: [.unsafeFlags(["-static-executable"]), .linkedLibrary("_FoundationCollections"), .linkedLibrary("_FoundationCShims")]),
        // The per-container supervisor of detached containers: Glibc only, to stay small.
        // Linked fully static: no shared libc, libstdc++ or libm to map and relocate,
        // so each supervisor's resident set is only the pages it touches.
        .executableTarget(name: "minirt-supervisor", dependencies: ["CMinirtShim", "MinirtLog"],
                          linkerSettings: [.unsafeFlags(["-static-executable"])]),
        // `run --init`'s PID 1 (reaps, forwards signals): Embedded Swift, no runtime,
        // linked statically so it runs in any image (~800 KB). It cannot be built
        // with --static-swift-stdlib (there is no stdlib to link): scripts/build-release.
        .executableTarget(name: "minirt-init", dependencies: ["CInitLibc"],
                          swiftSettings: [.enableExperimentalFeature("Embedded"), .unsafeFlags(["-wmo", "-Osize", "-Xfrontend", "-entry-point-function-name", "-Xfrontend", "minirt_init_unused"])],
                          linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections"])]),
        .systemLibrary(name: "CInitLibc"),
        // Docker's json-file log format, Glibc only: shared by the supervisor and foreground runs.
        .target(name: "MinirtLog"),
        // High level: images, run planning (flags -> OCI spec), ls/inspect views, templates.
        .target(
            name: "MinirtKit",
            dependencies: ["MinirtEngine", "MinirtState", "MinirtCNI", "MinirtLog"]),
        // The engine: executes an OCI runtime spec (namespaces, mounts, process, tty, signals).
        .target(
            name: "MinirtEngine",
            dependencies: [
                "CMinirtShim", "CSeccomp", "CLibcap", "MinirtLog",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // State store: per-container folders, atomic JSON writes, locks, names.
        .target(
            name: "MinirtState",
            dependencies: ["CMinirtShim", .product(name: "SystemPackage", package: "swift-system")]),
        // A CNI runtime: conflists, plugin execution (ADD/CHECK/DEL), result chaining.
        .target(name: "MinirtCNI", dependencies: ["CMinirtShim"]),
        // The only C: what runs between clone() and execve(), where Swift must not run.
        .target(name: "CMinirtShim"),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CLibcap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),

        .testTarget(name: "MinirtKitTests", dependencies: ["MinirtKit", "MinirtState", "MinirtEngine", "MinirtCNI"]),
        // Runs the built minirt binary; MinirtCNI only for its posix_spawn helper.
        .testTarget(name: "IntegrationTests", dependencies: ["MinirtCNI"]),
    ]
)
