; Helper calls: unknown ids, GPL-only helpers, what each program type may call, argument
; types, and references (ring buffer reservations) that must be released.

;; ===== helper_id_unknown
;; cls: helper_invalid
;; expect: invalid func unknown#999
call 999
exit

;; ===== helper_id_zero
;; cls: helper_invalid
;; expect: program of this type cannot use helper bpf_unspec#0
call 0
exit

;; ===== helper_id_negative
;; cls: helper_invalid
;; expect: invalid func unknown#-1
.insn 0x85 0 0 0 -1   ; call -1
exit

;; ===== helper_gpl_from_proprietary
;; cls: helper_gpl
;; license: Proprietary
;; expect: cannot call GPL-restricted function from non-GPL compatible program
r1 = r10
r1 += -8
r2 = 8
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== helper_gpl_from_dual
;; cls: helper_gpl
;; license: Dual BSD/GPL
;; expect: accept
r1 = r10
r1 += -8
r2 = 8
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== helper_non_gpl_ok
;; cls: helper_gpl
;; license: Proprietary
;; expect: accept
call bpf_ktime_get_ns
exit

;; ===== helper_printk_proprietary
;; cls: helper_gpl
;; license: MIT
;; expect: cannot call GPL-restricted function from non-GPL compatible program
*(u64 *)(r10 -8) = 0
r1 = r10
r1 += -8
r2 = 8
call bpf_trace_printk
r0 = 0
exit

;; ===== socket_probe_read
;; cls: helper_prog_type
;; type: socket_filter
;; expect: accept
r1 = r10
r1 += -8
r2 = 8
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== socket_get_current_pid
;; cls: helper_prog_type
;; type: socket_filter
;; expect: accept
call bpf_get_current_pid_tgid
exit

;; ===== kprobe_skb_load_bytes
;; cls: helper_prog_type
;; expect: program of this type cannot use helper bpf_skb_load_bytes#26
r2 = 0
r3 = r10
r3 += -8
r4 = 8
call bpf_skb_load_bytes
r0 = 0
exit

;; ===== socket_skb_load_bytes_ok
;; cls: helper_prog_type
;; type: socket_filter
;; expect: accept
r2 = 0
r3 = r10
r3 += -8
r4 = 8
call bpf_skb_load_bytes
r0 = 0
exit

;; ===== syscall_copy_from_user
;; cls: helper_prog_type
;; type: syscall
;; expect: accept
r1 = r10
r1 += -8
r2 = 8
r3 = 0
call bpf_copy_from_user
r0 = 0
exit

;; ===== kprobe_copy_from_user
;; cls: helper_prog_type
;; expect: helper call might sleep in a non-sleepable prog
r1 = r10
r1 += -8
r2 = 8
r3 = 0
call bpf_copy_from_user
r0 = 0
exit

;; ===== raw_tp_override_return
;; cls: helper_prog_type
;; type: raw_tracepoint
;; expect: program of this type cannot use helper bpf_override_return#58
r2 = 0
call bpf_override_return
r0 = 0
exit

;; ===== tracepoint_get_stackid
;; cls: helper_prog_type
;; type: tracepoint
;; expect: accept
.map st stack_trace key=4 value=64 max_entries=16
r2 = map[st] ll
r3 = 0
call bpf_get_stackid
r0 = 0
exit

;; ===== arg_ctx_expected
;; cls: helper_arg_type
;; expect: R1 type=fp expected=ctx
r1 = r10
r2 = 0
call bpf_get_stackid
r0 = 0
exit

;; ===== arg_fp_expected_scalar
;; cls: helper_arg_type
;; expect: R1 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_
r1 = 0
r2 = 8
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== arg_size_not_const_ok
;; cls: helper_arg_type
;; expect: accept
r6 = r1
r1 = r10
r1 += -64
r2 = *(u32 *)(r6 +0)
r2 &= 63
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== arg_scalar_expected_ptr_given
;; cls: helper_arg_type
;; expect: R2 type=fp expected=scalar
r1 = r10
r1 += -8
r2 = r10
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== ringbuf_reserve_no_submit
;; cls: reference_leak
;; expect: BPF_EXIT instruction in main prog would lead to reference leak
.map rb ringbuf key=0 value=0 max_entries=4096
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
r0 = 0
exit

;; ===== ringbuf_reserve_submit
;; cls: reference_leak
;; expect: accept
.map rb ringbuf key=0 value=0 max_entries=4096
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto +4
*(u64 *)(r0 +0) = 1
r1 = r0
r2 = 0
call bpf_ringbuf_submit
r0 = 0
exit

;; ===== ringbuf_submit_maybe_null
;; cls: reference_leak
;; expect: R1 type=ringbuf_mem_or_null expected=ringbuf_mem
.map rb ringbuf key=0 value=0 max_entries=4096
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
r1 = r0
r2 = 0
call bpf_ringbuf_submit
r0 = 0
exit

;; ===== ringbuf_leak_one_branch
;; cls: reference_leak
;; expect: BPF_EXIT instruction in main prog would lead to reference leak
.map rb ringbuf key=0 value=0 max_entries=4096
r6 = *(u64 *)(r1 +0)
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto +5
if r6 == 0 goto +3
r1 = r0
r2 = 0
call bpf_ringbuf_discard
r0 = 0
exit

;; ===== ringbuf_double_submit
;; cls: reference_leak
;; expect: R1 type=scalar expected=ringbuf_mem
.map rb ringbuf key=0 value=0 max_entries=4096
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto +7
r6 = r0
r1 = r6
r2 = 0
call bpf_ringbuf_submit
r1 = r6
r2 = 0
call bpf_ringbuf_submit
r0 = 0
exit

;; ===== ringbuf_submit_stack
;; cls: reference_leak
;; expect: R1 type=fp expected=ringbuf_mem
r1 = r10
r1 += -8
r2 = 0
call bpf_ringbuf_submit
r0 = 0
exit

;; ===== ringbuf_reserve_size_var
;; cls: reference_leak
;; expect: R2 is not a known constant'
.map rb ringbuf key=0 value=0 max_entries=4096
r2 = *(u64 *)(r1 +0)
r1 = map[rb] ll
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto +3
r1 = r0
r2 = 0
call bpf_ringbuf_discard
r0 = 0
exit

;; ===== ringbuf_mem_oob
;; cls: reference_leak
;; expect: R0 min value is outside of the allowed memory range
.map rb ringbuf key=0 value=0 max_entries=4096
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto +4
*(u64 *)(r0 +8) = 1
r1 = r0
r2 = 0
call bpf_ringbuf_submit
r0 = 0
exit

;; ===== tail_call_leaks_reference
;; cls: reference_leak
;; expect: tail_call would lead to reference leak
.map rb ringbuf key=0 value=0 max_entries=4096
.map progs prog_array key=4 value=4 max_entries=4
r6 = r1
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto +8
r7 = r0
r1 = r6
r2 = map[progs] ll
r3 = 0
call bpf_tail_call
r1 = r7
r2 = 0
call bpf_ringbuf_discard
r0 = 0
exit

;; ===== get_current_task_deref
;; cls: helper_ret
;; expect: R0 invalid mem access 'scalar'
call bpf_get_current_task
r0 = *(u64 *)(r0 +0)
exit

;; ===== probe_write_user_printed
;; cls: helper_prog_type
;; expect: program of this type cannot use helper bpf_probe_write_user#36
*(u64 *)(r10 -8) = 0
r1 = 0
r2 = r10
r2 += -8
r3 = 8
call bpf_probe_write_user
r0 = 0
exit
