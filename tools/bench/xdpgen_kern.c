// SPDX-License-Identifier: GPL-2.0
/* xdpgen_kern.c - the bench's frame source: run by BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES,
 * every frame (a copy of the template given as data_in) is sent back out of the ingress device. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int gen(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
