#!/usr/bin/env python3
"""bench.py - measures every tap path on one lab in one run (called by bench.sh).

Forwarding paths (IN -> OUT, clone -> REC where the path clones):
  tc_clone       tcloader attach --mode tc       (ours, TC ingress, bpf_clone_redirect + bpf_redirect)
  xdp_clone      tcloader attach --mode xdp      (ours, devmap broadcast {OUT, REC})
  xdp_redirect   xdp_redirect alone via tap_tx   (forward only: the XDP upper bound, no clone)
  tc_mirred      u32 match-all + act_mirred mirror REC + redirect OUT (kernel baseline)
  nft_dup_fwd    nftables netdev ingress: dup to REC fwd to OUT     (kernel baseline)
Recording paths (tc_clone forwards; a capture tool on the recorder link's peer writes to disk):
  recorder afpacket | afxdp | afpacket --lz4, tcpdump -w, netsniff-ng --out;  dd oflag=direct (disk).

Figure per row and frame size: the highest offered rate with zero loss, found by a binary search
over tapgen --pps below the generator's own unpaced rate (a first trial unpaced; if that loses
nothing the path is faster than the generator and the row says so). Loss = frames missing at the
egress sink (numbered, byte-checked) or, for clone paths, frames missing at the recorder link
(rx_packets of REC's peer) or in the capture. CPU ns/frame = busy jiffies of all CPUs from
/proc/stat across the best passing trial / frames (generator and sink included: same for every row).
"""
import argparse, datetime, json, os, platform, re, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TAPGEN = os.path.join(ROOT, "build", "tapgen")
TCLOADER = os.path.join(ROOT, "bin", "tcloader")
RECORDER = os.path.join(ROOT, "bin", "recorder")
HZ = os.sysconf("SC_CLK_TCK")
SIZES = [64, 1500, 9000]
FWD = ["tc_clone", "xdp_clone", "xdp_redirect", "tc_mirred", "nft_dup_fwd"]
REC = ["recorder_afpacket", "recorder_afxdp", "recorder_afpacket_lz4", "tcpdump", "netsniff_ng"]
PEER = {"tc_clone": "tc_mirred", "xdp_clone": "xdp_redirect", "xdp_redirect": "tc_mirred", "tc_mirred": "tc_mirred",
        "nft_dup_fwd": "tc_mirred", "recorder_afpacket": "tcpdump", "recorder_afxdp": "tcpdump",
        "recorder_afpacket_lz4": "tcpdump", "tcpdump": "tcpdump", "netsniff_ng": "tcpdump"}


def sh(cmd, check=True, timeout=120, **kw):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {r.returncode}: {r.stderr.strip()[:400]}")
    return r


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


class Lab:
    def __init__(self, p):
        self.p = p
        self.inn, self.out, self.rec, self.recp = f"{p}in0", f"{p}out0", f"{p}rec0", f"{p}rec0p"
        self.l, self.r, self.lns, self.rns = f"{p}l0", f"{p}r0", f"{p}left", f"{p}right"
        self.pin = f"/sys/fs/bpf/{p}bench"
        self.env = dict(os.environ, TAP_PIN_DIR=f"/sys/fs/bpf/tcloader-{p}bench", TAP_STATE_DIR=f"/run/tcloader-{p}bench")

    def up(self):
        sh([os.path.join(ROOT, "tools/lab/lab.sh"), "up", "--prefix", self.p, "--mtu", "9000"])

    def set_mtu(self, m):
        for d in (self.inn, self.out, self.rec, self.recp):
            sh(["ip", "link", "set", "dev", d, "mtu", str(m)])
        sh(["ip", "-n", self.lns, "link", "set", "dev", self.l, "mtu", str(m)])
        sh(["ip", "-n", self.rns, "link", "set", "dev", self.r, "mtu", str(m)])

    def counter(self, dev, name):
        with open(f"/sys/class/net/{dev}/statistics/{name}") as f:
            return int(f.read())

    def ifindex(self, dev):
        with open(f"/sys/class/net/{dev}/ifindex") as f:
            return int(f.read())


def busy_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # minus idle and iowait


# --- attaching each forwarding path ---------------------------------------------------------------

