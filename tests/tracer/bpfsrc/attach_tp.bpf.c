/* Syscall tracepoints, raw_syscalls, raw_tracepoint and tp_btf at once: every program
 * prints what its context says.  Loaded both by trace-run --probe and by libbpf into
 * the host kernel, the printed lines must be the same. */
#include "attach_common.h"

struct enter_openat { __u64 common; int nr; long dfd; const char *filename; long flags; long mode; };
struct enter_mkdirat { __u64 common; int nr; long dfd; const char *pathname; long mode; };
struct enter_write { __u64 common; int nr; long fd; const char *buf; long count; };
struct sys_exit { __u64 common; int nr; long ret; };
struct raw_enter { __u64 common; long id; unsigned long args[6]; };

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_enter_openat(struct enter_openat *ctx)
{
	char path[96];
	if (!mine())
		return 0;
	bpf_probe_read_user_str(path, sizeof(path), ctx->filename);
	bpf_printk("tp enter openat nr=%d dfd=%d path=%s", ctx->nr, (int)ctx->dfd, path);
	bpf_printk("tp enter openat flags=%lx mode=%lx", ctx->flags, ctx->mode);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_exit_openat(struct sys_exit *ctx)
{
	if (mine())
		bpf_printk("tp exit openat nr=%d ret=%ld", ctx->nr, ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_enter_mkdirat")
int tp_enter_mkdirat(struct enter_mkdirat *ctx)
{
	char path[96];
	if (!mine())
		return 0;
	bpf_probe_read_user_str(path, sizeof(path), ctx->pathname);
	bpf_printk("tp enter mkdirat path=%s mode=%lx", path, ctx->mode);
	return 0;
}

SEC("tp/syscalls/sys_exit_mkdirat")
int tp_exit_mkdirat(struct sys_exit *ctx)
{
	if (mine())
		bpf_printk("tp exit mkdirat ret=%ld", ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int tp_enter_write(struct enter_write *ctx)
{
	if (mine())
		bpf_printk("tp enter write fd=%ld count=%ld", ctx->fd, ctx->count);
	return 0;
}

/* i386 getpid (int 0x80) does not fire the syscalls/ tracepoints. */
SEC("tracepoint/syscalls/sys_enter_getpid")
int tp_enter_getpid(void *ctx)
{
	if (mine())
		bpf_printk("tp enter getpid");
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int raw_sys_enter(struct raw_enter *ctx)
{
	if (mine() && (ctx->id == 110 || ctx->id == 20))
		bpf_printk("raw_syscalls enter id=%ld", ctx->id);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int raw_sys_exit(struct sys_exit *ctx)
{
	long id = *(long *)((char *)ctx + 8);
	if (mine() && (id == 110 || id == 20))
		bpf_printk("raw_syscalls exit id=%ld ret>0=%d", id, ctx->ret > 0);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_tp_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	unsigned long nr = 0, flags = 0;
	if (!mine() || ctx->args[1] != 257)
		return 0;
	bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
	bpf_probe_read_kernel(&flags, sizeof(flags), &regs->dx);
	bpf_printk("raw_tp enter id=%ld orig_ax=%ld flags=%lx", ctx->args[1], nr, flags);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(btf_exit, struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (mine() && (nr == 257 || nr == 258))
		bpf_printk("tp_btf exit orig_ax=%ld ret=%ld", nr, ret);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(btf_enter, struct pt_regs *regs, long id)
{
	char path[96];
	const char *p = (const char *)BPF_CORE_READ(regs, si);
	if (!mine() || id != 258)
		return 0;
	bpf_probe_read_user_str(path, sizeof(path), p);
	bpf_printk("tp_btf enter mkdirat path=%s mode=%lx", path, BPF_CORE_READ(regs, dx));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
