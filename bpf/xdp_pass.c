// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_pass.c - the XDP programs.
 *
 *   xdp_pass      pass every frame to the stack (the original experiment; also the
 *                 program a veth peer needs so redirected frames arrive)
 *   xdp_redirect  forward only: egress from a devmap at run time, no recompile
 *   xdp_clone     the XDP tap: pass / forward / forward + clone by devmap broadcast,
 *                 chosen at run time by the same tap_config as tc_clone
 *   xdp_xsk       recorder endpoint: every frame into the AF_XDP socket of its queue
 *
 * xdp_redirect and xdp_clone share tap_dirs, tap_config and tap_stats with
 * tc_clone (same layout, from tap.h), so `tcloader stats` reads both paths alike.
 * XDP frames are never written to.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "tap.h"

/* --- shared with tc_clone.c --------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TAP_MAX_DIRECTIONS);
	__type(key, __u32);             /* ingress ifindex */
	__type(value, struct tap_dir);
} tap_dirs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tap_config);
} tap_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAP_STATS_SLOTS);
	__type(key, __u32);
	__type(value, struct tap_stats);
} tap_stats SEC(".maps");

/* --- XDP only ------------------------------------------------------------ */

/* slot -> egress device, for the forward-only redirect. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, TAP_MAX_DIRECTIONS);
	__type(key, __u32);
	__type(value, __u32);
} tap_tx SEC(".maps");

/*
 * One broadcast group per direction: {egress, recorder}. bpf_redirect_map
 * needs a map known at load time, so each direction has its own DEVMAP_HASH
 * (keyed by ifindex) and the slot picks one of them.
 */
#define TAP_BCAST_MAP(n)                                   \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);    \
		__uint(max_entries, 4);                    \
		__type(key, __u32);                        \
		__type(value, __u32);                      \
	} tap_bcast_##n SEC(".maps")

TAP_BCAST_MAP(0);  TAP_BCAST_MAP(1);  TAP_BCAST_MAP(2);  TAP_BCAST_MAP(3);
TAP_BCAST_MAP(4);  TAP_BCAST_MAP(5);  TAP_BCAST_MAP(6);  TAP_BCAST_MAP(7);
TAP_BCAST_MAP(8);  TAP_BCAST_MAP(9);  TAP_BCAST_MAP(10); TAP_BCAST_MAP(11);
TAP_BCAST_MAP(12); TAP_BCAST_MAP(13); TAP_BCAST_MAP(14); TAP_BCAST_MAP(15);

#define BCAST (BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)

static __always_inline long broadcast(__u32 slot)
{
	switch (slot) {
	case 0:  return bpf_redirect_map(&tap_bcast_0, 0, BCAST);
	case 1:  return bpf_redirect_map(&tap_bcast_1, 0, BCAST);
	case 2:  return bpf_redirect_map(&tap_bcast_2, 0, BCAST);
	case 3:  return bpf_redirect_map(&tap_bcast_3, 0, BCAST);
	case 4:  return bpf_redirect_map(&tap_bcast_4, 0, BCAST);
	case 5:  return bpf_redirect_map(&tap_bcast_5, 0, BCAST);
	case 6:  return bpf_redirect_map(&tap_bcast_6, 0, BCAST);
	case 7:  return bpf_redirect_map(&tap_bcast_7, 0, BCAST);
	case 8:  return bpf_redirect_map(&tap_bcast_8, 0, BCAST);
	case 9:  return bpf_redirect_map(&tap_bcast_9, 0, BCAST);
	case 10: return bpf_redirect_map(&tap_bcast_10, 0, BCAST);
	case 11: return bpf_redirect_map(&tap_bcast_11, 0, BCAST);
	case 12: return bpf_redirect_map(&tap_bcast_12, 0, BCAST);
	case 13: return bpf_redirect_map(&tap_bcast_13, 0, BCAST);
	case 14: return bpf_redirect_map(&tap_bcast_14, 0, BCAST);
	case 15: return bpf_redirect_map(&tap_bcast_15, 0, BCAST);
	default: return XDP_ABORTED;
	}
}

