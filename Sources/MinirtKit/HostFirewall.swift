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
/// It holds the loopback guard and the services' rules (ServiceRules). The guard: portmap DNATs `-p 127.0.0.1:…` in
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

    /// The table as nft prints it, or nil when it does not exist (for explain, gc and the tests).
    public static func listing() -> String? {
        guard let out = try? run(["list", "table", family, table]), out.status == 0 else { return nil }
        return String(decoding: out.stdout, as: UTF8.self)
    }

    /// Runs one nft transaction (services' changes) under the shared lock, so
    /// it never interleaves with the table's removal.
    static func apply(_ script: String) throws {
        let fd = lock(LOCK_SH)
        defer { if fd >= 0 { close(fd) } }
        let out = try run(["-f", "-"], script: script)
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
        guard let current = listing(), !current.contains("chain svc-"), !current.contains("chain ep-") else { return false }
        let dnat = (try? ChildProcess.run("/usr/sbin/iptables", arguments: ["-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"],
                                          environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]))
        let rules = dnat.map { String(decoding: $0.stdout, as: UTF8.self) } ?? ""
        guard !rules.contains("-j CNI-DN-") else { return false }
        return (try? run(["delete", "table", family, table]))?.status == 0
    }
}
