import FoundationEssentials

/// A container serving a service: its address on the service's network.
public struct ServiceEndpoint: Codable, Sendable, Equatable, Hashable {
    public var id: String
    public var name: String
    public var address: String
}

/// The nftables objects one service owns in `inet minirt`, as installed: what a
/// later transaction must flush or delete. Recorded before each change, so a
/// crash in between leaves a superset, never a leak.
public struct InstalledService: Codable, Sendable, Equatable {
    public var chains: [String] = []
    public var sets: [String] = []
    /// Map elements, as `map|key|chain`.
    public var elements: [String] = []
    public var endpoints: [ServiceEndpoint] = []
    public init() {}

    func union(_ o: InstalledService) -> InstalledService {
        var u = self
        for c in o.chains where !u.chains.contains(c) { u.chains.append(c) }
        for s in o.sets where !u.sets.contains(s) { u.sets.append(s) }
        for e in o.elements where !u.elements.contains(e) { u.elements.append(e) }
        return u
    }
}

/// Services' rules, written by HostFirewall (the one owner of `inet minirt`) —
/// kube-proxy's nftables dispatch on one host, with its per-endpoint chains folded
/// into the service chain:
///
///     nat-prerouting / nat-output (priority -105, before portmap's DNAT at -100:
///         the first NAT binding of a connection wins)
///       → services: daddr . l4proto . dport vmap @service-ips
///                   fib daddr type local  l4proto . dport vmap @node-ports
///       → svc-…/tcp/80: one rule pair per endpoint k of N, a cascade of odds
///             (numgen random mod N-k 0: 1/3, then 1/2 of the rest, then all of it),
///             each pair split on "is the client this endpoint" so that a hairpin
///             is marked, then dnat
///     nat-postrouting (95): masquerade marked hairpins and loopback clients
///     filter-forward / filter-output: a new connection still addressed to the
///         service range after DNAT has no rule or no endpoint: reset/reject now.
///
/// Why no endpoint chains and no `numgen … vmap { … }`: before any add, nft 1.0.6
/// loads every chain and every set of the host (each anonymous vmap is a set),
/// whatever the transaction touches. With kube-proxy's layout (a service chain, an
/// anonymous vmap and three endpoint chains per service) that load made one
/// endpoint update commit in 13.3 ms with 500 services against 5.1 with 50; with
/// one chain per service port and no sets, 5.6 against 3.7 (`bench/services.py`).
/// Rules are never loaded, so the cascade costs nothing to update.
///
/// Pure text from definitions and endpoints: ServiceRulesTests check it
/// without a kernel, the integration tests with one.
enum ServiceRules {
    static let family = HostFirewall.family
    static let table = HostFirewall.table
    /// A packet-mark bit for "masquerade this hairpin" (kube-proxy uses 0x4000; ours is apart from it).
    static let hairpinMark = "0x00200000"
    /// How long client-ip affinity lasts without traffic: Kubernetes' default, 3 hours.
    static let affinitySeconds = 10800

    static func t(_ s: String) -> String { "\(family) \(table) \(s)" }

    /// The shared skeleton: idempotent, rewritten with every transaction (its
    /// rules never change) so a table flushed by hand heals on the next change.
    static func base() -> String {
        var s = HostFirewall.guardScript
        s += """
        add set \(t("service-ranges")) { type ipv4_addr; flags interval; }
        add map \(t("service-ips")) { type ipv4_addr . inet_proto . inet_service : verdict; }
        add map \(t("node-ports")) { type inet_proto . inet_service : verdict; }
        add chain \(t("services"))
        flush chain \(t("services"))
        add rule \(t("services")) ip daddr . meta l4proto . th dport vmap @service-ips
        add rule \(t("services")) fib daddr type local meta l4proto . th dport vmap @node-ports
        add chain \(t("nat-prerouting")) { type nat hook prerouting priority -105; policy accept; }
        flush chain \(t("nat-prerouting"))
        add rule \(t("nat-prerouting")) jump services
        add chain \(t("nat-output")) { type nat hook output priority -105; policy accept; }
        flush chain \(t("nat-output"))
        add rule \(t("nat-output")) jump services
        add chain \(t("nat-postrouting")) { type nat hook postrouting priority 95; policy accept; }
        flush chain \(t("nat-postrouting"))
        add rule \(t("nat-postrouting")) meta mark & \(hairpinMark) != 0 meta mark set meta mark ^ \(hairpinMark) masquerade comment "minirt: hairpin (an endpoint reaching its own service)"
        add rule \(t("nat-postrouting")) ip saddr 127.0.0.0/8 ct status dnat masquerade comment "minirt: host loopback clients of node ports"
        add chain \(t("reject-unserved"))
        flush chain \(t("reject-unserved"))
        add rule \(t("reject-unserved")) ct state new ip daddr @service-ranges meta l4proto tcp reject with tcp reset comment "minirt: no service or no endpoint at this address and port"
        add rule \(t("reject-unserved")) ct state new ip daddr @service-ranges reject
        add chain \(t("filter-forward")) { type filter hook forward priority -5; policy accept; }
        flush chain \(t("filter-forward"))
        add rule \(t("filter-forward")) jump reject-unserved
        add chain \(t("filter-output")) { type filter hook output priority -5; policy accept; }
        flush chain \(t("filter-output"))
        add rule \(t("filter-output")) jump reject-unserved

        """
        return s
    }

