/* A tool's output path: records through bpf_perf_event_output, which reach a reader only
 * on the CPU slots a perf_buffer opened (trace-run opens them all, as the tool would). */
#include "attach_common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct event { long ret; int nr; int out; };

SEC("tracepoint/syscalls/sys_exit_mkdirat")
int tp_exit_mkdirat(struct { __u64 c; int nr; long ret; } *ctx)
{
	struct event e = { .ret = ctx->ret, .nr = ctx->nr };
	if (!mine())
		return 0;
	e.out = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	bpf_printk("perf_event_output returned %d", e.out);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
