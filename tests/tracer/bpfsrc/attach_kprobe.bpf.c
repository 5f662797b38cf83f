/* The x86-64 syscall wrapper's kprobes (ksyscall, kprobe/__x64_sys_NAME and their
 * return probes) next to a tracepoint, with bpf_override_return deciding mkdirat; and
 * two programs trace-run cannot attach (reported, the others run). */
#include "attach_common.h"

SEC("ksyscall/openat")
int ks_openat(struct pt_regs *ctx)
{
	struct pt_regs *regs = PT_REGS_SYSCALL_REGS(ctx);
	const char *p = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
	char path[96];
	if (!mine())
		return 0;
	bpf_probe_read_user_str(path, sizeof(path), p);
	bpf_printk("ksyscall openat path=%s flags=%lx", path, PT_REGS_PARM3_CORE_SYSCALL(regs));
	return 0;
}

SEC("kretsyscall/openat")
int BPF_KRETPROBE(kret_openat, long ret)
{
	if (mine())
		bpf_printk("kretsyscall openat ret=%ld", ret);
	return 0;
}

SEC("kprobe/__x64_sys_mkdirat")
int deny_mkdirat(struct pt_regs *ctx)
{
	struct pt_regs *regs = PT_REGS_SYSCALL_REGS(ctx);
	const char *p = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
	char path[96];
	if (!mine())
		return 0;
	bpf_probe_read_user_str(path, sizeof(path), p);
	bpf_printk("kprobe mkdirat path=%s mode=%lx", path, PT_REGS_PARM3_CORE_SYSCALL(regs));
	bpf_override_return(ctx, -13);   /* EACCES */
	return 0;
}

SEC("kretprobe/__x64_sys_write")
int BPF_KRETPROBE(kret_write, long ret)
{
	if (mine())
		bpf_printk("kretprobe write ret=%ld", ret);
	return 0;
}

SEC("tp/syscalls/sys_exit_mkdirat")
int tp_exit_mkdirat(struct { __u64 c; int nr; long ret; } *ctx)
{
	if (mine())
		bpf_printk("tp exit mkdirat ret=%ld", ctx->ret);
	return 0;
}

SEC("kprobe/inet_bind")
int on_bind(struct pt_regs *ctx)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
