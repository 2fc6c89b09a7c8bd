#!/usr/bin/env bash
# lab.sh - the packet tap's lab topology: network namespaces and veth pairs.
#
#   lab.sh up   [--pairs N] [--mtu M] [--prefix P]   (runs 'down' for P first)
#   lab.sh down [--prefix P]                         (idempotent)
#   lab.sh show [--prefix P]
#   lab.sh env  [--prefix P]                         (shell variables for scripts)
#
# Topology for prefix P (default "tap"), pairs i = 0..N-1 (N <= 8):
#
#   netns ${P}left            root netns (the tap)               netns ${P}right
#   ${P}l<i> 198.18.<i>.1 <-> ${P}in<i>  ==tap==>  ${P}out<i> <-> ${P}r<i> 198.18.<i>.2
#                             ${P}rec0 <-> ${P}rec0p (recorder link, both in root netns)
#
#   MAC ${P}l<i> = 02:74:61:70:<ii>:01, ${P}r<i> = 02:74:61:70:<ii>:02, static neighbours,
#   IPv6 off on every created interface, outgoing ICMP dropped (nft) inside both namespaces
#   so that nothing but the test's own traffic crosses the tap.
#
# Only interfaces and namespaces with these exact names are created or removed.
set -Eeuo pipefail

PROG=lab.sh
die() { echo "$PROG: $*" >&2; exit 2; }

MAX_PAIRS=8

usage() {
	cat >&2 <<'EOF'
usage: lab.sh up   [--pairs N] [--mtu M] [--prefix P]
       lab.sh down [--prefix P]
       lab.sh show [--prefix P]
       lab.sh env  [--prefix P]
EOF
	exit 2
}

[[ $# -ge 1 ]] || usage
CMD=$1
shift
case "$CMD" in
up | down | show | env) ;;
-h | --help) usage ;;
*) die "unknown command '$CMD' (use up, down, show or env)" ;;
esac

PREFIX=tap
PAIRS=1
MTU=1500
while [[ $# -gt 0 ]]; do
	opt=$1
	case "$opt" in
	--prefix | --pairs | --mtu)
		[[ $# -ge 2 ]] || die "option $opt needs a value"
		val=$2
		shift 2
		;;
	--prefix=* | --pairs=* | --mtu=*)
		val=${opt#*=}
		opt=${opt%%=*}
		shift
		;;
	*) die "unknown argument '$opt'" ;;
	esac
	case "$opt" in
	--prefix) PREFIX=$val ;;
	--pairs)
		[[ "$CMD" == up ]] || die "--pairs is only for 'up'"
		PAIRS=$val
		;;
	--mtu)
		[[ "$CMD" == up ]] || die "--mtu is only for 'up'"
		MTU=$val
		;;
	esac
done

