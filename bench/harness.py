#!/usr/bin/env python3
"""Times minirt against references, alternating cases in one run; prints one table."""
import json, os, re, statistics, subprocess, sys, time

n, work, netns = int(sys.argv[1]), sys.argv[2], sys.argv[3]
minirt = os.path.abspath(".build/release/minirt")
inns = []  # bench/run already started this harness inside the benchmark's network namespace
conflist = os.path.join(os.environ["MINIRT_CNI_CONFIG"], "bridge.conflist")
rows = []

def timed(argv):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1000

def timed_env(argv, env):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return (time.perf_counter() - t) * 1000

def medians(cases, iterations):
    times = {k: [] for k in cases}
    for i in range(iterations + 2):
        for name, fn in cases.items():  # alternate, so drift hits every case alike
            ms = fn()
            if i >= 2:  # warm-up
                times[name].append(ms)
    return {k: statistics.median(v) for k, v in times.items()}

def report(title, cases, iterations, target, versus):
    """Medians of alternating runs; the last case is the reference, `versus` says how a case compares to it."""
    med = medians(cases, iterations)
    ref = list(cases)[-1]
    for k in cases:
        rows.append((title, k, f"{med[k]:.1f} ms", versus(med[k], med[ref]) if k != ref else ""))
    rows.append((title, "target", target, ""))

def compare(title, cases, iterations, target):
    report(title, cases, iterations, target, lambda v, ref: f"{v / ref:.2f}x")

# 1. Start-up: a container that runs `true`.
compare("start-up", {
    "minirt run --rm --network none busybox true": lambda: timed([minirt, "run", "--rm", "--network", "none", "busybox", "true"]),
    "unshare (same namespaces) true": lambda: timed(["unshare", "--net", "--pid", "--mount", "--uts", "--ipc", "--fork", "true"]),
    "runc run (minirt's own config.json: same confinement)": lambda: timed(["runc", "--root", f"{work}/runc", "run", "--bundle", f"{work}/bundle", "bench"]),
}, n, "minirt <= 0.30x runc")

# 1a. The same with both runtimes' state on this machine's disk (ext4 with
# `discard`: each file and folder a --rm deletes waits for a TRIM).
disk = os.environ["BENCH_DISK"]
on_disk = dict(os.environ, MINIRT_ROOT=f"{disk}/state")
compare("start-up, state on disk", {
    "minirt run --rm --network none busybox true": lambda: timed_env([minirt, "run", "--rm", "--network", "none", "busybox", "true"], on_disk),
    "runc run (the same config.json)": lambda: timed(["runc", "--root", f"{disk}/runc", "run", "--bundle", f"{work}/bundle", "bench"]),
}, n, "(no target: /run is a tmpfs on a standard host)")

# 1b. Confinement: the default (capabilities, seccomp, cgroup, device rules,
# masked paths) against --privileged, which skips all of it; the cost is the difference.
def delta(title, cases, iterations, target):
    report(title, cases, iterations, target, lambda v, ref: f"{v - ref:+.1f} ms")
delta("confinement", {
    "minirt run --rm --network none busybox true": lambda: timed([minirt, "run", "--rm", "--network", "none", "busybox", "true"]),
    "same with --privileged": lambda: timed([minirt, "run", "--rm", "--network", "none", "--privileged", "busybox", "true"]),
}, n, "<= +3 ms")

# 1c. What protecting minirt's binary costs (CVE-2019-5736: run, exec and __start
# re-execute from a read-only clone of it): the same commands with the re-exec
# skipped by pretending it happened (never do this outside a benchmark).
unsealed = dict(os.environ, _MINIRT_SEALED_FROM=minirt)
# minirt on a read-only mount needs no re-exec: the same binary bind-mounted read-only over itself.
ro = os.path.join(work, "ro-minirt")
subprocess.run(["cp", minirt, ro], check=True)
subprocess.run(["mount", "--bind", ro, ro], check=True)
subprocess.run(["mount", "-o", "remount,ro,bind", ro], check=True)
try:
    delta("binary protection (run)", {
        "minirt run --rm --network none busybox true": lambda: timed([minirt, "run", "--rm", "--network", "none", "busybox", "true"]),
        "same from a read-only mount (no re-exec)": lambda: timed([ro, "run", "--rm", "--network", "none", "busybox", "true"]),
        "same without the read-only re-exec": lambda: timed_env([minirt, "run", "--rm", "--network", "none", "busybox", "true"], unsealed),
    }, n, "measured, no target")
