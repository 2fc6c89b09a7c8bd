/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tap.h - the one header shared by the BPF programs and user space.
 *
 * Every struct that crosses the kernel/user boundary lives here. The C#
 * mirror is src/Tap.Interop/TapAbi.cs; a test compares its sizes and
 * offsets with the BTF in the compiled objects, so the two cannot drift.
 * Fields are fixed-width and naturally aligned; append, never reorder.
 */
#ifndef TAP_H
#define TAP_H

#include <linux/types.h>

/* 4 dual-port NICs = 8 pairs; --bidirectional doubles the directions. */
#define TAP_MAX_PAIRS      8
#define TAP_MAX_DIRECTIONS (2 * TAP_MAX_PAIRS)
/* The stats slot counting frames whose ingress has no pair. */
#define TAP_SLOT_UNPAIRED  TAP_MAX_DIRECTIONS
#define TAP_STATS_SLOTS    (TAP_MAX_DIRECTIONS + 1)

/* Run-time mode, one value for all directions (tcloader mode ...). */
enum tap_mode {
	TAP_MODE_PASS    = 0, /* hand every frame to the host stack      */
	TAP_MODE_FORWARD = 1, /* redirect to the paired egress only      */
	TAP_MODE_TAP     = 2, /* redirect and clone to the recorder      */
};

/* tap_dir.flags */
#define TAP_F_RECORD   (1U << 0) /* clone this direction to its recorder */
#define TAP_F_REVERSE  (1U << 1) /* installed by --bidirectional (OUT->IN) */

/* Value of the directions map, keyed by ingress ifindex (__u32). */
struct tap_dir {
	__u32 egress_ifindex;
	__u32 recorder_ifindex; /* 0: none */
	__u32 flags;            /* TAP_F_* */
	__u32 slot;             /* index into the stats map, < TAP_MAX_DIRECTIONS */
};

/* Single-entry array: the global run-time configuration. */
struct tap_config {
	__u32 mode;             /* enum tap_mode */
	__u32 generation;       /* bumped by every attach; user space only */
};

/*
 * Clone errors are kept by return value of bpf_clone_redirect (TC) or
 * bpf_redirect_map (XDP). Negative errno values get their own bucket
 * where they are known causes; positive NET_XMIT_* codes get theirs.
 */
enum tap_clone_err {
	TAP_CLONE_ERR_OTHER    = 0,
	TAP_CLONE_ERR_EINVAL   = 1, /* recorder ifindex gone                */
	TAP_CLONE_ERR_ENOMEM   = 2, /* skb clone failed                     */
	TAP_CLONE_ERR_ENETDOWN = 3, /* recorder link down                   */
	TAP_CLONE_ERR_ENOBUFS  = 4,
	TAP_CLONE_ERR_EMSGSIZE = 5, /* frame larger than the recorder MTU   */
	TAP_CLONE_ERR_XMIT_DROP= 6, /* NET_XMIT_DROP from the recorder qdisc */
	TAP_CLONE_ERR_XMIT_CN  = 7, /* NET_XMIT_CN                          */
	TAP_CLONE_ERR_BUCKETS  = 8,
};

/* Per-CPU counters of one direction; user space sums over CPUs. */
struct tap_stats {
	__u64 packets;          /* frames seen at the hook                  */
	__u64 bytes;            /* their length, as seen at the hook        */
	__u64 forwarded;        /* redirect accepted by the helper          */
	__u64 forward_errors;   /* redirect refused by the helper           */
	__u64 cloned;           /* clone accepted by the helper             */
	__u64 clone_errors;     /* clone refused: sum of clone_err[]        */
	__u64 passed;           /* handed to the stack (pass mode)          */
	__u64 not_recorded;     /* tap mode, direction not recorded         */
	__u64 clone_err[TAP_CLONE_ERR_BUCKETS];
};

/*
 * Accounting identities that hold for every slot, in every mode:
 *   packets = forwarded + forward_errors + passed
 *   forwarded + forward_errors = cloned + clone_errors + not_recorded
 *                                (while the mode is tap; in forward mode
 *                                 not_recorded counts every frame)
 * The stats map also has slot TAP_SLOT_UNPAIRED, which only counts
 * packets/bytes/passed for frames arriving where no pair is configured.
 */

/*
 * Recorder endpoint (xdp_xsk): per-CPU counters of frames that reached the
 * recorder interface and whether an AF_XDP socket took them.
 */
struct tap_xsk_stats {
	__u64 packets;          /* frames seen by xdp_xsk                   */
	__u64 bytes;
	__u64 redirected;       /* handed to the XSKMAP (socket on that queue) */
	__u64 no_socket;        /* no socket bound on that queue: dropped   */
};

/* AF_XDP queues the recorder can bind (XSKMAP size). */
#define TAP_MAX_QUEUES 64

/* Map names, as pinned under the pin directory. */
#define TAP_MAP_DIRS   tap_dirs
#define TAP_MAP_CONFIG tap_config
#define TAP_MAP_STATS  tap_stats

#endif /* TAP_H */
