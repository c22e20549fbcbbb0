// Between clone() and execve(). Rules for this file (see minirt_shim.h):
// only syscalls and trivially async-signal-safe libc; no malloc, no stdio;
// setuid/setgid/setgroups through syscall() because glibc's wrappers would try
// to signal the parent's other threads, which do not exist in the child.
#define _GNU_SOURCE
#include "minirt_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <net/if.h>
#include <linux/bpf.h>
#include <linux/sched.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <termios.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// ---- small string helpers over fixed buffers ----

static size_t str_len(const char *s) { size_t n = 0; while (s && s[n]) n++; return n; }

// Appends src to dst (capacity cap); returns 0, or -1 when it would not fit.
static int str_append(char *dst, size_t cap, const char *src) {
    size_t d = str_len(dst), s = str_len(src);
    if (d + s + 1 > cap) return -1;
    memcpy(dst + d, src, s + 1);
    return 0;
}

static void u32_to_str(uint32_t v, char *out) {
    char tmp[16]; int i = 0;
    do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    int j = 0; while (i) out[j++] = tmp[--i];
    out[j] = 0;
}

// ---- failure reporting ----

__attribute__((noreturn))
static void fail(const struct minirt_spawn_config *cfg, int stage, int err, const char *detail) {
    struct minirt_child_error e;
    memset(&e, 0, sizeof e);
    e.stage = stage;
    e.err = err;
    if (detail) {
        size_t n = str_len(detail);
        if (n >= sizeof e.detail) n = sizeof e.detail - 1;
        memcpy(e.detail, detail, n);
    }
    if (cfg->error_fd >= 0) {
        ssize_t w;
        do { w = write(cfg->error_fd, &e, sizeof e); } while (w < 0 && errno == EINTR);
    }
    _exit(127);
}

static void run_create_container_hooks(const struct minirt_spawn_config *cfg);

// ---- filesystem helpers ----

// mkdir -p for an absolute host path; components that exist are fine.
static int mkdir_all(const char *path, mode_t mode) {
    char buf[PATH_MAX];
    size_t n = str_len(path);
    if (n == 0 || n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, mode) < 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    }
    return 0;
}

// ---- mount targets, resolved inside the rootfs ----
// A target path is looked up with openat2(RESOLVE_IN_ROOT) from a descriptor
// of the rootfs, so a symlink planted in the image (even "/" or "../..") can
// only lead somewhere inside it; the mount then goes onto that exact inode
// through /proc/self/fd/N, so nothing can swap a path under us in between
// (the symlink-exchange class of runc escapes).

static int open_in_root(int rootfd, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    // EAGAIN: a mount or rename anywhere on the host raced the lookup (the
    // kernel cannot vouch for the walk then); openat2(2) says to retry.
    int fd = -1;
    for (int i = 0; i < 1000; i++) {
        fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) break;
    }
    return fd;
}