def le32(*vals):
    return " ".join(f"{b}" for v in vals for b in v.to_bytes(4, "little"))


def attach(lab, path, size):
    mode_note = ""
    if path in ("tc_clone", "xdp_clone") or path in REC:
        m = "xdp" if path == "xdp_clone" else "tc"
        r = sh([TCLOADER, "attach", "--pairs", f"{lab.inn}:{lab.out}", "--recorder", lab.rec, "--mode", m], env=lab.env)
        mode_note = "generic" if "xdp-generic" in r.stdout else ("native" if m == "xdp" else "tcx")
    elif path == "xdp_redirect":
        os.makedirs(lab.pin, exist_ok=True)
        sh(f"bpftool prog loadall {ROOT}/bpf/xdp_pass.o {lab.pin}/progs type xdp pinmaps {lab.pin}/maps")
        ii, oi = lab.ifindex(lab.inn), lab.ifindex(lab.out)
        sh(f"bpftool map update pinned {lab.pin}/maps/tap_dirs key {le32(ii)} value {le32(oi, 0, 0, 0)}")
        sh(f"bpftool map update pinned {lab.pin}/maps/tap_config key {le32(0)} value {le32(1, 0)}")
        sh(f"bpftool map update pinned {lab.pin}/maps/tap_tx key {le32(0)} value {le32(oi)}")
        native = size + 14 <= 3520
        sh(["ip", "link", "set", "dev", lab.inn, "xdpdrv" if native else "xdpgeneric", "pinned", f"{lab.pin}/progs/xdp_redirect"])
        if native:
            # nsenter, not ip -n: ip remounts /sys in the namespace and hides the bpffs pins.
            sh(["nsenter", f"--net=/var/run/netns/{lab.rns}", "ip", "link", "set", "dev", lab.r, "xdpdrv", "pinned", f"{lab.pin}/progs/xdp_pass"])
        mode_note = "native" if native else "generic"
    elif path == "tc_mirred":
        sh(["tc", "qdisc", "add", "dev", lab.inn, "clsact"])
        sh(["tc", "filter", "add", "dev", lab.inn, "ingress", "protocol", "all", "u32", "match", "u32", "0", "0",
            "action", "mirred", "egress", "mirror", "dev", lab.rec, "action", "mirred", "egress", "redirect", "dev", lab.out])
    elif path == "nft_dup_fwd":
        sh(["nft", "add", "table", "netdev", f"{lab.p}bench"])
        sh(["nft", "add", "chain", "netdev", f"{lab.p}bench", "ing", f'{{ type filter hook ingress device "{lab.inn}" priority 0; }}'])
        sh(["nft", "add", "rule", "netdev", f"{lab.p}bench", "ing", "dup", "to", lab.rec, "fwd", "to", lab.out])
    return mode_note


def detach(lab):
    sh([TCLOADER, "detach"], check=False, env=lab.env)
    # Each mode by name: a plain "xdp off" on veth removes the driver-mode program only.
    for mode in ("xdpdrv", "xdpgeneric"):
        sh(["ip", "link", "set", "dev", lab.inn, mode, "off"], check=False)
        sh(["ip", "-n", lab.rns, "link", "set", "dev", lab.r, mode, "off"], check=False)
    shutil.rmtree(lab.pin, ignore_errors=True)
    sh(["tc", "qdisc", "del", "dev", lab.inn, "clsact"], check=False)
    sh(["nft", "delete", "table", "netdev", f"{lab.p}bench"], check=False)


# --- capture tools on the recorder link ----------------------------------------------------------

