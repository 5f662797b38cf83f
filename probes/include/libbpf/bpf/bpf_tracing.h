/* <bpf/bpf_tracing.h> for systems without libbpf-dev: trace-run's bpf_tracing.h (struct
 * pt_regs unless vmlinux.h or <asm/ptrace.h> defined it, PT_REGS_*), plus the program
 * wrappers libbpf's offers: BPF_KPROBE, BPF_KRETPROBE, BPF_KSYSCALL, BPF_PROG and the
 * PT_REGS_*_CORE reads.  x86-64 only. */
#ifndef __TRACE_RUN_LIBBPF_BPF_TRACING_H
#define __TRACE_RUN_LIBBPF_BPF_TRACING_H

#if defined(__TARGET_ARCH_arm64) || defined(__TARGET_ARCH_s390) || \
	defined(__TARGET_ARCH_arm) || defined(__TARGET_ARCH_mips) || \
	defined(__TARGET_ARCH_powerpc) || defined(__TARGET_ARCH_sparc) || \
	defined(__TARGET_ARCH_riscv) || defined(__TARGET_ARCH_arc) || \
	defined(__TARGET_ARCH_loongarch)
#error "trace-run's bpf/bpf_tracing.h knows only x86-64 (--target-arch x86)"
#endif

#include "../../bpf_tracing.h"
#include "bpf_core_read.h"

/* The same reads through bpf_probe_read_kernel, for a pt_regs the verifier does not
 * know as the context (libbpf's PT_REGS_*_CORE). */
#define PT_REGS_PARM1_CORE(x) BPF_CORE_READ((x), __TR_PT_DI)
#define PT_REGS_PARM2_CORE(x) BPF_CORE_READ((x), __TR_PT_SI)
#define PT_REGS_PARM3_CORE(x) BPF_CORE_READ((x), __TR_PT_DX)
#define PT_REGS_PARM4_CORE(x) BPF_CORE_READ((x), __TR_PT_CX)
#define PT_REGS_PARM5_CORE(x) BPF_CORE_READ((x), r8)
#define PT_REGS_PARM6_CORE(x) BPF_CORE_READ((x), r9)
#define PT_REGS_RC_CORE(x) BPF_CORE_READ((x), __TR_PT_AX)
#define PT_REGS_SP_CORE(x) BPF_CORE_READ((x), __TR_PT_SP)
#define PT_REGS_IP_CORE(x) BPF_CORE_READ((x), __TR_PT_IP)
#define PT_REGS_FP_CORE(x) BPF_CORE_READ((x), __TR_PT_BP)
#define PT_REGS_PARM1_CORE_SYSCALL(x) PT_REGS_PARM1_CORE(x)
#define PT_REGS_PARM2_CORE_SYSCALL(x) PT_REGS_PARM2_CORE(x)
#define PT_REGS_PARM3_CORE_SYSCALL(x) PT_REGS_PARM3_CORE(x)
#define PT_REGS_PARM4_CORE_SYSCALL(x) BPF_CORE_READ((x), r10)
#define PT_REGS_PARM5_CORE_SYSCALL(x) PT_REGS_PARM5_CORE(x)
#define PT_REGS_PARM6_CORE_SYSCALL(x) PT_REGS_PARM6_CORE(x)

/* A kprobe on the x86-64 syscall wrapper (ksyscall/NAME, kprobe/__x64_sys_NAME) gets
 * the wrapper's registers, whose first argument points to the user register set; as in
 * libbpf, that pointer is read through bpf_probe_read_kernel (trace-run places the user
 * pt_regs in its emulated kernel memory).  trace-run's dispatcher (kprobe/syscall_entry)
 * and its tail-call targets get the user registers themselves: read them with
 * PT_REGS_PARMn_SYSCALL(ctx). */
#define PT_REGS_SYSCALL_REGS(ctx) ((struct pt_regs *)PT_REGS_PARM1(ctx))

/* Counting and pasting for the wrappers below (up to 6 arguments). */
#define __tr_nargs(...) __tr_nargs_(_, ##__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define __tr_nargs_(_, a, b, c, d, e, f, n, ...) n
#define __tr_paste(a, b) __tr_paste_(a, b)
#define __tr_paste_(a, b) a##b

