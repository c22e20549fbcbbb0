#!/usr/bin/env python3
"""The bare CNI chain minirt is compared with: make a network namespace, run the
conflist's plugins ADD in order (chaining prevResult, passing portMappings to the
plugins that declare the capability), then DEL in reverse, then delete the
namespace. Usage: cni-chain.py CONFLIST ITERATIONS  (prints one duration in ms per line)."""
import json, os, subprocess, sys, time, uuid

conflist = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
paths = ["/opt/cni/bin", "/usr/lib/cni"]

def plugin_path(t):
    for d in paths:
        if os.access(f"{d}/{t}", os.X_OK):
            return f"{d}/{t}"
    sys.exit(f"plugin {t} not found")

def run(cmd, plugin, cid, netns, ifname, prev, name, version):
    conf = dict(plugin, name=name, cniVersion=version)
    if prev is not None:
        conf["prevResult"] = prev
    env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=netns,
               CNI_IFNAME=ifname, CNI_PATH=":".join(paths), CNI_ARGS="")
    out = subprocess.run([plugin_path(plugin["type"])], input=json.dumps(conf).encode(),
                         env=env, capture_output=True)
    if out.returncode != 0:
        sys.exit(f"{plugin['type']} {cmd}: {out.stdout.decode()} {out.stderr.decode()}")
    return json.loads(out.stdout) if out.stdout.strip() else None

loopback = {"type": "loopback"}
for _ in range(n):
    cid = uuid.uuid4().hex
    ns = f"bench-{cid[:12]}"
    t = time.perf_counter()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    path = f"/var/run/netns/{ns}"
    run("ADD", loopback, cid, path, "lo", None, "lo", "1.0.0")
    prev = None
    for p in conflist["plugins"]:
        prev = run("ADD", p, cid, path, "eth0", prev, conflist["name"], conflist["cniVersion"])
    for p in reversed(conflist["plugins"]):
        run("DEL", p, cid, path, "eth0", prev, conflist["name"], conflist["cniVersion"])
    subprocess.run(["ip", "netns", "del", ns], check=True)
    print(f"{(time.perf_counter() - t) * 1000:.1f}")
