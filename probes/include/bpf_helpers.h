/* trace-run's own bpf_helpers.h: what libbpf's bpf_helpers.h offers a BPF C program,
 * written for this project (no libbpf code), so probes build with nothing but a clang
 * for -target bpf (ziglang's, by default).
 *
 * Conventions are libbpf's, so that the same sources build against libbpf too:
 *   SEC("kprobe/x")          puts a program (or a map) in an ELF section;
 *   __uint(name, val)        a map field encoded as `int (*name)[val]` in BTF;
 *   __type(name, T)          a map field encoded as `T *name` (key/value types);
 *   __array(name, T)         `T *name[]`: the declarative initialisation of a prog array,
 *                            `.values = { [3] = &prog }`;
 *   __ulong(name, val)       a 64-bit field (`map_extra`), as an enum constant.
 */
#ifndef __TRACE_RUN_BPF_HELPERS_H
#define __TRACE_RUN_BPF_HELPERS_H

#include "bpf_types.h"
#include "bpf_helper_defs.h"

#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name

#define ___bpf_concat(a, b) a ## b

#define SEC(name) __attribute__((section(name), used))

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
#ifndef __hidden
#define __hidden __attribute__((visibility("hidden")))
#endif

#define __stringify_1(x) #x
#define __stringify(x) __stringify_1(x)

/* The flags below are enum constants of <linux/bpf.h> and vmlinux.h: defined here only
 * when neither was included (first, as with libbpf). */
#if !defined(__LINUX_BPF_H__) && !defined(_UAPI__LINUX_BPF_H__) && \
	!defined(__VMLINUX_H__)

/* Map update flags (BPF_MAP_UPDATE_ELEM). */
#define BPF_ANY		0
#define BPF_NOEXIST	1
#define BPF_EXIST	2
#define BPF_F_LOCK	4

/* Map creation flags. */
#define BPF_F_NO_PREALLOC	(1U << 0)
#define BPF_F_RDONLY		(1U << 3)
#define BPF_F_WRONLY		(1U << 4)
#define BPF_F_RDONLY_PROG	(1U << 7)
#define BPF_F_WRONLY_PROG	(1U << 8)
#define BPF_F_MMAPABLE		(1U << 10)

/* bpf_ringbuf_output/submit/discard flags. */
#define BPF_RB_NO_WAKEUP	(1ULL << 0)
#define BPF_RB_FORCE_WAKEUP	(1ULL << 1)

/* bpf_perf_event_output: the current CPU's slot. */
#define BPF_F_CURRENT_CPU	0xffffffffULL
#define BPF_F_INDEX_MASK	0xffffffffULL

/* bpf_get_stackid / bpf_get_stack flags, and STACK_TRACE map creation. */
#define BPF_F_SKIP_FIELD_MASK	0xffULL
#define BPF_F_USER_STACK	(1ULL << 8)
#define BPF_F_FAST_STACK_CMP	(1ULL << 9)
#define BPF_F_REUSE_STACKID	(1ULL << 10)
#define BPF_F_USER_BUILD_ID	(1ULL << 11)
#define BPF_F_STACK_BUILD_ID	(1U << 5)

/* struct bpf_pidns_info: bpf_get_ns_current_pid_tgid's result. */
struct bpf_pidns_info {
	__u32 pid;
	__u32 tgid;
};

/* struct bpf_stack_build_id: a frame of a BPF_F_USER_BUILD_ID stack. */
enum bpf_stack_build_id_status {
	BPF_STACK_BUILD_ID_EMPTY = 0,
	BPF_STACK_BUILD_ID_VALID = 1,
	BPF_STACK_BUILD_ID_IP = 2,
};
struct bpf_stack_build_id {
	__s32 status;
	unsigned char build_id[20];
	union {
		__u64 offset;
		__u64 ip;
	};
};

#endif

/* Legacy map definitions (SEC("maps")), as samples/bpf wrote them before BTF. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

/* bpf_printk("fmt", args...): the format string lands in .rodata, as libbpf's does. */
#define bpf_printk(fmt, ...)						\
({									\
	static const char ____fmt[] = fmt;				\
	bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__);	\
})

/* trace-run's own helper (not the kernel's; probes/seccomp_helper.py): end this syscall as
 * a seccomp filter returning RET would (SECCOMP_RET_KILL_PROCESS 0x80000000,
 * SECCOMP_RET_KILL_THREAD 0, SECCOMP_RET_TRAP 0x00030000), given by the kernel's seccomp. */
static long (* const bpf_seccomp_return)(__u32 ret) = (void *) 0x5ec0;

#endif
