// Thin wrappers for syscalls glibc does not wrap (openat2, open_tree,
// mount_setattr) or that Swift cannot call (variadic syscall(), macros).
// Called from Swift in the parent, never between clone() and execve().
#define _GNU_SOURCE
#include "minirt_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/openat2.h>

int minirt_open_in_root(int rootfd, const char *path, int flags, int mode) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    if (flags & O_CREAT) how.mode = (uint64_t)mode;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    // EAGAIN: a mount or rename on the host raced the lookup; openat2(2) says to retry.
    int fd = -1;
    for (int i = 0; i < 1000; i++) {
        fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) break;
    }
    return fd;
}

int minirt_readonly_clone(const char *path) {
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0) return -1;
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int minirt_sealed_copy(const char *path) {
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0) return -1;
    int fd = memfd_create("minirt", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    struct stat st;
    int ok = fd >= 0 && fstat(src, &st) == 0;
    for (off_t done = 0; ok && done < st.st_size;) {
        ssize_t n = sendfile(fd, src, NULL, (size_t)(st.st_size - done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { ok = 0; break; }
        done += n;
    }
    ok = ok && fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0;
    int e = errno;
    close(src);
    if (!ok) {
        if (fd >= 0) close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int minirt_execveat(int fd, char *const argv[], char *const envp[]) {
    return (int)syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
}

int minirt_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on ? 1 : 0, 0, 0, 0); }

int minirt_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int minirt_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }

void minirt_close_from(int lowfd) {
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0) return;
    for (int fd = lowfd; fd < 65536; fd++) close(fd);
}

// bpf(2) for the socket load balancer (MinirtEngine/SocketLB.swift), one
// wrapper per command it uses, with the kernel's own union bpf_attr layout.
// libbpf would bring libelf and zlib into the static binary for these few.
#include <linux/bpf.h>

static int bpf_call(int cmd, union bpf_attr *a) { return (int)syscall(SYS_bpf, cmd, a, sizeof *a); }

int minirt_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                          uint32_t flags, const char *name) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = type;
    a.key_size = key_size;
    a.value_size = value_size;
    a.max_entries = max_entries;
    a.map_flags = flags;
    strncpy(a.map_name, name, sizeof a.map_name - 1);
    return bpf_call(BPF_MAP_CREATE, &a);
}

static int bpf_elem(int cmd, int fd, const void *key, void *value, uint64_t flags) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = (uint32_t)fd;
    a.key = (uint64_t)(uintptr_t)key;
    a.value = (uint64_t)(uintptr_t)value;
    a.flags = flags;
    return bpf_call(cmd, &a);
}
int minirt_bpf_map_lookup(int fd, const void *key, void *value) { return bpf_elem(BPF_MAP_LOOKUP_ELEM, fd, key, value, 0); }
int minirt_bpf_map_update(int fd, const void *key, const void *value) { return bpf_elem(BPF_MAP_UPDATE_ELEM, fd, key, (void *)value, BPF_ANY); }
int minirt_bpf_map_delete(int fd, const void *key) { return bpf_elem(BPF_MAP_DELETE_ELEM, fd, key, NULL, 0); }
int minirt_bpf_map_next_key(int fd, const void *key, void *next) { return bpf_elem(BPF_MAP_GET_NEXT_KEY, fd, key, next, 0); }

int minirt_bpf_prog_load_sock_addr(const uint64_t *insns, uint32_t count, uint32_t attach_type, const char *name,
                                   char *log, uint32_t log_size) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
    a.expected_attach_type = attach_type;
    a.insns = (uint64_t)(uintptr_t)insns;
    a.insn_cnt = count;
    a.license = (uint64_t)(uintptr_t)"Apache-2.0";
    strncpy(a.prog_name, name, sizeof a.prog_name - 1);
    int fd = bpf_call(BPF_PROG_LOAD, &a);
    if (fd < 0 && log && log_size) {
        int e = errno;   // again with the verifier's log, for the message only
        a.log_buf = (uint64_t)(uintptr_t)log;
        a.log_size = log_size;
        a.log_level = 1;
        bpf_call(BPF_PROG_LOAD, &a);
        errno = e;
    }
    return fd;
}

static int bpf_attachment(int cmd, int cgroup_fd, int prog_fd, uint32_t attach_type, uint32_t flags) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.target_fd = (uint32_t)cgroup_fd;
    a.attach_bpf_fd = (uint32_t)prog_fd;
    a.attach_type = attach_type;
    a.attach_flags = flags;
    return bpf_call(cmd, &a);
}
int minirt_bpf_prog_attach(int cgroup_fd, int prog_fd, uint32_t attach_type) {
    return bpf_attachment(BPF_PROG_ATTACH, cgroup_fd, prog_fd, attach_type, BPF_F_ALLOW_MULTI);
}
int minirt_bpf_prog_detach(int cgroup_fd, int prog_fd, uint32_t attach_type) {
    return bpf_attachment(BPF_PROG_DETACH, cgroup_fd, prog_fd, attach_type, 0);
}

int minirt_bpf_prog_query(int cgroup_fd, uint32_t attach_type, uint32_t *ids, uint32_t *count) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.query.target_fd = (uint32_t)cgroup_fd;
    a.query.attach_type = attach_type;
    a.query.prog_ids = (uint64_t)(uintptr_t)ids;
    a.query.prog_cnt = *count;
    int r = bpf_call(BPF_PROG_QUERY, &a);
    *count = a.query.prog_cnt;
    return r;
}

int minirt_bpf_prog_fd_by_id(uint32_t id) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_id = id;
    return bpf_call(BPF_PROG_GET_FD_BY_ID, &a);
}

int minirt_bpf_map_fd_by_id(uint32_t id) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_id = id;
    return bpf_call(BPF_MAP_GET_FD_BY_ID, &a);
}

static int bpf_info(int fd, void *info, uint32_t len) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.info.bpf_fd = (uint32_t)fd;
    a.info.info_len = len;
    a.info.info = (uint64_t)(uintptr_t)info;
    return bpf_call(BPF_OBJ_GET_INFO_BY_FD, &a);
}

int minirt_bpf_prog_info(int fd, char name[16], uint32_t *map_ids, uint32_t *map_count) {
    struct bpf_prog_info info;
    memset(&info, 0, sizeof info);
    info.nr_map_ids = *map_count;
    info.map_ids = (uint64_t)(uintptr_t)map_ids;
    if (bpf_info(fd, &info, sizeof info) < 0) return -1;
    memcpy(name, info.name, 16);
    name[15] = 0;
    *map_count = info.nr_map_ids;
    return 0;
}

int minirt_bpf_map_name(int fd, char name[16]) {
    struct bpf_map_info info;
    memset(&info, 0, sizeof info);
    if (bpf_info(fd, &info, sizeof info) < 0) return -1;
    memcpy(name, info.name, 16);
    name[15] = 0;
    return 0;
}
