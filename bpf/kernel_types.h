/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types we touch, declared by hand so the build needs no
 * vmlinux.h and no kernel headers. preserve_access_index makes every field
 * access a CO-RE relocation: libbpf rewrites offsets against the running
 * kernel's BTF at load time, so nothing here is a fixed offset.
 * The tracepoint layouts are the stable tracefs formats
 * (events/syscalls/sys_exit_read/format, events/sock/inet_sock_set_state/format).
 */
#ifndef HS_KERNEL_TYPES_H
#define HS_KERNEL_TYPES_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <stdbool.h>

#ifndef __TARGET_ARCH_x86
#error "http-statistics reads syscall arguments from x86_64 registers; other architectures are not supported yet"
#endif

/* struct trace_entry + __syscall_nr, padded to 16 bytes in every format. */
struct hs_syscall_exit {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__s64 ret;
};

struct hs_inet_sock_set_state {
	__u64 common;
	__u64 skaddr;
	__s32 oldstate;
	__s32 newstate;
};

struct hs_io_uring_complete {
	__u64 common;
	__u64 ctx;
	__u64 req;
	__u64 user_data;
	__s32 res;
};

/* The user-space ABI of struct iovec and struct msghdr on x86_64. */
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
	__s32 flags;
	__u32 pad2;
};

/* struct mmsghdr: a msghdr and the bytes that message moved. */
struct hs_user_mmsghdr {
	struct hs_user_msghdr hdr;
	__u32 len;
};

struct net;

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

struct sock_common {
	unsigned short skc_family;
	possible_net_t skc_net;
	volatile unsigned char skc_state;
} __attribute__((preserve_access_index));

struct socket;

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	__u16 sk_type;
	struct socket *sk_socket;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u64 bytes_received;	/* every byte that arrived, read or not (+1 for a FIN) */
	__u32 rcv_nxt;		/* sequence number of the next byte to arrive */
	__u32 copied_seq;	/* sequence number of the next byte the application reads */
	__u32 write_seq;	/* sequence number of the next byte the application writes */
	__u64 bytes_acked;	/* bytes the peer acknowledged (+1 for the SYN) */
	__u32 snd_una;		/* sequence number of the first byte not yet acknowledged */
} __attribute__((preserve_access_index));

struct super_block {
	unsigned int s_dev;	/* the kernel's dev_t: major << 20 | minor */
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct unix_address;

struct unix_sock {
	struct sock sk;
	struct unix_address *addr;	/* the bound name; an accepted socket shares its listener's */
	struct sock *peer;
} __attribute__((preserve_access_index));

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

/* The context of an iter/unix program (Linux 5.15+); unix_sk is 0 once after the last socket. */
struct bpf_iter__unix {
	struct bpf_iter_meta *meta;
	struct unix_sock *unix_sk;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct socket {
	struct file *file;	/* NULL for the kernel's own sockets (NFS, SMB, ...) */
	struct sock *sk;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct io_uring_task;

/* One io_uring request (io_uring/io_uring.c's struct io_kiocb). */
struct io_kiocb {
	struct file *file;
	__u8 opcode;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;
	int tgid;
	struct files_struct *files;
	struct io_uring_task *io_uring;
} __attribute__((preserve_access_index));

/* A mapping of a process: vm_file is the file the kernel maps, for a file
 * of an overlay (a container's) the layer's own, as uprobes see it. */
struct vm_area_struct {
	unsigned long vm_start;
	struct file *vm_file;
} __attribute__((preserve_access_index));

/* The context of an iter/task_vma program (Linux 5.12+): one mapping of one task; 0s once after the last. */
struct bpf_iter__task_vma {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	struct vm_area_struct *vma;
} __attribute__((preserve_access_index));

/* The user registers the syscall entry saved: orig_ax is the syscall
 * number, di, si, dx, r10 its first four arguments. */
struct pt_regs {
	unsigned long r10;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long cx;	/* a uprobe's fourth argument */
	unsigned long ax;	/* a uretprobe's return value */
	unsigned long bx;	/* Go's register ABI: the second argument word */
	unsigned long r14;	/* Go's register ABI: the running goroutine */
} __attribute__((preserve_access_index));

/* x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl, a stable ABI). */
#define HS_NR_READ 0
#define HS_NR_WRITE 1
#define HS_NR_READV 19
#define HS_NR_WRITEV 20
#define HS_NR_SENDFILE 40
#define HS_NR_SENDTO 44
#define HS_NR_RECVFROM 45
#define HS_NR_SENDMSG 46
#define HS_NR_RECVMSG 47
#define HS_NR_SPLICE 275
#define HS_NR_RECVMMSG 299
#define HS_NR_SENDMMSG 307
#define HS_NR_PREADV2 327
#define HS_NR_PWRITEV2 328
#define HS_NR_IO_URING_ENTER 426

/* include/uapi and include/linux constants (stable ABI). */
#define HS_AF_UNIX 1
#define HS_AF_INET 2
#define HS_AF_INET6 10
#define HS_IPPROTO_TCP 6
#define HS_SOCK_STREAM 1
#define HS_TCP_ESTABLISHED 1
#define HS_TCP_FIN_WAIT1 4
#define HS_TCP_CLOSE 7
#define HS_TCP_CLOSE_WAIT 8
#define HS_TCP_LAST_ACK 9
#define HS_MSG_OOB 0x1
#define HS_MSG_PEEK 0x2
#define HS_MSG_TRUNC 0x20
#define HS_S_IFMT 00170000
#define HS_S_IFSOCK 0140000
#define HS_PF_IO_WORKER 0x00000010	/* an io_uring worker thread */
/* io_uring opcodes that move data (include/uapi/linux/io_uring.h). */
#define HS_IORING_OP_READV 1
#define HS_IORING_OP_WRITEV 2
#define HS_IORING_OP_READ_FIXED 4
#define HS_IORING_OP_WRITE_FIXED 5
#define HS_IORING_OP_SENDMSG 9
#define HS_IORING_OP_RECVMSG 10
#define HS_IORING_OP_READ 22
#define HS_IORING_OP_WRITE 23
#define HS_IORING_OP_SEND 26
#define HS_IORING_OP_RECV 27
#define HS_IORING_OP_SEND_ZC 47
#define HS_IORING_OP_SENDMSG_ZC 48

#endif /* HS_KERNEL_TYPES_H */
