#!/usr/bin/env bash
# writer-bench.sh - the recorder's write path against the disk's own O_DIRECT rate, in one run.
#   tools/bench/writer-bench.sh [--dir DIR] [--gib N] [--reps R] [--format pcap|pcapng] [--out FILE] [-- extra WriterBench args]
# Each repetition runs, back to back on the same filesystem:
#   dd if=/dev/zero bs=1M oflag=direct conv=fsync   (the peer: N GiB)
#   WriterBench plain   (N GiB of 1514-byte lab frames through CaptureWriter, O_DIRECT)
#   WriterBench --lz4   (same frames, lab fill = seeded random payload, so LZ4 is not flattered)
#   WriterBench --lz4 --fill ramp  (tapgen's compressible fill, for contrast)
# and prints MB/s, the ratio writer/dd of that repetition, LZ4 input MB/s per CPU-second, and peak RSS.
# Results (one JSON object per run) go to --out (default bench/writer-bench.jsonl). Needs a disk filesystem
# (not tmpfs: O_DIRECT), room for N GiB, and python3 for the summary. WRITERBENCH=path/to/WriterBench.dll
# runs a prebuilt harness instead of building one (e.g. to compare two versions in the same minute).
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
DIR=/var/tmp GIB=4 REPS=3 FMT=pcap OUT=bench/writer-bench.jsonl EXTRA=()
while (($#)); do
	case "$1" in
	--dir) DIR=$2; shift 2 ;; --gib) GIB=$2; shift 2 ;; --reps) REPS=$2; shift 2 ;;
	--format) FMT=$2; shift 2 ;; --out) OUT=$2; shift 2 ;; --) shift; EXTRA=("$@"); break ;;
	*) echo "writer-bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
WORK=$(mktemp -d "$DIR/writer-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
if [[ -z "${WRITERBENCH:-}" ]]; then
	dotnet build tools/bench/WriterBench -c Release -o "$WORK/bin" --nologo -v q >/dev/null
	WRITERBENCH=$WORK/bin/WriterBench.dll
fi
mkdir -p "$(dirname "$OUT")"; : >"$OUT"
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus, $(findmnt -no SOURCE,FSTYPE --target "$DIR"), ${GIB} GiB x ${REPS}" >&2
for ((r = 1; r <= REPS; r++)); do
	count=$(python3 -c "print(int($GIB*1024))")
	line=$(LC_ALL=C dd if=/dev/zero of="$WORK/dd.bin" bs=1M count="$count" oflag=direct conv=fsync 2>&1 | tail -1)
	rm -f "$WORK/dd.bin"
	python3 - "$line" "$r" >>"$OUT" <<'PY'
import json, re, sys
m = re.match(r"(\d+) bytes .* copied, ([\d.]+) s", sys.argv[1])
b, s = int(m.group(1)), float(m.group(2))
print(json.dumps({"rep": int(sys.argv[2]), "run": "dd", "file_bytes": b, "seconds": s, "mb_s": round(b / s / 1e6, 1)}))
PY
	for variant in "plain:" "lz4:--lz4" "lz4-ramp:--lz4 --fill ramp"; do
		name=${variant%%:*}; args=${variant#*:}
		# shellcheck disable=SC2086
		j=$(dotnet "$WRITERBENCH" --dir "$WORK" --gib "$GIB" --format "$FMT" $args "${EXTRA[@]}")
		python3 -c "import json,sys; d=json.loads(sys.argv[1]); d.update(rep=$r, run='$name'); print(json.dumps(d))" "$j" >>"$OUT"
	done
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
reps = sorted({r["rep"] for r in rows})
print(f"{'rep':>3} {'dd MB/s':>8} {'plain MB/s':>10} {'ratio':>6} {'lz4 in MB/s':>11} {'lz4 MB/s/core':>13} {'lz4 io-thr MB/s/core':>20} {'ramp MB/s/core':>14} {'peak RSS MiB':>12}")
for k in reps:
    g = {r["run"]: r for r in rows if r["rep"] == k}
    dd, p, z, zr = g["dd"], g["plain"], g["lz4"], g["lz4-ramp"]
    core = lambda d: d["input_bytes"] / d["cpu_s"] / 1e6
    io = lambda d: d["input_bytes"] / d["io_thread_cpu_s"] / 1e6 if d["io_thread_cpu_s"] > 0 else float("nan")
    rss = max(p["vmhwm_kib"], z["vmhwm_kib"], zr["vmhwm_kib"]) / 1024
    print(f"{k:>3} {dd['mb_s']:>8.1f} {p['mb_s']:>10.1f} {p['mb_s']/dd['mb_s']:>6.2f} {z['input_mb_s']:>11.1f} {core(z):>13.1f} {io(z):>20.1f} {core(zr):>14.1f} {rss:>12.0f}")
PY
