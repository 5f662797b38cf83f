// SPDX-License-Identifier: GPL-2.0
/* The seed of trace-run: samples/bpf/tracex5's tail-call dispatch by syscall number.
 *
 * `dispatch` runs at every syscall entry with ctx = the thread's user registers
 * (struct pt_regs, see bpf_tracing.h).  It reads the syscall number from ctx->orig_ax
 * and tail-calls into `progs[nr]`: the same stack frame, no return.  The loader fills
 * `progs` from the section names below: `ksyscall/openat` goes to slot 257 (the x86_64
 * number of openat; tracex5 itself wrote `kprobe/257`, which works too).
 *
 * If the slot is empty (or the tail-call chain is exhausted) bpf_tail_call returns and
 * dispatch falls through to counting the syscall in `unhandled`.
 *
 * Each per-syscall program decodes its arguments, sends one `struct event` through the
 * `events` ring buffer and prints one line with bpf_trace_printk.  All return 0: allow.
 *
 * Build: bpf-vm build probes/syscalls.bpf.c -o syscalls.bpf.o
 * Run:   bpf-vm run syscalls.bpf.o --regs orig_ax=257,di=0xffffff9c,si=0x1000 \
 *            --user-mem 0x1000=2f6574632f70617373776400
 */
#include "bpf_helpers.h"
#include "bpf_tracing.h"
#include "syscall_nrs.h"

#define MAX_SYSCALLS 512
#define STR_LEN 128

/* One ring-buffer record per handled syscall (192 bytes). */
struct event {
	__u32 nr;		/* syscall number */
	__u32 tgid;		/* process id of the caller */
	__u64 args[6];		/* the raw argument registers */
	__s32 str_len;		/* bpf_probe_read_user(_str)'s return value, 0 if none */
	__u32 pad;
	char str[STR_LEN];	/* the decoded string (path, written bytes), NUL-terminated */
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u32);
} progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Syscalls that reached the fall-through: number -> count. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} unhandled SEC(".maps");

SEC("kprobe/syscall_entry")
int dispatch(struct pt_regs *ctx)
{
	__u32 nr = PT_REGS_SYSCALL_NR(ctx);
	__u64 one = 1, *count;

	bpf_tail_call(ctx, &progs, nr);

	/* Only reached when progs[nr] is empty, nr is out of range, or 33 tail calls
	 * already happened in this invocation. */
	count = bpf_map_lookup_elem(&unhandled, &nr);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&unhandled, &nr, &one, BPF_NOEXIST);
	return 0;
}

/* Reserve a record and fill in what every syscall has. */
static __always_inline struct event *start_event(struct pt_regs *ctx, __u32 nr)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return NULL;
	e->nr = nr;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->args[0] = PT_REGS_PARM1_SYSCALL(ctx);
	e->args[1] = PT_REGS_PARM2_SYSCALL(ctx);
	e->args[2] = PT_REGS_PARM3_SYSCALL(ctx);
	e->args[3] = PT_REGS_PARM4_SYSCALL(ctx);
	e->args[4] = PT_REGS_PARM5_SYSCALL(ctx);
	e->args[5] = PT_REGS_PARM6_SYSCALL(ctx);
	e->str_len = 0;
	e->pad = 0;
	__builtin_memset(e->str, 0, sizeof(e->str));
	return e;
}

/* A program for one syscall: section ksyscall/<name>, function sys_<name>. */
#define SYSCALL_PROG(name) SEC("ksyscall/" #name) int sys_##name(struct pt_regs *ctx)

SYSCALL_PROG(read)
{
	struct event *e = start_event(ctx, __NR_read);

	if (!e)
		return 0;
	bpf_printk("read(%d, 0x%lx, %lu)", (int)e->args[0], e->args[1], e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(write)
{
	struct event *e = start_event(ctx, __NR_write);
	__u64 n;

	if (!e)
		return 0;
	/* the first bytes written, for a strace-like view of the data */
	n = e->args[2] < STR_LEN - 1 ? e->args[2] : STR_LEN - 1;
	if (bpf_probe_read_user(e->str, n & (STR_LEN - 1), (void *)e->args[1]) == 0)
		e->str_len = n;
	else
		e->str_len = -14;	/* -EFAULT */
	bpf_printk("write(%d, 0x%lx, %lu)", (int)e->args[0], e->args[1], e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(openat)
{
	struct event *e = start_event(ctx, __NR_openat);

	if (!e)
		return 0;
	e->str_len = bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[1]);
	bpf_printk("openat(%d, \"%s\", 0x%x)", (int)e->args[0], e->str, (int)e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(close)
{
	struct event *e = start_event(ctx, __NR_close);

	if (!e)
		return 0;
	bpf_printk("close(%d)", (int)e->args[0]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(execve)
{
	struct event *e = start_event(ctx, __NR_execve);

	if (!e)
		return 0;
	e->str_len = bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[0]);
	bpf_printk("execve(\"%s\", 0x%lx, 0x%lx)", e->str, e->args[1], e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(mmap)
{
	struct event *e = start_event(ctx, __NR_mmap);

	if (!e)
		return 0;
	bpf_printk("mmap(0x%lx, %lu, 0x%x)", e->args[0], e->args[1], (int)e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(clone)
{
	struct event *e = start_event(ctx, __NR_clone);

	if (!e)
		return 0;
	bpf_printk("clone(0x%lx, 0x%lx)", e->args[0], e->args[1]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(clone3)
{
	struct event *e = start_event(ctx, __NR_clone3);
	__u64 flags = 0;

	if (!e)
		return 0;
	/* struct clone_args starts with its u64 flags */
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)e->args[0]) < 0)
		flags = 0;
	bpf_printk("clone3(0x%lx, %lu) flags=0x%lx", e->args[0], e->args[1], flags);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(socket)
{
	struct event *e = start_event(ctx, __NR_socket);

	if (!e)
		return 0;
	bpf_printk("socket(%d, %d, %d)", (int)e->args[0], (int)e->args[1], (int)e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(connect)
{
	struct event *e = start_event(ctx, __NR_connect);
	__u16 family = 0;

	if (!e)
		return 0;
	/* struct sockaddr starts with its u16 sa_family */
	if (bpf_probe_read_user(&family, sizeof(family), (void *)e->args[1]) < 0)
		family = 0xffff;
	bpf_printk("connect(%d, family=%d, %d)", (int)e->args[0], family, (int)e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SYSCALL_PROG(exit_group)
{
	struct event *e = start_event(ctx, __NR_exit_group);

	if (!e)
		return 0;
	bpf_printk("exit_group(%d)", (int)e->args[0]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
