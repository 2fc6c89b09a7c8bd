// SPDX-License-Identifier: MIT
/*
 * tapgen - lab traffic generator and verifying sink for the packet tap.
 *
 *   tapgen send --iface IF --count N [--size N|MIN:MAX] [--stream S] [--seq-start K]
 *               [--pps R] [--batch B] [--src-mac M] [--dst-mac M] [--src-ip A]
 *               [--dst-ip A] [--vlan ID] [--duration-max SEC]
 *   tapgen sink --iface IF [--count N] [--stream S] [--seq-start K] [--size ..]
 *               [--src-mac M] [--dst-mac M] [--src-ip A] [--dst-ip A] [--vlan ID]
 *               [--idle-ms MS] [--timeout SEC] [--ready-file PATH]
 *
 * The "lab frame" (see build_frame(), the single source of truth):
 *   Ethernet dst, src, [802.1Q 0x8100 + TCI], 0x0800
 *   IPv4 20 bytes, TTL 64, proto 17, DF clear, id 0, header checksum
 *   UDP src 40000+stream (mod 2^16), dst 5001, checksum 0
 *   payload: magic "TAPS" (u32 BE 0x54415053), stream u32 BE, seq u64 BE,
 *            then fill[i] = (uint8_t)(seq * 31 + i)
 *   frame size (no FCS, including a VLAN tag if present) is fixed or
 *   MIN + splitmix64(seq ^ stream) % (MAX - MIN + 1).
 *
 * Build: gcc -O2 -Wall -Werror -o build/tapgen tools/gen/tapgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAP_MAGIC 0x54415053u
#define UDP_DST_PORT 5001
#define UDP_SRC_BASE 40000
#define ETH_HDR 14
#define VLAN_HDR 4
#define IP_HDR 20
#define UDP_HDR 8
#define PAYLOAD_HDR 16
#define FRAME_MIN 58 /* 14 + 20 + 8 + 16 */
#define FRAME_MAX 9216

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct frame_params {
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	int vlan;            /* -1: untagged, else VLAN ID 0..4094 */
	uint32_t src_ip;     /* host order */
	uint32_t dst_ip;     /* host order */
	uint32_t stream;
	uint32_t size_min;   /* whole frame without FCS, including VLAN tag */
	uint32_t size_max;
};

/* ---------------------------------------------------------------- helpers */

static const char *prog_verb = "tapgen";

static void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog_verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void die_sys(const char *what) __attribute__((noreturn));
static void die_sys(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog_verb, what, strerror(errno));
	exit(2);
}

static uint64_t splitmix64(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}
static inline uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t l2_len(const struct frame_params *p)
{
	return ETH_HDR + (p->vlan >= 0 ? VLAN_HDR : 0);
}

static uint32_t frame_len_for(const struct frame_params *p, uint64_t seq)
{
	if (p->size_min == p->size_max)
		return p->size_min;
	uint64_t span = (uint64_t)p->size_max - p->size_min + 1;
	return p->size_min + (uint32_t)(splitmix64(seq ^ (uint64_t)p->stream) % span);
}

/*
 * build_frame: the single definition of the lab frame. buf must hold
 * FRAME_MAX bytes. Returns the frame length (no FCS).
 */
