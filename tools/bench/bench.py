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
import argparse, datetime, json, os, platform, re, shutil, signal, subprocess, sys, tempfile, threading, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TAPGEN = os.path.join(ROOT, "build", "tapgen")
TCLOADER = os.path.join(ROOT, "bin", "tcloader")
RECORDER = os.path.join(ROOT, "bin", "recorder")
XDPGEN = os.path.join(ROOT, "build", "xdpgen")
XDPGEN_OBJ = os.path.join(ROOT, "build", "xdpgen_kern.o")
LIVE_MAX = 3506  # live-frame templates must fit one page (EINVAL above); veth native XDP limit too
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


def busy_jiffies(line=None):
    if line is None:
        with open("/proc/stat") as f:
            line = f.readline()
    v = [int(x) for x in line.split()[1:9]]  # user nice system idle iowait irq softirq steal (guest is in user)
    return sum(v) - v[3] - v[4]  # minus idle and iowait


def netns_rx(ns, dev):
    r = sh(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev])
    return int(json.loads(r.stdout)[0]["stats64"]["rx"]["packets"])


def xdp_mode(dev):
    """1 native, 2 generic, None: no XDP program on dev (ip -j -d)."""
    x = json.loads(sh(["ip", "-j", "-d", "link", "show", "dev", dev]).stdout)[0].get("xdp")
    return x.get("mode") if x else None


class Reader:
    """Drains a pipe in a thread (so the tool never blocks on it) and lets the caller wait for a line."""
    def __init__(self, stream):
        self.lines, self.cv = [], threading.Condition()
        self.t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.t.start()

    def _run(self, stream):
        for line in stream:
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()
        with self.cv:
            self.lines.append(None)
            self.cv.notify_all()

    def wait_for(self, pattern, timeout):
        end = time.time() + timeout
        with self.cv:
            while True:
                if any(l is not None and pattern in l for l in self.lines):
                    return True
                if (self.lines and self.lines[-1] is None) or time.time() > end:
                    return False
                self.cv.wait(max(0.01, end - time.time()))

    def text(self, timeout=5):
        self.t.join(timeout)
        return "".join(l for l in self.lines if l is not None)


# --- attaching each forwarding path ---------------------------------------------------------------

def le32(*vals):
    return " ".join(f"{b}" for v in vals for b in v.to_bytes(4, "little"))


def attach(lab, path, size):
    mode_note = ""
    if path in ("tc_clone", "xdp_clone") or (path in REC and not (path == "recorder_afxdp" and size + 14 > LIVE_MAX)):
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
    elif path == "tc_mirred" or (path == "recorder_afxdp" and size + 14 > LIVE_MAX):
        # recorder_afxdp above the native-XDP MTU runs generic XDP, and generic XDP skips every skb with
        # skb->redirected set (net/core/dev.c netif_receive_generic_xdp: "Reinjected packets coming from
        # act_mirred or similar should not get XDP generic processing"); bpf_clone_redirect sets it and veth
        # does not clear it, so behind tc_clone the afxdp recorder sees 0 frames. nft dup does not set it.
        if path == "recorder_afxdp":
            sh(["nft", "add", "table", "netdev", f"{lab.p}bench"])
            sh(["nft", "add", "chain", "netdev", f"{lab.p}bench", "ing", f'{{ type filter hook ingress device "{lab.inn}" priority 0; }}'])
            sh(["nft", "add", "rule", "netdev", f"{lab.p}bench", "ing", "dup", "to", lab.rec, "fwd", "to", lab.out])
            return "nft_dup_fwd forwards (generic XDP skips tc-redirected skbs)"

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
            # ready once it logs "recording IF via ..." (socket bound, XDP program attached)
            ready, stream = "recording ", "err"
        elif tool == "tcpdump":
            # -B 32 MiB socket buffer; ready once libpcap has bound and says "listening on" (stderr)
            cmd = ["tcpdump", "-i", lab.recp, "-s", "0", "-B", "32768", "-n", "-w", os.path.join(self.dir, "cap.pcap")]
            ready, stream = "listening on", "err"
        else:
            # netsniff-ng sets up its TPACKET ring for ~2.4 s on this VM before it captures anything and then
            # prints "Running!" on stdout: traffic sent before that is not seen (the old fixed 0.8 s settle)
            cmd = ["netsniff-ng", "--in", lab.recp, "--out", os.path.join(self.dir, "cap.pcap"), "--silent"]
            ready, stream = "Running!", "out"
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out, self.err = Reader(self.p.stdout), Reader(self.p.stderr)
        ok = (self.out if stream == "out" else self.err).wait_for(ready, 20)
        if self.p.poll() is not None or not ok:
            self.p.kill()
            raise RuntimeError(f"{tool} not ready ({ready!r} not seen in 20 s): {self.err.text()[:300]}")
        time.sleep(0.2)

    def abort(self):
        """On an error mid-trial: never leave the tool running (it would outlive the lab)."""
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self):
        """(captured frames, dropped as the tool reports, bytes written)"""
        # settle before SIGINT so frames still queued are written. tcpdump (libpcap TPACKET_V3, 1000 ms block timeout)
        # hands a partly filled ring block to user space only when it retires, and on SIGINT it exits without reading it:
        # that was the ~70 frames always missing (all of them in a 500-frame trial). Wait past the block timeout.
        time.sleep(1.3 if self.tool == "tcpdump" else 0.5)
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        err = self.err.text()
        self.stderr_tail = err[-600:]
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
    try:
        cap = Capture(lab, capture_tool, outdir) if capture_tool else None
    except Exception:
        sink.kill()
        raise
    try:
        return _trial(lab, size, count, pps, clones, sink, cap)
    except Exception:
        sink.kill()
        if cap:
            cap.abort()
        raise