class Capture:
    def __init__(self, lab, tool, outdir):
        self.lab, self.tool, self.dir = lab, tool, tempfile.mkdtemp(prefix=f"{tool}-", dir=outdir)
        self.stats = os.path.join(self.dir, "stats.json")
        if tool.startswith("recorder"):
            src = "afxdp" if "afxdp" in tool else "afpacket"
            cmd = [RECORDER, "--interface", lab.recp, "--output", self.dir, "--source", src, "--format", "pcap",
                   "--stats-json", self.stats, "--duration", "120"] + (["--lz4"] if tool.endswith("lz4") else [])
            self.settle = 2.0
        elif tool == "tcpdump":
            cmd = ["tcpdump", "-i", lab.recp, "-s", "0", "-B", "32768", "-n", "-w", os.path.join(self.dir, "cap.pcap")]
            self.settle = 0.8
        else:
            cmd = ["netsniff-ng", "--in", lab.recp, "--out", os.path.join(self.dir, "cap.pcap"), "--silent"]
            self.settle = 0.8
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(self.settle)
        if self.p.poll() is not None:
            raise RuntimeError(f"{tool} exited at start: {self.p.stderr.read()[:300]}")

    def stop(self):
        """(captured frames, dropped as the tool reports, bytes written)"""
        time.sleep(0.3)
        self.p.send_signal(signal.SIGINT)
        try:
            _, err = self.p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            _, err = self.p.communicate()
        written = sum(os.path.getsize(os.path.join(self.dir, f)) for f in os.listdir(self.dir) if f != "stats.json")
        dropped = 0
        if self.tool.startswith("recorder"):
            try:
                with open(self.stats) as f:
                    js = json.load(f)
                captured, dropped = int(js.get("packets", 0)), int(js.get("dropped", 0))
            except (OSError, ValueError):
                captured = 0
        elif self.tool == "tcpdump":
            m = re.search(r"(\d+) packets captured", err)
            d = re.search(r"(\d+) packets dropped by kernel", err)
            captured, dropped = (int(m.group(1)) if m else 0), (int(d.group(1)) if d else 0)
        else:
            r = sh(["capinfos", "-c", "-M", os.path.join(self.dir, "cap.pcap")], check=False)
            m = re.search(r"Number of packets:\s+(\d+)", r.stdout)
            captured = int(m.group(1)) if m else 0
        shutil.rmtree(self.dir, ignore_errors=True)
        return captured, dropped, written


# --- one trial ------------------------------------------------------------------------------------