finally:
    subprocess.run(["umount", ro], check=False)
subprocess.run([minirt, "run", "-d", "--name", "bench-exec", "--network", "none", "busybox", "sleep", "3600"], check=True, stdout=subprocess.DEVNULL)
delta("binary protection (exec)", {
    "minirt exec bench-exec true": lambda: timed([minirt, "exec", "bench-exec", "true"]),
    "same without the read-only re-exec": lambda: timed_env([minirt, "exec", "bench-exec", "true"], unsealed),
}, n, "measured, no target")
subprocess.run([minirt, "rm", "-f", "bench-exec"], check=True, stdout=subprocess.DEVNULL)

# 1d. runc's command line on one bundle (the one runc runs above): create + start + wait + delete.
compare("oci lifecycle", {
    "minirt oci run --bundle B (create, start, wait, delete)": lambda: timed([minirt, "oci", "--root", f"{work}/oci", "run", "--bundle", f"{work}/bundle", "bench-oci"]),
    "runc run --bundle B": lambda: timed(["runc", "--root", f"{work}/runc", "run", "--bundle", f"{work}/bundle", "bench"]),
}, n, "minirt <= 0.50x runc")

# 1e. podman with minirt as its OCI runtime against podman with runc: a private
# podman (own containers.conf, storage, run root), the busybox image imported.
pm = os.path.join(work, "podman")
os.makedirs(pm + "/cni", exist_ok=True)
with open(pm + "/minirt-runc", "w") as f:
    f.write(f"#!/bin/sh\nexec {minirt} oci --root {pm}/oci \"$@\"\n")