def _trial(lab, size, count, pps, clones, sink, cap):
    rx0 = lab.counter(lab.recp, "rx_packets")
    args = [TAPGEN, "send", "--iface", lab.l, "--count", str(count), "--size", str(size),
            "--src-mac", "02:74:61:70:00:01", "--dst-mac", "02:74:61:70:00:02", "--duration-max", "60"]
    if pps:
        args += ["--pps", str(int(pps))]
    # CPU window = the send only: /proc/stat sampled inside the same netns exec right before and after tapgen
    # (excludes ip netns exec start-up and the sink's idle wait).
    so = sh(["ip", "netns", "exec", lab.lns, "sh", "-c", 'head -n1 /proc/stat; "$@"; head -n1 /proc/stat', "sh"] + args,
            timeout=90).stdout.strip().splitlines()
    j0, j1 = busy_jiffies(so[0]), busy_jiffies(so[-1])
    s = json.loads(so[-2])
    out, _ = sink.communicate(timeout=90)
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


def live(lab, size, count, clones, capture_tool=None, outdir=None):
    """One unpaced XDP live-frame burst (build/xdpgen, BPF_PROG_RUN + BPF_F_TEST_XDP_LIVE_FRAMES): count copies of
    the seq-0 lab frame leave L as XDP frames. IN gets them as XDP frames (native program: xdp_clone,
    xdp_redirect) or, through xdp_pass added here for the other paths, as skbs built from them. No frame numbers:
    frames are counted with interface counters (rx_packets of IN, of R in the right namespace, of the recorder
    link's peer) and the capture tool's own count."""
    added = False
    if xdp_mode(lab.inn) is None:
        sh(["ip", "link", "set", "dev", lab.inn, "xdpdrv", "obj", os.path.join(ROOT, "bpf", "xdp_pass.o"), "sec", "xdp"])
        added = True
    try:
        cap = None
        cap = Capture(lab, capture_tool, outdir) if capture_tool else None
        in0, rec0, r0 = lab.counter(lab.inn, "rx_packets"), lab.counter(lab.recp, "rx_packets"), netns_rx(lab.rns, lab.r)
        g = json.loads(sh(["ip", "netns", "exec", lab.lns, XDPGEN, "--iface", lab.l, "--count", str(count), "--size", str(size),
                           "--obj", XDPGEN_OBJ], timeout=120).stdout.strip().splitlines()[-1])
        time.sleep(0.3)
        res = {"sent": g["sent"], "seconds": g["seconds"], "offered_pps": g["pps"],
               "arrived_in": lab.counter(lab.inn, "rx_packets") - in0, "egress": netns_rx(lab.rns, lab.r) - r0,
               "busy_jiffies": g["busy_jiffies"]}
        delivered = res["egress"]
        if clones:
            res["recorder_rx"] = lab.counter(lab.recp, "rx_packets") - rec0
            delivered = min(delivered, res["recorder_rx"])
        if cap:
            captured, dropped, written = cap.stop()
            cap = None
            res.update(captured=captured, tool_dropped=dropped, written_bytes=written)
            delivered = min(delivered, captured)
    finally:
        if cap:
            cap.abort()
        if added:
            sh(["ip", "link", "set", "dev", lab.inn, "xdpdrv", "off"], check=False)
    res["delivered"] = delivered
    res["max_delivered_pps"] = delivered / max(1e-9, g["seconds"])
    res["loss_at_max"] = 1 - delivered / max(1, g["sent"])
    # busy CPU (all CPUs, /proc/stat sampled by xdpgen right around the BPF_PROG_RUN call) per delivered frame
    res["cpu_ns_per_frame"] = g["busy_jiffies"] * 1e9 / g["hz"] / max(1, delivered)
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
    lv = res.get("live")
    if lv:
        row.update(max_delivered_pps=round(lv["max_delivered_pps"]), loss_at_max=round(lv["loss_at_max"], 4),
                   live_offered_pps=round(lv["offered_pps"]), live_sent=lv["sent"], live_arrived_in=lv["arrived_in"],
                   live_egress=lv["egress"], live_recorder_rx=lv.get("recorder_rx"), live_captured=lv.get("captured"),
                   live_cpu_ns_per_frame=round(lv["cpu_ns_per_frame"]))
    elif res.get("live_error"):
        row["live_error"] = res["live_error"]
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
        fcount, rcount, fsteps, rsteps, ddmb, lfcount, lrcount = 500, 500, 1, 0, 16, 2000, 2000
    elif a.quick:
        fcount, rcount, fsteps, rsteps, ddmb, lfcount, lrcount = 4000, 4000, 2, 0, 128, 50000, 20000
    else:
        fcount, rcount, fsteps, rsteps, ddmb, lfcount, lrcount = 30000, 20000, 4, 2, 1024, 400000, 100000
    docs = a.docs or (os.path.join(ROOT, "docs", "BENCHMARKS.md") if not a.smoke else None)
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench-", dir=os.path.join(ROOT, "build"))
    started = time.time()
    recorder_ok = os.path.exists(os.path.join(ROOT, "build", "recorder", "recorder.dll"))
    # `ip link set ... xdp obj` makes iproute2's pin directories on bpffs; remove the ones it made here.
    ip_pin_dirs = [d for d in ("/sys/fs/bpf/tc/globals", "/sys/fs/bpf/tc", "/sys/fs/bpf/ip", "/sys/fs/bpf/xdp") if not os.path.lexists(d)]
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
                    if size + 14 <= LIVE_MAX:
                        try:
                            res["live"] = live(lab, size, lfcount, clones=path != "xdp_redirect")
                        except Exception as e:
                            res["live_error"] = str(e)[:300]
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
                    note = attach(lab, tool, size)
                    note = note if note.startswith("nft") else "tc_clone forwards"
                    res = search(lab, size, rcount, rsteps, genmax[size], clones=False, capture_tool=tool, outdir=work)
                    if size + 14 <= LIVE_MAX:
                        try:
                            res["live"] = live(lab, size, lrcount, clones=False, capture_tool=tool, outdir=work)
                        except Exception as e:
                            res["live_error"] = str(e)[:300]
                    if all(t.get("captured", 0) == 0 for t in res["trials"]):
                        note = f"not measured: {tool} captured 0 frames in every trial at this size"
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
        for d in ip_pin_dirs:
            try:
                # ip/ and xdp/ are symlinks to tc/; tc/ and tc/globals go only if empty
                os.unlink(d) if os.path.islink(d) else os.rmdir(d)
            except OSError:
                pass
    # Ratios to the peer measured in the same run.
    for r in rows:
        peer = next((p for p in rows if p["path"] == PEER[r["path"]] and p["size"] == r["size"]), None)
        r["ratio_peer"] = PEER[r["path"]]
        if peer and peer.get("zero_loss_pps") and r.get("zero_loss_pps") is not None:
            r["ratio_zero_loss_pps"] = round(r["zero_loss_pps"] / peer["zero_loss_pps"], 2)
        if peer and peer.get("cpu_ns_per_frame") and r.get("cpu_ns_per_frame"):
            r["ratio_cpu_ns_per_frame"] = round(r["cpu_ns_per_frame"] / peer["cpu_ns_per_frame"], 2)
        if peer and peer.get("max_delivered_pps") and r.get("max_delivered_pps") is not None:
            r["ratio_max_delivered_pps"] = round(r["max_delivered_pps"] / peer["max_delivered_pps"], 2)
        if peer and peer.get("live_cpu_ns_per_frame") and r.get("live_cpu_ns_per_frame"):
            r["ratio_live_cpu_ns_per_frame"] = round(r["live_cpu_ns_per_frame"] / peer["live_cpu_ns_per_frame"], 2)
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