/* Frames seen at the hook; returns the direction or NULL (unpaired). */
static __always_inline struct tap_dir *account(struct xdp_md *ctx, struct tap_stats **stp)
{
	__u32 ifindex = ctx->ingress_ifindex;
	struct tap_dir *dir = bpf_map_lookup_elem(&tap_dirs, &ifindex);
	__u32 slot = dir ? dir->slot : TAP_SLOT_UNPAIRED;
	struct tap_stats *st;

	if (slot > TAP_SLOT_UNPAIRED)
		slot = TAP_SLOT_UNPAIRED;
	st = bpf_map_lookup_elem(&tap_stats, &slot);
	if (st) {
		/* Per-CPU slot: no other CPU writes it, so plain adds suffice. */
		st->packets++;
		st->bytes += ctx->data_end - ctx->data;
	}
	*stp = st;
	return dir;
}

static __always_inline __u32 current_mode(void)
{
	__u32 zero = 0;
	struct tap_config *cfg = bpf_map_lookup_elem(&tap_config, &zero);

	return cfg ? cfg->mode : TAP_MODE_PASS;
}

static __always_inline int forward(struct tap_stats *st, __u32 slot)
{
	long ret = bpf_redirect_map(&tap_tx, slot, 0);

	if (st) {
		if (ret == XDP_REDIRECT)
			st->forwarded++;
		else
			st->forward_errors++;
	}
	return ret == XDP_REDIRECT ? XDP_REDIRECT : XDP_DROP;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	struct tap_stats *st;
	struct tap_dir *dir = account(ctx, &st);

	if (!dir || current_mode() == TAP_MODE_PASS) {
		if (st)
			st->passed++;
		return XDP_PASS;
	}
	if (st)
		st->not_recorded++;
	return forward(st, dir->slot);
}

SEC("xdp")
int xdp_clone(struct xdp_md *ctx)
{
	struct tap_stats *st;
	struct tap_dir *dir = account(ctx, &st);
	__u32 mode = current_mode();
	long ret;

	if (!dir || mode == TAP_MODE_PASS) {
		if (st)
			st->passed++;
		return XDP_PASS;
	}
	if (mode != TAP_MODE_TAP || !(dir->flags & TAP_F_RECORD) ||
	    !dir->recorder_ifindex) {
		if (st)
			st->not_recorded++;
		return forward(st, dir->slot);
	}

	/*
	 * One redirect sends the frame to the egress and the recorder. The
	 * helper only checks the map; transmit failures happen after we
	 * return and show up in the devices' counters, as on the TC path.
	 */
	ret = broadcast(dir->slot);
	if (st) {
		if (ret == XDP_REDIRECT) {
			st->forwarded++;
			st->cloned++;
		} else {
			st->forward_errors++;
			st->clone_errors++;
			st->clone_err[TAP_CLONE_ERR_OTHER]++;
		}
	}
	return ret == XDP_REDIRECT ? XDP_REDIRECT : XDP_DROP;
}

/* --- recorder endpoint ---------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, TAP_MAX_QUEUES);
	__type(key, __u32);             /* rx queue index */
	__type(value, __u32);           /* AF_XDP socket fd (user side) */
} tap_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tap_xsk_stats);
} tap_xsk_stats SEC(".maps");

SEC("xdp")
int xdp_xsk(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct tap_xsk_stats *st = bpf_map_lookup_elem(&tap_xsk_stats, &zero);
	long ret;

	if (st) {
		st->packets++;
		st->bytes += ctx->data_end - ctx->data;
	}
	/* The interface only feeds the recorder: with no socket on the queue, drop. */
	ret = bpf_redirect_map(&tap_xsks, ctx->rx_queue_index, XDP_DROP);
	if (st) {
		if (ret == XDP_REDIRECT)
			st->redirected++;
		else
			st->no_socket++;
	}
	return ret;
}

char _license[] SEC("license") = "GPL";
