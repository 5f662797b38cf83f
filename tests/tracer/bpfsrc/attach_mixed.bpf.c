/* trace-run's dispatcher next to programs on the kernel's attach points: the
 * dispatcher's bpf_override_return skips mkdirat, which the sys_enter raw tracepoint
 * (before it) and the sys_exit tracepoint still see and the syscall wrapper's kprobe
 * (after it) does not.  With an x86_64 dispatcher only, i386 calls are refused. */
#include "attach_common.h"

SEC("kprobe/syscall_entry")
int dispatch(struct pt_regs *ctx)
{
	if (mine() && ctx->orig_ax == 258)
		bpf_override_return(ctx, -1);     /* -EPERM */
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (mine() && ctx->args[1] == 258)
		bpf_printk("raw_tp enter mkdirat");
	return 0;
}

SEC("ksyscall/mkdirat")
int ks_mkdirat(struct pt_regs *ctx)
{
	if (mine())
		bpf_printk("ksyscall mkdirat");
	return 0;
}

SEC("tp/syscalls/sys_exit_mkdirat")
int tp_exit_mkdirat(struct { __u64 c; int nr; long ret; } *ctx)
{
	if (mine())
		bpf_printk("tp exit mkdirat ret=%ld", ctx->ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
