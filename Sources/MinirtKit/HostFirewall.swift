import FoundationEssentials
import MinirtCNI
#if canImport(Glibc)
import Glibc
#endif

/// The rules minirt itself owns, as opposed to the CNI plugins' (bridge,
/// portmap and firewall write theirs through iptables): one nftables table,
/// `inet minirt`, written only here and through `nft -f -`, one atomic
/// transaction per change. `system gc`, `explain` and the leak checks read it.
///
/// It holds the loopback guard, the services' rules (ServiceRules) and a chain
/// per network made with docker's enable_icc=false. The guard: portmap DNATs `-p 127.0.0.1:…` in
/// PREROUTING, before the kernel's martian check, and sets route_localnet on
/// the bridge, so a neighbour on the LAN that routes 127.0.0.1 via this host
/// would reach the container (moby#45610, CVE-2020-8558). Packets to
/// 127.0.0.0/8 or ::1 that arrive on any interface but `lo` are dropped at the
/// raw priority, before conntrack and NAT see them. Loopback traffic only ever
/// arrives on `lo`, so nothing legitimate is dropped.
public enum HostFirewall {
    public static let family = "inet"
    public static let table = "minirt"
    static let guardChain = "loopback-guard"

    /// Containers attaching with published ports hold this shared; removal of
    /// the table takes it exclusively, so a guard is never removed under an ADD
    /// that is about to need it. Host-wide, as the table is per network namespace
    /// but stores are many.
    static let lockPath = "/run/lock/minirt-firewall.lock"

    static var nft: String? {
        ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].first { access($0, X_OK) == 0 }
    }

    public struct FirewallError: Error, CustomStringConvertible {
        public var description: String
    }

    static func run(_ args: [String], script: String? = nil) throws -> ChildOutput {
        guard let nft else {
            throw FirewallError(description: "nft is missing: minirt guards published ports with an nftables table; install Debian's nftables package (apt-get install nftables)")
        }
        let out = try ChildProcess.run(nft, arguments: args, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                       stdin: Data((script ?? "").utf8))
        return out
    }

    /// A lock held while a container with published ports attaches.
    public final class Hold {
        let fd: Int32
        init(fd: Int32) { self.fd = fd }
        deinit { if fd >= 0 { close(fd) } }
    }

    static func lock(_ mode: Int32) -> Int32 {
        mkdir("/run/lock", 0o755)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { while flock(fd, mode) != 0 && errno == EINTR {} }
        return fd
    }

    /// The nft script that (re)writes the guard: idempotent, one transaction.
    static let guardScript = """
        add table \(family) \(table)
        add chain \(family) \(table) \(guardChain) { type filter hook prerouting priority raw; policy accept; }
        flush chain \(family) \(table) \(guardChain)
        add rule \(family) \(table) \(guardChain) iifname != "lo" ip daddr 127.0.0.0/8 counter drop comment "minirt: loopback is reachable only from lo (published 127.0.0.1 ports)"
        add rule \(family) \(table) \(guardChain) iifname != "lo" ip6 daddr ::1 counter drop comment "minirt: loopback is reachable only from lo"

        """

    /// Writes the guard (before portmap's DNAT exists) and holds it in place until the Hold goes.
    public static func holdLoopbackGuard() throws -> Hold {
        let hold = Hold(fd: lock(LOCK_SH))
        let out = try run(["-f", "-"], script: guardScript)
        guard out.status == 0 else {
            throw FirewallError(description: "nft could not write minirt's loopback guard: \(String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").first ?? "exit \(out.status)")")
        }
        return hold
    }

    // MARK: enable_icc=false

    /// /proc/sys/net/bridge/bridge-nf-call-iptables: 1 when bridged IP packets
    /// pass the inet hooks (br_netfilter), which the icc and service rules need.
    static let bridgeNetfilter = "/proc/sys/net/bridge/bridge-nf-call-iptables"

    static func bridgeNetfilterActive() -> Bool {
        FileManager.default.contents(atPath: bridgeNetfilter)?.first == UInt8(ascii: "1")
    }

    static let iccPrefix = "no-icc-"

    /// docker's com.docker.network.bridge.enable_icc=false: packets that enter
    /// from the bridge and leave by it (one container to another) are dropped in
    /// the forward hook; the host, the gateway and the world stay reachable.
    /// Idempotent (written at network create and again at each attach, so a
    /// reboot that emptied the tables cannot leave the network open).
    public static func denyInterContainer(bridge: String) throws {
        guard bridgeNetfilterActive() else {
            throw FirewallError(description: "enable_icc=false needs br_netfilter (\(bridgeNetfilter) is not 1): bridged packets would pass unfiltered; run modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1")
        }
        let chain = "\(family) \(table) \(iccPrefix)\(bridge)"
        try apply("""
            add table \(family) \(table)
            add chain \(chain) { type filter hook forward priority -4; policy accept; }
            flush chain \(chain)
            add rule \(chain) iifname "\(bridge)" oifname "\(bridge)" counter drop comment "minirt: enable_icc=false, no traffic between containers of \(bridge)"

            """)
    }

    /// The chain's removal (network rm, gc); the table goes too if nothing else needs it.
    public static func allowInterContainer(bridge: String) {
        if let text = listing(), text.contains("chain \(iccPrefix)\(bridge) ") {
            try? apply("delete chain \(family) \(table) \(iccPrefix)\(bridge)\n")
        }
        dropTableIfUnused()
    }

    /// The bridges that have an icc chain (for gc: those without a network lose it).
    static func interContainerDenied() -> [String] {
        (listing() ?? "").split(separator: "\n").compactMap { line in
            let t = line.trimmed()
            guard t.hasPrefix("chain \(iccPrefix)") else { return nil }
            return String(t.dropFirst(6 + iccPrefix.count).prefix { $0 != " " })
        }
    }

    /// The table as nft prints it, or nil when it does not exist (for explain, gc and the tests).
    public static func listing() -> String? {
        guard let out = try? run(["list", "table", family, table]), out.status == 0 else { return nil }
        return String(decoding: out.stdout, as: UTF8.self)
    }

    /// Runs one nft transaction (services' changes) under the shared lock, so
    /// it never interleaves with the table's removal.
    ///
    /// minirt goes on once the kernel has committed the batch: it listens to
    /// nftables' notifications and waits for the new generation that names
    /// nft's pid (NFT_MSG_NEWGEN; a failed batch makes none). nft itself exits
    /// only after the kernel has freed what the batch replaced (the netlink
    /// socket's release waits for an RCU grace period: 12-16 ms here, on every
    /// change that removes a rule), which nothing needs to wait for; nft holds
    /// the listening socket too, so its last close is nft's, not ours.
    static func apply(_ script: String) throws {
        let fd = lock(LOCK_SH)
        defer { if fd >= 0 { close(fd) } }
        guard let nft else {
            throw FirewallError(description: "nft is missing: minirt's services are nftables rules; install Debian's nftables package (apt-get install nftables)")
        }
        let watch = CommitWatch()
        defer { watch.close() }
        let out = try ChildProcess.run(nft, arguments: ["-f", "-"], environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                       stdin: Data(script.utf8),
                                       doneWhen: watch.fd >= 0 ? (fd: watch.fd, isDone: { watch.committed(by: $0) }) : nil)
        guard out.status == 0 else {
            let why = String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").prefix(2).joined(separator: " ")
            throw FirewallError(description: "nft refused minirt's service rules: \(why.isEmpty ? "exit \(out.status)" : why)")
        }
    }

    /// Removes the table once nothing needs it in this network namespace: no
    /// published port (no portmap DNAT jump, whoever's) and no service chain
    /// (any store's); returns whether it did.
    @discardableResult
    public static func dropTableIfUnused() -> Bool {
        guard nft != nil, listing() != nil else { return false }
        let fd = lock(LOCK_EX)
        defer { if fd >= 0 { close(fd) } }
        // Read again under the lock: a service may have been installed meanwhile.
        guard let current = listing(), !current.contains("chain svc-"), !current.contains("chain ep-"),
              !current.contains("chain \(iccPrefix)") else { return false }
        let dnat = (try? ChildProcess.run("/usr/sbin/iptables", arguments: ["-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"],
                                          environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]))
        let rules = dnat.map { String(decoding: $0.stdout, as: UTF8.self) } ?? ""
        guard !rules.contains("-j CNI-DN-") else { return false }
        return (try? run(["delete", "table", family, table]))?.status == 0
    }
}

