// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The one definition of every shared map (see maps.bpf.h). */
#define HS_DEFINE_MAPS
#include "maps.bpf.h"
#include "tls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
