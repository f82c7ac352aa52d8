// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A floor: an empty program on every attach point of one of the product's
 * capture front-ends. Its cost is what merely attaching there costs (the
 * kernel's tracepoint and BPF dispatch), which no program body can go
 * below. bench/lib/variants.ts writes floor_sections.h from the product
 * object's own section names ("tp_btf/..." for the default socket capture,
 * "tracepoint/..." for the syscall fallback) and the syscall exits the
 * product attaches its one exit program to (SYSCALL_EXITS in
 * src/kernel/kernel_abi.ts), so a floor and the front-end it stands for
 * always attach to the same set.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#define HS_FLOOR_BTF(event)                                          \
	SEC("tp_btf/" #event)                                         \
	int floor_##event(void *ctx)                                   \
	{                                                              \
		return 0;                                              \
	}

#define HS_FLOOR_TP(category, event)                                 \
	SEC("tracepoint/" #category "/" #event)                       \
	int floor_##event(void *ctx)                                   \
	{                                                              \
		return 0;                                              \
	}

#include "floor_sections.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
