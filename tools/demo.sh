#!/usr/bin/env bash
# make demo: the whole job on a lab of its own.
#   1. builds the lab: netns dmleft -> dmin0 ==tap==> dmout0 -> netns dmright, clone link dmrec0 -> dmrec0p
#   2. attaches the tap (tcloader) and starts the recorder on dmrec0p
#   3. sends numbered frames through it and checks every one arrived, byte for byte, and was recorded
#   4. switches the mode at run time, reads the capture back with tcpdump / capinfos / recorder verify
#   5. detaches and tears the lab down, leaving nothing behind (also on failure or Ctrl+C)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
P=dm
N=${DEMO_FRAMES:-100000}
PPS=${DEMO_PPS:-100000}
OUT=${DEMO_OUT:-build/demo}
export TAP_PIN_DIR=/sys/fs/bpf/tcloader-demo TAP_STATE_DIR=/run/tcloader-demo  # never disturbs a live tap
REC_PID=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
	set +e
	[ -n "$REC_PID" ] && kill -TERM "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
	bin/tcloader detach >/dev/null 2>&1
	tools/lab/lab.sh down --prefix $P
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo make demo)" >&2; exit 3; }

say "lab: 1 pair, frames enter at ${P}in0 and must leave at ${P}out0; clones go to ${P}rec0"
tools/lab/lab.sh up --prefix $P --pairs 1
rm -rf "$OUT"; mkdir -p "$OUT"

say "tcloader attach"
bin/tcloader attach --pairs ${P}in0:${P}out0 --recorder ${P}rec0
bin/tcloader status

say "recorder on ${P}rec0p -> $OUT (pcapng, rotating every 64 MiB)"
bin/recorder --interface ${P}rec0p --output "$OUT" --format pcapng --rotate-size 64M \
	--duration 120 --stats-json "$OUT/recorder-stats.json" &
REC_PID=$!
for _ in $(seq 100); do ls "$OUT"/*.part >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5

say "sending $N numbered frames of 60..1500 bytes at $PPS frames/s"
ip netns exec ${P}right build/tapgen sink --iface ${P}r0 --count "$N" --size 60:1500 --ready-file "$OUT/.sink" > "$OUT/egress.json" &
SINK=$!
for _ in $(seq 100); do [ -e "$OUT/.sink" ] && break; sleep 0.05; done
ip netns exec ${P}left build/tapgen send --iface ${P}l0 --count "$N" --size 60:1500 --pps "$PPS"
sink_ok=0; wait $SINK || sink_ok=$?
echo "egress sink: $(cat "$OUT/egress.json")"
[ "$sink_ok" -eq 0 ] || { echo "demo: the egress did not receive every frame byte-identical" >&2; exit 1; }
bin/tcloader stats

say "mode forward: 10000 more frames are forwarded but not cloned; then back to tap"
bin/tcloader mode forward
ip netns exec ${P}left build/tapgen send --iface ${P}l0 --count 10000 --seq-start "$N" --size 64 --pps 50000 >/dev/null
bin/tcloader mode tap
bin/tcloader stats --json | python3 -c 'import json,sys; p=json.load(sys.stdin)["pairs"][0]; print("packets %d forwarded %d cloned %d not_recorded %d" % (p["packets"],p["forwarded"],p["cloned"],p["not_recorded"]))'

say "stopping the recorder (SIGTERM): every file is closed as a valid capture"
sleep 1
kill -TERM $REC_PID; wait $REC_PID; REC_PID=""
cat "$OUT/recorder-stats.json"; echo
ls -l "$OUT"

say "reading the capture back with real clients"
total=0
for f in "$OUT"/*.pcapng; do
	n=$(tcpdump -r "$f" 2>/dev/null | wc -l)
	echo "tcpdump -r $(basename "$f"): $n frames"
	total=$((total + n))
done
echo "recorded frames in all files: $total (sent through the tap in tap mode: $N)"
capinfos -c -M "$OUT"/*.pcapng | sed -n '1,12p'
bin/recorder verify "$OUT"/*.pcapng || true

say "detach: nothing left behind"
bin/tcloader detach
tools/lab/lab.sh down --prefix $P
trap - EXIT
echo "bpftool links on the lab's interfaces: none (lab removed); pins under $TAP_PIN_DIR: $(ls $TAP_PIN_DIR 2>/dev/null | wc -l)"
[ "$total" -eq "$N" ] && echo "demo: OK, $N of $N frames forwarded and recorded" || { echo "demo: recorded $total of $N" >&2; exit 1; }
