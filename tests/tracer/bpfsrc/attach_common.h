/* What tests/tracer/test_attach.py's programs share: struct pt_regs declared here with
 * the kernel's member names (no vmlinux.h), and a filter on the traced command's name
 * so that programs loaded into the host kernel see only that command. */
#define __VMLINUX_H__ 1   /* bpf_tracing.h: the kernel's register names */
#include <linux/bpf.h>

struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di;
	unsigned long orig_ax, ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

static __always_inline int mine(void)
{
	static const char want[] = "attach_calls";
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
	for (int i = 0; i < (int)sizeof(want); i++)
		if (comm[i] != want[i])
			return 0;
	return 1;
}
