#!/usr/bin/env bash
# bench.sh - `make bench` / `make bench-quick`: every forwarding and recording path on one lab, one run.
#   tools/bench/bench.sh [--quick|--smoke] [--out DIR] [--prefix P] [--docs FILE]
# Builds its own lab (prefix bn), removes it and everything it attached on exit, even on failure.
# The work is done by bench.py (search for the highest zero-loss rate, CPU/frame, recorder rates).
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
PREFIX=bn
for ((i = 1; i <= $#; i++)); do
	if [[ "${!i}" == --prefix ]]; then j=$((i + 1)); PREFIX=${!j}; fi
done
[[ $(id -u) -eq 0 ]] || { echo "bench.sh: must run as root" >&2; exit 3; }
[[ -x build/tapgen && -x bin/tcloader ]] || { echo "bench.sh: run make first" >&2; exit 1; }
# The XDP live-frame sender (tools/bench/xdpgen.c + xdpgen_kern.c), built here: the Makefile does not know it.
if [[ ! -x build/xdpgen || tools/bench/xdpgen.c -nt build/xdpgen || tools/gen/tapgen.c -nt build/xdpgen ||
	! -f build/xdpgen_kern.o || tools/bench/xdpgen_kern.c -nt build/xdpgen_kern.o ]]; then
	CC=$(command -v gcc || command -v clang)
	clang -target bpf -O2 -g -Wall -Werror -I "/usr/include/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)" \
		-c tools/bench/xdpgen_kern.c -o build/xdpgen_kern.o
	"$CC" -O2 -Wall -Werror -Wno-unused-function -o build/xdpgen tools/bench/xdpgen.c -lbpf
fi
# The distribution's python3 has matplotlib (python3-matplotlib); a pyenv shim in PATH may not.
PY=python3
for c in /usr/bin/python3 python3; do
	if "$c" -c 'import matplotlib' 2>/dev/null; then PY=$c; break; fi
done
cleanup() {
	"$PY" tools/bench/bench.py --cleanup-only --prefix "$PREFIX" >/dev/null 2>&1 || true
	tools/lab/lab.sh down --prefix "$PREFIX" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$PY" tools/bench/bench.py "$@"
