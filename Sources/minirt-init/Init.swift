// minirt-init: the init that `run --init` puts at PID 1 (as docker's
// docker-init, which is tini).
//
//   minirt-init [--] COMMAND [ARG...]
//
// A process at PID 1 gets no default signal actions (SIGTERM without a handler
// does nothing) and inherits every orphan of the container. minirt-init runs
// COMMAND as its one child, forwards to it every signal it receives, reaps every
// process that reaches it, and exits as the child did (128+N when killed by
// signal N) as soon as the child is gone; the kernel then ends the rest of the
// PID namespace.
//
// Embedded Swift linked statically: no runtime, no libc of the image needed
// (scratch images work), ~800 KB. minirt bind-mounts it read-only.
import CInitLibc

func say(_ parts: UnsafePointer<CChar>?...) {
    for p in parts { if let p { _ = write(2, p, strlen(p)) } }
}

func lastError() -> Int32 { __errno_location().pointee }

/// Decodes a wait status the way a shell reports it.
func exitCode(_ status: Int32) -> Int32 {
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// The entry point: SwiftPM links an executable's `main` to this symbol, and
/// Embedded Swift has no CommandLine, so argc and argv come as C gives them.
@_cdecl("minirt_init_main")
func initMain(_ count: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
        let argc = Int(count)
        var first = 1
        if argc > 1, let a = argv[1], strcmp(a, "--") == 0 { first = 2 }
        guard first < argc else {
            say("minirt-init: no command given: use minirt-init -- COMMAND [ARG...]\n")
            exit(2)
        }

        // Every signal is taken by sigwaitinfo below, except the ones a fault raises.
        var waited = sigset_t()
        sigfillset(&waited)
        for s in [SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS] { sigdelset(&waited, s) }
        var original = sigset_t()
        sigprocmask(SIG_SETMASK, &waited, &original)

        let child = fork()
        if child < 0 {
            say("minirt-init: fork failed: ", strerror(lastError()), "\n")
            exit(1)
        }
        if child == 0 {
            // Its own process group, in the terminal's foreground if there is one,
            // so ctrl-C reaches the command and not only its init.
            setpgid(0, 0)
            // (SIGTTOU is still blocked here, so the kernel lets a background process do it.)
            if isatty(0) != 0 { tcsetpgrp(0, getpid()) }
            sigprocmask(SIG_SETMASK, &original, nil)
            execvp(argv[first]!, argv + first)
            let e = lastError()
            say("minirt-init: exec ", argv[first], " failed: ", strerror(e), "\n")
            _exit(e == ENOENT ? 127 : 126)
        }

        while true {
            var info = siginfo_t()
            let sig = sigwaitinfo(&waited, &info)
            if sig < 0 { continue } // EINTR
            if sig != SIGCHLD {
                kill(child, sig)
                continue
            }
            // SIGCHLD: reap everything that has ended (orphans included).
            var childStatus: Int32? = nil
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 { break }
                if pid == child { childStatus = status }
            }
            if let childStatus { return exitCode(childStatus) }
        }
}