// An O_PATH descriptor of path inside the root, creating missing directories
// (and, with as_file, an empty file as the last component) on the way. A
// dangling symlink on the way is followed inside the root, as runc does: its
// target is created there, never on the host.
static int resolve_in_root(int rootfd, const char *path, int as_file) {
    static char buf[PATH_MAX], next[PATH_MAX], link[PATH_MAX];
    int fd = open_in_root(rootfd, path, O_PATH);
    if (fd >= 0 || errno != ENOENT) return fd;
    size_t n = str_len(path);
    if (n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, n + 1);
    for (int hops = 0; hops < 40; hops++) {
        n = str_len(buf);
        size_t start = 0;
        int restarted = 0;
        while (start < n && !restarted) {
            while (start < n && buf[start] == '/') start++;
            if (start >= n) break;
            size_t end = start;
            while (end < n && buf[end] != '/') end++;
            int last = end >= n;
            char saved = buf[end];
            buf[end] = 0;
            fd = open_in_root(rootfd, buf, O_PATH);
            if (fd < 0) {
                if (errno != ENOENT) return -1;
                char c = buf[start];
                buf[start] = 0;
                int parent = open_in_root(rootfd, start ? buf : ".", O_PATH | O_DIRECTORY);
                buf[start] = c;
                if (parent < 0) return -1;
                ssize_t ln = readlinkat(parent, buf + start, link, sizeof link - 1);
                if (ln >= 0) {
                    // Dangling symlink: continue from "<its directory>/<target><rest>" (rest
                    // is empty or starts with '/': a trailing '/' would make a file a directory).
                    link[ln] = 0;
                    next[0] = 0;
                    if (link[0] != '/') {
                        buf[start] = 0;
                        if (str_append(next, sizeof next, buf) < 0) { close(parent); errno = ENAMETOOLONG; return -1; }
                        buf[start] = c;
                    }
                    buf[end] = saved;
                    if (str_append(next, sizeof next, link) < 0 || str_append(next, sizeof next, buf + end) < 0) { close(parent); errno = ENAMETOOLONG; return -1; }
                    close(parent);
                    memcpy(buf, next, str_len(next) + 1);
                    restarted = 1;
                    break;
                }
                int r;
                if (last && as_file) {
                    r = openat(parent, buf + start, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                    if (r >= 0) close(r);
                } else {
                    r = mkdirat(parent, buf + start, 0755);
                }
                int e = errno;
                close(parent);
                if (r < 0 && e != EEXIST) { errno = e; return -1; }
                fd = open_in_root(rootfd, buf, O_PATH);
                if (fd < 0) return -1;
            }
            buf[end] = saved;
            if (last) return fd;
            close(fd);
            start = end;
        }
        if (!restarted) return open_in_root(rootfd, buf, O_PATH);
    }
    errno = ELOOP;
    return -1;
}

// The flags a remount must keep: in a user namespace the kernel refuses to
// clear nosuid/nodev/noexec/atime flags that the original mount locked (EPERM),
// so a read-only remount carries over what statfs reports.
static unsigned long kept_mount_flags(const char *path) {
    struct statfs st;
    if (statfs(path, &st) < 0) return 0;
    unsigned long f = 0;
    if (st.f_flags & ST_NOSUID) f |= MS_NOSUID;
    if (st.f_flags & ST_NODEV) f |= MS_NODEV;
    if (st.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
    if (st.f_flags & ST_NOATIME) f |= MS_NOATIME;
    if (st.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (st.f_flags & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

static void fd_path(int fd, char *out) {
    char num[16];
    u32_to_str((uint32_t)fd, num);
    out[0] = 0;
    str_append(out, 64, "/proc/self/fd/");
    str_append(out, 64, num);
}

static void do_mount(const struct minirt_spawn_config *cfg, int rootfd, const struct minirt_mount *m) {
    int fd = resolve_in_root(rootfd, m->target, m->target_is_file);
    if (fd < 0) fail(cfg, MINIRT_STAGE_MOUNT, errno, m->target);
    char target[64];
    fd_path(fd, target);

    unsigned long flags = m->flags;
    if (mount(m->source, target, m->fstype, flags, m->data) < 0) {
        // sysfs cannot be mounted where the network namespace is shared with
        // a namespace we do not own; a read-only recursive bind is what runc falls back to.
        if (m->fstype && strcmp(m->fstype, "sysfs") == 0 && (errno == EPERM || errno == EBUSY)) {
            if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0)
                fail(cfg, MINIRT_STAGE_MOUNT, errno, m->target);
            flags |= MS_BIND | MS_RDONLY;
        } else {
            fail(cfg, MINIRT_STAGE_MOUNT, errno, m->target);
        }
        flags |= MS_BIND;
    }
    close(fd);
    int ro = m->remount_readonly || ((flags & MS_BIND) && (flags & MS_RDONLY));
    if (ro || m->propagation) {
        // The descriptor named the covered directory; the new mount is on top of it now.
        fd = open_in_root(rootfd, m->target, O_PATH);
        if (fd < 0) fail(cfg, MINIRT_STAGE_MOUNT, errno, m->target);
        fd_path(fd, target);
        if (ro) {
            unsigned long rf = MS_BIND | MS_REMOUNT | MS_RDONLY | (m->flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)) | kept_mount_flags(target);
            if (mount(NULL, target, NULL, rf, NULL) < 0) fail(cfg, MINIRT_STAGE_MOUNT, errno, m->target);
        }
        if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
            fail(cfg, MINIRT_STAGE_MOUNT, errno, m->target);
        close(fd);
    }
}

// The directory that holds path's last component, resolved (and made) inside
// the root, and that component: what is created there (a device node, a
// symlink) can never land on the host through a link planted in the image.
static int parent_in_root(int rootfd, const char *path, const char **base) {
    static char dir[PATH_MAX];
    size_t n = str_len(path);
    if (n >= sizeof dir) { errno = ENAMETOOLONG; return -1; }
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || !slash[1] || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0) { errno = EINVAL; return -1; }
    *base = path + (slash - dir) + 1;
    if (slash == dir) dir[1] = 0; else *slash = 0;
    return resolve_in_root(rootfd, dir, 0);
}

static void make_device(const struct minirt_spawn_config *cfg, int rootfd, const struct minirt_device *d) {
    const char *base;
    int dir = parent_in_root(rootfd, d->path, &base);
    if (dir < 0) fail(cfg, MINIRT_STAGE_DEVICE, errno, d->path);
    unlinkat(dir, base, 0);
    if (mknodat(dir, base, d->mode, makedev(d->major, d->minor)) < 0) {
        // No mknod (e.g. in a user namespace): bind the host's node instead (as runc, the same path on the host).
        if (errno != EPERM) fail(cfg, MINIRT_STAGE_DEVICE, errno, d->path);
        int f = openat(dir, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0) fail(cfg, MINIRT_STAGE_DEVICE, errno, d->path);
        close(f);
        int t = openat(dir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (t < 0) fail(cfg, MINIRT_STAGE_DEVICE, errno, d->path);
        char target[64];
        fd_path(t, target);
        if (mount(d->path, target, NULL, MS_BIND, NULL) < 0) fail(cfg, MINIRT_STAGE_DEVICE, errno, d->path);
        close(t);
        close(dir);
        return;
    }
    if (fchownat(dir, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) fail(cfg, MINIRT_STAGE_DEVICE, errno, d->path);
    close(dir);
}

static void make_dev_symlinks(const struct minirt_spawn_config *cfg, int rootfd) {
    static const char *const links[][2] = {
        {"/proc/self/fd", "/dev/fd"},
        {"/proc/self/fd/0", "/dev/stdin"},
        {"/proc/self/fd/1", "/dev/stdout"},
        {"/proc/self/fd/2", "/dev/stderr"},
        {"pts/ptmx", "/dev/ptmx"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        const char *base;
        int dir = parent_in_root(rootfd, links[i][1], &base);
        if (dir < 0) fail(cfg, MINIRT_STAGE_DEVICE, errno, links[i][1]);
        unlinkat(dir, base, 0);
        if (symlinkat(links[i][0], dir, base) < 0) fail(cfg, MINIRT_STAGE_DEVICE, errno, links[i][1]);
        close(dir);
    }
}

static int send_fd_with(int sock, int fd, const void *payload, size_t len) {
    struct iovec iov = { .iov_base = (void *)payload, .iov_len = len };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t r;
    do { r = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    // A stream socket may take the payload in parts; the descriptor went with the first.
    for (size_t sent = (size_t)r; sent < len; sent += (size_t)r) {
        do { r = send(sock, (const char *)payload + sent, len - sent, MSG_NOSIGNAL); } while (r < 0 && errno == EINTR);
        if (r <= 0) return -1;
    }
    return 0;
}

static int send_fd(int sock, int fd) { return send_fd_with(sock, fd, "c", 1); }

// Opens a pty in the container's own devpts so ttyname() works inside, binds
// the slave on /dev/console, sends the master to the parent. Returns the slave.
static int setup_console(const struct minirt_spawn_config *cfg, int rootfd) {
    char slave[32], console[64], num[16];
    // In-root: an image's /dev may be a link that leads to the host's /dev.
    int master = open_in_root(rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY);
    if (master < 0) fail(cfg, MINIRT_STAGE_CONSOLE, errno, "/dev/pts/ptmx");
    int unlock = 0;
    unsigned int n = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
        fail(cfg, MINIRT_STAGE_CONSOLE, errno, "/dev/pts/ptmx");
    u32_to_str(n, num);
    slave[0] = 0;
    if (str_append(slave, sizeof slave, "/dev/pts/") < 0 || str_append(slave, sizeof slave, num) < 0)
        fail(cfg, MINIRT_STAGE_CONSOLE, ENAMETOOLONG, "/dev/pts");
    int s = open_in_root(rootfd, slave, O_RDWR | O_NOCTTY);
    if (s < 0) fail(cfg, MINIRT_STAGE_CONSOLE, errno, slave);
    if (cfg->console_rows && cfg->console_cols) {
        struct winsize ws = { .ws_row = cfg->console_rows, .ws_col = cfg->console_cols };
        ioctl(s, TIOCSWINSZ, &ws);
    }
    if (cfg->clone_flags & CLONE_NEWNS) {
        int target = resolve_in_root(rootfd, "/dev/console", 1);
        if (target < 0) fail(cfg, MINIRT_STAGE_CONSOLE, errno, "/dev/console");
        char source[64];
        fd_path(s, source);
        fd_path(target, console);
        if (mount(source, console, NULL, MS_BIND, NULL) < 0) fail(cfg, MINIRT_STAGE_CONSOLE, errno, "/dev/console");
        close(target);
    }
    if (send_fd(cfg->console_socket, master) < 0) fail(cfg, MINIRT_STAGE_CONSOLE, errno, "console socket");
    close(master);
    return s;
}

static void mask_path(const struct minirt_spawn_config *cfg, const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT) return;
        fail(cfg, MINIRT_STAGE_MASK, errno, path);
    }
    int r = S_ISDIR(st.st_mode)
        ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k")
        : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (r < 0 && errno != ENOENT) fail(cfg, MINIRT_STAGE_MASK, errno, path);
}

static void readonly_path(const struct minirt_spawn_config *cfg, const char *path) {
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT) return;
        fail(cfg, MINIRT_STAGE_READONLY, errno, path);
    }
    if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | kept_mount_flags(path), NULL) < 0)
        fail(cfg, MINIRT_STAGE_READONLY, errno, path);
}

