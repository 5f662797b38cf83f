"""The helpers' argument names and what they do, for the explorer page.

Written from the helper documentation in include/uapi/linux/bpf.h (the ``Description``
and ``Return`` paragraphs above ``__BPF_FUNC_MAPPER``): each helper's parameter names as
its prototype there spells them, and one or two sentences on what it does and returns.
The page shows a call as ``r0 = bpf_probe_read_user(dst: r1, size: r2, unsafe_ptr: r3)``
and links it to this text.  A helper missing here is shown with the argument count of
its prototype in the VM's helper table (``arg1: r1, ...``).
"""

from __future__ import annotations

#: helper name (with ``bpf_``) -> (argument names, description)
HELPER_DOCS: dict[str, tuple[tuple[str, ...], str]] = {
    "bpf_map_lookup_elem": (
        ("map", "key"),
        "Look up the entry of map whose key is *key. Returns a pointer to the entry's "
        "value, or NULL when there is none: the program must check it before using it."),
    "bpf_map_update_elem": (
        ("map", "key", "value", "flags"),
        "Add or update the entry of map for *key with *value. flags: BPF_ANY (0, create "
        "or update), BPF_NOEXIST (1, only create), BPF_EXIST (2, only update). Returns 0 "
        "or a negative error."),
    "bpf_map_delete_elem": (
        ("map", "key"),
        "Delete the entry of map with *key. Returns 0 or a negative error (-ENOENT)."),
    "bpf_probe_read": (
        ("dst", "size", "unsafe_ptr"),
        "Read size bytes from the kernel or user address unsafe_ptr into dst (the old, "
        "ambiguous form; use bpf_probe_read_user or _kernel). Returns 0 or a negative "
        "error, in which case dst is zeroed."),
    "bpf_ktime_get_ns": (
        (), "The time since boot in nanoseconds, not counting suspend (CLOCK_MONOTONIC)."),
    "bpf_trace_printk": (
        ("fmt", "fmt_size", "arg1", "arg2", "arg3"),
        "printk-like output to the trace pipe (/sys/kernel/tracing/trace_pipe), at most "
        "three arguments. For debugging. Returns the number of bytes written."),
    "bpf_get_prandom_u32": ((), "A pseudo-random u32."),
    "bpf_get_smp_processor_id": ((), "The id of the CPU the program runs on."),
    "bpf_tail_call": (
        ("ctx", "prog_array_map", "index"),
        "Jump into the program at prog_array_map[index], reusing the current stack frame: "
        "it does not return. Falls through (returns a negative error) when the slot is "
        "empty, the index is out of range, or 33 tail calls (MAX_TAIL_CALL_CNT) already "
        "happened in this invocation."),
    "bpf_get_current_pid_tgid": (
        (), "The current task's tgid (the process id) << 32 | its pid (the thread id)."),
    "bpf_get_current_uid_gid": (
        (), "The current task's gid << 32 | its uid."),
    "bpf_get_current_comm": (
        ("buf", "size_of_buf"),
        "Copy the current task's comm (its executable name, NUL-terminated) into buf. "
        "Returns 0 or a negative error."),
    "bpf_perf_event_output": (
        ("ctx", "map", "flags", "data", "size"),
        "Write a raw record of size bytes at data into the perf event array map, on the "
        "CPU flags says (BPF_F_CURRENT_CPU). Returns 0 or a negative error."),
    "bpf_probe_read_str": (
        ("dst", "size", "unsafe_ptr"),
        "Copy a NUL-terminated string from unsafe_ptr into dst, at most size bytes "
        "(the NUL included). Returns the length with the NUL, or a negative error."),
    "bpf_override_return": (
        ("regs", "rc"),
        "Make the probed function (here: the syscall) return rc without running, for "
        "error injection. Returns 0."),
    "bpf_send_signal": (
        ("sig",), "Send signal sig to the process of the current task. Returns 0 or a "
                  "negative error."),
    "bpf_probe_read_user": (
        ("dst", "size", "unsafe_ptr"),
        "Read size bytes from the user-space address unsafe_ptr into dst. Returns 0, or "
        "a negative error (-EFAULT) with dst zeroed."),
    "bpf_probe_read_kernel": (
        ("dst", "size", "unsafe_ptr"),
        "Read size bytes from the kernel address unsafe_ptr into dst. Returns 0 or a "
        "negative error."),
    "bpf_probe_read_user_str": (
        ("dst", "size", "unsafe_ptr"),
        "Copy a NUL-terminated string from the user-space address unsafe_ptr into dst, "
        "at most size bytes. Returns the length copied with the NUL, or a negative error."),
    "bpf_probe_read_kernel_str": (
        ("dst", "size", "unsafe_ptr"),
        "Copy a NUL-terminated string from the kernel address unsafe_ptr into dst. "
        "Returns the length with the NUL, or a negative error."),
    "bpf_send_signal_thread": (
        ("sig",), "Send signal sig to the current thread only. Returns 0 or a negative "
                  "error."),
    "bpf_ktime_get_boot_ns": (
        (), "The time since boot in nanoseconds, suspend included (CLOCK_BOOTTIME)."),
    "bpf_ringbuf_output": (
        ("ringbuf", "data", "size", "flags"),
        "Copy size bytes from data into a new record of the ring buffer and submit it. "
        "Returns 0 or a negative error."),
    "bpf_ringbuf_reserve": (
        ("ringbuf", "size", "flags"),
        "Reserve size bytes in the ring buffer. Returns a pointer to the record, or NULL "
        "when it is full; a reserved record must be submitted or discarded on every "
        "path."),
    "bpf_ringbuf_submit": (
        ("data", "flags"),
        "Submit the record reserved at data: consumers see it now."),
    "bpf_ringbuf_discard": (
        ("data", "flags"), "Discard the record reserved at data: consumers never see it."),
    "bpf_snprintf": (
        ("str", "str_size", "fmt", "data", "data_len"),
        "snprintf into str with the u64 arguments in data. Returns the length the whole "
        "output needs, NUL included, or a negative error."),
    "bpf_trace_vprintk": (
        ("fmt", "fmt_size", "data", "data_len"),
        "bpf_trace_printk with any number of arguments, as u64s in data."),
    "bpf_loop": (
        ("nr_loops", "callback_fn", "callback_ctx", "flags"),
        "Call callback_fn(index, callback_ctx) up to nr_loops times, stopping when it "
        "returns 1. Returns the number of calls made."),
    "bpf_get_current_task": ((), "The current task_struct's address."),
    "bpf_ktime_get_coarse_ns": ((), "A coarse CLOCK_MONOTONIC in nanoseconds."),
    "bpf_get_stack": (
        ("ctx", "buf", "size", "flags"),
        "Copy the kernel or user stack of the current task into buf. Returns the bytes "
        "copied or a negative error."),
    "bpf_seccomp_return": (
        ("action",),
        "trace-run's own helper: ask for a seccomp outcome (SECCOMP_RET_KILL_PROCESS, "
        "_KILL_THREAD, _TRAP) for the current syscall, enforced by the kernel's seccomp."),
}


def helper_doc(name: str, nargs: int) -> tuple[list[str], str]:
    """The argument names and the description of helper ``name`` (``bpf_`` prefixed);
    unknown helpers get ``arg1..argN`` from their prototype's count."""
    doc = HELPER_DOCS.get(name)
    if doc is None:
        return [f"arg{i + 1}" for i in range(nargs)], ""
    return list(doc[0]), doc[1]


__all__ = ["HELPER_DOCS", "helper_doc"]
