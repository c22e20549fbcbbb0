/// A published port: host address and port to container port.
public struct PortBinding: Codable, Sendable, Equatable, Hashable {
    public var hostIP: String       // "" means every address
    public var hostPort: UInt16     // 0 until minirt picks a free one
    public var containerPort: UInt16
    public var proto: String        // tcp or udp

    public init(hostIP: String, hostPort: UInt16, containerPort: UInt16, proto: String) {
        self.hostIP = hostIP; self.hostPort = hostPort; self.containerPort = containerPort; self.proto = proto
    }

    /// Docker's key in `Ports`: "80/tcp".
    public var containerKey: String { "\(containerPort)/\(proto)" }
}

/// A container's attachment to a CNI network, recorded *before* each host
/// change is made, so that rm, a failed run and crash recovery tear down
/// exactly what exists (and DEL gets the config and result of the ADD).
public struct NetworkState: Codable, Sendable, Equatable {
    public var network: String
    /// The bind mount that keeps the network namespace alive until DEL succeeded.
    public var netnsPath: String
    public var ifName = "eth0"
    /// The conflist used for ADD, as JSON: DEL must use the same even if the file changed.
    public var config: String
    /// The final ADD result, as JSON: DEL and CHECK get it as prevResult.
    public var result: String?
    public var ports: [PortBinding] = []
    /// Set before the pin is made, before lo is brought up and before ADD: what may exist.
    public var pinned = false
    public var loopbackAdded = false
    public var addStarted = false
    /// Names registered with the network's DNS server.
    public var dnsRegistered = false
    public var aliases: [String] = []
    /// An endpoint of the services that select it: set when recorded running,
    /// cleared before it is signalled to stop (optional: older records lack it).
    public var serving: Bool?
    /// The address and MAC asked for (--ip, --mac-address), passed to the
    /// plugins as the `ips` and `mac` capabilities on ADD.
    public var requestedIP: String?
    public var requestedMAC: String?
    /// --ip6 (absent when not asked for).
    public var requestedIP6: String?

    public var ipAddress = ""
    public var prefixLength = 0
    public var gateway = ""
    /// On a dual-stack network (absent otherwise, and in older records).
    public var ipv6Address: String?
    public var ipv6PrefixLength: Int?
    public var ipv6Gateway: String?
    public var macAddress = ""
    public var hostInterface = ""
    public var bridge = ""

    public init(network: String, netnsPath: String, config: String) {
        self.network = network; self.netnsPath = netnsPath; self.config = config
    }
}