static void setup_rootfs(const struct minirt_spawn_config *cfg, int *console_slave) {
    unsigned long prop = cfg->rootfs_propagation ? cfg->rootfs_propagation : (MS_PRIVATE | MS_REC);
    // Nothing the container mounts may propagate back to the host.
    if (mount(NULL, "/", NULL, prop, NULL) < 0) fail(cfg, MINIRT_STAGE_PROPAGATION, errno, "/");

    if (cfg->overlay_data) {
        // Mounted inside the container's own mount namespace: it disappears with
        // the container, so a crash can never leave it on the host.
        if (mount("overlay", cfg->rootfs, "overlay", 0, cfg->overlay_data) < 0)
            fail(cfg, MINIRT_STAGE_ROOTFS, errno, cfg->rootfs);
    } else if (mount(cfg->rootfs, cfg->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
        // pivot_root needs the new root to be a mount point.
        fail(cfg, MINIRT_STAGE_ROOTFS, errno, cfg->rootfs);
    }

    int rootfd = open(cfg->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) fail(cfg, MINIRT_STAGE_ROOTFS, errno, cfg->rootfs);
    for (size_t i = 0; i < cfg->nmounts; i++) do_mount(cfg, rootfd, &cfg->mounts[i]);
    for (size_t i = 0; i < cfg->ndevices; i++) make_device(cfg, rootfd, &cfg->devices[i]);
    if (cfg->default_dev_symlinks) make_dev_symlinks(cfg, rootfd);
    if (cfg->terminal) *console_slave = setup_console(cfg, rootfd);
    close(rootfd);
    run_create_container_hooks(cfg);

    // pivot_root(".", ".") stacks the old root under the new one; detaching it
    // leaves only the container's tree, with no directory to create or remove.
    if (chdir(cfg->rootfs) < 0) fail(cfg, MINIRT_STAGE_PIVOT_ROOT, errno, cfg->rootfs);
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail(cfg, MINIRT_STAGE_PIVOT_ROOT, errno, cfg->rootfs);
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) fail(cfg, MINIRT_STAGE_PIVOT_ROOT, errno, "old root");
    if (umount2(".", MNT_DETACH) < 0) fail(cfg, MINIRT_STAGE_PIVOT_ROOT, errno, "old root");
    if (chdir("/") < 0) fail(cfg, MINIRT_STAGE_PIVOT_ROOT, errno, "/");

    for (size_t i = 0; i < cfg->nsysctl; i++) {
        int fd = open(cfg->sysctl_paths[i], O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) fail(cfg, MINIRT_STAGE_SYSCTL, errno, cfg->sysctl_paths[i]);
        size_t n = str_len(cfg->sysctl_values[i]);
        if (write(fd, cfg->sysctl_values[i], n) != (ssize_t)n) fail(cfg, MINIRT_STAGE_SYSCTL, errno, cfg->sysctl_paths[i]);
        close(fd);
    }
    for (size_t i = 0; i < cfg->nmasked; i++) mask_path(cfg, cfg->masked_paths[i]);
    for (size_t i = 0; i < cfg->nreadonly; i++) readonly_path(cfg, cfg->readonly_paths[i]);
    if (cfg->rootfs_readonly &&
        mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_mount_flags("/"), NULL) < 0)
        fail(cfg, MINIRT_STAGE_READONLY, errno, "/");
}