    static func serviceChain(_ d: ServiceDefinition, _ p: ServicePort) -> String {
        "svc-\(d.tag)-\(d.name)/\(p.proto)/\(p.port)"
    }

    /// One choice of endpoint `e` under condition `when`, as two rules: the client
    /// is `e` itself (a hairpin: marked for masquerade, or its replies would skip the
    /// NAT) or it is not. Each client evaluates exactly one of the pair, so a
    /// `numgen` in `when` is drawn once per client and the odds hold.
    static func pick(_ chain: String, _ p: ServicePort, _ e: ServiceEndpoint, when: String, affinity: String?) -> String {
        let then = (affinity.map { "update @\($0) { ip saddr } " } ?? "") + "dnat ip to \(e.address):\(p.targetPort)"
        return "add rule \(t(chain)) meta l4proto \(p.proto) ip saddr \(e.address) \(when)meta mark set meta mark | \(hairpinMark) \(then)\n"
            + "add rule \(t(chain)) meta l4proto \(p.proto) ip saddr != \(e.address) \(when)\(then)\n"
    }

    static func affinitySet(_ d: ServiceDefinition, _ p: ServicePort, _ e: ServiceEndpoint) -> String {
        "aff-\(d.tag)-\(d.name)/\(p.proto)/\(p.port)/\(e.address)/\(p.targetPort)"
    }

    /// The objects a service has with these endpoints.
    static func objects(_ d: ServiceDefinition, endpoints: [ServiceEndpoint]) -> InstalledService {
        var o = InstalledService()
        o.endpoints = endpoints
        guard !d.isHeadless else { return o }
        for p in d.ports {
            let chain = serviceChain(d, p)
            o.chains.append(chain)
            o.elements.append("service-ips|\(d.clusterIP) . \(p.proto) . \(p.port)|\(chain)")
            if let n = p.nodePort { o.elements.append("node-ports|\(p.proto) . \(n)|\(chain)") }
            if d.sessionAffinity == "ClientIP" {
                for e in endpoints { o.sets.append(affinitySet(d, p, e)) }
            }
        }
        return o
    }

    /// One transaction taking the service from `old` (what may exist) to `new`
    /// endpoints; with `remove`, to nothing. Touches only this service's objects.
    static func transaction(_ d: ServiceDefinition, endpoints: [ServiceEndpoint], old: InstalledService,
                            remove: Bool = false, range: String?) -> (script: String, installed: InstalledService) {
        let new = remove ? InstalledService() : objects(d, endpoints: endpoints)
        let all = old.union(new)
        var s = ""
        if let range { s += "add element \(t("service-ranges")) { \(range) }\n" }
        for c in all.chains { s += "add chain \(t(c))\n" }
        for c in all.chains { s += "flush chain \(t(c))\n" }
        for set in new.sets {
            s += "add set \(t(set)) { type ipv4_addr; flags dynamic,timeout; timeout \(affinitySeconds)s; }\n"
        }
        if !remove && !d.isHeadless {
            for p in d.ports {
                let chain = serviceChain(d, p)
                let affine = d.sessionAffinity == "ClientIP"
                // A client with affinity goes back to its endpoint before any new pick.
                if affine {
                    for e in endpoints { s += pick(chain, p, e, when: "ip saddr @\(affinitySet(d, p, e)) ", affinity: affinitySet(d, p, e)) }
                }
                for (k, e) in endpoints.enumerated() {
                    let left = endpoints.count - k
                    s += pick(chain, p, e, when: left > 1 ? "numgen random mod \(left) 0 " : "",
                              affinity: affine ? affinitySet(d, p, e) : nil)
                }
            }
        }
        for e in new.elements {
            let f = e.split(separator: "|", maxSplits: 2).map(String.init)
            s += "add element \(t(f[0])) { \(f[1]) : goto \(f[2]) }\n"
        }
        for e in all.elements where !new.elements.contains(e) {
            let f = e.split(separator: "|", maxSplits: 2).map(String.init)
            // Added first so that the delete cannot fail on an element never installed.
            s += "add element \(t(f[0])) { \(f[1]) : goto \(f[2]) }\n"
            s += "delete element \(t(f[0])) { \(f[1]) }\n"
        }
        for set in all.sets where !new.sets.contains(set) {
            s += "add set \(t(set)) { type ipv4_addr; flags dynamic,timeout; timeout \(affinitySeconds)s; }\n"
            s += "delete set \(t(set))\n"
        }
        // Endpoint chains (an older minirt's) first: the service chain's rule that named them is flushed above.
        for c in all.chains.reversed() where !new.chains.contains(c) { s += "delete chain \(t(c))\n" }
        return (s, new)
    }

    /// Drops a network's range from the reject set once it has no service.
    static func releaseRange(_ range: String) -> String {
        "add element \(t("service-ranges")) { \(range) }\ndelete element \(t("service-ranges")) { \(range) }\n"
    }
}
