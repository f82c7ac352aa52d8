/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types we touch, declared by hand so the build needs no
 * vmlinux.h and no kernel headers. preserve_access_index makes every field
 * access a CO-RE relocation: libbpf rewrites offsets against the running
 * kernel's BTF at load time, so nothing here is a fixed offset.
 * The syscall tracepoint layouts are the stable tracefs formats
 * (events/syscalls/sys_enter_read/format and friends).
 */
#ifndef HS_KERNEL_TYPES_H
#define HS_KERNEL_TYPES_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <stdbool.h>

/* struct trace_entry + __syscall_nr, padded to 16 bytes in every format. */
struct hs_syscall_enter {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__u64 args[6];
};

struct hs_syscall_exit {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__s64 ret;
};

/* The user-space ABI of struct iovec and struct msghdr (x86_64 and arm64 alike). */
struct hs_iovec {
	__u64 base;
	__u64 len;
};

struct hs_user_msghdr {
	__u64 name;
	__s32 namelen;
	__u32 pad;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
};

/* struct cmsghdr; SCM_RIGHTS data is an array of int descriptors after it. */
struct hs_user_cmsghdr {
	__u64 len;
	__s32 level;
	__s32 type;
};
#define HS_SOL_SOCKET 1
#define HS_SCM_RIGHTS 1

struct sock_common {
	unsigned short skc_family;
	unsigned char skc_state;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	__u16 sk_type;
} __attribute__((preserve_access_index));

struct socket {
	short type;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct mm_struct;

struct task_struct {
	int pid;
	int tgid;
	struct files_struct *files;
	struct mm_struct *mm;
} __attribute__((preserve_access_index));

/* The user registers saved at syscall entry (x86_64): the arguments are
 * still there at exit. The ___x86 flavour matches the kernel's pt_regs
 * only where it has these fields; elsewhere bpf_core_field_exists() says no. */
struct pt_regs___x86 {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
} __attribute__((preserve_access_index));

/* sched_process_exit got a format of its own, with group_dead, in 6.16;
 * bpf_core_field_exists() tells whether this kernel has it. */
struct trace_event_raw_sched_process_exit {
	_Bool group_dead;
} __attribute__((preserve_access_index));

#define HS_S_IFMT 00170000
#define HS_S_IFSOCK 0140000
#define HS_AF_INET 2
#define HS_AF_INET6 10
#define HS_IPPROTO_TCP 6
#define HS_TCP_LISTEN 10
#define HS_SOCK_STREAM 1

#endif /* HS_KERNEL_TYPES_H */