// A network namespace the engine creates is useless with lo down: bring it up,
// as Docker's `--network none` does. (SIOCSIFFLAGS on a socket: no netlink needed.)
static void loopback_up(const struct minirt_spawn_config *cfg) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fail(cfg, MINIRT_STAGE_NETWORK, errno, "lo");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) fail(cfg, MINIRT_STAGE_NETWORK, errno, "lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) fail(cfg, MINIRT_STAGE_NETWORK, errno, "lo");
    close(sock);
}

// Set before the start gate (create/start): the executable, found when the
// container was created, as runc looks it up then (create fails at once for a
// missing command; engines map that error to 127).
static char resolved_exec[PATH_MAX];

static int is_executable_file(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) { errno = EACCES; return -1; }
    return 0;
}

// PATH lookup as Go's exec.LookPath (which runc uses): a name with '/' must be
// an executable file; otherwise the first PATH entry holding one.
static void find_executable(const struct minirt_spawn_config *cfg) {
    const char *file = cfg->argv[0];
    if (strchr(file, '/')) {
        if (is_executable_file(file) < 0) fail(cfg, MINIRT_STAGE_EXEC, errno == ENOTDIR ? ENOENT : errno, file);
        if (str_len(file) >= sizeof resolved_exec) fail(cfg, MINIRT_STAGE_EXEC, ENAMETOOLONG, file);
        memcpy(resolved_exec, file, str_len(file) + 1);
        return;
    }
    const char *p = cfg->path_env && cfg->path_env[0] ? cfg->path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (1) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : str_len(p);
        if (len + 1 + str_len(file) + 1 <= sizeof resolved_exec) {
            if (len == 0) { resolved_exec[0] = '.'; resolved_exec[1] = 0; }
            else { memcpy(resolved_exec, p, len); resolved_exec[len] = 0; }
            str_append(resolved_exec, sizeof resolved_exec, "/");
            str_append(resolved_exec, sizeof resolved_exec, file);
            if (is_executable_file(resolved_exec) == 0) return;
        }
        if (!end) break;
        p = end + 1;
    }
    resolved_exec[0] = 0;
    fail(cfg, MINIRT_STAGE_EXEC, ENOENT, file);
}

// execvpe() without malloc: try each PATH entry the way execvp does.
__attribute__((noreturn))
static void exec_process(const struct minirt_spawn_config *cfg) {
    const char *file = cfg->argv[0];
    char *const *argv = (char *const *)cfg->argv;
    char *const *envp = (char *const *)cfg->envp;
    if (resolved_exec[0]) file = resolved_exec;
    if (strchr(file, '/')) {
        execve(file, argv, envp);
        fail(cfg, MINIRT_STAGE_EXEC, errno, cfg->argv[0]);
    }
    const char *p = cfg->path_env && cfg->path_env[0] ? cfg->path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    int saw_eacces = 0;
    while (1) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : str_len(p);
        char full[PATH_MAX];
        if (len + 1 + str_len(file) + 1 <= sizeof full) {
            if (len == 0) { full[0] = '.'; full[1] = 0; }
            else { memcpy(full, p, len); full[len] = 0; }
            str_append(full, sizeof full, "/");
            str_append(full, sizeof full, file);
            execve(full, argv, envp);
            switch (errno) {
            case EACCES: saw_eacces = 1; break;
            case ENOENT: case ENOTDIR: case ESTALE: case ENODEV: case ETIMEDOUT: break;
            default: fail(cfg, MINIRT_STAGE_EXEC, errno, file);
            }
        }
        if (!end) break;
        p = end + 1;
    }
    fail(cfg, MINIRT_STAGE_EXEC, saw_eacces ? EACCES : ENOENT, file);
}

