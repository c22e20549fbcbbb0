#!/usr/bin/env python3
"""Services: endpoint updates with 50 and 500 services installed, and traffic
through a virtual IP against a replica's own address. Run by harness.py (or
alone, inside a network namespace, with MINIRT_ROOT/MINIRT_CNI_CONFIG set:
`python3 bench/services.py MINIRT ITERATIONS`)."""
import os, re, statistics, subprocess, sys, time


def run(minirt, iterations):
    rows = []
    title = "services"

    def m(*args, check=True):
        return subprocess.run([minirt, *args], check=check, capture_output=True, text=True)

    def ms(*args):
        t = time.perf_counter()
        subprocess.run([minirt, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return (time.perf_counter() - t) * 1000

    def ip(name):
        return m("inspect", "-f", "{{.NetworkSettings.Networks.svcbench.IPAddress}}", name).stdout.strip()

    def wait_status(name, status):
        for _ in range(500):
            if m("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == status:
                return
            time.sleep(0.01)
        raise RuntimeError(f"{name} never became {status}")

    def wait_http(url):
        for _ in range(200):
            if subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "1", url]).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{url} never answered")

    m("network", "create", "--subnet", "10.120.0.0/22", "--service-range", "10.121.0.0/22", "svcbench")
    names = ["bench-r1", "bench-r2", "bench-control", "bench-fill"]
    labels = {"bench-r1": "app=web", "bench-r2": "app=web", "bench-control": "app=none", "bench-fill": "fill=yes"}
    # Traffic cases put the server and the client on different CPUs (the last
    # CPU for nginx, the others for wrk), so that both paths see the same
    # scheduling on this small shared machine rather than whatever it gives.
    cpus = os.cpu_count() or 1
    server_cpu = str(cpus - 1)
    client_cpus = f"0-{cpus - 2}" if cpus > 1 else "0"
    for n in names:
        m("run", "-d", "--name", n, "-l", labels[n], "--network", "svcbench", "--cpuset-cpus", server_cpu, "nginx-rootfs")
    for n in names:
        wait_http(f"http://{ip(n)}/")
    direct = ip("bench-r1")
    fillers = 0
    vip_one = vip_two = ""

    def services():
        nonlocal vip_one, vip_two
        m("service", "create", "web", "--network", "svcbench", "--port", "80", "--selector", "app=web")
        m("service", "create", "one", "--network", "svcbench", "--port", "80", "--target", "bench-r1")
        m("service", "create", "two", "--network", "svcbench", "--port", "80", "--target", "bench-r2")
        vip_one = m("service", "inspect", "-f", "{{.ClusterIP}}", "one").stdout.strip()
        vip_two = m("service", "inspect", "-f", "{{.ClusterIP}}", "two").stdout.strip()

    def fill_to(total):
        nonlocal fillers
        while fillers + 3 < total:
            m("service", "create", f"fill{fillers}", "--network", "svcbench", "--port", "80", "--selector", "fill=yes")
            fillers += 1

    def endpoint_updates(count, whom=("replica", "control")):
        """kill (withdraw, then signal) and start (join) of a replica against the same on a container no service selects."""
        t = {"kill: replica": [], "kill: control": [], "start: replica": [], "start: control": [], "served": []}
        for _ in range(count):
            for who in whom:
                name = "bench-r2" if who == "replica" else "bench-control"
                t[f"kill: {who}"].append(ms("kill", "-s", "SIGTERM", name))
                wait_status(name, "exited")
                t0 = time.perf_counter()
                t[f"start: {who}"].append(ms("start", name))
                if who == "replica" and vip_two:
                    # Its first connection through a VIP it alone serves (refused until it is an endpoint).
                    for _ in range(400):
                        if subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "1", f"http://{vip_two}/"]).returncode == 0:
                            break
                        time.sleep(0.005)
                    t["served"].append((time.perf_counter() - t0) * 1000)
        return t

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

    def wrk(url, close, netns=None):
        # A container client is the host's wrk in a container's network namespace
        # (pod -> service: PREROUTING DNAT on the bridge); a host client goes
        # through OUTPUT's DNAT and a re-route.
        # Each run starts with an empty conntrack table in this benchmark's
        # namespace: thousands of connections a second, each kept 120 s in
        # TIME_WAIT by conntrack, fill the host's table (nf_conntrack_max)
        # within a few runs, after which new connections wait on dropped SYNs.
        subprocess.run(["conntrack", "-F"], capture_output=True)
        enter = ["nsenter", f"--net={netns}", "--"] if netns else []
        args = enter + ["taskset", "-c", client_cpus, "wrk", "-t2", "-c32", "-d2s"] + (["-H", "Connection: close"] if close else []) + [url]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def traffic(label):
        pid = m("inspect", "-f", "{{.State.Pid}}", "bench-control").stdout.strip()
        # wrk closes first, so each closed connection holds its client port in
        # TIME_WAIT for 60 s: 28k ports to one address last a few runs, then
        # connect() waits for ports (the 0.2x-2.3x new-connection swings of
        # earlier runs). With connect-time balancing both paths go to the same
        # address and share those ports; tcp_tw_reuse (per namespace, only the
        # benchmark's and its client container's) lets connect() reuse them.
        for ns in ([], ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]):
            subprocess.run(ns + ["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"], check=True)
        for client, netns in (("host client", None), ("container client", f"/proc/{pid}/ns/net")):
            for close, kind in ((True, "new connections (Connection: close)"), (False, "keep-alive requests")):
                via, own = [], []
                pair = ((via, f"http://{vip_one}/"), (own, f"http://{direct}/"))
                for r in range(8):  # alternate, and take medians: the 2-core machine is shared with wrk and nginx
                    for k in pair[r % 2:] + pair[:r % 2]:
                        k[0].append(wrk(k[1], close, netns))
                v, o = statistics.median(via), statistics.median(own)
                # The ratio is the median of each round's pair (adjacent runs), so
                # that the machine's drift over a minute cancels out.
                paired = statistics.median(a / b for a, b in zip(via, own))
                rows.append((title, f"{kind}, {client}, VIP ({label})", f"{v:.0f} req/s", f"{paired:.2f}x"))
                rows.append((title, f"{kind}, {client}, replica's address ({label})", f"{o:.0f} req/s", "1.00x"))

    try:
        # The reference: the same kill and start with no service defined at all.
        base = endpoint_updates(iterations, whom=("control",))
        bk, bs = base["kill: control"], base["start: control"]
        rows.append((title, "kill / start, no service defined (reference)", f"{pct(bk, 50):.1f} / {pct(bs, 50):.1f} ms", ""))
        services()
        traffic("3 services")
        # The same traffic through the rules alone (kube-proxy's nftables mode):
        # the connect-time balancer taken out for this world, then put back.
        gc = subprocess.run([minirt, "system", "gc"], env={**os.environ, "MINIRT_SOCKET_LB": "0"}, capture_output=True)
        if gc.returncode == 0:
            traffic("3 services, MINIRT_SOCKET_LB=0: rules only")
        m("system", "gc")
        results = {}
        for total in (50, 500):
            fill_to(total)
            t = endpoint_updates(iterations)
            results[total] = t
            for op, ref in (("kill", bk), ("start", bs)):
                rep, ctl = t[f"{op}: replica"], t[f"{op}: control"]
                rows.append((title, f"endpoint update on {op} ({total} services): p50 / p99 over the reference",
                             f"{pct(rep, 50) - pct(ref, 50):+.1f} / {pct(rep, 99) - pct(ref, 99):+.1f} ms",
                             f"unselected: {pct(ctl, 50) - pct(ref, 50):+.1f}"))
            rows.append((title, f"start -> first connection served ({total} services), p50", f"{pct(t['served'], 50):.1f} ms", ""))
        k50 = statistics.median(results[50]["kill: replica"]) - statistics.median(bk)
        k500 = statistics.median(results[500]["kill: replica"]) - statistics.median(bk)
        rows.append((title, "endpoint update, 500 vs 50 services (kill, p50 of minirt's extra time)", f"{k500:.1f} vs {k50:.1f} ms",
                     f"{k500 / k50:.2f}x" if k50 > 0 else ""))
        traffic("500 services")
        rows.append((title, "target", "update p50 <= 10 ms, p99 <= 50 ms, 500 <= 1.5x 50; VIP >= 0.9x (new), 0.95x (keep-alive)", ""))
    finally:
        m("rm", "-f", *names, check=False)
        for s in ["web", "one", "two"] + [f"fill{i}" for i in range(fillers)]:
            m("service", "rm", s, check=False)
        m("network", "rm", "svcbench", check=False)
    return rows


if __name__ == "__main__":
    out = run(os.path.abspath(sys.argv[1]), int(sys.argv[2]))
    for r in out:
        print("  ".join(r))
