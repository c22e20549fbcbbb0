import Foundation
import Testing
@testable import MinirtKit
@testable import MinirtEngine
import MinirtState

/// The pure side of confinement: flag parsing, capability sets, profile
/// resolution, user lookup. The kernel side is in IntegrationTests.
@Suite struct ConfinementPlanTests {
    let exists: (String) -> Bool = { $0.hasPrefix("/srv") }

    @Test func byteSizes() throws {
        #expect(try ByteSize.parse("32m", flag: "-m") == 32 << 20)
        #expect(try ByteSize.parse("1.5g", flag: "-m") == 3 << 29)
        #expect(try ByteSize.parse("512K", flag: "-m") == 512 << 10)
        #expect(try ByteSize.parse("1GB", flag: "-m") == 1 << 30)
        #expect(try ByteSize.parse("4096", flag: "-m") == 4096)
        #expect(try ByteSize.parse("100b", flag: "-m") == 100)
        for bad in ["3x", "", "m", "-1m", "1..2g"] {
            #expect(throws: RunError.self) { try ByteSize.parse(bad, flag: "--memory") }
        }
    }

    @Test func capabilitySets() throws {
        #expect(Capabilities.canonical("net_admin") == "CAP_NET_ADMIN")
        #expect(Capabilities.number("CAP_CHOWN") == 0)
        #expect(Capabilities.number("sys_admin") == 21)
        #expect(Capabilities.number("12") == nil)
        #expect(try Capabilities.mask(Capabilities.dockerDefault) == 0xa804_25fb)
        let added = try Capabilities.adjust(Capabilities.dockerDefault, add: ["net_admin"], drop: ["CAP_CHOWN", "mknod"])
        #expect(added.contains("CAP_NET_ADMIN") && !added.contains("CAP_CHOWN") && !added.contains("CAP_MKNOD"))
        #expect(try Capabilities.adjust(Capabilities.dockerDefault, add: ["NET_BIND_SERVICE"], drop: ["ALL"]) == ["CAP_NET_BIND_SERVICE"])
        #expect(throws: CapabilityError.unknown("CAP_WIZARD")) {
            try Capabilities.adjust([], add: ["CAP_WIZARD"], drop: [])
        }
    }

    @Test func volumesAndMounts() throws {
        let (m, p) = try MountSpec.volume("/srv/data:/data:ro", fileExists: exists)
        #expect(m == OCISpec.Mount(destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "rprivate", "ro"]))
        #expect(p.rw == false && p.mode == "ro")
        let (m2, _) = try MountSpec.volume("/srv/x:/a/./b/:rshared", fileExists: exists)
        #expect(m2.destination == "/a/b" && m2.options == ["rbind", "rshared"])
        #expect(throws: RunError.self) { try MountSpec.volume("/srv/x:/a/../../etc", fileExists: self.exists) }
        #expect(throws: RunError.self) { try MountSpec.volume("/srv/x:/", fileExists: self.exists) }
        #expect(throws: RunError.self) { try MountSpec.volume("/missing:/x", fileExists: self.exists) }
        #expect(throws: RunError.self) { try MountSpec.volume("/srv/x:/x:rx", fileExists: self.exists) }
        // One absolute path: an anonymous volume there (a fresh 64-hex name), not a bind.
        let (anon, ap) = try MountSpec.volume("/srv/x", fileExists: exists, volumes: "/vols")
        #expect(ap.type == "volume" && ap.anonymous == true && anon.destination == "/srv/x" && (anon.source ?? "").hasPrefix("/vols/") && (anon.source ?? "").count == 6 + 64 + 6)
        #expect(throws: RunError.self) { try MountSpec.volume("/a/../..", fileExists: self.exists) }
        #expect(throws: RunError.self) { try MountSpec.volume("relative", fileExists: self.exists) }
        #expect(try MountSpec.mount("type=volume,target=/b", fileExists: exists).1.anonymous == true)
        #expect(try MountSpec.mount("type=volume,source=data,target=/b", fileExists: exists).1.anonymous == nil)

        let (b, _) = try MountSpec.mount("type=bind,src=/srv/a,dst=/b,readonly", fileExists: exists)
        #expect(b.options == ["rbind", "rprivate", "ro"] && b.source == "/srv/a" && b.destination == "/b")
        let (t, _) = try MountSpec.mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770", fileExists: exists)
        #expect(t.type == "tmpfs" && t.options == ["nosuid", "nodev", "size=1048576", "mode=1770"])
        #expect(throws: RunError.self) { try MountSpec.mount("type=bind,src=/srv/a,target=/b,colour=red", fileExists: self.exists) }
        // Named volumes: the volume's folder, bound; a name that could leave the volumes' folder is refused.
        let (v, vp) = try MountSpec.mount("type=volume,source=data,target=/b", fileExists: exists, volumes: "/vols")
        #expect(v.source == "/vols/data/_data" && vp.type == "volume" && v.options == ["rbind", "rprivate"])
        let (nv, _) = try MountSpec.volume("data:/c:ro", fileExists: exists, volumes: "/vols")
        #expect(nv.source == "/vols/data/_data" && nv.options == ["rbind", "rprivate", "ro"])
        #expect(throws: RunError.self) { try MountSpec.mount("type=volume,source=../etc,target=/b", fileExists: self.exists) }
        #expect(throws: RunError.self) { try MountSpec.volume("a/b:/c", fileExists: self.exists) }

        let tmp = try MountSpec.tmpfs("/run:size=64m,exec")
        #expect(tmp.options == ["noexec", "nosuid", "nodev", "size=67108864", "exec"])
        #expect(throws: RunError.self) { try MountSpec.tmpfs("/run:colour=red") }
    }

    @Test func planCarriesConfinement() throws {
        var o = ConfinementOptions()
        o.capAdd = ["NET_ADMIN"]
        o.memory = "64m"
        o.cpus = "0.5"
        o.pidsLimit = 10
        o.readOnly = true
        var spec = OCISpec()
        spec.process = OCISpec.Process()
        spec.root = OCISpec.Root(path: "/r")
        spec.linux = OCISpec.Linux()
        var host = ContainerRecord.HostConfig(networkMode: "none")
        var config = ContainerRecord.Config(hostname: "h", image: "i")
        try Confinement.apply(o, to: &spec, host: &host, config: &config, id: "abc", imageRootfs: "/nonexistent", imageUser: nil)
        #expect(spec.process?.capabilities?.effective?.contains("CAP_NET_ADMIN") == true)
        #expect(spec.process?.noNewPrivileges == true)
        #expect(spec.root?.readonly == true)
        #expect(spec.mounts?.map(\.destination) == ["/tmp", "/var/tmp", "/run"])
        #expect(spec.linux?.cgroupsPath == "/minirt/abc")
        #expect(spec.linux?.resources?.memory?.limit == 64 << 20)
        #expect(spec.linux?.resources?.memory?.swap == 128 << 20) // Docker: as much swap as memory
        #expect(spec.linux?.resources?.cpu?.quota == 50_000 && spec.linux?.resources?.cpu?.period == 100_000)
        #expect(spec.linux?.resources?.pids?.limit == 10)
        #expect(spec.linux?.resources?.devices?.first == OCISpec.DeviceRule(allow: false, access: "rwm"))
        // The default filter: an allow list, with the CAP_SYS_ADMIN rules left out.
        let seccomp = try #require(spec.linux?.seccomp)
        #expect(seccomp.defaultAction == "SCMP_ACT_ERRNO" && seccomp.defaultErrnoRet == 1)
        let allowed = Set(seccomp.syscalls?.filter { $0.action == "SCMP_ACT_ALLOW" && $0.args == nil }.flatMap(\.names) ?? [])
        #expect(allowed.contains("read") && allowed.contains("execve"))
        for denied in ["mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf", "reboot", "init_module",
                       "kexec_load", "userfaultfd", "open_by_handle_at", "swapon", "perf_event_open", "io_uring_setup"] {
            #expect(!allowed.contains(denied), "\(denied) must not be allowed")
        }
        #expect(host.security?.memory == 64 << 20 && host.security?.nanoCpus == 500_000_000)
    }

    @Test func profileRulesFollowCapabilities() {
        let p = SeccompProfile.dockerDefault
        func allows(_ name: String, _ caps: [String]) -> Bool {
            p.resolve(capabilities: caps, arch: "x86_64", kernel: "6.1.0").syscalls?
                .contains { $0.action == "SCMP_ACT_ALLOW" && $0.args == nil && $0.names.contains(name) } ?? false
        }
        #expect(!allows("mount", Capabilities.dockerDefault))
        #expect(allows("mount", Capabilities.dockerDefault + ["CAP_SYS_ADMIN"]))
        #expect(allows("reboot", ["CAP_SYS_BOOT"]) && !allows("reboot", []))
        #expect(allows("ptrace", []))                 // kernel >= 4.8
        #expect(!p.resolve(capabilities: [], arch: "x86_64", kernel: "4.4.0").syscalls!
            .contains { $0.names == ["ptrace"] })
        #expect(allows("arch_prctl", []))
        let arches = p.resolve(capabilities: [], arch: "x86_64").architectures
        #expect(arches == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        // clone: allowed only without namespace flags unless CAP_SYS_ADMIN.
        let clone = p.resolve(capabilities: [], arch: "x86_64").syscalls!.first { $0.names == ["clone"] }
        #expect(clone?.args?.first?.op == "SCMP_CMP_MASKED_EQ")
    }

    @Test func profileFilesAreChecked() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/minirt-unit-seccomp-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ text: String) throws -> String {
            try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8)
            return "\(dir)/\(name)"
        }
        let good = try write("good.json", """
            {"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}],
             "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                          {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}
            """)
        let resolved = try SeccompProfile.load(good).resolve(capabilities: [], arch: "x86_64")
        #expect(resolved.syscalls?.map(\.names) == [["read", "write"]])
        #expect(resolved.architectures == ["SCMP_ARCH_X86_64"])
        // It compiles to a real program.
        #expect(try SeccompFilter.compile(resolved).count > 4)

        let cases = [
            ("syntax.json", "{\"defaultAction\": oops}", "not valid JSON"),
            ("type.json", "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": 3}]}", "syscalls[0].action"),
            ("action.json", "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOPE\"}]}", "syscalls[0]: unknown action"),
            ("missing.json", "{\"syscalls\": []}", "defaultAction: missing"),
        ]
        for (name, text, message) in cases {
            let path = try write(name, text)
            do {
                _ = try SeccompProfile.load(path)
                Issue.record("\(name) was accepted")
            } catch {
                #expect("\(error)".contains("seccomp profile \(path): ") && "\(error)".contains(message), "\(error)")
            }
        }
    }

    @Test func usersAndGroupsFromTheImage() throws {
        let root = FileManager.default.temporaryDirectory.path + "/minirt-unit-users-\(getpid())"
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n".write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nweb:x:33:\nstaff:x:50:web,other\nlog:x:4:web\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        let web = try UserLookup.resolve("web", root: root)
        #expect(web.uid == 33 && web.gid == 33 && web.additionalGids == [50, 4])
        let numeric = try UserLookup.resolve("33", root: root, groupAdd: ["staff", "99"])
        #expect(numeric.uid == 33 && numeric.gid == 33 && numeric.additionalGids == [50, 4, 99])
        let withGroup = try UserLookup.resolve("1000:staff", root: root)
        #expect(withGroup.uid == 1000 && withGroup.gid == 50 && withGroup.additionalGids == [])
        #expect(throws: RunError.self) { try UserLookup.resolve("ghost", root: root) }
        #expect(throws: RunError.self) { try UserLookup.resolve("web:ghosts", root: root) }
    }

    /// The cgroup v2 mapping, against a directory laid out like a v2 cgroup
    /// (this machine's controllers are on v1, where the integration tests run).
    @Test func cgroupV2Files() throws {
        let base = FileManager.default.temporaryDirectory.path + "/minirt-unit-cg2-\(getpid())"
        let dir = base + "/minirt/c1"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        for f in ["cgroup.procs", "memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "pids.max"] {
            FileManager.default.createFile(atPath: "\(dir)/\(f)", contents: nil)
        }
        try "memory cpu pids io\n".write(toFile: base + "/cgroup.controllers", atomically: true, encoding: .utf8)
        try "oom 2\noom_kill 1\n".write(toFile: dir + "/memory.events", atomically: true, encoding: .utf8)
        var r = OCISpec.Resources()
        var m = OCISpec.Memory()
        m.limit = 64 << 20
        m.swap = 128 << 20
        r.memory = m
        var c = OCISpec.CPU()
        c.shares = 512
        c.quota = 50_000
        c.period = 100_000
        r.cpu = c
        r.pids = OCISpec.Pids(limit: 64)
        let cg = Cgroup(path: "/minirt/c1", layout: .v2(base))
        try cg.create(r)
        func read(_ f: String) -> String { (try? String(contentsOfFile: "\(dir)/\(f)", encoding: .utf8)) ?? "" }
        #expect(read("memory.max") == "67108864")
        #expect(read("memory.swap.max") == "67108864") // v2 counts swap alone
        #expect(read("cpu.weight") == "20")             // shares 512 -> weight
        #expect(read("cpu.max") == "50000 100000")
        #expect(read("pids.max") == "64")
        #expect(cg.oomKills() == 1)
        #expect(cg.directories == [dir])
    }

    /// /sys/fs/cgroup inside: cgroup2 on v2; a read-only tmpfs of per-hierarchy mounts on v1.
    @Test func cgroupMountsInsideTheContainer() {
        let m = OCISpec.Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "ro"])
        let v2 = Cgroup.mounts(for: m, layout: .v2("/sys/fs/cgroup"))
        #expect(v2 == [OCISpec.Mount(destination: "/sys/fs/cgroup", type: "cgroup2", source: "cgroup2", options: ["nosuid", "noexec", "nodev", "ro"])])
        let v1 = Cgroup.mounts(for: m, layout: .v1(["cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                                                     "memory": "/sys/fs/cgroup/memory"]))
        #expect(v1.map(\.destination) == ["/sys/fs/cgroup", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"])
        #expect(v1[1].type == "cgroup" && v1[1].options?.suffix(2) == ["cpu", "cpuacct"])
        #expect(MountPlan(v1[1]).data == "cpu,cpuacct")
        #expect(v1.last?.options?.prefix(2) == ["remount", "ro"])
        // --privileged: writable, no final remount.
        let rw = Cgroup.mounts(for: OCISpec.Mount(destination: "/sys/fs/cgroup", type: "cgroup", options: []),
                               layout: .v1(["memory": "/sys/fs/cgroup/memory"]))
        #expect(rw.count == 2 && !(rw[1].options ?? []).contains("ro"))
    }

    /// Without a cgroup namespace of its own, the container's directories are
    /// bound (runc's way): a cgroup mount would show the host's whole tree.
    @Test func cgroupBindsWithoutACgroupNamespace() {
        let m = OCISpec.Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro"])
        let v1 = Cgroup.mounts(for: m, layout: .v1(["cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                                                     "memory": "/sys/fs/cgroup/memory"]),
                               ownCgroup: Cgroup.samePath("/minirt/abc"))
        #expect(v1[1] == OCISpec.Mount(destination: "/sys/fs/cgroup/cpu,cpuacct", type: "bind", source: "/sys/fs/cgroup/cpu,cpuacct/minirt/abc",
                                       options: ["rbind", "nosuid", "noexec", "nodev", "ro"]))
        #expect(v1[2].source == "/sys/fs/cgroup/memory/minirt/abc")
        let v2 = Cgroup.mounts(for: m, layout: .v2("/sys/fs/cgroup"), ownCgroup: ["": "/a/b"])
        #expect(v2 == [OCISpec.Mount(destination: "/sys/fs/cgroup", type: "bind", source: "/sys/fs/cgroup/a/b", options: ["rbind", "nosuid", "noexec", "nodev", "ro"])])
        // The caller's own cgroups, per controller, from /proc/self/cgroup.
        let own = Cgroup.ownPaths("9:name=systemd:/\n4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/user.slice\n")
        #expect(own["memory"] == "/process_api/x" && own["cpuacct"] == "/" && own[""] == "/user.slice")
        let mine = Cgroup.mounts(for: m, layout: .v1(["memory": "/sys/fs/cgroup/memory", "cpu": "/sys/fs/cgroup/cpu"]), ownCgroup: own)
        #expect(mine.compactMap(\.source) == ["tmpfs", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory/process_api/x", "tmpfs"])
    }


    /// The host's hierarchies, read from a folder laid out like /sys/fs/cgroup.
    @Test func cgroupLayoutDetection() throws {
        let base = NSTemporaryDirectory() + "minirt-cgroup-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        for dir in ["memory", "cpu,cpuacct", "pids"] { try StateStore.makeDirectory("\(base)/\(dir)") }
        #expect(symlink("cpu,cpuacct", "\(base)/cpu") == 0 && symlink("cpu,cpuacct", "\(base)/cpuacct") == 0)
        #expect(symlink("/etc", "\(base)/devices") == 0)  // not a sibling: not a hierarchy
        #expect(symlink("gone", "\(base)/freezer") == 0)  // dangling
        #expect(Cgroup.detect(base: base) == .v1(["memory": "\(base)/memory", "pids": "\(base)/pids",
                                                  "cpu": "\(base)/cpu,cpuacct", "cpuacct": "\(base)/cpu,cpuacct"]))
        #expect(FileManager.default.createFile(atPath: "\(base)/cgroup.controllers", contents: Data()))
        #expect(Cgroup.detect(base: base) == .v2(base))
    }

    /// `mkdir -p`: one call when the parent exists, every missing level otherwise.
    @Test func makeDirectoryMakesParents() throws {
        let base = NSTemporaryDirectory() + "minirt-mkdir-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try StateStore.makeDirectory("\(base)/a/b/c")
        try StateStore.makeDirectory("\(base)/a/b/c")
        try StateStore.makeDirectory("\(base)/a/d")
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: "\(base)/a/b/c", isDirectory: &isDir) && isDir.boolValue)
        #expect(FileManager.default.fileExists(atPath: "\(base)/a/d"))
        #expect(FileManager.default.createFile(atPath: "\(base)/file", contents: Data()))
        #expect(throws: StateError.self) { try StateStore.makeDirectory("\(base)/file/x") }
    }
    /// User namespace maps are checked before anything is cloned.
    @Test func userNamespaceMaps() throws {
        var linux = OCISpec.Linux()
        #expect(try UserNamespace.maps(linux, creating: false) == nil)
        #expect(throws: EngineError.self) { try UserNamespace.maps(linux, creating: true) } // no maps
        linux.uidMappings = [OCISpec.IDMapping(containerID: 0, hostID: 100000, size: 65536), OCISpec.IDMapping(containerID: 65536, hostID: 300000, size: 1)]
        linux.gidMappings = [OCISpec.IDMapping(containerID: 0, hostID: 100000, size: 65536)]
        let maps = try #require(try UserNamespace.maps(linux, creating: true))
        #expect(maps.uid == "0 100000 65536\n65536 300000 1\n" && maps.gid == "0 100000 65536\n")
        // Maps but no user namespace: refused (runc ignores them, which would run as the host's ids).
        #expect(throws: EngineError.self) { try UserNamespace.maps(linux, creating: false) }
        for bad in [[OCISpec.IDMapping(containerID: 0, hostID: 1, size: 0)],
                    [OCISpec.IDMapping(containerID: 0, hostID: 4_294_967_295, size: 2)],
                    [OCISpec.IDMapping(containerID: 0, hostID: 100, size: 10), OCISpec.IDMapping(containerID: 5, hostID: 500, size: 10)],
                    [OCISpec.IDMapping(containerID: 0, hostID: 100, size: 10), OCISpec.IDMapping(containerID: 10, hostID: 105, size: 10)],
                    Array(repeating: OCISpec.IDMapping(containerID: 0, hostID: 0, size: 1), count: 341)] {
            linux.uidMappings = bad
            #expect(throws: EngineError.self, "\(bad.prefix(2))") { try UserNamespace.maps(linux, creating: true) }
        }
    }

    /// linux.resources as cgroup files, with runc's v2 conversions (runc cannot be
    /// put on v2 on these hosts: the values are checked here, the v1 files live).
    @Test func resourcesAsCgroupFiles() throws {
        let all: (String, String) -> Bool = { _, _ in true }
        var r = OCISpec.Resources()
        r.cpu = OCISpec.CPU()
        r.cpu?.shares = 1024
        r.cpu?.quota = 50_000
        r.cpu?.period = 100_000
        r.cpu?.cpus = "0-1"
        r.memory = OCISpec.Memory()
        r.memory?.limit = 100 << 20
        r.memory?.swap = 300 << 20
        r.blockIO = OCISpec.BlockIO()
        r.blockIO?.weight = 500
        r.blockIO?.throttleReadBpsDevice = [OCISpec.ThrottleDevice(major: 8, minor: 0, rate: 1_048_576)]
        r.blockIO?.throttleWriteIOPSDevice = [OCISpec.ThrottleDevice(major: 8, minor: 0, rate: 100)]
        r.hugepageLimits = [OCISpec.HugepageLimit(pageSize: "2MB", limit: 4 << 20)]
        let v2 = try Cgroup.writes(r, layout: .v2("/sys/fs/cgroup")) { _, file in file != "io.bfq.weight" }
        #expect(v2.map(\.description) == [
            "memory.max=104857600", "memory.swap.max=209715200",          // swap alone on v2
            "cpuset.cpus=0-1", "cpu.weight=39", "cpu.max=50000 100000",  // shares 1024 -> weight 39, as runc
            "io.weight=default 4950",                                    // blkio 500 -> io.weight 4950, as runc
            "io.max=8:0 rbps=1048576", "io.max=8:0 wiops=100", "hugetlb.2MB.max=4194304"])
        // With BFQ the weight goes as is.
        let bfq = try Cgroup.writes(r, layout: .v2("/sys/fs/cgroup"), has: all)
        #expect(bfq.contains(Cgroup.Write("io", "io.bfq.weight", "500")))
        let v1 = try Cgroup.writes(r, layout: .v1([:])) { _, file in file != "blkio.bfq.weight" }
        #expect(v1.map(\.description) == [
            "memory.limit_in_bytes=104857600", "memory.memsw.limit_in_bytes=314572800",
            "cpuset.cpus=0-1", "cpu.shares=1024", "cpu.cfs_period_us=100000", "cpu.cfs_quota_us=50000",
            "blkio.weight=500", "blkio.throttle.read_bps_device=8:0 1048576", "blkio.throttle.write_iops_device=8:0 100",
            "hugetlb.2MB.limit_in_bytes=4194304"])
        #expect(try Cgroup.writes(OCISpec.Resources.with { $0.cpu = OCISpec.CPU.with { $0.quota = -1 } }, layout: .v2("/x"), has: all)
                    .map(\.description) == ["cpu.max=max 100000"])

        // What the host or the layout cannot carry is refused, never skipped.
        let none: (String, String) -> Bool = { _, _ in false }
        let refused: [(OCISpec.Resources, Cgroup.Layout, (String, String) -> Bool)] = [
            (OCISpec.Resources.with { $0.blockIO = OCISpec.BlockIO.with { $0.weight = 300 } }, .v1([:]), none),   // no BFQ
            (OCISpec.Resources.with { $0.memory = OCISpec.Memory.with { $0.swappiness = 10 } }, .v2("/x"), all),
            (OCISpec.Resources.with { $0.memory = OCISpec.Memory.with { $0.swappiness = 101 } }, .v1([:]), all),
            (OCISpec.Resources.with { $0.memory = OCISpec.Memory.with { $0.disableOOMKiller = true } }, .v2("/x"), all),
            (OCISpec.Resources.with { $0.cpu = OCISpec.CPU.with { $0.realtimeRuntime = 950_000 } }, .v1([:]), none),
            (OCISpec.Resources.with { $0.cpu = OCISpec.CPU.with { $0.cpus = "0-1\n2" } }, .v1([:]), all),
            (OCISpec.Resources.with { $0.hugepageLimits = [OCISpec.HugepageLimit(pageSize: "2MB", limit: 1)] }, .v1([:]), none),
            (OCISpec.Resources.with { $0.hugepageLimits = [OCISpec.HugepageLimit(pageSize: "../x", limit: 1)] }, .v2("/x"), all),
            (OCISpec.Resources.with { $0.unified = ["memory.high": "1G"] }, .v1([:]), all),
            (OCISpec.Resources.with { $0.unified = ["../../etc/passwd": "x"] }, .v2("/x"), all),
            (OCISpec.Resources.with { $0.blockIO = OCISpec.BlockIO.with { $0.throttleReadBpsDevice = [OCISpec.ThrottleDevice(major: -1, minor: 0, rate: 1)] } }, .v1([:]), all),
        ]
        for (res, layout, has) in refused {
            #expect(throws: CgroupError.self, "\(res)") { try Cgroup.writes(res, layout: layout, has: has) }
        }
        #expect(try Cgroup.writes(OCISpec.Resources.with { $0.unified = ["memory.high": "1073741824"] }, layout: .v2("/x"), has: all)
                    == [Cgroup.Write("", "memory.high", "1073741824")])
    }

    @Test func devicesAndDeviceRules() throws {
        let tun = DeviceFlags.HostDevice(type: "c", major: 10, minor: 200, mode: 0o666, uid: 0, gid: 0)
        let lookup: (String) throws -> DeviceFlags.HostDevice = { _ in tun }
        let (node, rule, record) = try DeviceFlags.device("/dev/net/tun", lookup: lookup)
        #expect(node.path == "/dev/net/tun" && node.type == "c" && node.major == 10 && node.minor == 200 && node.fileMode == 0o666)
        #expect(rule == OCISpec.DeviceRule(allow: true, type: "c", major: 10, minor: 200, access: "rwm"))
        #expect(record == ContainerRecord.DeviceMapping(pathOnHost: "/dev/net/tun", pathInContainer: "/dev/net/tun", cgroupPermissions: "rwm"))
        // docker: a second field of only r, w, m is the permissions; otherwise the path inside.
        #expect(try DeviceFlags.device("/dev/net/tun:r", lookup: lookup).1.access == "r")
        #expect(try DeviceFlags.device("/dev/net/tun:/dev/t", lookup: lookup).0.path == "/dev/t")
        let three = try DeviceFlags.device("/dev/net/tun:/dev/t:rw", lookup: lookup)
        #expect(three.0.path == "/dev/t" && three.1.access == "rw")
        for bad in ["dev/null", "/dev/null:dev/x", "/dev/null:/dev/../etc/x", "/dev/null:/dev/x:rx", "/dev/null:/dev/x:rr", "/a:/b:r:w", "/dev/null:/dev/x\n:r"] {
            #expect(throws: RunError.self, "\(bad)") { try DeviceFlags.device(bad, lookup: lookup) }
        }
        // The real lookup: a directory or a regular file is no device.
        #expect(throws: RunError.self) { try DeviceFlags.device("/etc/hostname") }
        #expect(throws: RunError.self) { try DeviceFlags.device("/dev") }
        #expect(try DeviceFlags.device("/dev/null").0.major == 1)
        // A directory: each device below it, under the path inside (docker's --device /dev/snd). Nodes of the test's own making.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("minirt-unit-devs-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try #require(mknod(folder + "/tun", S_IFCHR | 0o600, dev_t(10 << 8 | 200)) == 0 && mknod(folder + "/sub/zero", S_IFCHR | 0o666, dev_t(1 << 8 | 5)) == 0)
        try "no device".write(toFile: folder + "/note", atomically: true, encoding: .utf8)
        let dir = try DeviceFlags.devices("\(folder):/dev/n:r")
        #expect(dir.map(\.0.path) == ["/dev/n/sub/zero", "/dev/n/tun"] && dir.allSatisfy { $0.1.access == "r" } && dir[1].2.pathOnHost == folder + "/tun", "\(dir)")
        #expect(try DeviceFlags.devices(folder).map(\.0.path) == [folder + "/sub/zero", folder + "/tun"])
        try FileManager.default.createDirectory(atPath: folder + "/empty", withIntermediateDirectories: true)
        #expect(throws: RunError.self) { try DeviceFlags.devices(folder + "/empty") }

        #expect(try DeviceFlags.rule("c 1:3 rwm") == OCISpec.DeviceRule(allow: true, type: "c", major: 1, minor: 3, access: "rwm"))
        #expect(try DeviceFlags.rule("b 8:* r") == OCISpec.DeviceRule(allow: true, type: "b", major: 8, minor: nil, access: "r"))
        #expect(try DeviceFlags.rule("a *:* m") == OCISpec.DeviceRule(allow: true, type: "a", access: "m"))
        for bad in ["c 1:3", "x 1:3 rwm", "c 1 rwm", "c -1:3 r", "c 1:3 rwx", "c 99999999999:1 r", "c 1:3 r\n"] {
            #expect(throws: RunError.self, "\(bad)") { try DeviceFlags.rule(bad) }
        }
    }
}

extension OCISpec.Resources { static func with(_ f: (inout Self) -> Void) -> Self { var v = Self(); f(&v); return v } }
extension OCISpec.Memory { static func with(_ f: (inout Self) -> Void) -> Self { var v = Self(); f(&v); return v } }
extension OCISpec.CPU { static func with(_ f: (inout Self) -> Void) -> Self { var v = Self(); f(&v); return v } }
extension OCISpec.BlockIO { static func with(_ f: (inout Self) -> Void) -> Self { var v = Self(); f(&v); return v } }
