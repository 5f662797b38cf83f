/* samples/bpf/tracex5's shape: a kprobe on __seccomp_filter tail-calls, by syscall
 * number, into programs in kprobe/<N> sections that read the struct seccomp_data the
 * kernel passes as the second argument. */
#include "attach_common.h"

struct seccomp_data {
	int nr;
	__u32 arch;
	__u64 instruction_pointer;
	__u64 args[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 1024);
} progs SEC(".maps");

SEC("kprobe/__seccomp_filter")
int BPF_KPROBE(seccomp_dispatch, int nr)
{
	bpf_tail_call(ctx, &progs, nr);
	return 0;
}

SEC("kprobe/1")
int sc_write(struct pt_regs *ctx)
{
	struct seccomp_data sd;
	bpf_probe_read_kernel(&sd, sizeof(sd), (void *)PT_REGS_PARM2(ctx));
	if (mine())
		bpf_printk("write(fd=%d, size=%d) nr=%d", (int)sd.args[0], (int)sd.args[2], sd.nr);
	return 0;
}

SEC("kprobe/20")
int sc_20(struct pt_regs *ctx)
{
	struct seccomp_data sd;
	bpf_probe_read_kernel(&sd, sizeof(sd), (void *)PT_REGS_PARM2(ctx));
	if (mine())
		bpf_printk("nr 20 arch=%x recheck=%d", sd.arch, (int)PT_REGS_PARM3(ctx));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
