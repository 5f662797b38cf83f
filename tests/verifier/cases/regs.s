; Registers: reads of registers never written, the read-only frame pointer, R0 at exit.
; Each case: ';; ===== NAME', then its header (cls, type, expect: the kernel's line,
; or 'accept'), then bpf_vm assembly; '.insn OP DST SRC OFF IMM' is one raw slot.

;; ===== uninit_r3
;; cls: uninit_reg
;; expect: R3 !read_ok
r0 = r3
exit

;; ===== uninit_r2_alu
;; cls: uninit_reg
;; expect: R2 !read_ok
r0 = 0
r0 += r2
exit

;; ===== uninit_r9_store_src
;; cls: uninit_reg
;; expect: R9 !read_ok
*(u64 *)(r10 -8) = r9
r0 = 0
exit

;; ===== uninit_r5_jump
;; cls: uninit_reg
;; expect: R5 !read_ok
r0 = 0
if r5 > 3 goto +1
r0 = 1
exit

;; ===== uninit_r2_as_base
;; cls: uninit_reg
;; expect: R2 !read_ok
r0 = *(u64 *)(r2 +0)
exit

;; ===== uninit_r0_exit
;; cls: r0_exit
;; expect: R0 !read_ok
exit

;; ===== uninit_r0_exit_after_branch
;; cls: r0_exit
;; expect: R0 !read_ok
if r1 == 0 goto +1
r0 = 0
exit

;; ===== r0_clobbered_by_call
;; cls: uninit_reg
;; expect: R1 !read_ok
call bpf_ktime_get_ns
r0 = *(u64 *)(r1 +0)
exit

;; ===== caller_saved_after_call
;; cls: uninit_reg
;; expect: R3 !read_ok
r3 = 1
call bpf_ktime_get_ns
r0 = r3
exit

;; ===== callee_saved_kept
;; cls: uninit_reg
;; expect: accept
r6 = 1
call bpf_ktime_get_ns
r0 = r6
exit

;; ===== r10_write_mov
;; cls: r10_write
;; expect: frame pointer is read only
r10 = 0
r0 = 0
exit

;; ===== r10_write_add
;; cls: r10_write
;; expect: frame pointer is read only
r10 += 8
r0 = 0
exit

;; ===== r10_write_ldx
;; cls: r10_write
;; expect: frame pointer is read only
r10 = *(u64 *)(r1 +0)
r0 = 0
exit

;; ===== r10_write_neg32
;; cls: r10_write
;; expect: frame pointer is read only
w10 = -w10
r0 = 0
exit

;; ===== r10_read_ok
;; cls: r10_write
;; expect: accept
r2 = r10
r2 += -8
r0 = 0
exit

;; ===== exit_with_ctx_kprobe
;; cls: exit_pointer
;; expect: accept
r0 = r1
exit

;; ===== exit_with_fp_socket
;; cls: exit_pointer
;; type: socket_filter
;; expect: accept
r0 = r10
exit

;; ===== exit_with_ctx_syscall
;; cls: exit_pointer
;; type: syscall
;; expect: accept
r0 = r1
exit

;; ===== exit_with_fp_raw_tp
;; cls: exit_pointer
;; type: raw_tracepoint
;; expect: accept
r0 = r10
exit

;; ===== exit_with_map_ptr
;; cls: exit_pointer
;; type: tracepoint
;; expect: accept
.map m array key=4 value=8 max_entries=1
r0 = map[m] ll
exit
