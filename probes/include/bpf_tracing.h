/* x86_64 struct pt_regs and the PT_REGS_* accessors of libbpf's bpf_tracing.h,
 * written for trace-run.
 *
 * The layout is the kernel's (arch/x86/include/asm/ptrace.h): 21 u64 = 168 bytes, the
 * same order as the first 21 fields of PTRACE_GETREGS's user_regs_struct, which is how
 * the tracer builds the context of every syscall stop.
 *
 * Context of trace-run's dispatcher (SEC("kprobe/syscall_entry")) and of the programs
 * it tail-calls: the *user* register set of the traced thread (what the kernel saves on
 * entry, what ptrace shows), so the syscall's arguments are read directly:
 * PT_REGS_PARM1_SYSCALL(ctx) is ctx->di.  A program attached as the kernel attaches it,
 * a kprobe on __x64_sys_foo (ksyscall/foo), sees the wrapper's registers instead, whose
 * di points to these: libbpf's PT_REGS_SYSCALL_REGS and BPF_KSYSCALL
 * (<bpf/bpf_tracing.h>) follow that pointer.
 */
#ifndef __TRACE_RUN_BPF_TRACING_H
#define __TRACE_RUN_BPF_TRACING_H

#include "bpf_types.h"

/* struct pt_regs comes from vmlinux.h (the kernel's names, as below) or from the
 * user-space <asm/ptrace.h> (rdi, rsi...) when either was included first; else it is
 * defined here.  __TR_PT_* name the members either way. */
#if defined(_ASM_X86_PTRACE_H) && !defined(__VMLINUX_H__) && !defined(__KERNEL__)
#define __TR_PT_BP rbp
#define __TR_PT_BX rbx
#define __TR_PT_AX rax
#define __TR_PT_CX rcx
#define __TR_PT_DX rdx
#define __TR_PT_SI rsi
#define __TR_PT_DI rdi
#define __TR_PT_ORIG_AX orig_rax
#define __TR_PT_IP rip
#define __TR_PT_SP rsp
#else
#define __TR_PT_BP bp
#define __TR_PT_BX bx
#define __TR_PT_AX ax
#define __TR_PT_CX cx
#define __TR_PT_DX dx
#define __TR_PT_SI si
#define __TR_PT_DI di
#define __TR_PT_ORIG_AX orig_ax
#define __TR_PT_IP ip
#define __TR_PT_SP sp
#endif

#if !defined(__VMLINUX_H__) && !defined(_ASM_X86_PTRACE_H)
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;	/* the syscall number at a syscall stop */
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
};

#endif

_Static_assert(sizeof(struct pt_regs) == 168, "x86_64 pt_regs is 21 x u64");

/* Function arguments (System V AMD64 ABI). */
#define PT_REGS_PARM1(x) ((x)->__TR_PT_DI)
#define PT_REGS_PARM2(x) ((x)->__TR_PT_SI)
#define PT_REGS_PARM3(x) ((x)->__TR_PT_DX)
#define PT_REGS_PARM4(x) ((x)->__TR_PT_CX)
#define PT_REGS_PARM5(x) ((x)->r8)
#define PT_REGS_PARM6(x) ((x)->r9)

/* Syscall arguments: the 4th is in r10, because `syscall` clobbers rcx. */
#define PT_REGS_PARM1_SYSCALL(x) ((x)->__TR_PT_DI)
#define PT_REGS_PARM2_SYSCALL(x) ((x)->__TR_PT_SI)
#define PT_REGS_PARM3_SYSCALL(x) ((x)->__TR_PT_DX)
#define PT_REGS_PARM4_SYSCALL(x) ((x)->r10)
#define PT_REGS_PARM5_SYSCALL(x) ((x)->r8)
#define PT_REGS_PARM6_SYSCALL(x) ((x)->r9)

#define PT_REGS_RET(x) ((x)->__TR_PT_SP)
#define PT_REGS_FP(x) ((x)->__TR_PT_BP)
#define PT_REGS_RC(x) ((x)->__TR_PT_AX)
#define PT_REGS_SP(x) ((x)->__TR_PT_SP)
#define PT_REGS_IP(x) ((x)->__TR_PT_IP)
#define PT_REGS_SYSCALL_NR(x) ((x)->__TR_PT_ORIG_AX)

/* i386 syscalls (int 0x80, sysenter; also from a 64-bit process): the arguments are in
 * ebx, ecx, edx, esi, edi, ebp and only their low 32 bits count (the kernel's
 * syscall_get_arguments for a compat task; the upper halves of a 64-bit caller's
 * registers are ignored).  orig_ax holds the i386 number (asm/unistd_32.h, the
 * __NR_ia32_* of syscall_nrs_compat.h). */
#define PT_REGS_PARM1_SYSCALL_IA32(x) ((__u32)(x)->__TR_PT_BX)
#define PT_REGS_PARM2_SYSCALL_IA32(x) ((__u32)(x)->__TR_PT_CX)
#define PT_REGS_PARM3_SYSCALL_IA32(x) ((__u32)(x)->__TR_PT_DX)
#define PT_REGS_PARM4_SYSCALL_IA32(x) ((__u32)(x)->__TR_PT_SI)
#define PT_REGS_PARM5_SYSCALL_IA32(x) ((__u32)(x)->__TR_PT_DI)
#define PT_REGS_PARM6_SYSCALL_IA32(x) ((__u32)(x)->__TR_PT_BP)

/* x32 syscalls (syscall with __X32_SYSCALL_BIT in the number): the x86_64 registers,
 * so the PT_REGS_PARMn_SYSCALL accessors above apply; clear the bit from orig_ax before
 * indexing a table (__NR_x32_* of syscall_nrs_compat.h has it cleared). */

#endif
