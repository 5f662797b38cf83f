; More of the kernel's rejections for these program types: perf event output, for-each
; callbacks, releasing references, variable offsets into helpers, packet helpers.

;; ===== perf_output_wrong_map
;; cls: map_helper_type
;; expect: cannot pass map_type 2 into func bpf_perf_event_output#25
.map m array key=4 value=8 max_entries=1
*(u64 *)(r10 -8) = 0
r2 = map[m] ll
r3 = 0
r4 = r10
r4 += -8
r5 = 8
call bpf_perf_event_output
r0 = 0
exit

;; ===== perf_output_ok
;; cls: map_helper_type
;; expect: accept
.map ev perf_event_array key=4 value=4 max_entries=4
*(u64 *)(r10 -8) = 0
r2 = map[ev] ll
r3 = 0
r4 = r10
r4 += -8
r5 = 8
call bpf_perf_event_output
r0 = 0
exit

;; ===== perf_output_size_too_big
;; cls: stack_indirect
;; expect: invalid read from stack R4 off=-8 size=16
.map ev perf_event_array key=4 value=4 max_entries=4
*(u64 *)(r10 -8) = 0
r2 = map[ev] ll
r3 = 0
r4 = r10
r4 += -8
r5 = 16
call bpf_perf_event_output
r0 = 0
exit

;; ===== for_each_map_elem_ok
;; cls: callback
;; btf: func_info
;; expect: accept
.map m hash key=4 value=8 max_entries=4
r1 = map[m] ll
r2 = func[cb] ll
r3 = 0
r4 = 0
call bpf_for_each_map_elem
r0 = 0
exit
cb:
r0 = 0
exit

;; ===== for_each_map_elem_value_write_oob
;; cls: callback
;; btf: func_info
;; expect: R3 min value is outside of the allowed memory range
.map m array key=4 value=8 max_entries=4
r1 = map[m] ll
r2 = func[cb] ll
r3 = 0
r4 = 0
call bpf_for_each_map_elem
r0 = 0
exit
cb:
*(u64 *)(r3 +8) = 1
r0 = 0
exit

;; ===== ringbuf_submit_moved_pointer
;; cls: reference_leak
;; expect: R1 must have zero offset when passed to release func or trusted arg to kfunc
.map rb ringbuf key=0 value=0 max_entries=4096
r1 = map[rb] ll
r2 = 16
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto +4
r0 += 8
r1 = r0
r2 = 0
call bpf_ringbuf_submit
r0 = 0
exit

;; ===== ringbuf_use_after_submit
;; cls: reference_leak
;; expect: R6 invalid mem access 'scalar'
.map rb ringbuf key=0 value=0 max_entries=4096
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
if r0 == 0 goto +6
r6 = r0
r1 = r6
r2 = 0
call bpf_ringbuf_submit
*(u64 *)(r6 +0) = 1
r0 = 0
exit

;; ===== ringbuf_leak_in_subprog
;; cls: reference_leak
;; btf: func_info
;; expect: BPF_EXIT instruction in main prog would lead to reference leak
.map rb ringbuf key=0 value=0 max_entries=4096
call f
r0 = 0
exit
f:
r1 = map[rb] ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve
r0 = 0
exit

;; ===== helper_var_stack_offset
;; cls: stack_var_offset
;; expect: accept
r6 = r1
r2 = *(u32 *)(r6 +0)
r2 &= 8
r1 = r10
r1 += -16
r1 += r2
r2 = 8
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== helper_var_size_stack_ok
;; cls: stack_indirect
;; expect: accept
r6 = r1
r2 = *(u32 *)(r6 +0)
if r2 > 32 goto +6
r1 = r10
r1 += -32
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit
r0 = 0
exit

;; ===== stack_var_read_privileged
;; cls: stack_var_offset
;; expect: accept
*(u64 *)(r10 -8) = 0
*(u64 *)(r10 -16) = 0
r2 = *(u32 *)(r1 +0)
r2 &= 8
r3 = r10
r3 += -16
r3 += r2
r0 = *(u64 *)(r3 +0)
exit

