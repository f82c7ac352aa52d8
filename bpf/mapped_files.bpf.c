// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Which file a process really maps. /proc/<pid>/maps names a container's
 * file by its overlay's device, one per container, while the kernel maps
 * (and registers uprobes on) the layer's own file, which every container
 * of one image shares: probing each overlay's name would probe that file
 * once per container, and every call would be parsed as many times. User
 * space runs this walk for one process at a time (the iterator's pid
 * filter) and keys library files by what it returns.
 */
#include "maps.bpf.h"

SEC("iter/task_vma")
int hs_walk_mapped_files(struct bpf_iter__task_vma *ctx)
{
	struct vm_area_struct *vma = ctx->vma;
	struct hs_mapped_file record = {};
	struct inode *inode;

	if (!vma || !vma->vm_file)
		return 0;
	inode = vma->vm_file->f_inode;
	record.start = vma->vm_start;
	record.ino = inode->i_ino;
	record.dev = inode->i_sb->s_dev;
	bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
	return 0;
}