static size_t build_frame(const struct frame_params *p, uint64_t seq, uint8_t *buf)
{
	uint32_t len = frame_len_for(p, seq);
	uint32_t l2 = l2_len(p);
	uint8_t *q = buf;

	memcpy(q, p->dst_mac, 6);
	memcpy(q + 6, p->src_mac, 6);
	q += 12;
	if (p->vlan >= 0) {
		put_be16(q, 0x8100);
		put_be16(q + 2, (uint16_t)p->vlan);
		q += 4;
	}
	put_be16(q, 0x0800);
	q += 2;

	/* IPv4 */
	uint8_t *ip = q;
	ip[0] = 0x45;
	ip[1] = 0;
	put_be16(ip + 2, (uint16_t)(len - l2));
	put_be16(ip + 4, 0);      /* id */
	put_be16(ip + 6, 0);      /* flags/frag: DF clear */
	ip[8] = 64;
	ip[9] = 17;
	put_be16(ip + 10, 0);
	put_be32(ip + 12, p->src_ip);
	put_be32(ip + 16, p->dst_ip);
	uint32_t sum = 0;
	for (int i = 0; i < IP_HDR; i += 2)
		sum += get_be16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put_be16(ip + 10, (uint16_t)~sum);

	/* UDP */
	uint8_t *udp = ip + IP_HDR;
	put_be16(udp, (uint16_t)(UDP_SRC_BASE + p->stream));
	put_be16(udp + 2, UDP_DST_PORT);
	put_be16(udp + 4, (uint16_t)(len - l2 - IP_HDR));
	put_be16(udp + 6, 0);

	/* payload */
	uint8_t *pl = udp + UDP_HDR;
	put_be32(pl, TAP_MAGIC);
	put_be32(pl + 4, p->stream);
	put_be64(pl + 8, seq);
	uint8_t *fill = pl + PAYLOAD_HDR;
	uint32_t nfill = len - l2 - IP_HDR - UDP_HDR - PAYLOAD_HDR;
	uint8_t base = (uint8_t)(seq * 31);
	for (uint32_t i = 0; i < nfill; i++)
		fill[i] = (uint8_t)(base + i);
	return len;
}

/* ---------------------------------------------------------------- parsing */

static uint64_t parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		die_usage("--%s: '%s' is not a non-negative integer", opt, s);
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		die_usage("--%s: '%s' is not a non-negative integer", opt, s);
	if (v < min || v > max)
		die_usage("--%s: %s out of range [%" PRIu64 ", %" PRIu64 "]", opt, s, min, max);
	return v;
}

static double parse_pos_double(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !(v > 0) || v > 1e10)
		die_usage("--%s: '%s' is not a positive number", opt, s);
	return v;
}

static void parse_mac(const char *opt, const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6 || strlen(s) != 17)
		die_usage("--%s: '%s' is not a MAC address like 02:74:61:70:00:01", opt, s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
}

static uint32_t parse_lab_ip(const char *opt, const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		die_usage("--%s: '%s' is not an IPv4 address", opt, s);
	uint32_t ip = ntohl(a.s_addr);
	if ((ip & 0xfffe0000u) != 0xc6120000u)
		die_usage("--%s: %s is outside 198.18.0.0/15 (the lab range); refused", opt, s);
	return ip;
}

static void parse_size(const char *s, uint32_t *mn, uint32_t *mx)
{
	const char *colon = strchr(s, ':');
	if (!colon) {
		*mn = *mx = (uint32_t)parse_u64("size", s, 0, UINT32_MAX);
		return;
	}
	char a[32], b[32];
	size_t la = (size_t)(colon - s), lb = strlen(colon + 1);
	if (la == 0 || lb == 0 || la >= sizeof a || lb >= sizeof b)
		die_usage("--size: '%s' is not N or MIN:MAX", s);
	memcpy(a, s, la);
	a[la] = 0;
	memcpy(b, colon + 1, lb + 1);
	*mn = (uint32_t)parse_u64("size", a, 0, UINT32_MAX);
	*mx = (uint32_t)parse_u64("size", b, 0, UINT32_MAX);
	if (*mn > *mx)
		die_usage("--size: MIN %u is greater than MAX %u", *mn, *mx);
}

enum {
	O_IFACE = 1000, O_COUNT, O_SIZE, O_STREAM, O_SEQ_START, O_PPS, O_BATCH, O_SRC_MAC,
	O_DST_MAC, O_SRC_IP, O_DST_IP, O_VLAN, O_DURATION_MAX, O_IDLE_MS, O_TIMEOUT,
	O_READY_FILE, O_HELP,
};

struct opts {
	const char *iface;
	bool have_count;
	uint64_t count;
	uint64_t seq_start;
	double pps;
	uint32_t batch;
	bool batch_given;
	double duration_max;
	uint64_t idle_ms;
	double timeout;
	const char *ready_file;
	const char *size_str;
	struct frame_params fp;
};

