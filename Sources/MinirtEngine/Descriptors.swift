import CMinirtShim
#if canImport(Glibc)
import Glibc
#endif

/// The few descriptor calls Kit needs that Swift cannot make directly
/// (pipe2 is hidden behind _GNU_SOURCE, SCM_RIGHTS needs the CMSG macros): so
/// that only the engine imports the C shim.
public enum Descriptors {
    /// A pipe whose ends are close-on-exec: (read, write), or nil with errno set.
    public static func pipe() -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [-1, -1]
        guard minirt_pipe_cloexec(&fds) == 0 else { return nil }
        return (fds[0], fds[1])
    }

    /// Sends fd over a unix socket with SCM_RIGHTS; false with errno set.
    @discardableResult
    public static func send(_ fd: Int32, over socket: Int32) -> Bool { minirt_send_fd(socket, fd) == 0 }

    /// The same with a payload in the message that carries it.
    @discardableResult
    public static func send(_ fd: Int32, over socket: Int32, payload: [UInt8]) -> Bool {
        payload.withUnsafeBytes { minirt_send_fd_with(socket, fd, $0.baseAddress, $0.count) == 0 }
    }

    /// Reads exactly size bytes into value; false on EOF or error first.
    static func readFully<T>(_ fd: Int32, _ value: inout T, _ size: Int) -> Bool {
        var got = 0
        withUnsafeMutableBytes(of: &value) { buf in
            while got < size {
                let n = read(fd, buf.baseAddress! + got, size - got)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                got += n
            }
        }
        return got == size
    }
}