[[ "$PREFIX" =~ ^[a-z]{1,4}$ ]] || die "--prefix '$PREFIX' must match ^[a-z]{1,4}\$"
[[ "$PAIRS" =~ ^[0-9]+$ ]] && ((10#$PAIRS >= 1 && 10#$PAIRS <= MAX_PAIRS)) ||
	die "--pairs '$PAIRS' must be 1..$MAX_PAIRS"
PAIRS=$((10#$PAIRS))
[[ "$MTU" =~ ^[0-9]+$ ]] && ((10#$MTU >= 68 && 10#$MTU <= 9000)) ||
	die "--mtu '$MTU' must be 68..9000"
MTU=$((10#$MTU))

[[ $(id -u) -eq 0 ]] || die "must run as root"
command -v ip >/dev/null || die "iproute2 'ip' not found"

P=$PREFIX
NS_L=${P}left
NS_R=${P}right
REC=${P}rec0
RECP=${P}rec0p

ns_exists() { [[ -e "/var/run/netns/$1" ]] || ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }
# a link in the root namespace with exactly this name, and a veth (never touch anything else)
root_veth_exists() { ip -d -o link show dev "$1" 2>/dev/null | grep -q ' veth '; }
hexi() { printf '%02x' "$1"; }
mac_l() { echo "02:74:61:70:$(hexi "$1"):01"; }
mac_r() { echo "02:74:61:70:$(hexi "$1"):02"; }

no_ipv6() { # [ns] ifname
	local ns=$1 dev=$2
	if [[ -z "$ns" ]]; then
		[[ -e "/proc/sys/net/ipv6/conf/$dev/disable_ipv6" ]] || return 0
		sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
	else
		ip netns exec "$ns" sh -c "[ ! -e /proc/sys/net/ipv6/conf/$dev/disable_ipv6 ] || sysctl -qw net.ipv6.conf.$dev.disable_ipv6=1"
	fi
}

lab_down() {
	local i dev
	for ((i = 0; i < MAX_PAIRS; i++)); do
		for dev in "${P}in$i" "${P}out$i"; do
			if root_veth_exists "$dev"; then ip link del dev "$dev" 2>/dev/null || true; fi
		done
	done
	for dev in "$REC" "$RECP"; do
		if root_veth_exists "$dev"; then ip link del dev "$dev" 2>/dev/null || true; fi
	done
	for ns in "$NS_L" "$NS_R"; do
		if ns_exists "$ns"; then ip netns del "$ns"; fi
	done
	# verify
	for ((i = 0; i < MAX_PAIRS; i++)); do
		! root_veth_exists "${P}in$i" && ! root_veth_exists "${P}out$i" ||
			die "could not remove ${P}in$i/${P}out$i"
	done
	! root_veth_exists "$REC" && ! root_veth_exists "$RECP" || die "could not remove $REC"
	! ns_exists "$NS_L" && ! ns_exists "$NS_R" || die "could not remove namespaces $NS_L/$NS_R"
}

quiet_ns() { # drop every ICMP/ICMPv6 the namespace would emit (port unreachable for the
	# test's UDP, etc.), so nothing but the test's own frames crosses the tap.
	local ns=$1
	if command -v nft >/dev/null; then
		ip netns exec "$ns" nft -f - <<'EOF'
table inet labquiet {
	chain out {
		type filter hook output priority 0; policy accept;
		meta l4proto { icmp, ipv6-icmp } drop
	}
}
EOF
	else
		ip netns exec "$ns" sysctl -qw net.ipv4.icmp_msgs_per_sec=0 net.ipv4.icmp_msgs_burst=0
	fi
}

lab_up() {
	lab_down
	trap 'echo "$PROG: up failed, removing partial lab $P" >&2; trap - ERR; lab_down || true' ERR
	local ns i
	for ns in "$NS_L" "$NS_R"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_notify=0
		quiet_ns "$ns"
	done

	# recorder link
	ip link add "$REC" mtu "$MTU" type veth peer name "$RECP" mtu "$MTU"
	no_ipv6 "" "$REC"
	no_ipv6 "" "$RECP"

	for ((i = 0; i < PAIRS; i++)); do
		local in=${P}in$i out=${P}out$i l=${P}l$i r=${P}r$i
		ip link add "$in" mtu "$MTU" type veth peer name "$l" mtu "$MTU" netns "$NS_L"
		ip link add "$out" mtu "$MTU" type veth peer name "$r" mtu "$MTU" netns "$NS_R"
		no_ipv6 "" "$in"
		no_ipv6 "" "$out"
		no_ipv6 "$NS_L" "$l"
		no_ipv6 "$NS_R" "$r"
		ip -n "$NS_L" link set dev "$l" address "$(mac_l "$i")"
		ip -n "$NS_R" link set dev "$r" address "$(mac_r "$i")"
		ip -n "$NS_L" addr add "198.18.$i.1/24" dev "$l"
		ip -n "$NS_R" addr add "198.18.$i.2/24" dev "$r"
		ip -n "$NS_L" neigh replace "198.18.$i.2" lladdr "$(mac_r "$i")" dev "$l" nud permanent
		ip -n "$NS_R" neigh replace "198.18.$i.1" lladdr "$(mac_l "$i")" dev "$r" nud permanent
	done

	for ((i = 0; i < PAIRS; i++)); do
		ip link set dev "${P}in$i" up
		ip link set dev "${P}out$i" up
		ip -n "$NS_L" link set dev "${P}l$i" up
		ip -n "$NS_R" link set dev "${P}r$i" up
	done
	ip link set dev "$REC" up
	ip link set dev "$RECP" up
	trap - ERR
	lab_show
}

count_pairs() {
	local i n=0
	for ((i = 0; i < MAX_PAIRS; i++)); do
		root_veth_exists "${P}in$i" && n=$((i + 1))
	done
	echo "$n"
}

link_line() { # [ns] dev -> "dev state mtu mac addr"
	local ns=$1 dev=$2 o
	if [[ -n "$ns" ]]; then
		o=$(ip -n "$ns" -o link show dev "$dev" 2>/dev/null) || { echo "$dev (missing)"; return; }
	else
		o=$(ip -o link show dev "$dev" 2>/dev/null) || { echo "$dev (missing)"; return; }
	fi
	local mtu state mac addr=""
	mtu=$(sed -n 's/.* mtu \([0-9]*\).*/\1/p' <<<"$o")
	state=$(sed -n 's/.* state \([A-Z]*\).*/\1/p' <<<"$o")
	mac=$(sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p' <<<"$o")
	if [[ -n "$ns" ]]; then
		addr=$(ip -n "$ns" -o -4 addr show dev "$dev" 2>/dev/null | awk '{print $4}' | paste -sd, -)
	fi
	printf '%-10s %-5s mtu %-5s %s %s' "$dev" "$state" "$mtu" "$mac" "$addr"
}

lab_show() {
	local n i
	n=$(count_pairs)
	if ((n == 0)) && ! ns_exists "$NS_L" && ! ns_exists "$NS_R"; then
		echo "lab '$P': not up"
		return 0
	fi
	echo "lab '$P': $n pair(s); namespaces: $NS_L (sources), $NS_R (consumers)"
	for ((i = 0; i < n; i++)); do
		echo "pair $i:"
		echo "  [$NS_L] $(link_line "$NS_L" "${P}l$i")"
		echo "     <-> IN  $(link_line "" "${P}in$i")"
		echo "     ==> OUT $(link_line "" "${P}out$i")"
		echo "  [$NS_R] $(link_line "$NS_R" "${P}r$i")"
	done
	echo "recorder: $(link_line "" "$REC")"
	echo "     <-> $(link_line "" "$RECP")  (capture here)"
}

lab_env() {
	local n i
	n=$(count_pairs)
	((n > 0)) || die "lab '$P' is not up"
	for ((i = 0; i < n; i++)); do
		echo "LAB_IN$i=${P}in$i"
		echo "LAB_OUT$i=${P}out$i"
		echo "LAB_L$i=${P}l$i"
		echo "LAB_R$i=${P}r$i"
		echo "LAB_SRC_MAC$i=$(mac_l "$i")"
		echo "LAB_DST_MAC$i=$(mac_r "$i")"
		echo "LAB_SRC_IP$i=198.18.$i.1"
		echo "LAB_DST_IP$i=198.18.$i.2"
	done
	echo "LAB_LEFT_NS=$NS_L"
	echo "LAB_RIGHT_NS=$NS_R"
	echo "LAB_REC=$REC"
	echo "LAB_RECP=$RECP"
	echo "LAB_PAIRS=$n"
}

case "$CMD" in
up) lab_up ;;
down) lab_down ;;
show) lab_show ;;
env) lab_env ;;
esac