static void usage_text(FILE *f)
{
	fprintf(f,
		"usage: tapgen send --iface IF --count N [--size N|MIN:MAX] [--stream S] [--seq-start K]\n"
		"                   [--pps R] [--batch B] [--src-mac M] [--dst-mac M] [--src-ip A]\n"
		"                   [--dst-ip A] [--vlan ID] [--duration-max SEC]\n"
		"       tapgen sink --iface IF [--count N] [--stream S] [--seq-start K] [--size ..]\n"
		"                   [--src-mac M] [--dst-mac M] [--src-ip A] [--dst-ip A] [--vlan ID]\n"
		"                   [--idle-ms MS] [--timeout SEC] [--ready-file PATH]\n");
}

static void parse_opts(bool is_send, int argc, char **argv, struct opts *o)
{
	static const struct option common[] = {
		{"iface", required_argument, 0, O_IFACE},
		{"count", required_argument, 0, O_COUNT},
		{"size", required_argument, 0, O_SIZE},
		{"stream", required_argument, 0, O_STREAM},
		{"seq-start", required_argument, 0, O_SEQ_START},
		{"src-mac", required_argument, 0, O_SRC_MAC},
		{"dst-mac", required_argument, 0, O_DST_MAC},
		{"src-ip", required_argument, 0, O_SRC_IP},
		{"dst-ip", required_argument, 0, O_DST_IP},
		{"vlan", required_argument, 0, O_VLAN},
		{"help", no_argument, 0, O_HELP},
		/* send only */
		{"pps", required_argument, 0, O_PPS},
		{"batch", required_argument, 0, O_BATCH},
		{"duration-max", required_argument, 0, O_DURATION_MAX},
		/* sink only */
		{"idle-ms", required_argument, 0, O_IDLE_MS},
		{"timeout", required_argument, 0, O_TIMEOUT},
		{"ready-file", required_argument, 0, O_READY_FILE},
		{0, 0, 0, 0},
	};
	static const uint8_t def_dst[6] = {0x02, 0x74, 0x61, 0x70, 0x00, 0x02};
	static const uint8_t def_src[6] = {0x02, 0x74, 0x61, 0x70, 0x00, 0x01};

	memset(o, 0, sizeof *o);
	o->batch = 64;
	o->duration_max = 60;
	o->idle_ms = 1000;
	o->timeout = 30;
	o->fp.vlan = -1;
	o->fp.src_ip = 0xc6120001u; /* 198.18.0.1 */
	o->fp.dst_ip = 0xc6120002u; /* 198.18.0.2 */
	memcpy(o->fp.dst_mac, def_dst, 6);
	memcpy(o->fp.src_mac, def_src, 6);

	opterr = 0;
	optind = 1;
	int c, idx;
	while ((c = getopt_long(argc, argv, "+:", common, &idx)) != -1) {
		const char *name = "";
		for (const struct option *op = common; op->name; op++)
			if (op->val == c)
				name = op->name;
		switch (c) {
		case O_IFACE:
			if (!*optarg || strlen(optarg) >= IFNAMSIZ)
				die_usage("--iface: '%s' is not a valid interface name", optarg);
			o->iface = optarg;
			break;
		case O_COUNT:
			o->count = parse_u64(name, optarg, 1, (uint64_t)1 << 40);
			o->have_count = true;
			break;
		case O_SIZE: o->size_str = optarg; break;
		case O_STREAM: o->fp.stream = (uint32_t)parse_u64(name, optarg, 0, UINT32_MAX); break;
		case O_SEQ_START: o->seq_start = parse_u64(name, optarg, 0, UINT64_MAX >> 1); break;
		case O_SRC_MAC: parse_mac(name, optarg, o->fp.src_mac); break;
		case O_DST_MAC: parse_mac(name, optarg, o->fp.dst_mac); break;
		case O_SRC_IP: o->fp.src_ip = parse_lab_ip(name, optarg); break;
		case O_DST_IP: o->fp.dst_ip = parse_lab_ip(name, optarg); break;
		case O_VLAN: o->fp.vlan = (int)parse_u64(name, optarg, 0, 4094); break;
		case O_HELP: usage_text(stdout); exit(0);
		case O_PPS: case O_BATCH: case O_DURATION_MAX:
			if (!is_send)
				die_usage("--%s is an option of 'send', not of 'sink'", name);
			if (c == O_PPS)
				o->pps = parse_pos_double(name, optarg);
			else if (c == O_BATCH) {
				o->batch = (uint32_t)parse_u64(name, optarg, 1, 1024);
				o->batch_given = true;
			} else
				o->duration_max = parse_pos_double(name, optarg);
			break;
		case O_IDLE_MS: case O_TIMEOUT: case O_READY_FILE:
			if (is_send)
				die_usage("--%s is an option of 'sink', not of 'send'", name);
			if (c == O_IDLE_MS)
				o->idle_ms = parse_u64(name, optarg, 1, 3600 * 1000);
			else if (c == O_TIMEOUT)
				o->timeout = parse_pos_double(name, optarg);
			else
				o->ready_file = optarg;
			break;
		case ':':
			die_usage("option %s needs a value", argv[optind - 1]);
		default:
			die_usage("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!o->iface)
		die_usage("--iface is required");
	if (is_send && !o->have_count)
		die_usage("--count is required for send");

	uint32_t hdr = FRAME_MIN + (o->fp.vlan >= 0 ? VLAN_HDR : 0);
	if (o->size_str) {
		parse_size(o->size_str, &o->fp.size_min, &o->fp.size_max);
	} else {
		o->fp.size_min = o->fp.size_max = hdr < 64 ? 64 : hdr;
	}
	if (o->fp.size_min < hdr)
		die_usage("--size: %u is below the minimum frame of %u bytes%s", o->fp.size_min, hdr,
			  o->fp.vlan >= 0 ? " (with VLAN tag)" : "");
	if (o->fp.size_max > FRAME_MAX)
		die_usage("--size: %u is above the maximum frame of %u bytes", o->fp.size_max,
			  FRAME_MAX);
	if (o->have_count && o->seq_start + o->count - 1 > (UINT64_MAX >> 1))
		die_usage("--seq-start + --count overflows");
}

static int open_packet(const char *iface, int *ifindex_out)
{
	int ifindex = (int)if_nametoindex(iface);
	if (!ifindex)
		die_usage("--iface: no interface '%s' in this network namespace", iface);
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		if (errno == EPERM || errno == EACCES)
			die_usage("AF_PACKET socket: %s (run as root / CAP_NET_RAW)", strerror(errno));
		die_sys("socket(AF_PACKET)");
	}
	*ifindex_out = ifindex;
	return fd;
}

static void bind_iface(int fd, int ifindex, uint16_t proto_be, const char *iface)
{
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof sll);
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifindex;
	sll.sll_protocol = proto_be;
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
		fprintf(stderr, "%s: bind to %s: %s\n", prog_verb, iface, strerror(errno));
		exit(2);
	}
}

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: interrupt poll/nanosleep */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---------------------------------------------------------------- send */

