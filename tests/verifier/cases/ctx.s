; The context of each program type: what may be read and written, at which offsets and
; sizes, and what may not be done to the ctx pointer itself.

;; ===== kprobe_ctx_read_ok
;; cls: ctx_access
;; expect: accept
r0 = *(u64 *)(r1 +160)
exit

;; ===== kprobe_ctx_read_past_pt_regs
;; cls: ctx_access
;; expect: invalid bpf_context access off=168 size=8
r0 = *(u64 *)(r1 +168)
exit

;; ===== kprobe_ctx_read_negative
;; cls: ctx_access
;; expect: invalid bpf_context access off=-8 size=8
r0 = *(u64 *)(r1 -8)
exit

;; ===== kprobe_ctx_misaligned
;; cls: ctx_access
;; expect: invalid bpf_context access off=4 size=8
r0 = *(u64 *)(r1 +4)
exit

;; ===== kprobe_ctx_narrow_read
;; cls: ctx_access
;; expect: accept
r0 = *(u32 *)(r1 +4)
exit

;; ===== kprobe_ctx_write
;; cls: ctx_write
;; expect: invalid bpf_context access off=0 size=8
r2 = 1
*(u64 *)(r1 +0) = r2
r0 = 0
exit

;; ===== kprobe_ctx_st_write
;; cls: ctx_write
;; expect: invalid bpf_context access off=0 size=8
*(u64 *)(r1 +0) = 1
r0 = 0
exit

;; ===== tracepoint_ctx_read_ok
;; cls: ctx_access
;; type: tracepoint
;; expect: accept
r0 = *(u64 *)(r1 +2040)
exit

;; ===== tracepoint_ctx_read_past
;; cls: ctx_access
;; type: tracepoint
;; expect: accept
r0 = *(u64 *)(r1 +2048)
exit

;; ===== tracepoint_ctx_read_past_max
;; cls: ctx_access
;; type: tracepoint
;; expect: invalid bpf_context access off=8192 size=8
r0 = *(u64 *)(r1 +8192)
exit

;; ===== tracepoint_ctx_write
;; cls: ctx_write
;; type: tracepoint
;; expect: invalid bpf_context access off=8 size=8
r2 = 0
*(u64 *)(r1 +8) = r2
r0 = 0
exit

;; ===== raw_tp_ctx_read_ok
;; cls: ctx_access
;; type: raw_tracepoint
;; expect: accept
r0 = *(u64 *)(r1 +88)
exit

;; ===== raw_tp_ctx_read_past
;; cls: ctx_access
;; type: raw_tracepoint
;; expect: invalid bpf_context access off=96 size=8
r0 = *(u64 *)(r1 +96)
exit

;; ===== raw_tp_ctx_narrow
;; cls: ctx_access
;; type: raw_tracepoint
;; expect: accept
r0 = *(u32 *)(r1 +0)
exit

;; ===== syscall_ctx_rw
;; cls: ctx_access
;; type: syscall
;; expect: accept
r2 = *(u64 *)(r1 +8)
r2 += 1
*(u64 *)(r1 +16) = r2
r0 = 0
exit

;; ===== syscall_ctx_negative
;; cls: ctx_access
;; type: syscall
;; expect: invalid bpf_context access off=-8 size=8
r0 = *(u64 *)(r1 -8)
exit

;; ===== syscall_ctx_far
;; cls: ctx_access
;; type: syscall
;; expect: accept
r0 = *(u64 *)(r1 +32760)
exit

;; ===== socket_len_read
;; cls: ctx_access
;; type: socket_filter
;; expect: accept
r0 = *(u32 *)(r1 +0)
exit

;; ===== socket_data_read
;; cls: ctx_access
;; type: socket_filter
;; expect: invalid bpf_context access off=76 size=4
r0 = *(u32 *)(r1 +76)
exit

;; ===== socket_cb_write
;; cls: ctx_write
;; type: socket_filter
;; expect: accept
r2 = 7
*(u32 *)(r1 +48) = r2
r0 = 0
exit

;; ===== socket_mark_write
;; cls: ctx_write
;; type: socket_filter
;; expect: invalid bpf_context access off=8 size=4
r2 = 7
*(u32 *)(r1 +8) = r2
r0 = 0
exit

;; ===== socket_len_wide_read
;; cls: ctx_access
;; type: socket_filter
;; expect: invalid bpf_context access off=0 size=8
r0 = *(u64 *)(r1 +0)
exit

;; ===== moved_ctx_add_imm
;; cls: ctx_modified
;; expect: dereference of modified ctx ptr R1 off=8 disallowed
r1 += 8
r0 = *(u64 *)(r1 +0)
exit

;; ===== moved_ctx_add_reg
;; cls: ctx_modified
;; expect: variable ctx access var_off=(0x0; 0x8) disallowed
r2 = *(u64 *)(r1 +0)
r2 &= 8
r1 += r2
r0 = *(u64 *)(r1 +0)
exit

;; ===== moved_ctx_syscall
;; cls: ctx_modified
;; type: syscall
;; expect: dereference of modified ctx ptr R1 off=8 disallowed
r1 += 8
r0 = *(u64 *)(r1 +0)
exit

;; ===== moved_ctx_back_ok
;; cls: ctx_modified
;; expect: accept
r1 += 8
r1 += -8
r0 = *(u64 *)(r1 +0)
exit

;; ===== atomic_add_ctx
;; cls: ctx_atomic
;; type: syscall
;; expect: BPF_ATOMIC stores into R1 ctx is not allowed
r2 = 1
lock *(u64 *)(r1 +0) += r2
r0 = 0
exit

;; ===== atomic_xchg_ctx_kprobe
;; cls: ctx_atomic
;; expect: BPF_ATOMIC stores into R1 ctx is not allowed
r2 = 1
r2 = xchg_64(r1 + 0, r2)
r0 = 0
exit

;; ===== ctx_pointer_and
;; cls: ctx_modified
;; expect: R1 bitwise operator &= on pointer prohibited
r1 &= -8
r0 = 0
exit

;; ===== ctx_pointer_32bit_add
;; cls: ctx_modified
;; expect: R1 32-bit pointer arithmetic prohibited
w1 += 8
r0 = 0
exit

;; ===== ctx_passed_to_helper_ok
;; cls: ctx_access
;; expect: accept
r2 = r10
r2 += -64
r3 = 64
r4 = 0
call bpf_get_stack
r0 = 0
exit

;; ===== ld_abs_socket_ok
;; cls: ld_abs
;; type: socket_filter
;; expect: accept
r6 = r1
.insn 0x30 0 0 0 12  ; r0 = *(u8 *)skb[12] (BPF_LD | BPF_ABS | BPF_B)
exit

;; ===== ld_abs_kprobe
;; cls: ld_abs
;; expect: BPF_LD_[ABS|IND] instructions not allowed for this program type
r6 = r1
.insn 0x30 0 0 0 12  ; r0 = *(u8 *)skb[12] (BPF_LD | BPF_ABS | BPF_B)
exit

;; ===== ld_abs_r6_not_ctx
;; cls: ld_abs
;; type: socket_filter
;; expect: at the time of BPF_LD_ABS|IND R6 != pointer to skb
r6 = 0
.insn 0x30 0 0 0 12  ; r0 = *(u8 *)skb[12] (BPF_LD | BPF_ABS | BPF_B)
exit