// ---- hooks that run in the container's namespaces ----

static char hook_state[2][MINIRT_HOOK_STATE_MAX];
static uint32_t hook_state_len[2];

static int read_all(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static void read_hook_states(const struct minirt_spawn_config *cfg) {
    for (int i = 0; i < 2; i++) {
        if (read_all(cfg->sync_fd, &hook_state_len[i], sizeof hook_state_len[i]) < 0) _exit(1);
        if (hook_state_len[i] > MINIRT_HOOK_STATE_MAX) _exit(1);
        if (read_all(cfg->sync_fd, hook_state[i], hook_state_len[i]) < 0) _exit(1);
    }
}

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Runs one hook with the state on stdin; returns 0 when it exited 0, else
// fills why ("exit status 3, output: ...").
static int run_hook(const struct minirt_hook *h, const char *state, uint32_t len, char *why, size_t cap) {
    int in[2], out[2];
    why[0] = 0;
    if (pipe2(in, O_CLOEXEC) < 0) { str_append(why, cap, "pipe failed"); return -1; }
    if (pipe2(out, O_CLOEXEC) < 0) { close(in[0]); close(in[1]); str_append(why, cap, "pipe failed"); return -1; }
    if (len > 65536) fcntl(in[1], F_SETPIPE_SZ, (int)len);
    long pid = syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0) _exit(126);
        sigset_t none;
        sigemptyset(&none);
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);
        execve(h->path, (char *const *)h->argv, (char *const *)h->envp);
        _exit(errno == ENOENT ? 127 : 126);
    }
    close(in[0]);
    close(out[1]);
    if (pid < 0) { close(in[1]); close(out[0]); str_append(why, cap, "clone failed"); return -1; }
    // The state fits the pipe: the hook may read it or not.
    ssize_t w;
    do { w = write(in[1], state, len); } while (w < 0 && errno == EINTR);
    close(in[1]);
    char output[512];
    size_t have = 0;
    int64_t deadline = h->timeout > 0 ? monotonic_ms() + (int64_t)h->timeout * 1000 : 0;
    int status = 0, timed_out = 0;
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    for (;;) {
        char chunk[256];
        ssize_t r;
        while ((r = read(out[0], chunk, sizeof chunk)) > 0) {
            for (ssize_t i = 0; i < r && have < sizeof output - 1; i++) output[have++] = chunk[i] == '\n' ? ' ' : chunk[i];
        }
        long done = syscall(SYS_wait4, pid, &status, WNOHANG, NULL);
        if (done == pid) break;
        if (deadline && monotonic_ms() >= deadline) {
            kill((pid_t)pid, SIGKILL);
            syscall(SYS_wait4, pid, &status, 0, NULL);
            timed_out = 1;
            break;
        }
        struct timespec nap = { 0, 5 * 1000 * 1000 };
        nanosleep(&nap, NULL);
    }
    close(out[0]);
    output[have] = 0;
    if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    char num[16];
    if (timed_out) {
        u32_to_str((uint32_t)h->timeout, num);
        str_append(why, cap, "timed out after ");
        str_append(why, cap, num);
        str_append(why, cap, "s");
    } else if (WIFEXITED(status)) {
        u32_to_str((uint32_t)WEXITSTATUS(status), num);
        str_append(why, cap, "exit status ");
        str_append(why, cap, num);
    } else {
        u32_to_str((uint32_t)WTERMSIG(status), num);
        str_append(why, cap, "killed by signal ");
        str_append(why, cap, num);
    }
    if (have) { str_append(why, cap, ", output: "); str_append(why, cap, output); }
    return -1;
}

// "<kind> hook #N (<path>): <why>" into detail.
static void hook_failure(char *detail, size_t cap, const char *kind, size_t i, const char *path, const char *why) {
    char num[16];
    u32_to_str((uint32_t)i, num);
    detail[0] = 0;
    str_append(detail, cap, kind);
    str_append(detail, cap, " hook #");
    str_append(detail, cap, num);
    str_append(detail, cap, " (");
    str_append(detail, cap, path);
    str_append(detail, cap, "): ");
    str_append(detail, cap, why);
}

static void run_create_container_hooks(const struct minirt_spawn_config *cfg) {
    for (size_t i = 0; i < cfg->ncreate_container_hooks; i++) {
        char why[700], detail[1000];
        const struct minirt_hook *h = &cfg->create_container_hooks[i];
        if (run_hook(h, hook_state[0], hook_state_len[0], why, sizeof why) == 0) continue;
        hook_failure(detail, sizeof detail, "createContainer", i, h->path, why);
        fail(cfg, MINIRT_STAGE_HOOK, 0, detail);
    }
}

static void run_start_container_hooks(const struct minirt_spawn_config *cfg) {
    for (size_t i = 0; i < cfg->nstart_container_hooks; i++) {
        char why[700], detail[1000];
        const struct minirt_hook *h = &cfg->start_container_hooks[i];
        if (run_hook(h, hook_state[1], hook_state_len[1], why, sizeof why) == 0) continue;
        hook_failure(detail, sizeof detail, "startContainer", i, h->path, why);
        char line[1100] = "error running ";
        str_append(line, sizeof line, detail);
        str_append(line, sizeof line, "\n");
        ssize_t w;
        do { w = write(2, line, str_len(line)); } while (w < 0 && errno == EINTR);
        _exit(1);
    }
}