#define __tr_kargs0() ctx
#define __tr_kargs1(a) __tr_kargs0(), (void *)PT_REGS_PARM1(ctx)
#define __tr_kargs2(a, b) __tr_kargs1(a), (void *)PT_REGS_PARM2(ctx)
#define __tr_kargs3(a, b, c) __tr_kargs2(a, b), (void *)PT_REGS_PARM3(ctx)
#define __tr_kargs4(a, b, c, d) __tr_kargs3(a, b, c), (void *)PT_REGS_PARM4(ctx)
#define __tr_kargs5(a, b, c, d, e) __tr_kargs4(a, b, c, d), (void *)PT_REGS_PARM5(ctx)
#define __tr_kargs6(a, b, c, d, e, f) __tr_kargs5(a, b, c, d, e), (void *)PT_REGS_PARM6(ctx)

/* BPF_KSYSCALL's arguments: x86-64 has had the syscall wrapper since Linux 4.17 (what
 * libbpf's LINUX_HAS_SYSCALL_WRAPPER extern says there), so they are read from the user
 * registers the wrapper's first argument points to, as libbpf's ___bpf_syswrap_args. */
#define __tr_sargs0() ctx
#define __tr_sargs1(a) __tr_sargs0(), (void *)PT_REGS_PARM1_CORE_SYSCALL(__tr_regs)
#define __tr_sargs2(a, b) __tr_sargs1(a), (void *)PT_REGS_PARM2_CORE_SYSCALL(__tr_regs)
#define __tr_sargs3(a, b, c) __tr_sargs2(a, b), (void *)PT_REGS_PARM3_CORE_SYSCALL(__tr_regs)
#define __tr_sargs4(a, b, c, d) \
	__tr_sargs3(a, b, c), (void *)PT_REGS_PARM4_CORE_SYSCALL(__tr_regs)
#define __tr_sargs5(a, b, c, d, e) \
	__tr_sargs4(a, b, c, d), (void *)PT_REGS_PARM5_CORE_SYSCALL(__tr_regs)

#define __tr_pargs0() ctx
#define __tr_pargs1(a) __tr_pargs0(), (void *)ctx[0]
#define __tr_pargs2(a, b) __tr_pargs1(a), (void *)ctx[1]
#define __tr_pargs3(a, b, c) __tr_pargs2(a, b), (void *)ctx[2]
#define __tr_pargs4(a, b, c, d) __tr_pargs3(a, b, c), (void *)ctx[3]
#define __tr_pargs5(a, b, c, d, e) __tr_pargs4(a, b, c, d), (void *)ctx[4]
#define __tr_pargs6(a, b, c, d, e, f) __tr_pargs5(a, b, c, d, e), (void *)ctx[5]

/* One wrapper shape: NAME(ctx) is the program; ____NAME(ctx, args...) the body, called
 * with each argument taken from the context by KIND (k: function, s: syscall,
 * p: u64 array). */
#define __TR_WRAP(kind, ctx_t, name, ...)					\
name(ctx_t ctx);							\
static __always_inline typeof(name(0)) ____##name(ctx_t ctx, ##__VA_ARGS__);	\
typeof(name(0)) name(ctx_t ctx)						\
{									\
	_Pragma("GCC diagnostic push")					\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		\
	return ____##name(__tr_paste(__tr_##kind##args, __tr_nargs(__VA_ARGS__))(__VA_ARGS__)); \
	_Pragma("GCC diagnostic pop")					\
}									\
static __always_inline typeof(name(0)) ____##name(ctx_t ctx, ##__VA_ARGS__)

#define BPF_KPROBE(name, ...) __TR_WRAP(k, struct pt_regs *, name, ##__VA_ARGS__)
#define BPF_UPROBE(name, ...) BPF_KPROBE(name, ##__VA_ARGS__)
#define BPF_KSYSCALL(name, ...)						\
name(struct pt_regs *ctx);							\
static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##__VA_ARGS__);	\
typeof(name(0)) name(struct pt_regs *ctx)				\
{									\
	struct pt_regs *__tr_regs = PT_REGS_SYSCALL_REGS(ctx);		\
	_Pragma("GCC diagnostic push")					\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		\
	return ____##name(__tr_paste(__tr_sargs, __tr_nargs(__VA_ARGS__))(__VA_ARGS__)); \
	_Pragma("GCC diagnostic pop")					\
}									\
static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##__VA_ARGS__)
#define BPF_PROG(name, ...) __TR_WRAP(p, unsigned long long *, name, ##__VA_ARGS__)

/* BPF_KRETPROBE(name, ret): the one argument is the return value. */
#define __tr_rargs0() ctx
#define __tr_rargs1(a) ctx, (void *)PT_REGS_RC(ctx)
#define BPF_KRETPROBE(name, ...) __TR_WRAP(r, struct pt_regs *, name, ##__VA_ARGS__)
#define BPF_URETPROBE(name, ...) BPF_KRETPROBE(name, ##__VA_ARGS__)

#endif
