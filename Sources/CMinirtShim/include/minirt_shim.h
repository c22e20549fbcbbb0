// The only C in minirt: the code that runs in the child between clone() and
// execve(). A child of a multi-threaded process may only make async-signal-safe
// calls, so everything here is raw syscalls over memory the parent prepared;
// no malloc, no stdio, no Swift. See README.md "The fork problem".
#ifndef MINIRT_SHIM_H
#define MINIRT_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/signalfd.h>

#ifdef __cplusplus
extern "C" {
#endif

// Where the child was when it failed; mapped to a name by the engine.
enum minirt_stage {
    MINIRT_STAGE_NONE = 0,
    MINIRT_STAGE_SETNS,
    MINIRT_STAGE_SYNC,
    MINIRT_STAGE_PROPAGATION,
    MINIRT_STAGE_ROOTFS,
    MINIRT_STAGE_MOUNT,
    MINIRT_STAGE_DEVICE,
    MINIRT_STAGE_CONSOLE,
    MINIRT_STAGE_PIVOT_ROOT,
    MINIRT_STAGE_MASK,
    MINIRT_STAGE_READONLY,
    MINIRT_STAGE_HOSTNAME,
    MINIRT_STAGE_STDIO,
    MINIRT_STAGE_CWD,
    MINIRT_STAGE_USER,
    MINIRT_STAGE_PRCTL,
    MINIRT_STAGE_START_WAIT,
    MINIRT_STAGE_EXEC,
    MINIRT_STAGE_CLONE,
    MINIRT_STAGE_NETWORK,
    MINIRT_STAGE_CGROUP,
    MINIRT_STAGE_CAPABILITIES,
    MINIRT_STAGE_SECCOMP,
    MINIRT_STAGE_SYSCTL,
    MINIRT_STAGE_RLIMIT,
    MINIRT_STAGE_OOM_SCORE,
    MINIRT_STAGE_USERNS,
    MINIRT_STAGE_HOOK,
};

// Sent by the child over error_fd when it fails; EOF on error_fd (it is
// O_CLOEXEC) means execve succeeded.
struct minirt_child_error {
    int32_t stage;
    int32_t err;      // errno
    char detail[1024]; // the path or name involved
};

// At most one join per namespace type, and there are eight.
#define MINIRT_MAX_JOINS 8

struct minirt_rlimit {
    const char *name;  // RLIMIT_NOFILE, for the error message
    int resource;      // RLIMIT_*
    uint64_t soft, hard;
};

struct minirt_mount {
    const char *source;
    const char *target;          // absolute path inside the container
    const char *fstype;          // NULL for bind mounts
    unsigned long flags;         // MS_* for mount(2)
    unsigned long propagation;   // MS_PRIVATE/MS_SLAVE/MS_SHARED (|MS_REC), 0 for none
    const char *data;            // filesystem options, may be NULL
    int remount_readonly;        // bind mounts become read-only only by a remount
    int target_is_file;          // bind of a non-directory: the target is created as a file
};

struct minirt_device {
    const char *path;            // absolute path inside the container
    uint32_t mode;               // S_IFCHR|perm or S_IFBLK|perm
    uint32_t major;
    uint32_t minor;
    uint32_t uid;
    uint32_t gid;
};

// An OCI hook that runs in the container's namespaces (createContainer,
// startContainer): the child runs it itself, the state JSON on its stdin.
struct minirt_hook {
    const char *path;
    const char *const *argv;     // NULL-terminated
    const char *const *envp;     // NULL-terminated
    int timeout;                 // seconds; 0: none
};

// The most state JSON an in-container hook is given (the engine checks).
#define MINIRT_HOOK_STATE_MAX 65536

struct minirt_namespace_join {
    int type;                    // CLONE_NEWNET, CLONE_NEWIPC, ...
    const char *path;            // e.g. /var/run/netns/minirt-abc or /proc/PID/ns/net
};

struct minirt_spawn_config {
    unsigned long clone_flags;   // CLONE_NEW* namespaces to create
    const struct minirt_namespace_join *joins;
    size_t njoins;

    const char *rootfs;          // host path of the container's root mount point
    const char *overlay_data;    // if set, mount overlayfs with these options on rootfs
    unsigned long rootfs_propagation; // default MS_PRIVATE|MS_REC
    int rootfs_readonly;

    const struct minirt_mount *mounts;
    size_t nmounts;
    const struct minirt_device *devices;
    size_t ndevices;
    int default_dev_symlinks;    // /dev/fd, /dev/std{in,out,err}, /dev/ptmx
    const char *const *masked_paths;
    size_t nmasked;
    const char *const *readonly_paths;
    size_t nreadonly;

    const char *hostname;        // NULL: leave as is
    const char *domainname;      // NULL: leave as is (needs a new UTS namespace)
    // linux.sysctl as /proc/sys paths and values, written after pivot_root and
    // before /proc/sys turns read-only; process.oomScoreAdj (set_oom_score_adj).
    const char *const *sysctl_paths;
    const char *const *sysctl_values;
    size_t nsysctl;
    int set_oom_score_adj;
    int oom_score_adj;
    const char *cwd;
    const char *const *argv;     // NULL-terminated
    const char *const *envp;     // NULL-terminated
    const char *path_env;        // PATH used to look argv[0] up, inside the container

    uint32_t uid;
    uint32_t gid;
    const uint32_t *groups;
    size_t ngroups;
    int set_groups;              // call setgroups (not allowed in some user namespaces)
    uint32_t umask;              // process.user.umask (0022 when the spec has none)
    int no_new_privileges;

    int terminal;                // create a pty inside the container's devpts
    int console_socket;          // the pty master is sent here (SCM_RIGHTS)
    uint16_t console_rows;
    uint16_t console_cols;
    int stdio[3];                // fds for 0,1,2 when not a terminal; -1 keeps the current one

    // Confinement. Cgroups are joined before anything else, cheaply: on v2 the
    // child is cloned straight into its cgroup (clone3 CLONE_INTO_CGROUP), on v1
    // it writes "0" into each hierarchy's `tasks` file (moving only the calling
    // thread skips the global threadgroup lock, whose RCU grace period costs
    // ~10 ms a start; the child is single-threaded, so that moves the process).
    // Capabilities are set around the uid switch; seccomp is loaded last, right
    // before execve (before the capability drop when no_new_privileges is off,
    // since loading a filter then needs CAP_SYS_ADMIN).
    int cgroup_dir_fd;           // >= 0: v2 cgroup directory to clone into
    const int *cgroup_task_fds;  // v1: open `tasks` files the child writes "0" into
    size_t ncgroup_task_fds;
    int unshare_cgroupns;        // a new cgroup namespace rooted at the joined cgroup
    int set_capabilities;
    uint32_t cap_last;           // highest capability the kernel knows
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;

    // process.rlimits, set before the user switch (as runc does).
    const struct minirt_rlimit *rlimits;
    size_t nrlimits;
    const void *seccomp_filter;  // struct sock_filter[seccomp_len], built by libseccomp in the parent
    uint16_t seccomp_len;
    unsigned int seccomp_flags;  // SECCOMP_FILTER_FLAG_* (linux.seccomp.flags)
    // >= 0: the filter has SCMP_ACT_NOTIFY: it is loaded with a new listener,
    // before the start gate, and the listener fd is sent here (SCM_RIGHTS).
    int seccomp_listener_sock;

    // A new user namespace (linux.uidMappings), or a PID namespace joined by path: the first child joins the
    // namespaces given by path, unshares the user namespace and waits on
    // userns_sock while the parent writes its uid/gid maps; it then becomes root
    // there and clones the container's init with the other new namespaces
    // (CLONE_PARENT: the caller stays its parent), sends that pid over
    // userns_sock as an int32 and exits. -1: no user namespace of its own.
    int userns_sock;
    // With userns_sock set: 1 to create the user namespace (the handshake
    // above), 0 when only the second clone is wanted: a PID namespace joined by
    // path applies to the caller's children only, so the init must be a child
    // of the process that joined it (as runc's stage-2 child).
    int create_userns;

    // createContainer hooks run after the mounts and before pivot_root (in the
    // container's namespaces, with the runtime's paths), startContainer hooks
    // after the start gate right before execve (inside, as the process's user).
    // With either, sync_fd carries after the go byte the two state JSONs, each
    // a uint32 length and the bytes. A failed startContainer hook is reported
    // on stderr (the create has returned by then) and ends the init with 1, as runc.
    const struct minirt_hook *create_container_hooks;
    size_t ncreate_container_hooks;
    const struct minirt_hook *start_container_hooks;
    size_t nstart_container_hooks;

    int parent_death_signal;     // 0 for none
    int sync_fd;                 // >= 0: read one byte before setting up (parent's go)
    int start_fd;                // >= 0: read one byte right before execve (create/start split)
    int preserve_fds;            // fds 3 .. 3+N-1 reach the process (runc's --preserve-fds)
    int error_fd;                // O_CLOEXEC; receives a minirt_child_error on failure
};

// Namespace flags from <sched.h>, which Swift's Glibc module hides behind _GNU_SOURCE.
enum {
    MINIRT_CLONE_NEWNS = 0x00020000,
    MINIRT_CLONE_NEWCGROUP = 0x02000000,
    MINIRT_CLONE_NEWUTS = 0x04000000,
    MINIRT_CLONE_NEWIPC = 0x08000000,
    MINIRT_CLONE_NEWUSER = 0x10000000,
    MINIRT_CLONE_NEWPID = 0x20000000,
    MINIRT_CLONE_NEWNET = 0x40000000,
};

// O_PATH, hidden from Swift behind _GNU_SOURCE.
enum { MINIRT_O_PATH = 010000000 };
// F_SETPIPE_SZ, hidden the same way.
enum { MINIRT_F_SETPIPE_SZ = 1031 };

// pipe2(2), unshare(2) and setns(2), also hidden behind _GNU_SOURCE; the
// engine uses the last two to pin a new network namespace for CNI.
int minirt_pipe_cloexec(int fds[2]);
int minirt_unshare(int flags);
int minirt_setns(int fd, int nstype);

// prctl(PR_SET_CHILD_SUBREAPER) for the supervisor of detached containers, and
// sending one descriptor with SCM_RIGHTS (published ports' sockets go to it).
int minirt_set_child_subreaper(void);
int minirt_send_fd(int sock, int fd);
// The same with a payload (a seccomp agent gets the container's state with its fd).
int minirt_send_fd_with(int sock, int fd, const void *payload, size_t len);

// The process environment (Swift 6 cannot read the `environ` global safely).
char *const *minirt_environ(void);

// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from rootfd: a path read or
// written inside a container's root can only lead somewhere inside it. -1/errno.
int minirt_open_in_root(int rootfd, const char *path, int flags, int mode);

// minirt's own binary, protected before it enters a container (CVE-2019-5736):
// a detached read-only bind mount of path (open_tree + mount_setattr), or a
// sealed memfd copy of it; execveat(fd, "", AT_EMPTY_PATH) runs either.
int minirt_readonly_clone(const char *path);
int minirt_sealed_copy(const char *path);
int minirt_execveat(int fd, char *const argv[], char *const envp[]);
int minirt_set_dumpable(int on);

// Closes every descriptor from lowfd up (a daemon keeps nothing it inherited).
void minirt_close_from(int lowfd);

// A descriptor naming one process (never a recycled pid), and signalling through it.
int minirt_pidfd_open(pid_t pid);
int minirt_pidfd_send_signal(int pidfd, int sig);

// clone()s a child that sets itself up from cfg and execs the process.
// Returns the child's pid (as seen by the caller) or -1 with errno set.
pid_t minirt_spawn(const struct minirt_spawn_config *cfg);

// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program (insns: struct bpf_insn, 8 bytes
// each) and attaches it to the cgroup v2 directory open at cgroup_fd: device
// rules on the unified hierarchy. 0, or -1 with errno (and the verifier's log).
int minirt_attach_device_filter(int cgroup_fd, const uint64_t *insns, uint32_t count, char *log, uint32_t log_size);

// bpf(2) commands for the socket load balancer (one wrapper each; -1/errno).
int minirt_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                          uint32_t flags, const char *name);
int minirt_bpf_map_lookup(int fd, const void *key, void *value);
int minirt_bpf_map_update(int fd, const void *key, const void *value);
int minirt_bpf_map_delete(int fd, const void *key);
int minirt_bpf_map_next_key(int fd, const void *key, void *next);
int minirt_bpf_prog_load_sock_addr(const uint64_t *insns, uint32_t count, uint32_t attach_type, const char *name,
                                   char *log, uint32_t log_size);
int minirt_bpf_prog_attach(int cgroup_fd, int prog_fd, uint32_t attach_type);
int minirt_bpf_prog_detach(int cgroup_fd, int prog_fd, uint32_t attach_type);
int minirt_bpf_prog_query(int cgroup_fd, uint32_t attach_type, uint32_t *ids, uint32_t *count);
int minirt_bpf_prog_fd_by_id(uint32_t id);
int minirt_bpf_map_fd_by_id(uint32_t id);
int minirt_bpf_prog_info(int fd, char name[16], uint32_t *map_ids, uint32_t *map_count);
int minirt_bpf_map_name(int fd, char name[16]);

// Receive one file descriptor sent with SCM_RIGHTS (CMSG_* are macros Swift
// cannot call); -1 with errno on failure, -2 when the peer closed without sending.
int minirt_recv_fd(int sock);

#ifdef __cplusplus
}
#endif
#endif
