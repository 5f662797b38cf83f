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
 * The probe is passive: it never changes what a syscall does.
 *
 * The other two syscall ABIs of an x86_64 kernel have their own entry programs, which
 * the tracer runs by name (`<entry>_i386`, `<entry>_x32`):
 *
 * - `dispatch_i386` (int 0x80, sysenter, also from a 64-bit program): i386 numbers in
 *   orig_ax, arguments in ebx..ebp, its own table `progs_ia32`.  Its programs are in
 *   sections named after the kernel functions a kprobe would attach to
 *   (`kprobe/__ia32_sys_write`, `kprobe/__ia32_compat_sys_execve`), and are put in their
 *   slots declaratively (libbpf's `.values = { [__NR_ia32_write] = &prog }`); the
 *   section-name conventions fill the one prog array without `.values`, `progs`.
 * - `dispatch_x32` (syscall with __X32_SYSCALL_BIT): the number without the bit indexes
 *   `progs_x32`, the x32-only calls (512-547, the kernel's __x32_compat_sys_*); the
 *   other numbers are the x86_64 ones, which the kernel serves with the same
 *   __x64_sys_* functions, so they fall through to `progs`.
 *
 * Calls without a program are counted: `unhandled` by orig_ax (x86_64 and x32, the bit
 * kept), `unhandled_ia32` by i386 number.
 *
 * Build: bpf-vm build probes/syscalls.bpf.c -o syscalls.bpf.o
 * Run:   bpf-vm run syscalls.bpf.o --regs orig_ax=257,di=0xffffff9c,si=0x1000 \
 *            --user-mem 0x1000=2f6574632f70617373776400
 */
#include "bpf_helpers.h"
#include "bpf_tracing.h"
#include "syscall_nrs.h"
#include "syscall_nrs_compat.h"

#define MAX_SYSCALLS 512
#define STR_LEN 128

#define MAX_SYSCALLS_IA32 512	/* i386 numbers end at 469 (Linux 6.18) */
#define MAX_SYSCALLS_X32 548	/* x32's own calls are 512-547 */

enum { EVENT_ABI_X86_64 = 0, EVENT_ABI_I386 = 1, EVENT_ABI_X32 = 2 };

/* One ring-buffer record per handled syscall (192 bytes). */
struct event {
	__u32 nr;		/* syscall number */
	__u32 tgid;		/* process id of the caller */
	__u64 args[6];		/* the raw argument registers */
	__s32 str_len;		/* bpf_probe_read_user(_str)'s return value, 0 if none */
	__u32 abi;		/* EVENT_ABI_*: which table nr is from */
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

static __always_inline void count_unhandled(void *map, __u32 nr)
{
	__u64 one = 1, *count;

	count = bpf_map_lookup_elem(map, &nr);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(map, &nr, &one, BPF_NOEXIST);
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
	e->abi = EVENT_ABI_X86_64;
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

/* -- i386 ------------------------------------------------------------------------- */

static __always_inline struct event *start_event_ia32(struct pt_regs *ctx, __u32 nr)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return NULL;
	e->nr = nr;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->args[0] = PT_REGS_PARM1_SYSCALL_IA32(ctx);
	e->args[1] = PT_REGS_PARM2_SYSCALL_IA32(ctx);
	e->args[2] = PT_REGS_PARM3_SYSCALL_IA32(ctx);
	e->args[3] = PT_REGS_PARM4_SYSCALL_IA32(ctx);
	e->args[4] = PT_REGS_PARM5_SYSCALL_IA32(ctx);
	e->args[5] = PT_REGS_PARM6_SYSCALL_IA32(ctx);
	e->str_len = 0;
	e->abi = EVENT_ABI_I386;
	__builtin_memset(e->str, 0, sizeof(e->str));
	return e;
}

/* An i386 program: section kprobe/__ia32_<sys|compat_sys>_<name>, function sys_ia32_<name>. */
#define IA32_PROG(kfunc, name) SEC("kprobe/__ia32_" #kfunc "_" #name) \
	int sys_ia32_##name(struct pt_regs *ctx)

IA32_PROG(sys, read)
{
	struct event *e = start_event_ia32(ctx, __NR_ia32_read);

	if (!e)
		return 0;
	bpf_printk("read(%d, 0x%lx, %lu) [i386]", (int)e->args[0], e->args[1], e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

IA32_PROG(sys, write)
{
	struct event *e = start_event_ia32(ctx, __NR_ia32_write);
	__u64 n;

	if (!e)
		return 0;
	n = e->args[2] < STR_LEN - 1 ? e->args[2] : STR_LEN - 1;
	if (bpf_probe_read_user(e->str, n & (STR_LEN - 1), (void *)e->args[1]) == 0)
		e->str_len = n;
	else
		e->str_len = -14;	/* -EFAULT */
	bpf_printk("write(%d, 0x%lx, %lu) [i386]", (int)e->args[0], e->args[1], e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

IA32_PROG(compat_sys, open)
{
	struct event *e = start_event_ia32(ctx, __NR_ia32_open);

	if (!e)
		return 0;
	e->str_len = bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[0]);
	bpf_printk("open(\"%s\", 0x%x) [i386]", e->str, (int)e->args[1]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

IA32_PROG(compat_sys, openat)
{
	struct event *e = start_event_ia32(ctx, __NR_ia32_openat);

	if (!e)
		return 0;
	e->str_len = bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[1]);
	bpf_printk("openat(%d, \"%s\", 0x%x) [i386]", (int)e->args[0], e->str, (int)e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

IA32_PROG(sys, close)
{
	struct event *e = start_event_ia32(ctx, __NR_ia32_close);

	if (!e)
		return 0;
	bpf_printk("close(%d) [i386]", (int)e->args[0]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

IA32_PROG(compat_sys, execve)
{
	struct event *e = start_event_ia32(ctx, __NR_ia32_execve);

	if (!e)
		return 0;
	e->str_len = bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[0]);
	bpf_printk("execve(\"%s\", 0x%lx, 0x%lx) [i386]", e->str, e->args[1], e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

IA32_PROG(sys, exit_group)
{
	struct event *e = start_event_ia32(ctx, __NR_ia32_exit_group);

	if (!e)
		return 0;
	bpf_printk("exit_group(%d) [i386]", (int)e->args[0]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, MAX_SYSCALLS_IA32);
	__type(key, __u32);
	__array(values, int (struct pt_regs *));
} progs_ia32 SEC(".maps") = {
	.values = {
		[__NR_ia32_read] = (void *)&sys_ia32_read,
		[__NR_ia32_write] = (void *)&sys_ia32_write,
		[__NR_ia32_open] = (void *)&sys_ia32_open,
		[__NR_ia32_openat] = (void *)&sys_ia32_openat,
		[__NR_ia32_close] = (void *)&sys_ia32_close,
		[__NR_ia32_execve] = (void *)&sys_ia32_execve,
		[__NR_ia32_exit_group] = (void *)&sys_ia32_exit_group,
	},
};

/* i386 calls without a program: i386 number -> count. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} unhandled_ia32 SEC(".maps");

SEC("kprobe/syscall_entry_i386")
int dispatch_i386(struct pt_regs *ctx)
{
	__u32 nr = PT_REGS_SYSCALL_NR(ctx);

	bpf_tail_call(ctx, &progs_ia32, nr);
	count_unhandled(&unhandled_ia32, nr);
	return 0;
}

/* -- x32 --------------------------------------------------------------------------- */

/* x32 execve (520) takes 32-bit pointers: compat_sys_execve, not the x86_64 one. */
SEC("kprobe/__x32_compat_sys_execve")
int sys_x32_execve(struct pt_regs *ctx)
{
	struct event *e = start_event(ctx, __NR_x32_execve);

	if (!e)
		return 0;
	e->abi = EVENT_ABI_X32;
	e->str_len = bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)(__u32)e->args[0]);
	bpf_printk("execve(\"%s\", 0x%lx, 0x%lx) [x32]", e->str, e->args[1], e->args[2]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, MAX_SYSCALLS_X32);
	__type(key, __u32);
	__array(values, int (struct pt_regs *));
} progs_x32 SEC(".maps") = {
	.values = {
		[__NR_x32_execve] = (void *)&sys_x32_execve,
	},
};

SEC("kprobe/syscall_entry_x32")
int dispatch_x32(struct pt_regs *ctx)
{
	__u32 raw = PT_REGS_SYSCALL_NR(ctx);
	__u32 nr = raw & ~__X32_SYSCALL_BIT;

	bpf_tail_call(ctx, &progs_x32, nr);
	/* The numbers x32 shares with x86_64 run the same kernel functions (__x64_sys_*).
	 * (The few x86_64-only numbers below 512 that the x32 table leaves out would run
	 * their x86_64 program here too; the kernel answers them with ENOSYS.) */
	if (nr < 512)
		bpf_tail_call(ctx, &progs, nr);
	count_unhandled(&unhandled, raw);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