def goals(result):
    """The project's goals, judged on this run's rows only (ratios within one run)."""
    R = {(r["path"], r["size"]): r for r in result["rows"]}
    g = lambda p, z, k: (R.get((p, z)) or {}).get(k)
    L = []
    for z in (64, 1500):
        a, b = g("tc_clone", z, "live_cpu_ns_per_frame"), g("tc_mirred", z, "live_cpu_ns_per_frame")
        if a and b:
            L.append(f"- (a) {z} B: tc_clone CPU/frame {a} ns vs tc_mirred (mirror+redirect pair) {b} ns at max rate: ratio "
                     f"{a / b:.2f} -> {'met' if a <= b else 'missed'}")
    for z in (64, 1500):
        a, b = g("xdp_clone", z, "max_delivered_pps"), g("tc_clone", z, "max_delivered_pps")
        if a and b:
            L.append(f"- (b) {z} B (frames arrive as XDP frames): xdp_clone max delivered {a:,} pps vs tc_clone {b:,}: ratio "
                     f"{a / b:.2f} (goal >= 1.5) -> {'met' if a >= 1.5 * b else 'missed'}")
    for z in SIZES:
        t = g("tcpdump", z, "zero_loss_pps")
        for rec in ("recorder_afpacket", "recorder_afxdp", "recorder_afpacket_lz4"):
            a = g(rec, z, "zero_loss_pps")
            if a is None or t is None:
                continue
            rb, tb = g(rec, z, "generator_bound"), g("tcpdump", z, "generator_bound")
            met = (t == 0 and a > 0) or (t and a >= 2 * t)
            if met and not tb:
                v = "met"
            elif rb and tb:
                v = "undecided: both lost nothing at the generator's full rate"
            elif rb and not met:
                v = "undecided: the recorder lost nothing at the generator's full rate, so the ratio is a lower bound"
            elif tb:
                v = "missed (tcpdump lost nothing at the generator's full rate)"
            else:
                v = "met" if met else "missed"
            ratio = ("> " if rb and not tb else "") + (f"{a / t:.2f}" if t else ("inf" if a else "-"))
            ml, mt = g(rec, z, "max_delivered_pps"), g("tcpdump", z, "max_delivered_pps")
            lr, lt = g(rec, z, "loss_at_max"), g("tcpdump", z, "loss_at_max")
            extra = (f"; live burst: {ml:,} vs {mt:,} pps delivered = {ml / mt:.2f}, capture loss {100 * lr:.1f}% vs {100 * lt:.1f}%"
                     if ml and mt else "")
            L.append(f"- (c) {z} B: {rec} zero-loss {a:,} vs tcpdump -w {t:,} pps: ratio {ratio} (goal >= 2) -> {v}{extra}")
    d = result["disk_odirect"].get("bytes_per_s")
    for r in result["rows"]:
        if r["path"].startswith("recorder") and r.get("recorder_bytes_per_s") and d:
            L.append(f"- (d) {r['size']} B: {r['path']} wrote {r['recorder_bytes_per_s'] / 1e6:,.1f} MB/s at its best zero-loss trial "
                     f"= {r['recorder_bytes_per_s'] / d:.3f} of dd oflag=direct ({d / 1e6:,.0f} MB/s); "
                     + ("above dd: the trial's capture (< 200 MB) fits in the page cache, so this is the write path, not the disk"
                        if r["recorder_bytes_per_s"] > d else "bounded by the frame rate the lab delivers, not by the disk"))
    return L


