/* The process-lifetime tracepoints: exec (the new program's path through __data_loc),
 * fork (parent and child), exit (the task's exit_code through bpf_get_current_task).
 * Only the test's command (attach_calls) is looked at, so that loaded into the host
 * kernel they ignore the rest of the machine. */
#include "attach_common.h"

struct task_struct {
	int exit_code;
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct exec_rec { __u64 common; __u32 filename_loc; int pid; int old_pid; };
struct fork_rec { __u64 common; __u32 parent_comm_loc; int parent_pid; __u32 child_comm_loc; int child_pid; };
struct exit_rec { __u64 common; char comm[16]; int pid; int prio; };

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct exec_rec *ctx)
{
	char path[96];
	unsigned off = ctx->filename_loc & 0xFFFF;
	if (!mine())
		return 0;
	bpf_probe_read_kernel_str(path, sizeof(path), (void *)ctx + off);
	bpf_printk("exec same_pid=%d", ctx->pid == ctx->old_pid);
	bpf_printk("exec filename=%s", path);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int on_fork(struct fork_rec *ctx)
{
	char parent[16], child[16];
	if (!mine())
		return 0;
	bpf_probe_read_kernel_str(parent, sizeof(parent), (void *)ctx + (ctx->parent_comm_loc & 0xFFFF));
	bpf_probe_read_kernel_str(child, sizeof(child), (void *)ctx + (ctx->child_comm_loc & 0xFFFF));
	bpf_printk("fork %s -> %s child>parent=%d", parent, child, ctx->child_pid > ctx->parent_pid);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(struct exit_rec *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	int code = BPF_CORE_READ(task, exit_code);
	if (!mine())
		return 0;
	bpf_printk("exit comm=%s prio=%d", ctx->comm, ctx->prio);
	bpf_printk("exit code=%x pid_is_current=%d", code, ctx->pid == (int)bpf_get_current_pid_tgid());
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