// ---- confinement ----

static void join_cgroups(const struct minirt_spawn_config *cfg) {
    for (size_t i = 0; i < cfg->ncgroup_task_fds; i++) {
        ssize_t w;
        do { w = write(cfg->cgroup_task_fds[i], "0", 1); } while (w < 0 && errno == EINTR);
        if (w < 0) fail(cfg, MINIRT_STAGE_CGROUP, errno, "cgroup tasks");
    }
}

static void drop_bounding_set(const struct minirt_spawn_config *cfg) {
    for (uint32_t cap = 0; cap <= cfg->cap_last && cap < 64; cap++) {
        if (cfg->cap_bounding & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            fail(cfg, MINIRT_STAGE_CAPABILITIES, errno, "bounding set");
    }
}

static void set_capabilities(const struct minirt_spawn_config *cfg) {
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(cfg->cap_effective >> (32 * i));
        data[i].permitted = (uint32_t)(cfg->cap_permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(cfg->cap_inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0) fail(cfg, MINIRT_STAGE_CAPABILITIES, errno, "capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        fail(cfg, MINIRT_STAGE_CAPABILITIES, errno, "ambient set");
    for (uint32_t cap = 0; cap <= cfg->cap_last && cap < 64; cap++) {
        if (!(cfg->cap_ambient & (1ULL << cap))) continue;
        // The kernel raises only what is both permitted and inheritable; runc
        // 1.1 skips the rest (its own `runc spec` asks for ambient capabilities
        // that are not inheritable), and so does minirt.
        if (!(cfg->cap_inheritable & (1ULL << cap)) || !(cfg->cap_permitted & (1ULL << cap))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            fail(cfg, MINIRT_STAGE_CAPABILITIES, errno, "ambient set");
    }
}

static void load_seccomp(const struct minirt_spawn_config *cfg) {
    static int loaded;
    if (loaded || !cfg->seccomp_filter || cfg->seccomp_len == 0) return;
    loaded = 1;
    struct sock_fprog prog = { .len = cfg->seccomp_len, .filter = (struct sock_filter *)cfg->seccomp_filter };
    unsigned int flags = cfg->seccomp_flags | (cfg->seccomp_listener_sock >= 0 ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0);
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (r < 0) fail(cfg, MINIRT_STAGE_SECCOMP, errno, "seccomp filter");
    if (cfg->seccomp_listener_sock >= 0) {
        if (send_fd(cfg->seccomp_listener_sock, (int)r) < 0) fail(cfg, MINIRT_STAGE_SECCOMP, errno, "sending the seccomp listener");
        close((int)r);
    }
}

// Waits for the parent's go; EOF means the parent gave up (and reports why).
static void wait_for_parent(int fd) {
    char c;
    ssize_t r;
    do { r = read(fd, &c, 1); } while (r < 0 && errno == EINTR);
    if (r != 1) _exit(1);
}

// The first steps in the new process: no dumping, the parent-death signal,
// the cgroup (v1), the namespaces given by path.
static void child_enter(const struct minirt_spawn_config *cfg) {
    // (getppid() is 0 in a new PID namespace, so a parent that died before this
    // point is noticed through sync_fd/error_fd instead.)
    // Until execve nothing in the container may open /proc/PID/exe, mem or fds
    // of this process (execve makes it dumpable again, from the container's binary).
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (cfg->parent_death_signal) prctl(PR_SET_PDEATHSIG, cfg->parent_death_signal);
    join_cgroups(cfg);
    umask(0);
    // Open every namespace first: once the mount namespace changes, /proc/PID paths
    // would resolve in the container's /proc. A user namespace is joined after
    // the others (which may belong to the host's: only its root can enter them)
    // and the mount namespace last. The engine refuses more joins than there
    // are namespace types (MINIRT_MAX_JOINS).
    int nsfds[MINIRT_MAX_JOINS];
    size_t nj = cfg->njoins;
    if (nj > MINIRT_MAX_JOINS) { errno = E2BIG; fail(cfg, MINIRT_STAGE_SETNS, errno, "too many namespaces to join"); }
    for (size_t i = 0; i < nj; i++) {
        nsfds[i] = open(cfg->joins[i].path, O_RDONLY | O_CLOEXEC);
        if (nsfds[i] < 0) fail(cfg, MINIRT_STAGE_SETNS, errno, cfg->joins[i].path);
    }
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < nj; i++) {
            int t = cfg->joins[i].type;
            int when = t == CLONE_NEWNS ? 2 : t == CLONE_NEWUSER ? 1 : 0;
            if (when != pass) continue;
            if (setns(nsfds[i], t) < 0) fail(cfg, MINIRT_STAGE_SETNS, errno, cfg->joins[i].path);
            close(nsfds[i]);
        }
    }
}

// A new user namespace (see userns_sock): unshare it, let the parent write
// the maps, become its root, clone the init with the rest. Never returns.
__attribute__((noreturn))
static void make_user_namespace(const struct minirt_spawn_config *cfg);

__attribute__((noreturn))
static void child_setup(const struct minirt_spawn_config *cfg);

__attribute__((noreturn))
static void child_main(const struct minirt_spawn_config *cfg) {
    child_enter(cfg);
    if (cfg->userns_sock >= 0) make_user_namespace(cfg);
    child_setup(cfg);
}

static void make_user_namespace(const struct minirt_spawn_config *cfg) {
    ssize_t r;
    if (cfg->create_userns) {
        if (unshare(CLONE_NEWUSER) < 0) fail(cfg, MINIRT_STAGE_USERNS, errno, "unshare");
        char c = 'u';
        do { r = write(cfg->userns_sock, &c, 1); } while (r < 0 && errno == EINTR);
        if (r != 1) _exit(1);
        do { r = read(cfg->userns_sock, &c, 1); } while (r < 0 && errno == EINTR);
        if (r != 1) _exit(1); // the parent gave up (and reports why)
        // Root of the new namespace: what the maps give container id 0.
        if (syscall(SYS_setresgid, 0, 0, 0) < 0) fail(cfg, MINIRT_STAGE_USERNS, errno, "setgid 0 (gidMappings must map container id 0)");
        if (syscall(SYS_setresuid, 0, 0, 0) < 0) fail(cfg, MINIRT_STAGE_USERNS, errno, "setuid 0 (uidMappings must map container id 0)");
    }
    long pid = syscall(SYS_clone, (unsigned long)((cfg->clone_flags & ~(unsigned long)CLONE_NEWUSER) | CLONE_PARENT | SIGCHLD),
                       NULL, NULL, NULL, NULL);
    if (pid < 0) fail(cfg, MINIRT_STAGE_CLONE, errno, "the container's init");
    if (pid == 0) {
        // The parent-death signal does not survive a clone; the engine is the parent now.
        if (cfg->parent_death_signal) prctl(PR_SET_PDEATHSIG, cfg->parent_death_signal);
        child_setup(cfg);
    }
    int32_t sent = (int32_t)pid;
    do { r = write(cfg->userns_sock, &sent, sizeof sent); } while (r < 0 && errno == EINTR);
    _exit(r == sizeof sent ? 0 : 1);
}

static void child_setup(const struct minirt_spawn_config *cfg) {
    // Created after joining the cgroup (and after the user namespace, which owns it).
    if (cfg->unshare_cgroupns && unshare(CLONE_NEWCGROUP) < 0)
        fail(cfg, MINIRT_STAGE_CGROUP, errno, "cgroup namespace");
    if (cfg->sync_fd >= 0) wait_for_parent(cfg->sync_fd);
    if (cfg->ncreate_container_hooks || cfg->nstart_container_hooks) read_hook_states(cfg);

    if (cfg->clone_flags & CLONE_NEWNET) loopback_up(cfg);

    int console_slave = -1;
    if (cfg->clone_flags & CLONE_NEWNS) setup_rootfs(cfg, &console_slave);
    else {
        if (cfg->terminal) {
            // exec: the container's devpts (its root is ours now), no /dev/console.
            int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (rootfd < 0) fail(cfg, MINIRT_STAGE_CONSOLE, errno, "/");
            console_slave = setup_console(cfg, rootfd);
            close(rootfd);
        }
        run_create_container_hooks(cfg);
    }

    if (cfg->hostname && (cfg->clone_flags & CLONE_NEWUTS) &&
        sethostname(cfg->hostname, str_len(cfg->hostname)) < 0)
        fail(cfg, MINIRT_STAGE_HOSTNAME, errno, cfg->hostname);
    if (cfg->domainname && (cfg->clone_flags & CLONE_NEWUTS) &&
        syscall(SYS_setdomainname, cfg->domainname, str_len(cfg->domainname)) < 0)
        fail(cfg, MINIRT_STAGE_HOSTNAME, errno, cfg->domainname);
    if (cfg->set_oom_score_adj) {
        char num[16], text[20];
        int v = cfg->oom_score_adj;
        u32_to_str((uint32_t)(v < 0 ? -v : v), num);
        text[0] = 0;
        if (v < 0) str_append(text, sizeof text, "-");
        str_append(text, sizeof text, num);
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, str_len(text)) < 0) fail(cfg, MINIRT_STAGE_OOM_SCORE, errno, text);
        close(fd);
    }

    // The container gets its own session; with a terminal, the pty is its controlling tty.
    if (setsid() < 0) fail(cfg, MINIRT_STAGE_STDIO, errno, "setsid");
    if (console_slave >= 0) {
        if (ioctl(console_slave, TIOCSCTTY, 0) < 0) fail(cfg, MINIRT_STAGE_STDIO, errno, "TIOCSCTTY");
        for (int i = 0; i < 3; i++)
            if (dup2(console_slave, i) < 0) fail(cfg, MINIRT_STAGE_STDIO, errno, "dup2");
        if (console_slave > 2) close(console_slave);
    } else {
        for (int i = 0; i < 3; i++)
            if (cfg->stdio[i] >= 0 && cfg->stdio[i] != i && dup2(cfg->stdio[i], i) < 0)
                fail(cfg, MINIRT_STAGE_STDIO, errno, "dup2");
    }

    const char *cwd = cfg->cwd && cfg->cwd[0] ? cfg->cwd : "/";
    // Like runc: a missing working directory is created.
    if (chdir(cwd) < 0 && (errno != ENOENT || mkdir_all(cwd, 0755) < 0 || chdir(cwd) < 0))
        fail(cfg, MINIRT_STAGE_CWD, errno, cwd);

    for (size_t i = 0; i < cfg->nrlimits; i++) {
        struct { uint64_t cur, max; } lim = { cfg->rlimits[i].soft, cfg->rlimits[i].hard };
        if (syscall(SYS_prlimit64, 0, cfg->rlimits[i].resource, &lim, NULL) < 0)
            fail(cfg, MINIRT_STAGE_RLIMIT, errno, cfg->rlimits[i].name);
    }

    // Without no_new_privs a filter can only be loaded with CAP_SYS_ADMIN, so
    // then it goes in before the capabilities are dropped (as runc does).
    if (!cfg->no_new_privileges) load_seccomp(cfg);
    if (cfg->set_capabilities) {
        drop_bounding_set(cfg);
        // Keep the permitted set across the switch to a non-root uid.
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(cfg, MINIRT_STAGE_CAPABILITIES, errno, "keepcaps");
    }
    if (cfg->set_groups && syscall(SYS_setgroups, cfg->ngroups, cfg->groups) < 0)
        fail(cfg, MINIRT_STAGE_USER, errno, "setgroups");
    if (syscall(SYS_setresgid, cfg->gid, cfg->gid, cfg->gid) < 0) fail(cfg, MINIRT_STAGE_USER, errno, "setgid");
    if (syscall(SYS_setresuid, cfg->uid, cfg->uid, cfg->uid) < 0) fail(cfg, MINIRT_STAGE_USER, errno, "setuid");
    if (cfg->set_capabilities) {
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail(cfg, MINIRT_STAGE_CAPABILITIES, errno, "keepcaps");
        set_capabilities(cfg);
    }

    if (cfg->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(cfg, MINIRT_STAGE_PRCTL, errno, "no_new_privs");

    umask((mode_t)(cfg->umask & 0777));
    // No descriptor of minirt's may reach the container: mark all but stdio close-on-exec
    // (error_fd already is, so its EOF still tells the parent that execve succeeded).
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    // Only the caller's descriptors it asked to pass (checked by the engine: open, not ours).
    for (int fd = 3; fd < 3 + cfg->preserve_fds; fd++) fcntl(fd, F_SETFD, 0);
    // A listener must reach the agent before the container runs (runc loads such
    // a filter before its start gate too): what follows must pass the filter.
    if (cfg->seccomp_listener_sock >= 0) load_seccomp(cfg);
    if (cfg->start_fd >= 0) {
        find_executable(cfg);
        // create/start: tell the parent the container is set up, then block until started.
        struct minirt_child_error ready;
        memset(&ready, 0, sizeof ready);
        ready.stage = MINIRT_STAGE_START_WAIT;
        ssize_t w;
        do { w = write(cfg->error_fd, &ready, sizeof ready); } while (w < 0 && errno == EINTR);
        wait_for_parent(cfg->start_fd);
    }
    run_start_container_hooks(cfg);

    // The parent blocks the signals it forwards; the container starts clean.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < _NSIG; sig++) sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);

    // Last: from here on only execve has to be allowed by the filter.
    if (cfg->no_new_privileges) load_seccomp(cfg);
    exec_process(cfg);
}

pid_t minirt_spawn(const struct minirt_spawn_config *cfg) {
    // Raw clone without CLONE_VM behaves like fork() but runs no atfork handlers
    // and creates the new namespaces in one step; the child is pid 1 of a new PID namespace.
    long pid;
    // With a user namespace of its own, the first child creates the namespaces (see userns_sock).
    unsigned long flags = cfg->userns_sock >= 0 ? 0 : cfg->clone_flags;
    if (cfg->cgroup_dir_fd >= 0) {
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = flags | CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)cfg->cgroup_dir_fd;
        pid = syscall(SYS_clone3, &args, sizeof args);
    } else {
        pid = syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, NULL);
    }
    if (pid < 0) return -1;
    if (pid == 0) child_main(cfg);
    return (pid_t)pid;
}