static void wait_until(uint64_t deadline)
{
	for (;;) {
		uint64_t t = now_ns();
		if (t >= deadline || stop_flag)
			return;
		uint64_t left = deadline - t;
		if (left > 150000) { /* sleep most of it, spin the last ~100 us */
			uint64_t wake = deadline - 100000;
			struct timespec ts = {(time_t)(wake / 1000000000ull),
					      (long)(wake % 1000000000ull)};
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		} else {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		}
	}
}

static int do_send(int argc, char **argv)
{
	struct opts o;
	prog_verb = "tapgen send";
	parse_opts(true, argc, argv, &o);

	int ifindex;
	int fd = open_packet(o.iface, &ifindex);
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0)
		die_sys("setsockopt(PACKET_QDISC_BYPASS)");
	int sndbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf); /* best effort */
	/* protocol 0: a send-only socket, never queues received frames */
	bind_iface(fd, ifindex, 0, o.iface);
	install_signals();

	uint32_t B = o.batch;
	if (o.pps > 0 && !o.batch_given) {
		/* paced without --batch: bursts of at most ~100 us of traffic */
		double b = o.pps / 10000.0;
		B = b < 1 ? 1 : b > o.batch ? o.batch : (uint32_t)b;
	}
	uint8_t *bufs = malloc((size_t)B * FRAME_MAX);
	struct mmsghdr *msgs = calloc(B, sizeof *msgs);
	struct iovec *iov = calloc(B, sizeof *iov);
	if (!bufs || !msgs || !iov)
		die_sys("malloc");
	for (uint32_t i = 0; i < B; i++) {
		iov[i].iov_base = bufs + (size_t)i * FRAME_MAX;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	uint64_t sent = 0, bytes = 0, retries = 0;
	const long double period = o.pps > 0 ? 1e9L / (long double)o.pps : 0;
	const uint64_t t0 = now_ns();
	const uint64_t t_end = t0 + (uint64_t)(o.duration_max * 1e9);
	bool timed_out = false;

	while (sent < o.count && !stop_flag) {
		uint32_t n = (uint32_t)((o.count - sent) < B ? (o.count - sent) : B);
		for (uint32_t i = 0; i < n; i++)
			iov[i].iov_len = build_frame(&o.fp, o.seq_start + sent + i, iov[i].iov_base);
		if (period > 0) {
			uint64_t deadline = t0 + (uint64_t)(period * (long double)sent);
			if (deadline > t_end)
				deadline = t_end;
			wait_until(deadline);
		}
		uint32_t off = 0;
		while (off < n) {
			if (now_ns() >= t_end) {
				timed_out = true;
				break;
			}
			if (stop_flag)
				break;
			int r = sendmmsg(fd, msgs + off, n - off, 0);
			if (r < 0) {
				if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
					if (errno != EINTR)
						retries++; /* frame msgs[off] was not sent: retry it */
					continue;
				}
				if (errno == EMSGSIZE)
					die_usage("frame of %zu bytes is larger than the MTU of %s allows",
						  iov[off].iov_len, o.iface);
				die_sys("sendmmsg");
			}
			for (int k = 0; k < r; k++)
				bytes += iov[off + k].iov_len;
			off += (uint32_t)r;
		}
		sent += off;
		if (timed_out)
			break;
		if (now_ns() >= t_end && sent < o.count) {
			timed_out = true;
			break;
		}
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	printf("{\"sent\":%" PRIu64 ",\"seconds\":%.6f,\"pps\":%.1f,\"bps\":%.1f,\"retries\":%" PRIu64
	       "}\n",
	       sent, secs, (double)sent / secs, (double)bytes * 8.0 / secs, retries);
	fflush(stdout);
	if (timed_out)
		fprintf(stderr, "tapgen send: stopped at --duration-max after %" PRIu64 " of %" PRIu64
			" frames\n", sent, o.count);
	close(fd);
	return sent == o.count ? 0 : 1;
}