os.chmod(pm + "/minirt-runc", 0o755)
with open(pm + "/containers.conf", "w") as f:
    f.write(f"""[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["minirt", "runc"]
[engine.runtimes]
minirt = ["{pm}/minirt-runc"]
runc = ["/usr/sbin/runc"]
[network]
network_backend = "cni"
network_config_dir = "{pm}/cni"
""")
podman_env = dict(os.environ, CONTAINERS_CONF=pm + "/containers.conf")
podman = ["podman", "--root", pm + "/storage", "--runroot", pm + "/run"]
images = os.environ.get("MINIRT_IMAGES", "/var/lib/minirt/images")
subprocess.run(["tar", "-C", images + "/busybox/rootfs", "-cf", pm + "/bb.tar", "."], check=True)
subprocess.run(podman + ["import", pm + "/bb.tar", "localhost/bench-bb"], check=True, env=podman_env, stdout=subprocess.DEVNULL)
try:
    compare("podman", {
        "podman --runtime minirt run --rm --network none IMAGE true": lambda: timed_env(podman + ["--runtime", "minirt", "run", "--rm", "--network", "none", "localhost/bench-bb", "true"], podman_env),
        "podman --runtime runc run --rm --network none IMAGE true": lambda: timed_env(podman + ["--runtime", "runc", "run", "--rm", "--network", "none", "localhost/bench-bb", "true"], podman_env),
    }, max(10, n // 2), "minirt <= 0.90x runc")
finally:
    subprocess.run(podman + ["rm", "-af"], env=podman_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(podman + ["system", "reset", "-f"], env=podman_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

# 2. Bridge networking: minirt against the bare plugin chain of the same conflist.
def chain():
    out = subprocess.run(inns + ["python3", "bench/cni-chain.py", conflist, "1"], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())
compare("bridge", {
    "minirt run --rm --network bridge busybox true": lambda: timed(inns + [minirt, "run", "--rm", "busybox", "true"]),
    "bare CNI chain: netns + lo + ADD + DEL": chain,
}, max(10, n // 3), "minirt <= 1.25x the bare chain")

# 3. HTTP through a published port (kernel DNAT) against the container's own address.
web = subprocess.Popen(inns + [minirt, "run", "--rm", "--name", "bench-web", "-p", "18080:80", "nginx-rootfs"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ip = ""
for _ in range(100):
    r = subprocess.run([minirt, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "bench-web"], capture_output=True, text=True)
    ip = r.stdout.strip()
    if ip and subprocess.run(inns + ["curl", "-s", "--max-time", "1", f"http://{ip}/"], capture_output=True).returncode == 0:
        break
    time.sleep(0.1)

def wrk(url):
    out = subprocess.run(inns + ["wrk", "-t2", "-c32", "-d3s", url], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
urls = {"published port, host address 10.250.0.1:18080": "http://10.250.0.1:18080/",
        "published port, 127.0.0.1:18080 (DNAT + SNAT)": "http://127.0.0.1:18080/",
        "container address": f"http://{ip}/"}
rps = {k: [] for k in urls}
# Six short rounds, the order rotated each time: on a shared 2-core machine one
# long run per case mostly measures what else ran at that moment.
order = list(urls)
for r in range(6):
    for k in order[r % 3:] + order[:r % 3]:
        rps[k].append(wrk(urls[k]))
direct = statistics.median(rps["container address"])
for k in urls:
    v = statistics.median(rps[k])
    rows.append(("http (wrk -t2 -c32)", k, f"{v:.0f} req/s", f"{v / direct:.2f}x"))
rows.append(("http (wrk -t2 -c32)", "target", "published >= 0.95x direct", ""))
subprocess.run([minirt, "rm", "-f", "bench-web"], capture_output=True)
web.wait()

# 4. Scale: 200 containers on the default network, each serving HTTP.
scale = int(os.environ.get("BENCH_SCALE", "200"))
if scale > 0:
    def probe():
        return statistics.median(timed(inns + [minirt, "run", "--rm", "busybox", "true"]) for _ in range(5))
    first = probe()
    procs = []
    for i in range(scale):
        procs.append(subprocess.Popen(inns + [minirt, "run", "--name", f"s{i}", "busybox", "sh", "-c",
                                             "echo ok > /tmp/index.html; exec httpd -f -p 80 -h /tmp"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.02)
    running = 0
    for _ in range(600):
        out = subprocess.run([minirt, "ls", "-q"], capture_output=True, text=True).stdout.split()
        running = len(out)
        if running >= scale:
            break
        time.sleep(0.2)
    last = probe()
    ips = subprocess.run([minirt, "ls", "--format", "{{.ID}}"], capture_output=True, text=True).stdout.split()
    answered = 0
    for cid in ips:
        ip = subprocess.run([minirt, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid], capture_output=True, text=True).stdout.strip()
        r = subprocess.run(inns + ["curl", "-s", "--max-time", "3", f"http://{ip}/index.html"], capture_output=True, text=True)
        answered += r.stdout.strip() == "ok"
    rss = 0
    for p in procs:
        try:
            rss += int(next(l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")).split()[1])
        except (OSError, StopIteration):
            pass
    subprocess.run([minirt, "rm", "-f"] + [f"s{i}" for i in range(scale)], capture_output=True)
    for p in procs:
        p.wait()
    rows.append((f"scale ({scale} containers)", "run --rm busybox true, alone", f"{first:.1f} ms", "1.00x"))
    rows.append((f"scale ({scale} containers)", f"same with {running} running", f"{last:.1f} ms", f"{last / first:.2f}x"))
    rows.append((f"scale ({scale} containers)", "containers answering HTTP", f"{answered}/{scale}", ""))
    rows.append((f"scale ({scale} containers)", "runner RSS (minirt run), mean", f"{rss / max(1, len(procs)) / 1024:.1f} MiB", ""))
    rows.append((f"scale ({scale} containers)", "target", "200th <= 1.5x the first", ""))

# 5. Memory of what stays with each detached container: minirt-supervisor against
# podman's conmon (with runc), 10 containers each. RSS counts the shared binary
# and libraries in full for every process; PSS divides shared pages among their
# users, which is what each further container really costs.
def mem(pid):
    vals = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        parts = line.split()
        if parts[0] in ("Rss:", "Pss:", "Anonymous:"):
            vals[parts[0][:-1]] = int(parts[1])
    return vals

def mean_mem(pids):
    m = [mem(p) for p in pids]
    return {k: sum(x[k] for x in m) / len(m) / 1024 for k in ("Rss", "Pss", "Anonymous")}

count = 10
for i in range(count):
    subprocess.run([minirt, "run", "-d", "--name", f"m{i}", "--network", "none", "busybox", "sleep", "300"], check=True, capture_output=True)
sups = [int(subprocess.run([minirt, "inspect", "-f", "{{.State.SupervisorPid}}", f"m{i}"], capture_output=True, text=True).stdout) for i in range(count)]
ours = mean_mem(sups)
conmons = []
os.makedirs(f"{work}/cm/exits", exist_ok=True)
cm_bundle = f"{work}/cm/bundle"
subprocess.run(["cp", "-r", f"{work}/bundle", cm_bundle], check=True)
cfg = json.load(open(f"{cm_bundle}/config.json"))
cfg["process"]["args"] = ["sleep", "300"]
cfg["linux"].pop("cgroupsPath", None)  # runc's default: a cgroup per container id
json.dump(cfg, open(f"{cm_bundle}/config.json", "w"))
for i in range(count):
    cid = f"cm{i}"
    subprocess.run(["conmon", "--api-version", "1", "-c", cid, "-u", cid, "-r", "/usr/sbin/runc", "-b", cm_bundle,
                    "-p", f"{work}/cm/{cid}.pid", "-l", f"k8s-file:{work}/cm/{cid}.log", "--exit-dir", f"{work}/cm/exits",
                    "--socket-dir-path", f"{work}/cm", "--conmon-pidfile", f"{work}/cm/{cid}.conmon",
                    "--runtime-arg", f"--root={work}/cm/runc"], check=True, capture_output=True)
    for _ in range(100):  # conmon returns before `runc create` has finished
        if os.path.exists(f"{work}/cm/{cid}.pid"):
            break
        time.sleep(0.02)
    subprocess.run(["runc", f"--root={work}/cm/runc", "start", cid], check=True, capture_output=True)
    conmons.append(int(open(f"{work}/cm/{cid}.conmon").read().strip()))
theirs = mean_mem(conmons)
for i in range(count):
    subprocess.run(["runc", f"--root={work}/cm/runc", "kill", f"cm{i}", "KILL"], capture_output=True)
for _ in range(50):
    if all(not os.path.exists(f"/proc/{p}") for p in conmons):
        break
    time.sleep(0.1)
for i in range(count):
    subprocess.run(["runc", f"--root={work}/cm/runc", "delete", "-f", f"cm{i}"], capture_output=True)
subprocess.run([minirt, "rm", "-f"] + [f"m{i}" for i in range(count)], capture_output=True)
for k in ("Rss", "Pss", "Anonymous"):
    rows.append(("supervisor memory", f"{k}: minirt-supervisor", f"{ours[k]:.2f} MiB", f"{ours[k] / theirs[k]:.2f}x"))
    rows.append(("supervisor memory", f"{k}: conmon", f"{theirs[k]:.2f} MiB", "1.00x"))
rows.append(("supervisor memory", "target", "<= 2x conmon", ""))

# 6. Services: endpoint updates with 50 and 500 services, traffic through a VIP (bench/services.py).
if os.environ.get("BENCH_SERVICES", "1") != "0":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import services
    rows += services.run(minirt, max(10, n // 3))

w = [max(len(r[i]) for r in rows) for i in range(4)]
print(f"{'area':{w[0]}}  {'case':{w[1]}}  {'median':>{w[2]}}  {'ratio':>{w[3]}}")
for r in rows:
    print(f"{r[0]:{w[0]}}  {r[1]:{w[1]}}  {r[2]:>{w[2]}}  {r[3]:>{w[3]}}")
print(f"({n} start-up runs, {max(10, n // 3)} bridge runs, 6x3 s of wrk each; alternating)")
