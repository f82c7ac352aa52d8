// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor: an empty program on every tracepoint the product attaches to.
 * Its cost is what merely attaching costs (the kernel's tracepoint and BPF
 * dispatch), which no program body can go below. bench/floor.ts writes
 * floor_tracepoints.h from the product object's own section names, so the
 * two always attach to the same set.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#define HS_FLOOR(category, event)                                    \
	SEC("tracepoint/" #category "/" #event)                       \
	int floor_##event(void *ctx)                                   \
	{                                                              \
		return 0;                                              \
	}

#include "floor_tracepoints.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
