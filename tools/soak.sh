#!/usr/bin/env bash
# soak.sh - the tap and the recorder under steady load for M minutes, then every counter reconciled.
#
#   tools/soak.sh [--minutes M] [--pps R] [--source afpacket|afxdp] [--format pcap|pcapng]
#                 [--size N|MIN:MAX] [--chunk-seconds S] [--keep]
#
# Builds a lab (prefix "sk"), attaches the tap (its own pin/state dirs), starts the recorder on skrec0p and an
# egress sink in skright, then sends numbered frames at 80% of R (a zero-loss rate: --pps, else the
# recorder_<source> 1500-byte row of bench/results.json, else 100 kpps) for M minutes (default 10) in chunks of
# S seconds (default 10; each chunk is one bounded tapgen run). At the end it stops the recorder with SIGTERM and
# checks:
#   sent          = egress sink unique (and no missing/duplicate/corrupt/reordered frame)
#   seen          = cloned + clone_errors                          (tcloader)
#   cloned        = recorded + recorder-side drops                 (socket, queue, disk-full, write errors,
#                                                                   skrec0p rx_dropped, skrec0 tx_dropped)
#   recorded      = frames tcpdump -r counts across all the files
# prints one verdict line (SOAK OK / SOAK FAIL) and exits 1 on any mismatch. Everything it made is removed on
# exit (trap), including on Ctrl+C; the capture files too unless --keep.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROG=soak.sh
die() { echo "$PROG: $*" >&2; exit 2; }

MINUTES=10 PPS="" SOURCE=afpacket FORMAT=pcapng SIZE=60:1500 CHUNK=10 KEEP=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--minutes) MINUTES=${2:?}; shift 2 ;;
	--pps) PPS=${2:?}; shift 2 ;;
	--source) SOURCE=${2:?}; shift 2 ;;
	--format) FORMAT=${2:?}; shift 2 ;;
	--size) SIZE=${2:?}; shift 2 ;;
	--chunk-seconds) CHUNK=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