int minirt_recv_fd(int sock) {
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    ssize_t r;
    do { r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    if (r == 0) return -2;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) { errno = EBADMSG; return -1; }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

int minirt_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
int minirt_unshare(int flags) { return unshare(flags); }
int minirt_setns(int fd, int nstype) { return setns(fd, nstype); }
int minirt_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int minirt_send_fd(int sock, int fd) { return send_fd(sock, fd); }
int minirt_send_fd_with(int sock, int fd, const void *payload, size_t len) { return send_fd_with(sock, fd, payload, len); }
extern char **environ;
char *const *minirt_environ(void) { return environ; }

int minirt_attach_device_filter(int cgroup_fd, const uint64_t *insns, uint32_t count, char *log, uint32_t log_size) {
    union bpf_attr load;
    memset(&load, 0, sizeof load);
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = (uint64_t)(uintptr_t)insns;
    load.insn_cnt = count;
    load.license = (uint64_t)(uintptr_t)"Apache-2.0";
    int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
    if (prog < 0 && log && log_size) {
        // Again with the verifier's log, for the error message only (a log
        // that does not fit fails the load with ENOSPC, so not the first time).
        int e = errno;
        load.log_buf = (uint64_t)(uintptr_t)log;
        load.log_size = log_size;
        load.log_level = 1;
        syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
        errno = e;
    }
    if (prog < 0) return -1;
    int r = minirt_bpf_prog_attach(cgroup_fd, prog, BPF_CGROUP_DEVICE);
    int e = errno;
    close(prog); // the attachment keeps the program alive
    errno = e;
    return r;
}