/* ---------------------------------------------------------------- sink */

struct seen_map {
	uint64_t *bits;
	uint64_t nbits; /* capacity */
};

/* Returns previous bit value, growing the map as needed; -1 if out of range. */
static int seen_test_set(struct seen_map *m, uint64_t idx, uint64_t limit)
{
	if (idx >= limit)
		return -1;
	if (idx >= m->nbits) {
		uint64_t n = m->nbits ? m->nbits : 1 << 20;
		while (n <= idx)
			n *= 2;
		if (n > limit)
			n = (limit + 63) & ~63ull;
		uint64_t *nb = realloc(m->bits, n / 8);
		if (!nb)
			die_sys("realloc(bitmap)");
		memset((uint8_t *)nb + m->nbits / 8, 0, (n - m->nbits) / 8);
		m->bits = nb;
		m->nbits = n;
	}
	uint64_t w = idx >> 6, b = 1ull << (idx & 63);
	int prev = (m->bits[w] & b) != 0;
	m->bits[w] |= b;
	return prev;
}

struct sink_stats {
	uint64_t received, unique, duplicates, reordered, corrupt, out_of_range, bytes;
	uint64_t sink_drops;
	bool any;
	uint64_t first_seq, last_seq, max_seq, min_seq;
};

#define RING_BLOCK_SIZE (1u << 20)
#define RING_BLOCK_NR 256u /* 256 MiB: seconds of traffic, so a starved sink (2 busy cores) still drops nothing */
#define RING_FRAME_SIZE (1u << 14)