def write_docs(result, path):
    m = result["machine"]
    keep = ""
    try:  # the hand-written profile section (perf) survives regeneration
        with open(path) as f:
            old = f.read()
        k = old.find("## Profiles")
        keep = old[k:] if k >= 0 else ""
    except OSError:
        pass
    L = ["# Benchmarks", "",
         "Generated by `make bench` (`tools/bench/bench.sh`); raw figures in `bench/results.json`, plot in `bench/results.png`.", "",
         f"- Machine: `{m['uname']}`, {m['nproc']} CPUs, {m['cpu']}",
         f"- Date: {m['date']}; run: {result['mode']}, {result['seconds']} s; frames per trial: {result['frames_per_trial']}",
         f"- Generator (tapgen, unpaced, nothing attached): " + ", ".join(f"{k} B {v:,} pps" for k, v in result["generator_unpaced_pps"].items()),
         f"- Disk, `dd oflag=direct bs=1M`: " + (f"{result['disk_odirect']['bytes_per_s'] / 1e6:,.0f} MB/s" if "bytes_per_s" in result["disk_odirect"] else str(result["disk_odirect"])),
         "",
         "Two measurements per row:", "",
         "- **Max delivered (XDP live frames)**, 64 and 1500 B: `build/xdpgen` (tools/bench/xdpgen.c + xdpgen_kern.c) runs an "
         "XDP program returning XDP_TX with `BPF_PROG_RUN` + `BPF_F_TEST_XDP_LIVE_FRAMES`, so copies of the seq-0 lab frame (tapgen's "
         "bytes) leave L towards IN as real XDP frames at full speed, no socket, no skb. IN gets them as XDP frames where the path has a "
         "native XDP program (xdp_clone, xdp_redirect); for the other paths the bench puts `xdp_pass` on IN for this trial, so they "
         "arrive as skbs built from XDP frames (a veth drops redirected XDP frames unless its peer runs XDP). Live-frame mode cannot "
         "pace and has no frame numbers: frames are counted with interface counters (rx_packets of R in the right namespace = egress, "
         "of the recorder link's peer = clones) and, for recording rows, the tool's capture count. `max delivered pps` = min(egress, "
         "clones, captured) / burst time; `loss @max` = 1 - delivered / sent; `ns/frame @max` = busy CPU of all CPUs from /proc/stat "
         "sampled by xdpgen right around the BPF_PROG_RUN call / delivered frames. Not available at 9000 B (a live-frame template "
         "must fit one page: EINVAL), where the tapgen rows are the only figures.",
         "- **Zero-loss (tapgen, numbered frames)**: highest offered rate at which the egress sink got every numbered frame once, "
         "in order, intact, and (clone paths) the recorder link got every clone, (recording rows) the capture holds every frame. "
         "`>=` means the path lost nothing at tapgen's full unpaced rate (sendmmsg on veth runs the receiver inline, so the figure "
         "is the generator's). CPU ns/frame: busy CPU from /proc/stat sampled inside the same `ip netns exec` right before and "
         "after tapgen (excludes process start), over the best passing trial / frames, generator and sink included.",
         "", "Ratios are to the peer named in the same run and size.", "",
         "| size | path | kind | max delivered pps | loss @max | ns/frame @max | ratio max (peer) | zero-loss pps | CPU ns/frame | ratio pps | recorder MB/s | drops unpaced | note |",
         "|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        zl = r.get("zero_loss_pps")
        zs = "-" if zl is None else (">= " if r.get("generator_bound") else "") + f"{zl:,}"
        rb = r.get("recorder_bytes_per_s")
        md = r.get("max_delivered_pps")
        ls = "-" if r.get("loss_at_max") is None else f"{100 * r['loss_at_max']:.1f}%"
        L.append(f"| {r['size']} | {r['path']} | {r['kind']} | {'-' if md is None else f'{md:,}'} | "
                 f"{ls} | {r.get('live_cpu_ns_per_frame') or '-'} | "
                 f"{r.get('ratio_max_delivered_pps', '-')} ({r.get('ratio_peer', '')}) | {zs} | {r.get('cpu_ns_per_frame') or '-'} | "
                 f"{r.get('ratio_zero_loss_pps', '-')} | "
                 f"{'-' if not rb else f'{rb / 1e6:,.1f}'} | {r.get('drops_unpaced', '-') if r.get('drops_unpaced') is not None else '-'} | "
                 f"{(r.get('note') or '') + ('; live trial failed: ' + r['live_error'] if r.get('live_error') else '')} |")
    L += ["", "## Goals (this run)", ""] + goals(result)
    L += ["", "## Reading the figures", "",
          "- veth, not NICs: every frame is handled by the two CPUs that also run the generator and the receiver, so the absolute "
          "numbers are a lower bound for a ConnectX port and the ratios are what carries over. In live-frame mode the receive "
          "path runs in the softirq of the sending CPU (veth NAPI scheduled from the BPF_PROG_RUN batch), so the burst time "
          "is the path's own cost plus a small, constant generator cost.",
          "- XDP on veth: native mode needs an MTU <= 3506 (single-page frames; our programs are not frags-aware), so the "
          "9000-byte rows run in generic (skb) XDP: `tcloader attach --mode xdp` falls back by itself and says so.",
          "- Native XDP redirects into a veth arrive only if the peer has an XDP program: tcloader puts `xdp_pass` on the "
          "egress and recorder peers, which also makes those veths run NAPI with a 256-frame ring; under an unpaced burst "
          "that ring overflows, which is why XDP rows can lose frames at full rate.",
          "- Recording rows use tc_clone for forwarding, except recorder_afxdp at 9000 B: there the recorder's AF_XDP source "
          "runs generic XDP, and generic XDP skips every skb whose `skb->redirected` bit is set (net/core/dev.c "
          "`netif_receive_generic_xdp`: \"Reinjected packets coming from act_mirred or similar should not get XDP generic "
          "processing\"); `bpf_clone_redirect` sets it and the veth crossing keeps it, so behind tc_clone the recorder saw "
          "rx_packets rise on the recorder link and `xdp_packets` = 0 (its stats). nft `dup` does not set the bit, so that row "
          "forwards with nft_dup_fwd. The same holds in production: an afxdp recorder in generic mode behind tc_clone captures "
          "nothing (use afpacket there).",
          "- Capture tools are started and waited for before traffic: tcpdump until it prints `listening on` (stderr), "
          "netsniff-ng until `Running!` (stdout; its ring setup takes ~2.4 s here, and the old fixed 0.8 s wait made it "
          "capture nothing), the recorder until `recording IF via`; each is stopped with SIGINT 0.5 s after the send (tcpdump 1.3 s: libpcap hands a partly filled TPACKET_V3 block to tcpdump only when its 1000 ms block timeout retires it, and tcpdump exits on SIGINT without reading it, which was the ~70 frames always missing).",
          "- `loss @max` on forward rows is lost at IN: the sender fills IN's 256-frame veth NAPI ring faster than the path "
          "drains it once softirq work is deferred to ksoftirqd (results.json: `live_arrived_in` < `live_sent`, and egress/clones "
          "= arrived). Recording rows lost nothing at the highest rate this lab delivers (~100-200 kpps after tc_clone), so they "
          "cannot separate the capture tools at 64/1500 B; a faster source (several live-frame senders, or a NIC) is needed.",
          "- Other sessions share this VM; single figures vary between runs on this VM (up to 2x per row seen before); ratios within one run are the result.",
          ""]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(L) + ("\n" + keep if keep else ""))


if __name__ == "__main__":
    sys.exit(main())