def trial(lab, size, count, pps, clones, capture_tool=None, outdir=None):
    ready = tempfile.mktemp(prefix="bnsink-")
    sink = subprocess.Popen(["ip", "netns", "exec", lab.rns, TAPGEN, "sink", "--iface", lab.r, "--count", str(count),
                             "--size", str(size), "--timeout", "60", "--idle-ms", "400", "--ready-file", ready],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not os.path.exists(ready):
        if sink.poll() is not None or time.time() > deadline:
            raise RuntimeError("sink not ready: " + sink.stderr.read()[:300])
        time.sleep(0.02)
    os.unlink(ready)
    cap = Capture(lab, capture_tool, outdir) if capture_tool else None
    rx0 = lab.counter(lab.recp, "rx_packets")
    j0, t0 = busy_jiffies(), time.time()
    args = ["ip", "netns", "exec", lab.lns, TAPGEN, "send", "--iface", lab.l, "--count", str(count), "--size", str(size),
            "--src-mac", "02:74:61:70:00:01", "--dst-mac", "02:74:61:70:00:02", "--duration-max", "60"]
    if pps:
        args += ["--pps", str(int(pps))]
    s = json.loads(sh(args, timeout=90).stdout.strip().splitlines()[-1])
    out, _ = sink.communicate(timeout=90)
    j1 = busy_jiffies()
    time.sleep(0.05)
    rxd = lab.counter(lab.recp, "rx_packets") - rx0
    k = json.loads(out.strip().splitlines()[-1])
    res = {"offered_pps": s["pps"], "sent": s["sent"], "egress_unique": k["unique"],
           "egress_bad": k["duplicates"] + k["reordered"] + k["corrupt"],
           "cpu_ns_per_frame": (j1 - j0) * 1e9 / HZ / max(1, s["sent"]), "seconds": s["seconds"]}
    lost = s["sent"] - k["unique"] + res["egress_bad"]
    if clones:
        res["recorder_rx"] = rxd
        lost += max(0, s["sent"] - rxd)
    if cap:
        captured, dropped, written = cap.stop()
        res.update(captured=captured, tool_dropped=dropped, written_bytes=written,
                   recorder_bytes_per_s=written / max(1e-6, s["seconds"]))
        lost += max(0, s["sent"] - captured)
    res["lost"] = lost
    return res


def search(lab, size, count, steps, genmax, clones, capture_tool=None, outdir=None):
    """Highest offered rate with zero loss: unpaced first, then bisection on [0, generator max]."""
    tried = []
    t = trial(lab, size, count, None, clones, capture_tool, outdir)
    tried.append(t)
    first = t
    if t["lost"] == 0:
        return {"zero_loss_pps": t["offered_pps"], "generator_bound": True, "best": t, "unpaced": first, "trials": tried}
    lo, hi, best = 0.0, min(genmax, t["offered_pps"]) * 1.02, None
    for _ in range(steps):
        mid = (lo + hi) / 2
        t = trial(lab, size, count, mid, clones, capture_tool, outdir)
        tried.append(t)
        if t["lost"] == 0:
            lo, best = mid, t
        else:
            hi = mid
    return {"zero_loss_pps": best["offered_pps"] if best else 0, "generator_bound": False, "best": best,
            "unpaced": first, "trials": tried}


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"uname": " ".join(platform.uname()), "nproc": os.cpu_count(), "cpu": cpu,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def dd_rate(outdir, mb):
    f = os.path.join(outdir, "dd.bin")
    r = sh(["dd", "if=/dev/zero", f"of={f}", "bs=1M", f"count={mb}", "oflag=direct"], check=False, timeout=300)
    os.path.exists(f) and os.unlink(f)
    m = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", r.stderr)
    return {"bytes": int(m.group(1)), "seconds": float(m.group(2)), "bytes_per_s": int(m.group(1)) / float(m.group(2))} if m \
        else {"error": r.stderr.strip()[:200]}


def row_summary(name, size, kind, res, note):
    b = res.get("best") or {}
    u = res.get("unpaced") or {}
    row = {"path": name, "kind": kind, "size": size, "zero_loss_pps": round(res.get("zero_loss_pps", 0)),
           "generator_bound": res.get("generator_bound", False),
           "cpu_ns_per_frame": round(b["cpu_ns_per_frame"]) if b else None,
           "unpaced_offered_pps": round(u.get("offered_pps", 0)), "unpaced_lost": u.get("lost"),
           "trials": len(res.get("trials", [])), "note": note}
    if kind == "record":
        row["recorder_bytes_per_s"] = round(b["recorder_bytes_per_s"]) if b else None
        row["drops_unpaced"] = (u.get("sent", 0) - u.get("captured", 0)) if u else None
        row["tool_dropped_unpaced"] = u.get("tool_dropped")
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny counts, one search step (tests)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench"))
    ap.add_argument("--docs", default=None)
    ap.add_argument("--prefix", default="bn")
    ap.add_argument("--cleanup-only", action="store_true")
    a = ap.parse_args()
    lab = Lab(a.prefix)
    if a.cleanup_only:
        detach(lab)
        return 0
    if a.smoke:
        fcount, rcount, fsteps, rsteps, ddmb = 500, 500, 1, 0, 16
    elif a.quick:
        fcount, rcount, fsteps, rsteps, ddmb = 4000, 4000, 2, 0, 128
    else:
        fcount, rcount, fsteps, rsteps, ddmb = 30000, 20000, 4, 2, 1024
    docs = a.docs or (os.path.join(ROOT, "docs", "BENCHMARKS.md") if not a.smoke else None)
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench-", dir=os.path.join(ROOT, "build"))
    started = time.time()
    recorder_ok = os.path.exists(os.path.join(ROOT, "build", "recorder", "recorder.dll"))
    lab.up()
    rows, genmax = [], {}
    try:
        for size in SIZES:
            lab.set_mtu(1500 if size <= 1500 else 9000)
            # The generator's own unpaced rate, with nothing attached (frames die in IN's stack).
            g = [json.loads(sh(["ip", "netns", "exec", lab.lns, TAPGEN, "send", "--iface", lab.l, "--count", str(fcount),
                                "--size", str(size), "--src-mac", "02:74:61:70:00:01", "--dst-mac", "02:74:61:70:00:02",
                                "--duration-max", "60"]).stdout.strip().splitlines()[-1])["pps"] for _ in range(2)]
            genmax[size] = max(g)
            log(f"size {size}: generator unpaced {genmax[size]:.0f} pps")
            for path in FWD:
                detach(lab)
                try:
                    note = attach(lab, path, size)
                    res = search(lab, size, fcount, fsteps, genmax[size], clones=path != "xdp_redirect")
                    rows.append(row_summary(path, size, "forward", res, note))
                except Exception as e:  # one path failing does not lose the others
                    rows.append({"path": path, "kind": "forward", "size": size, "note": f"not run: {e}"[:300]})
                finally:
                    detach(lab)
                log(f"size {size} {path}: {rows[-1].get('zero_loss_pps')} pps ({rows[-1].get('note')})")
            for tool in REC:
                if tool.startswith("recorder") and not recorder_ok:
                    rows.append({"path": tool, "kind": "record", "size": size, "note": "not run: recorder not built"})
                    continue
                detach(lab)
                try:
                    attach(lab, tool, size)
                    res = search(lab, size, rcount, rsteps, genmax[size], clones=False, capture_tool=tool, outdir=work)
                    note = "tc_clone forwards"
                    if all(t.get("captured", 0) == 0 for t in res["trials"]):
                        note = f"not measured: {tool} captured 0 frames in every trial at this size (see its own error output; an afxdp source needs native XDP, refused above MTU 3506 on veth)"
                    rows.append(row_summary(tool, size, "record", res, note))
                except Exception as e:
                    rows.append({"path": tool, "kind": "record", "size": size, "note": f"not run: {e}"[:300]})
                finally:
                    detach(lab)
                log(f"size {size} {tool}: {rows[-1].get('zero_loss_pps')} pps ({rows[-1].get('note')})")
        disk = dd_rate(work, ddmb)
    finally:
        detach(lab)
        shutil.rmtree(work, ignore_errors=True)
    # Ratios to the peer measured in the same run.
    for r in rows:
        peer = next((p for p in rows if p["path"] == PEER[r["path"]] and p["size"] == r["size"]), None)
        r["ratio_peer"] = PEER[r["path"]]
        if peer and peer.get("zero_loss_pps") and r.get("zero_loss_pps") is not None:
            r["ratio_zero_loss_pps"] = round(r["zero_loss_pps"] / peer["zero_loss_pps"], 2)
        if peer and peer.get("cpu_ns_per_frame") and r.get("cpu_ns_per_frame"):
            r["ratio_cpu_ns_per_frame"] = round(r["cpu_ns_per_frame"] / peer["cpu_ns_per_frame"], 2)
        if r.get("recorder_bytes_per_s") and disk.get("bytes_per_s"):
            r["ratio_disk_odirect"] = round(r["recorder_bytes_per_s"] / disk["bytes_per_s"], 3)
    result = {"machine": machine(), "mode": "smoke" if a.smoke else "quick" if a.quick else "full",
              "frames_per_trial": {"forward": fcount, "record": rcount}, "search_steps": {"forward": fsteps, "record": rsteps},
              "generator_unpaced_pps": {str(k): round(v) for k, v in genmax.items()}, "disk_odirect": disk,
              "rows": rows, "seconds": round(time.time() - started, 1)}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    plot(result, os.path.join(a.out, "results.png"))
    if docs:
        write_docs(result, docs)
    log(f"done in {result['seconds']} s: {a.out}/results.json")
    return 0


def plot(result, png):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib in this python: no plot (install python3-matplotlib, run with /usr/bin/python3)")
        return
    rows = [r for r in result["rows"] if r.get("zero_loss_pps") is not None]
    paths = list(dict.fromkeys(r["path"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    w = 0.8 / max(1, len(paths))
    for i, p in enumerate(paths):
        xs = [SIZES.index(r["size"]) + i * w for r in rows if r["path"] == p]
        axes[0].bar(xs, [r["zero_loss_pps"] / 1000 for r in rows if r["path"] == p], w, label=p)
        axes[1].bar(xs, [r.get("cpu_ns_per_frame") or 0 for r in rows if r["path"] == p], w, label=p)
    for ax, t in zip(axes, ["highest zero-loss rate (kpps)", "CPU ns per frame (whole machine)"]):
        ax.set_xticks([k + 0.4 - w / 2 for k in range(len(SIZES))], [f"{s} B" for s in SIZES])
        ax.set_title(t)
    axes[0].legend(fontsize=7)
    m = result["machine"]
    fig.suptitle(f"tap paths on veth, {m['cpu']}, {m['nproc']} CPUs, {m['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def write_docs(result, path):
    m = result["machine"]
    L = ["# Benchmarks", "",
         "Generated by `make bench` (`tools/bench/bench.sh`); raw figures in `bench/results.json`, plot in `bench/results.png`.", "",
         f"- Machine: `{m['uname']}`, {m['nproc']} CPUs, {m['cpu']}",
         f"- Date: {m['date']}; run: {result['mode']}, {result['seconds']} s; frames per trial: {result['frames_per_trial']}",
         f"- Generator (tapgen, unpaced, nothing attached): " + ", ".join(f"{k} B {v:,} pps" for k, v in result["generator_unpaced_pps"].items()),
         f"- Disk, `dd oflag=direct bs=1M`: " + (f"{result['disk_odirect']['bytes_per_s'] / 1e6:,.0f} MB/s" if "bytes_per_s" in result["disk_odirect"] else str(result["disk_odirect"])),
         "",
         "Zero-loss rate: highest offered rate at which the egress sink got every numbered frame once, in order, intact, and "
         "(clone paths) the recorder link got every clone, (recording rows) the capture holds every frame. `>=` means the path lost "
         "nothing at the generator's full unpaced rate: the path is faster than the generator and the figure is the generator's. "
         "CPU ns/frame: busy time of all CPUs from /proc/stat over the best passing trial / frames, generator and sink included "
         "(the same for every row, so compare rows). Ratios are to the peer named in the same run and size.", "",
         "| size | path | kind | zero-loss pps | CPU ns/frame | ratio pps (peer) | ratio ns | recorder MB/s | drops unpaced | note |",
         "|---:|---|---|---:|---:|---|---:|---:|---:|---|"]
    for r in result["rows"]:
        zl = r.get("zero_loss_pps")
        zs = "-" if zl is None else (">= " if r.get("generator_bound") else "") + f"{zl:,}"
        rb = r.get("recorder_bytes_per_s")
        L.append(f"| {r['size']} | {r['path']} | {r['kind']} | {zs} | {r.get('cpu_ns_per_frame') or '-'} | "
                 f"{r.get('ratio_zero_loss_pps', '-')} ({r.get('ratio_peer', '')}) | {r.get('ratio_cpu_ns_per_frame', '-')} | "
                 f"{'-' if not rb else f'{rb / 1e6:,.1f}'} | {r.get('drops_unpaced', '-') if r.get('drops_unpaced') is not None else '-'} | {r.get('note') or ''} |")
    L += ["", "## Reading the figures", "",
          "- veth, not NICs: every frame is handled by the two CPUs that also run the generator and the sink, so the absolute "
          "numbers are a lower bound for a ConnectX port and the ratios are what carries over.",
          "- XDP on veth: native mode needs an MTU <= 3506 (single-page frames; our programs are not frags-aware), so the "
          "9000-byte rows run in generic (skb) XDP: `tcloader attach --mode xdp` falls back by itself and says so.",
          "- Native XDP redirects into a veth arrive only if the peer has an XDP program: tcloader puts `xdp_pass` on the "
          "egress and recorder peers, which also makes those veths run NAPI with a 256-frame ring; under an unpaced burst "
          "that ring overflows, which is why XDP rows can lose frames at the generator's full rate.",
          "- Recording rows use tc_clone for forwarding; a row's loss counts frames missing from the capture file "
          "(or the recorder's own count), so it is the capture tool's rate limit.",
          "- Caveats of this harness (known, not yet fixed): tapgen's sendmmsg runs the receiver's work inline on veth, so an "
          "unpaced send is slowed to the path's own rate and most rows end up `>=` (generator-bound); a faster sender "
          "(BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES) is still to be written. CPU ns/frame uses 10 ms jiffies and includes "
          "the start of `ip netns exec tapgen`, so it is inflated by a constant per trial; repeated runs on this VM differed "
          "by up to 2x per row. Treat single figures as indicative, ratios within one run as the result.",
          ""]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    sys.exit(main())