[[ "$MINUTES" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--minutes '$MINUTES' is not a number"
[[ "$CHUNK" =~ ^[0-9]+$ && "$CHUNK" -ge 1 && "$CHUNK" -le 60 ]] || die "--chunk-seconds must be 1..60"
[[ "$SOURCE" == afpacket || "$SOURCE" == afxdp ]] || die "--source must be afpacket or afxdp"
[[ "$FORMAT" == pcap || "$FORMAT" == pcapng ]] || die "--format must be pcap or pcapng"
[[ $EUID -eq 0 ]] || die "run as root"
for b in bin/tcloader bin/recorder build/tapgen; do [[ -x $b ]] || die "$b missing: run make"; done

# The zero-loss rate: given, else measured by make bench, else 100 kpps. We send at 80% of it.
RATE_FROM="default"
if [[ -z "$PPS" && -f bench/results.json ]]; then
	PPS=$(python3 -c '
import json,sys
d=json.load(open("bench/results.json"))
r=[x for x in d.get("rows",[]) if x.get("path")=="recorder_"+sys.argv[1] and x.get("kind")=="record" and x.get("size")==1500 and (x.get("zero_loss_pps") or 0)>0]
print(r[0]["zero_loss_pps"] if r else "")' "$SOURCE" 2>/dev/null || true)
	[[ -n "$PPS" ]] && RATE_FROM="bench/results.json (recorder_$SOURCE, 1500 B)"
elif [[ -n "$PPS" ]]; then RATE_FROM="--pps"; fi
PPS=${PPS:-100000}
[[ "$PPS" =~ ^[0-9]+$ && "$PPS" -ge 100 ]] || die "--pps '$PPS' is not a rate >= 100"
SEND_PPS=$((PPS * 8 / 10))
TOTAL_SEC=$(python3 -c "print(max(1, round(float('$MINUTES') * 60)))")
PER_CHUNK=$((SEND_PPS * CHUNK))
CHUNKS=$(((TOTAL_SEC + CHUNK - 1) / CHUNK))
TOTAL=$((PER_CHUNK * CHUNKS))

P=sk
export TAP_PIN_DIR=/sys/fs/bpf/tcloader-soak TAP_STATE_DIR=/run/tcloader-soak
OUT=$(mktemp -d "$ROOT/build/soak-XXXXXX")
AUX=$(mktemp -d /tmp/soak-aux-XXXXXX)
REC_PID="" SINK_PID="" SEND_PID=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in $SEND_PID $SINK_PID $REC_PID; do
		if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	done
	bin/tcloader detach >/dev/null 2>&1 || true
	rm -rf "$TAP_PIN_DIR" "$TAP_STATE_DIR"
	tools/lab/lab.sh down --prefix $P >/dev/null 2>&1 || true
	rm -rf "$AUX"
	if [[ $KEEP -eq 1 ]]; then echo "$PROG: capture files kept in $OUT" >&2; else rm -rf "$OUT"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Space: the whole run must fit, with a margin (frame sizes average to the middle of the range).
avg=$(awk -F: -v s="$SIZE" 'BEGIN{n=split(s,a,":"); print (n==2)?(a[1]+a[2])/2:a[1]}')
need=$(awk -v t="$TOTAL" -v a="$avg" 'BEGIN{printf "%d", t*(a+32)*1.2}')
free=$(df -B1 --output=avail "$OUT" | tail -1 | tr -d ' ')
((need < free)) || die "the run needs ~$((need >> 20)) MiB in $OUT, $((free >> 20)) MiB free: use fewer --minutes or a smaller --size"

echo "$PROG: $MINUTES min, $CHUNKS chunks of $PER_CHUNK frames at $SEND_PPS pps (80% of $PPS from $RATE_FROM), size $SIZE, $SOURCE/$FORMAT"
tools/lab/lab.sh up --prefix $P >/dev/null
bin/tcloader attach --pairs ${P}in0:${P}out0 --recorder ${P}rec0 >/dev/null
ifstat() { cat "/sys/class/net/$1/statistics/$2"; }
TXD0=$(ifstat ${P}rec0 tx_dropped)
RXD0=$(ifstat ${P}rec0p rx_dropped)

MAC_L=02:74:61:70:00:01 MAC_R=02:74:61:70:00:02
ip netns exec ${P}right build/tapgen sink --iface ${P}r0 --count "$TOTAL" --size "$SIZE" --src-mac $MAC_L --dst-mac $MAC_R \
	--timeout $((TOTAL_SEC * 2 + 120)) --idle-ms 15000 --ready-file "$AUX/sink.ready" >"$AUX/sink.json" 2>"$AUX/sink.err" &
SINK_PID=$!
bin/recorder --interface ${P}rec0p --output "$OUT" --source "$SOURCE" --format "$FORMAT" --rotate-size 512M \
	--duration $((TOTAL_SEC * 2 + 300)) --stats-json "$AUX/stats.json" --stats-interval 10 2>"$AUX/recorder.err" &
REC_PID=$!
for _ in $(seq 200); do
	[[ -f "$AUX/sink.ready" ]] && grep -q "recorder: recording" "$AUX/recorder.err" && break
	kill -0 $SINK_PID 2>/dev/null && kill -0 $REC_PID 2>/dev/null || break
	sleep 0.1
done
[[ -f "$AUX/sink.ready" ]] || { cat "$AUX/sink.err" >&2; die "sink did not start"; }
grep -q "recorder: recording" "$AUX/recorder.err" || { cat "$AUX/recorder.err" >&2; die "recorder did not start"; }

SENT=0
start=$(date +%s)
for ((i = 0; i < CHUNKS; i++)); do
	ip netns exec ${P}left build/tapgen send --iface ${P}l0 --count $PER_CHUNK --seq-start $((i * PER_CHUNK)) --size "$SIZE" \
		--pps $SEND_PPS --src-mac $MAC_L --dst-mac $MAC_R --duration-max $((CHUNK * 3 + 5)) >"$AUX/send.json" 2>"$AUX/send.err" &
	SEND_PID=$!
	wait $SEND_PID || { cat "$AUX/send.err" >&2; die "tapgen send failed in chunk $i"; }
	SEND_PID=""
	n=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["sent"])' "$AUX/send.json")
	SENT=$((SENT + n))
	if (((i + 1) % 6 == 0 || i + 1 == CHUNKS)); then
		echo "$PROG: $((i + 1))/$CHUNKS chunks, $SENT sent, $(($(date +%s) - start)) s; $(tail -1 "$AUX/recorder.err")"
	fi
	kill -0 $REC_PID 2>/dev/null || { cat "$AUX/recorder.err" >&2; die "the recorder died"; }
done

sleep 1
kill -TERM $REC_PID
for _ in $(seq 1200); do kill -0 $REC_PID 2>/dev/null || break; sleep 0.1; done
if kill -0 $REC_PID 2>/dev/null; then die "the recorder did not exit within 120 s of SIGTERM"; fi
REC_RC=0; wait $REC_PID || REC_RC=$?; REC_PID=""
SINK_RC=0; wait $SINK_PID || SINK_RC=$?; SINK_PID=""

bin/tcloader stats --json >"$AUX/tc.json"
TXD=$(($(ifstat ${P}rec0 tx_dropped) - TXD0))
RXD=$(($(ifstat ${P}rec0p rx_dropped) - RXD0))
RECORDED_FILES=0 NFILES=0 BADFILES=0
for f in "$OUT"/*; do
	[[ -f "$f" ]] || continue
	NFILES=$((NFILES + 1))
	c=$(tcpdump -nn -q -r "$f" 2>"$AUX/tcpdump.err" | wc -l) || true
	if grep -qiE "truncated|bad dump|error" "$AUX/tcpdump.err"; then BADFILES=$((BADFILES + 1)); cat "$AUX/tcpdump.err" >&2; fi
	RECORDED_FILES=$((RECORDED_FILES + c))
done

python3 - "$AUX/tc.json" "$AUX/stats.json" "$AUX/sink.json" "$SENT" "$TXD" "$RXD" "$RECORDED_FILES" "$NFILES" "$BADFILES" "$REC_RC" "$SINK_RC" <<'EOF'
import json, sys
tc = json.load(open(sys.argv[1]))["pairs"][0]
rs = json.load(open(sys.argv[2]))
lines = open(sys.argv[3]).read().strip().splitlines()
sk = json.loads(lines[-1]) if lines else {}
sent, txd, rxd, in_files, nfiles, bad, rec_rc, sink_rc = map(int, sys.argv[4:12])
iface_rxd = rs.get("iface_rx_dropped", rxd)
drops = rs["socket_drops"] + rs["queue_drops"] + rs["disk_full_drops"] + rs["write_errors"] + iface_rxd + txd
checks = [
    ("sent = egress unique", sent, sk.get("unique", -1)),
    ("egress missing+dup+corrupt+reordered = 0", 0, sum(sk.get(k, 1) for k in ("missing", "duplicates", "corrupt", "reordered"))),
    ("seen = sent", sent, tc["packets"]),
    ("seen = cloned + clone_errors", tc["packets"], tc["cloned"] + tc["clone_errors"]),
    ("cloned = recorded + drops", tc["cloned"], rs["packets"] + drops),
    ("recorded = tcpdump count", rs["packets"], in_files),
    ("files tcpdump could not read", 0, bad),
    ("recorder backlog at exit", 0, rs["backlog_bytes"]),
    ("recorder exit code", 0, rec_rc),
]
ok = True
for name, want, got in checks:
    good = want == got
    ok &= good
    print(f"  {'ok  ' if good else 'FAIL'} {name}: {want} vs {got}")
print(f"  sent {sent}, forwarded {tc['forwarded']}, cloned {tc['cloned']}, clone_errors {tc['clone_errors']}, recorded {rs['packets']} in {nfiles} files, "
      f"drops: socket {rs['socket_drops']} queue {rs['queue_drops']} disk_full {rs['disk_full_drops']} write {rs['write_errors']} "
      f"rec0p rx_dropped {iface_rxd} rec0 tx_dropped {txd}")
print(("SOAK OK: every frame forwarded and accounted for" if ok and rs["dropped"] + iface_rxd + txd == 0 else
       "SOAK OK: every frame forwarded; recorder losses counted" if ok else "SOAK FAIL: counters do not reconcile"))
sys.exit(0 if ok else 1)
EOF