;; ===== map_value_unbounded_min
;; cls: map_value_bounds
;; expect: math between map_value pointer and register with unbounded min value is not allowed
.map m array key=4 value=64 max_entries=1
*(u32 *)(r10 -4) = 0
r6 = *(u64 *)(r1 +0)
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +2
r0 += r6
r0 = *(u8 *)(r0 +0)
r0 = 0
exit

;; ===== map_value_signed_bound
;; cls: map_value_bounds
;; expect: math between map_value pointer and register with unbounded min value is not allowed
.map m array key=4 value=64 max_entries=1
*(u32 *)(r10 -4) = 0
r6 = *(u64 *)(r1 +0)
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +4
if r6 s> 60 goto +3
r0 += r6
r0 = *(u8 *)(r0 +0)
exit
r0 = 0
exit

;; ===== skb_store_bytes_socket
;; cls: helper_prog_type
;; type: socket_filter
;; expect: program of this type cannot use helper bpf_skb_store_bytes#9
*(u64 *)(r10 -8) = 0
r2 = 0
r3 = r10
r3 += -8
r4 = 8
r5 = 0
call bpf_skb_store_bytes
r0 = 0
exit

;; ===== get_current_comm_too_big
;; cls: stack_indirect
;; expect: invalid write to stack R1 off=-16 size=32
r1 = r10
r1 += -16
r2 = 32
call bpf_get_current_comm
r0 = 0
exit

;; ===== snprintf_nonconst_fmt
;; cls: helper_arg_type
;; expect: R3 type=fp expected=map_value
*(u64 *)(r10 -8) = 0
*(u64 *)(r10 -16) = 0
r1 = r10
r1 += -16
r2 = 8
r3 = r10
r3 += -8
r4 = 0
r5 = 0
call bpf_snprintf
r0 = 0
exit

;; ===== snprintf_const_fmt
;; cls: helper_arg_type
;; init: fmt 2564000000000000
;; freeze: fmt
;; expect: accept
.map fmt array key=4 value=8 max_entries=1 flags=0x80
*(u64 *)(r10 -8) = 7
*(u64 *)(r10 -32) = 0
*(u64 *)(r10 -24) = 0
r1 = r10
r1 += -32
r2 = 16
r3 = map[fmt][0]+0 ll
r4 = r10
r4 += -8
r5 = 8
call bpf_snprintf
r0 = 0
exit

;; ===== tail_call_index_pointer
;; cls: helper_arg_type
;; expect: accept
.map progs prog_array key=4 value=4 max_entries=4
r2 = map[progs] ll
r3 = r10
call bpf_tail_call
r0 = 0
exit

;; ===== ld_abs_reserved
;; cls: ld_abs
;; type: socket_filter
;; expect: BPF_LD_[ABS|IND] uses reserved fields
r6 = r1
.insn 0x30 1 0 0 12  ; ld_abs with dst r1
exit

;; ===== ld_ind_ok
;; cls: ld_abs
;; type: socket_filter
;; expect: accept
r6 = r1
r2 = 2
.insn 0x50 0 2 0 12  ; r0 = *(u8 *)skb[r2 + 12]
exit

;; ===== ld_abs_in_subprog
;; cls: ld_abs
;; type: socket_filter
;; expect: LD_ABS is not allowed in subprogs without BTF
r6 = r1
call f
exit
f:
.insn 0x30 0 0 0 12
exit

;; ===== exit_in_callback_with_ptr
;; cls: callback
;; btf: func_info
;; expect: cannot return stack pointer to the caller
r1 = 3
r2 = func[cb] ll
r3 = 0
r4 = 0
call bpf_loop
exit
cb:
r0 = r10
exit

;; ===== bpf_loop_nested_callbacks
;; cls: callback
;; btf: func_info
;; expect: accept
r1 = 3
r2 = func[outer] ll
r3 = 0
r4 = 0
call bpf_loop
exit
outer:
r1 = 3
r2 = func[inner] ll
r3 = 0
r4 = 0
call bpf_loop
r0 = 0
exit
inner:
r0 = 1
exit
