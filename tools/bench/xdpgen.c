// SPDX-License-Identifier: MIT
/*
 * xdpgen - the bench's fast sender: XDP live-frame mode (BPF_PROG_RUN + BPF_F_TEST_XDP_LIVE_FRAMES,
 * kernel >= 5.18). The program xdpgen_kern.o returns XDP_TX, so every one of --count copies of the
 * lab frame (tapgen's build_frame() for seq 0, byte for byte) leaves --iface as a real XDP frame
 * towards its veth peer. Run it inside the interface's namespace (ip netns exec).
 * No pacing (live-frame mode cannot pace) and no per-frame numbers (one fixed template).
 *
 *   xdpgen --iface IF --count N --size S --obj build/xdpgen_kern.o [--batch B] [--cpu C]
 *
 * Prints one JSON line: sent, seconds, pps, busy_jiffies (all CPUs, /proc/stat, sampled right
 * before and after the BPF_PROG_RUN call), hz.
 * Build: gcc -O2 -Wall -o build/xdpgen tools/bench/xdpgen.c -lbpf
 */
#define main tapgen_main
#include "../gen/tapgen.c"
#undef main
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <sched.h>

static long long busy_jiffies(void)
{
	FILE *f = fopen("/proc/stat", "r");
	long long v[10] = {0}, sum = 0;
	if (!f || fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
			 &v[5], &v[6], &v[7], &v[8], &v[9]) < 8) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (int i = 0; i < 8; i++) /* user nice system idle iowait irq softirq steal (guest is in user) */
		sum += (i == 3 || i == 4) ? 0 : v[i];
	return sum;
}

int main(int argc, char **argv)
{
	const char *iface = NULL, *obj = "build/xdpgen_kern.o";
	unsigned long long count = 0;
	unsigned size = 64, batch = 64;
	int cpu = -1;
	static const struct option lo[] = {
		{"iface", 1, 0, 'i'}, {"count", 1, 0, 'c'}, {"size", 1, 0, 's'},
		{"obj", 1, 0, 'o'},   {"batch", 1, 0, 'b'}, {"cpu", 1, 0, 'C'}, {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': iface = optarg; break;
		case 'c': count = strtoull(optarg, NULL, 10); break;
		case 's': size = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'o': obj = optarg; break;
		case 'b': batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'C': cpu = atoi(optarg); break;
		default: fprintf(stderr, "usage: xdpgen --iface IF --count N --size S [--obj O] [--batch B] [--cpu C]\n"); return 2;
		}
	}
	if (!iface || count == 0 || count > 0xffffffffull || size < 60 || size > 9000 || batch < 1 || batch > 256) {
		fprintf(stderr, "xdpgen: need --iface, --count 1..2^32-1, --size 60..9000, --batch 1..256\n");
		return 2;
	}
	unsigned ifindex = if_nametoindex(iface);
	if (!ifindex) {
		fprintf(stderr, "xdpgen: no interface %s\n", iface);
		return 1;
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof set, &set);
	}
	/* the lab frame for seq 0, exactly as tapgen builds it (same defaults: stream 0, lab MACs and IPs) */
	struct frame_params fp = {.dst_mac = {0x02, 0x74, 0x61, 0x70, 0x00, 0x02}, .src_mac = {0x02, 0x74, 0x61, 0x70, 0x00, 0x01},
				  .vlan = -1, .src_ip = 0xc6120001u, .dst_ip = 0xc6120002u, .stream = 0,
				  .size_min = size, .size_max = size};
	static uint8_t frame[FRAME_MAX];
	size_t len = build_frame(&fp, 0, frame);

	struct bpf_object *o = bpf_object__open_file(obj, NULL);
	if (!o || libbpf_get_error(o) || bpf_object__load(o)) {
		fprintf(stderr, "xdpgen: cannot load %s\n", obj);
		return 1;
	}
	struct bpf_program *p = bpf_object__find_program_by_name(o, "gen");
	int fd = p ? bpf_program__fd(p) : -1;
	if (fd < 0) {
		fprintf(stderr, "xdpgen: no program gen in %s\n", obj);
		return 1;
	}
	struct xdp_md ctx = {.data = 0, .data_end = (__u32)len, .ingress_ifindex = ifindex, .rx_queue_index = 0};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof ctx, .repeat = (int)count, .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = batch);
	long long j0 = busy_jiffies();
	uint64_t t0 = now_ns();
	int err = bpf_prog_test_run_opts(fd, &opts);
	uint64_t t1 = now_ns();
	long long j1 = busy_jiffies();
	bpf_object__close(o);
	if (err) {
		fprintf(stderr, "xdpgen: BPF_PROG_RUN live frames: %s\n", strerror(errno));
		return 1;
	}
	double s = (double)(t1 - t0) / 1e9;
	printf("{\"sent\":%llu,\"size\":%zu,\"seconds\":%.6f,\"pps\":%.1f,\"busy_jiffies\":%lld,\"hz\":%ld}\n", count, len, s,
	       count / s, j1 - j0, sysconf(_SC_CLK_TCK));
	return 0;
}
