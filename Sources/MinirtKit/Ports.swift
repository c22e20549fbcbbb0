import MinirtState
#if canImport(Glibc)
import Glibc
#endif

public struct PortError: Error, CustomStringConvertible, Equatable {
    public var description: String
    init(_ spec: String, _ why: String) {
        description = "invalid port specification \"\(spec)\": \(why); write [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp], e.g. 8080:80"
    }
    init(allocated: String) { description = allocated }
}

/// `-p/--publish` in Docker's forms: `80`, `8080:80`, `127.0.0.1:8080:80`,
/// `127.0.0.1::80`, `8080-8081:80-81`, `53:53/udp`, `[::1]:8080:80`.
public enum PortSpec {
    public static func parse(_ spec: String) throws -> [PortBinding] {
        var body = Substring(spec)
        var proto = "tcp"
        if let slash = body.lastIndex(of: "/") {
            proto = String(body[body.index(after: slash)...]).lowercased()
            body = body[..<slash]
            guard proto == "tcp" || proto == "udp" else { throw PortError(spec, "protocol \"\(proto)\" is not tcp or udp") }
        }
        var hostIP = ""
        if body.hasPrefix("[") {
            guard let close = body.firstIndex(of: "]") else { throw PortError(spec, "unclosed [ in the host address") }
            hostIP = String(body[body.index(after: body.startIndex)..<close])
            body = body[body.index(after: close)...]
            guard body.hasPrefix(":") else { throw PortError(spec, "a host address needs a port after it") }
            body = body.dropFirst()
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var hostPart = ""
        let containerPart: String
        switch parts.count {
        case 1: containerPart = parts[0]
        case 2: hostPart = parts[0]; containerPart = parts[1]
        case 3:
            guard hostIP.isEmpty else { throw PortError(spec, "too many ':'") }
            hostIP = parts[0]; hostPart = parts[1]; containerPart = parts[2]
        default: throw PortError(spec, "too many ':'")
        }
        if !hostIP.isEmpty {
            var a4 = in_addr(), a6 = in6_addr()
            guard inet_pton(AF_INET, hostIP, &a4) == 1 || inet_pton(AF_INET6, hostIP, &a6) == 1 else {
                throw PortError(spec, "\"\(hostIP)\" is not an IP address")
            }
        }
        let container = try range(containerPart, spec: spec)
        guard container.first! > 0 else { throw PortError(spec, "the container port cannot be 0") }
        let host: [UInt16]
        if hostPart.isEmpty {
            host = Array(repeating: 0, count: container.count) // chosen by minirt
        } else {
            host = try range(hostPart, spec: spec)
            guard host.count == container.count else {
                throw PortError(spec, "the host range has \(host.count) ports and the container range \(container.count)")
            }
        }
        return zip(host, container).map { PortBinding(hostIP: hostIP, hostPort: $0, containerPort: $1, proto: proto) }
    }

    static func range(_ text: String, spec: String) throws -> [UInt16] {
        let ends = text.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count <= 2 else { throw PortError(spec, "\"\(text)\" is not a port or a range") }
        let numbers = try ends.map { e -> UInt16 in
            guard !e.isEmpty, e.allSatisfy(\.isASCII), e.allSatisfy(\.isNumber), let v = Int(e) else {
                throw PortError(spec, "\"\(text)\" is not a port number")
            }
            guard v <= 65535 else { throw PortError(spec, "port \(v) is out of range (1-65535)") }
            return UInt16(v)
        }
        guard let lo = numbers.first, let hi = numbers.last, lo <= hi else {
            throw PortError(spec, "the range \(text) runs backwards")
        }
        return Array(lo...hi)
    }
}

/// Sockets bound on every published host port for the container's life: the
/// kernel then refuses a second claim on the port, whether by another container
/// or a host program, which iptables rules alone cannot (nerdctl#2179, cni#351).
/// They are bound, not listened on: DNAT carries the traffic, and anything that
/// bypasses it is refused rather than left hanging in a backlog.
public final class PortReservation {
    public private(set) var bindings: [PortBinding] = []
    /// The bound sockets, to hand to whoever holds the ports for the container's life.
    public private(set) var fds: [Int32] = []

    public init(_ requested: [PortBinding]) throws {
        // One descriptor a port, held for the container's life: say so before running out.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let usable = Int(min(limit.rlim_cur, 1 << 20)) - 64
        guard requested.count <= usable else {
            throw PortError(allocated: "cannot publish \(requested.count) ports: each is held open and the open-file limit (ulimit -n) is \(limit.rlim_cur); publish fewer ports or raise the limit")
        }
        do {
            for var b in requested {
                let fd = try Self.bind(&b)
                fds.append(fd)
                bindings.append(b)
            }
        } catch {
            release()
            throw error
        }
    }

    public func release() {
        fds.forEach { close($0) }
        fds = []
    }

    deinit { release() }

    static func bind(_ b: inout PortBinding) throws -> Int32 {
        // Every address ("" as docker's 0.0.0.0 and ::): one IPv6 socket that is not
        // IPv6-only holds the port in both families (a dual-stack network publishes
        // on both); a host without IPv6 falls back to the IPv4 socket. [::] alone
        // is IPv6's, 0.0.0.0 IPv4's, as in docker.
        var bound = b.hostIP.isEmpty ? socketBound(b, address: "::", v6Only: false) : (fd: -1, err: EAFNOSUPPORT)
        if bound.fd < 0 && bound.err != EADDRINUSE {
            bound = socketBound(b, address: b.hostIP.isEmpty ? "0.0.0.0" : b.hostIP, v6Only: true)
        }
        guard bound.fd >= 0 else {
            let addr = "\(b.hostIP.isEmpty ? "0.0.0.0" : b.hostIP):\(b.hostPort)/\(b.proto)"
            if bound.err == EADDRINUSE {
                throw PortError(allocated: "port \(addr) is already allocated (by another container or a host program): choose another host port")
            }
            throw PortError(allocated: "cannot bind \(addr): \(String(cString: strerror(bound.err)))")
        }
        if b.hostPort == 0 { b.hostPort = boundPort(bound.fd) }
        return bound.fd
    }

    /// A socket bound to the binding's port on `address` (IPv6 ones IPv6-only or
    /// not), or the error. No SO_REUSEADDR: Linux lets several non-listening
    /// sockets with it share a port, which would defeat the reservation.
    static func socketBound(_ b: PortBinding, address: String, v6Only: Bool) -> (fd: Int32, err: Int32) {
        let v6 = address.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(b.proto == "udp" ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return (-1, errno) }
        var rc: Int32 = -1
        if v6 {
            var only: Int32 = v6Only ? 1 : 0
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = b.hostPort.bigEndian
            if setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &only, socklen_t(MemoryLayout<Int32>.size)) == 0,
               inet_pton(AF_INET6, address, &addr.sin6_addr) == 1 {
                rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = b.hostPort.bigEndian
            if inet_pton(AF_INET, address, &addr.sin_addr) == 1 {
                rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            return (-1, e)
        }
        return (fd, 0)
    }

    /// The port the kernel picked for a socket bound to port 0.
    static func boundPort(_ fd: Int32) -> UInt16 {
        var addr = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let v6 = addr.ss_family == sa_family_t(AF_INET6)
        let port = withUnsafePointer(to: &addr) { p -> UInt16 in
            v6 ? p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
               : p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        return UInt16(bigEndian: port)
    }
}