/// A listener for nftables' commit notifications (NFNLGRP_NFTABLES), to see
/// the generation a given process committed. If notifications were lost (the
/// socket's buffer overflowed on a large batch) it never says done, and the
/// caller waits for nft's exit instead.
final class CommitWatch: @unchecked Sendable {
    let fd: Int32
    static let netlinkNetfilter: Int32 = 12      // NETLINK_NETFILTER
    static let groupNFTables: UInt32 = 7         // NFNLGRP_NFTABLES
    static let newGen: UInt16 = (10 << 8) | 15   // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN
    static let genProcPid: UInt16 = 2            // NFTA_GEN_PROC_PID

    init() {
        let s = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Self.netlinkNetfilter)
        guard s >= 0 else { fd = -1; return }
        // Kept away from 0-3: the child gets it as its fd 3.
        let high = fcntl(s, F_DUPFD_CLOEXEC, 10)
        Glibc.close(s)
        var size: Int32 = 1 << 20
        _ = setsockopt(high, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        // struct sockaddr_nl { u16 family; u16 pad; u32 pid; u32 groups } (linux/netlink.h, not in Glibc's module).
        var addr = [UInt32](repeating: 0, count: 3)
        addr[0] = UInt32(AF_NETLINK)
        addr[2] = 1 << (Self.groupNFTables - 1)
        let bound = addr.withUnsafeBytes {
            bind(high, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12)
        }
        if bound != 0 { Glibc.close(high); fd = -1 } else { fd = high }
    }

    /// Reads what is queued; true once a new generation committed by `pid` was seen.
    func committed(by pid: pid_t) -> Bool {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT))
            if n <= 0 { return false }
            var off = 0
            while off + 16 <= n {
                let len = Int(buf[off]) | Int(buf[off + 1]) << 8 | Int(buf[off + 2]) << 16 | Int(buf[off + 3]) << 24
                let type = UInt16(buf[off + 4]) | UInt16(buf[off + 5]) << 8
                guard len >= 16, off + len <= n else { break }
                if type == Self.newGen {
                    var a = off + 16 + 4   // nlmsghdr, nfgenmsg
                    while a + 4 <= off + len {
                        let alen = Int(buf[a]) | Int(buf[a + 1]) << 8
                        let atype = (UInt16(buf[a + 2]) | UInt16(buf[a + 3]) << 8) & 0x3fff
                        guard alen >= 4, a + alen <= off + len else { break }
                        if atype == Self.genProcPid, alen >= 8 {
                            let v = UInt32(buf[a + 4]) << 24 | UInt32(buf[a + 5]) << 16 | UInt32(buf[a + 6]) << 8 | UInt32(buf[a + 7])
                            if pid_t(bitPattern: v) == pid { return true }
                        }
                        a += (alen + 3) & ~3
                    }
                }
                off += (len + 3) & ~3
            }
        }
    }

    func close() { if fd >= 0 { Glibc.close(fd) } }
}
