// SPDX-License-Identifier: GPL-2.0
/*
 * tc_clone.c - TC ingress: forward every frame to its paired egress port
 * and, in tap mode, clone it to the recorder interface first.
 *
 * The frame is never written to: bpf_clone_redirect sends a clone of the
 * skb as it is, bpf_redirect hands the original to the egress device.
 * At TC ingress the kernel pushes the MAC header back before transmit,
 * so what leaves OUT is byte for byte what arrived at IN.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include "tap.h"

#ifndef NET_XMIT_DROP
#define NET_XMIT_DROP 0x01
#define NET_XMIT_CN   0x02
#endif

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

static __always_inline __u32 clone_err_bucket(long ret)
{
	switch (ret) {
	case -EINVAL:   return TAP_CLONE_ERR_EINVAL;
	case -ENOMEM:   return TAP_CLONE_ERR_ENOMEM;
	case -ENETDOWN: return TAP_CLONE_ERR_ENETDOWN;
	case -ENOBUFS:  return TAP_CLONE_ERR_ENOBUFS;
	case -EMSGSIZE: return TAP_CLONE_ERR_EMSGSIZE;
	case NET_XMIT_DROP: return TAP_CLONE_ERR_XMIT_DROP;
	case NET_XMIT_CN:   return TAP_CLONE_ERR_XMIT_CN;
	default:        return TAP_CLONE_ERR_OTHER;
	}
}

SEC("tc")
int tc_clone(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ingress_ifindex;
	__u32 zero = 0, slot;
	struct tap_config *cfg;
	struct tap_stats *st;
	struct tap_dir *dir;
	__u32 mode;
	long ret;

	dir = bpf_map_lookup_elem(&tap_dirs, &ifindex);
	slot = dir ? dir->slot : TAP_SLOT_UNPAIRED;
	if (slot > TAP_SLOT_UNPAIRED)
		slot = TAP_SLOT_UNPAIRED;
	st = bpf_map_lookup_elem(&tap_stats, &slot);
	if (!st)
		return TC_ACT_OK;

	/* Per-CPU slot: no other CPU writes it, so plain adds suffice. */
	st->packets++;
	st->bytes += skb->len;

	cfg = bpf_map_lookup_elem(&tap_config, &zero);
	mode = cfg ? cfg->mode : TAP_MODE_PASS;

	if (!dir || mode == TAP_MODE_PASS) {
		st->passed++;
		return TC_ACT_OK;
	}

	if (mode == TAP_MODE_TAP && (dir->flags & TAP_F_RECORD) &&
	    dir->recorder_ifindex) {
		/* Clone first: the original is consumed by the redirect. */
		ret = bpf_clone_redirect(skb, dir->recorder_ifindex, 0);
		if (ret == 0) {
			st->cloned++;
		} else {
			__u32 b = clone_err_bucket(ret);

			st->clone_errors++;
			if (b < TAP_CLONE_ERR_BUCKETS)
				st->clone_err[b]++;
		}
	} else {
		st->not_recorded++;
	}

	/*
	 * bpf_redirect only refuses bad flags; a failed transmit happens
	 * after we return (cilium#3204), so egress drops are read from the
	 * egress device's counters in user space.
	 */
	ret = bpf_redirect(dir->egress_ifindex, 0);
	if (ret == TC_ACT_REDIRECT)
		st->forwarded++;
	else
		st->forward_errors++;
	return ret;
}

char _license[] SEC("license") = "GPL";