static int do_sink(int argc, char **argv)
{
	struct opts o;
	prog_verb = "tapgen sink";
	parse_opts(false, argc, argv, &o);

	int ifindex;
	int fd = open_packet(o.iface, &ifindex);

	int v = TPACKET_V3;
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0)
		die_sys("setsockopt(PACKET_VERSION, TPACKET_V3)");
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0)
		die_sys("setsockopt(PACKET_IGNORE_OUTGOING)");
	struct tpacket_req3 req;
	memset(&req, 0, sizeof req);
	req.tp_block_size = RING_BLOCK_SIZE;
	req.tp_block_nr = RING_BLOCK_NR;
	req.tp_frame_size = RING_FRAME_SIZE;
	req.tp_frame_nr = (RING_BLOCK_SIZE / RING_FRAME_SIZE) * RING_BLOCK_NR;
	req.tp_retire_blk_tov = 5; /* ms: hand partly filled blocks to us quickly */
	req.tp_feature_req_word = 0;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0)
		die_sys("setsockopt(PACKET_RX_RING)");
	size_t ring_len = (size_t)RING_BLOCK_SIZE * RING_BLOCK_NR;
	uint8_t *ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (ring == MAP_FAILED)
		die_sys("mmap(rx ring)");
	bind_iface(fd, ifindex, htons(ETH_P_ALL), o.iface);
	install_signals();

	/* Clear any counter from before bind. */
	struct tpacket_stats_v3 st;
	socklen_t sl = sizeof st;
	getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl);

	if (o.ready_file) {
		int rf = open(o.ready_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (rf < 0)
			die_sys("open(--ready-file)");
		close(rf);
		utimensat(AT_FDCWD, o.ready_file, NULL, 0);
	}

	struct sink_stats s;
	memset(&s, 0, sizeof s);
	struct seen_map seen = {0};
	const uint64_t limit = o.have_count ? o.count : (1ull << 30);
	uint8_t *expect = malloc(FRAME_MAX);
	uint8_t *tagged = malloc(FRAME_MAX + 64);
	if (!expect || !tagged)
		die_sys("malloc");

	const uint64_t t0 = now_ns();
	const uint64_t t_end = t0 + (uint64_t)(o.timeout * 1e9);
	const uint64_t idle_ns = o.idle_ms * 1000000ull;
	uint64_t last_match = 0;
	unsigned blk = 0;
	bool done = false;

	while (!done && !stop_flag) {
		struct tpacket_block_desc *bd =
			(struct tpacket_block_desc *)(ring + (size_t)blk * RING_BLOCK_SIZE);
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
			uint64_t t = now_ns();
			if (t >= t_end)
				break;
			if (s.any && t - last_match >= idle_ns)
				break;
			uint64_t wait = t_end - t;
			if (s.any && idle_ns - (t - last_match) < wait)
				wait = idle_ns - (t - last_match);
			int ms = (int)(wait / 1000000ull) + 1;
			if (ms > 100)
				ms = 100;
			struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLERR};
			if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
				die_sys("poll");
			continue;
		}
		uint32_t npkts = bd->hdr.bh1.num_pkts;
		struct tpacket3_hdr *h =
			(struct tpacket3_hdr *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
		for (uint32_t i = 0; i < npkts && !done;
		     i++, h = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset)) {
			const uint8_t *pkt = (const uint8_t *)h + h->tp_mac;
			uint32_t caplen = h->tp_snaplen, wirelen = h->tp_len;
			if (h->tp_status & TP_STATUS_VLAN_VALID) {
				/* tag stripped into metadata: put it back where it was */
				uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) &&
						h->hv1.tp_vlan_tpid ? h->hv1.tp_vlan_tpid : 0x8100;
				if (caplen < 12 || caplen > FRAME_MAX + 32)
					continue;
				memcpy(tagged, pkt, 12);
				put_be16(tagged + 12, tpid);
				put_be16(tagged + 14, h->hv1.tp_vlan_tci);
				memcpy(tagged + 16, pkt + 12, caplen - 12);
				pkt = tagged;
				caplen += 4;
				wirelen += 4;
			}
			/* match: [VLAN] IPv4 UDP with our magic and stream */
			uint32_t off = 12;
			if (caplen < 14)
				continue;
			uint16_t et = get_be16(pkt + off);
			if (et == 0x8100 || et == 0x88a8) {
				off += 4;
				if (caplen < off + 2)
					continue;
				et = get_be16(pkt + off);
			}
			off += 2;
			if (et != 0x0800 || caplen < off + IP_HDR)
				continue;
			uint32_t ihl = (pkt[off] & 0x0f) * 4u;
			if ((pkt[off] >> 4) != 4 || ihl < 20 || pkt[off + 9] != 17)
				continue;
			off += ihl + UDP_HDR;
			if (caplen < off + PAYLOAD_HDR)
				continue;
			if (get_be32(pkt + off) != TAP_MAGIC || get_be32(pkt + off + 4) != o.fp.stream)
				continue;
			uint64_t seq = get_be64(pkt + off + 8);

			s.received++;
			s.bytes += wirelen;
			last_match = now_ns();
			if (!s.any) {
				s.any = true;
				s.first_seq = s.min_seq = s.max_seq = seq;
			}
			s.last_seq = seq;

			size_t elen = build_frame(&o.fp, seq, expect);
			if (caplen != wirelen || wirelen != elen || memcmp(pkt, expect, elen) != 0) {
				s.corrupt++;
				continue;
			}
			if (seq < o.seq_start) {
				s.out_of_range++;
				continue;
			}
			int prev = seen_test_set(&seen, seq - o.seq_start, limit);
			if (prev < 0) {
				s.out_of_range++;
				continue;
			}
			if (prev) {
				s.duplicates++;
				continue;
			}
			if (s.unique && seq < s.max_seq)
				s.reordered++;
			s.unique++;
			if (seq > s.max_seq)
				s.max_seq = seq;
			if (seq < s.min_seq)
				s.min_seq = seq;
			if (o.have_count && s.unique == o.count)
				done = true;
		}
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		blk = (blk + 1) % RING_BLOCK_NR;
		uint64_t tn = now_ns();
		if (tn >= t_end || (s.any && tn - last_match >= idle_ns))
			break;
	}

	sl = sizeof st;
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
		s.sink_drops += st.tp_drops;

	uint64_t missing;
	if (o.have_count)
		missing = o.count - s.unique;
	else
		missing = s.unique ? (s.max_seq - s.min_seq + 1) - s.unique : 0;

	char fs[32] = "null", ls[32] = "null";
	if (s.any) {
		snprintf(fs, sizeof fs, "%" PRIu64, s.first_seq);
		snprintf(ls, sizeof ls, "%" PRIu64, s.last_seq);
	}
	printf("{\"received\":%" PRIu64 ",\"unique\":%" PRIu64 ",\"duplicates\":%" PRIu64
	       ",\"reordered\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"corrupt\":%" PRIu64
	       ",\"first_seq\":%s,\"last_seq\":%s,\"sink_drops\":%" PRIu64 ",\"bytes\":%" PRIu64
	       ",\"out_of_range\":%" PRIu64 ",\"seconds\":%.6f}\n",
	       s.received, s.unique, s.duplicates, s.reordered, missing, s.corrupt, fs, ls,
	       s.sink_drops, s.bytes, s.out_of_range, (double)(now_ns() - t0) / 1e9);
	fflush(stdout);
	munmap(ring, ring_len);
	close(fd);
	bool ok = missing == 0 && s.corrupt == 0 && s.duplicates == 0 && s.reordered == 0 &&
		  s.out_of_range == 0 && s.unique > 0;
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "tapgen: missing verb: use 'tapgen send ...' or 'tapgen sink ...'\n");
		return 2;
	}
	if (!strcmp(argv[1], "send"))
		return do_send(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sink"))
		return do_sink(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage_text(stdout);
		return 0;
	}
	fprintf(stderr, "tapgen: unknown verb '%s': use 'send' or 'sink'\n", argv[1]);
	return 2;
}
