; BPF-to-BPF calls: frames, the combined stack, tail calls from subprograms, callbacks
; (bpf_loop), and what a callee may return.  Callbacks and tail calls in subprograms
; need BTF: a case with 'btf: func_info' is loaded with a func_info naming each
; subprogram a static 'int f(void)' (tests/verifier/kernel_load.py, func_btf).

;; ===== subprog_call_ok
;; cls: bpf2bpf
;; expect: accept
r1 = 1
call add_one
exit
add_one:
r0 = r1
r0 += 1
exit

;; ===== subprog_uninit_arg
;; cls: bpf2bpf
;; expect: R2 !read_ok
r1 = 1
call f
exit
f:
r0 = r2
exit

;; ===== subprog_no_r0
;; cls: bpf2bpf
;; expect: R0 !read_ok
call f
exit
f:
exit

;; ===== subprog_stack_pointer_arg
;; cls: bpf2bpf
;; expect: accept
*(u64 *)(r10 -8) = 5
r1 = r10
r1 += -8
call f
exit
f:
r0 = *(u64 *)(r1 +0)
exit

;; ===== subprog_returns_stack_pointer
;; cls: bpf2bpf
;; expect: cannot return stack pointer to the caller
call f
r0 = *(u64 *)(r0 +0)
exit
f:
*(u64 *)(r10 -8) = 1
r0 = r10
r0 += -8
exit

;; ===== combined_stack_too_large
;; cls: stack_depth
;; expect: combined stack size of 2 calls is 544. Too large
*(u64 *)(r10 -256) = 0
call f
r0 = 0
exit
f:
*(u64 *)(r10 -288) = 0
r0 = 0
exit

;; ===== combined_stack_at_limit
;; cls: stack_depth
;; expect: accept
*(u64 *)(r10 -256) = 0
call f
r0 = 0
exit
f:
*(u64 *)(r10 -256) = 0
r0 = 0
exit

;; ===== combined_stack_three_frames
;; cls: stack_depth
;; expect: combined stack size of 3 calls is 576. Too large
*(u64 *)(r10 -192) = 0
call f
r0 = 0
exit
f:
*(u64 *)(r10 -192) = 0
call g
r0 = 0
exit
g:
*(u64 *)(r10 -192) = 0
r0 = 0
exit

;; ===== call_frames_too_deep
;; cls: call_depth
;; expect: the call stack of 9 frames is too deep
call f1
exit
f1:
call f2
exit
f2:
call f3
exit
f3:
call f4
exit
f4:
call f5
exit
f5:
call f6
exit
f6:
call f7
exit
f7:
call f8
exit
f8:
r0 = 0
exit

;; ===== call_frames_eight_ok
;; cls: call_depth
;; expect: accept
call f1
exit
f1:
call f2
exit
f2:
call f3
exit
f3:
call f4
exit
f4:
call f5
exit
f5:
call f6
exit
f6:
call f7
exit
f7:
r0 = 0
exit

;; ===== recursion
;; cls: call_depth
;; expect: the call stack of 9 frames is too deep
call f
exit
f:
call f
r0 = 0
exit

;; ===== call_out_of_range
;; cls: jump_out_of_range
;; expect: last insn is not an exit or jmp
.insn 0x85 0 1 5 0   ; call pc+5 (no such instruction)
exit

;; ===== call_into_ld_imm64
;; cls: jump_out_of_range
;; expect: last insn is not an exit or jmp
.insn 0x85 0 1 1 0   ; call pc+1 (the second slot of the ld_imm64)
exit
r0 = 0x100000000 ll
exit

;; ===== subprog_falls_through
;; cls: last_insn
;; expect: jump out of range from insn 3 to 4
call f
exit
f:
r0 = 0
goto +0

;; ===== jump_across_subprogs
;; cls: jump_out_of_range
;; expect: jump out of range from insn 1 to 4
call f
if r0 == 0 goto +2
exit
f:
r0 = 0
exit

;; ===== tail_call_main_ok
;; cls: tail_call
;; expect: accept
.map progs prog_array key=4 value=4 max_entries=4
r2 = map[progs] ll
r3 = 0
call bpf_tail_call
r0 = 0
exit

;; ===== tail_call_from_subprog
;; cls: tail_call
;; note: x86-64 allows tail calls with bpf-to-bpf calls while the stack stays small
;; expect: tail_call is not allowed in subprogs without BTF
.map progs prog_array key=4 value=4 max_entries=4
call f
r0 = 0
exit
f:
r2 = map[progs] ll
r3 = 0
call bpf_tail_call
r0 = 0
exit

;; ===== tail_call_from_subprog_btf
;; cls: tail_call
;; btf: func_info
;; note: x86-64 allows tail calls with bpf-to-bpf calls while the stack stays small
;; expect: accept
.map progs prog_array key=4 value=4 max_entries=4
call f
r0 = 0
exit
f:
r2 = map[progs] ll
r3 = 0
call bpf_tail_call
r0 = 0
exit

;; ===== tail_call_from_subprog_big_stack
;; cls: tail_call
;; expect: tail_call is not allowed in subprogs without BTF
.map progs prog_array key=4 value=4 max_entries=4
*(u64 *)(r10 -304) = 0
call f
r0 = 0
exit
f:
r2 = map[progs] ll
r3 = 0
call bpf_tail_call
r0 = 0
exit

;; ===== tail_call_from_subprog_big_stack_btf
;; cls: tail_call
;; btf: func_info
;; expect: tail_calls are not allowed when call stack of previous frames is 304 bytes. Too large
.map progs prog_array key=4 value=4 max_entries=4
*(u64 *)(r10 -304) = 0
call f
r0 = 0
exit
f:
r2 = map[progs] ll
r3 = 0
call bpf_tail_call
r0 = 0
exit

;; ===== tail_call_wrong_map
;; cls: map_helper_type
;; expect: expected prog array map for tail call
.map m array key=4 value=4 max_entries=4
r2 = map[m] ll
r3 = 0
call bpf_tail_call
r0 = 0
exit

;; ===== prog_array_lookup
;; cls: map_helper_type
;; expect: cannot pass map_type 3 into func bpf_map_lookup_elem#1
.map progs prog_array key=4 value=4 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[progs] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
r0 = 0
exit

;; ===== bpf_loop_no_btf
;; cls: callback
;; expect: missing btf func_info
r1 = 10
r2 = func[cb] ll
r3 = 0
r4 = 0
call bpf_loop
exit
cb:
r0 = 0
exit

;; ===== bpf_loop_ok
;; cls: callback
;; btf: func_info
;; expect: accept
r1 = 10
r2 = func[cb] ll
r3 = 0
r4 = 0
call bpf_loop
exit
cb:
r0 = 0
exit

;; ===== bpf_loop_callback_bad_ret
;; cls: callback
;; btf: func_info
;; expect: At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]
r1 = 10
r2 = func[cb] ll
r3 = 0
r4 = 0
call bpf_loop
exit
cb:
r0 = 2
exit

;; ===== bpf_loop_callback_uninit_r0
;; cls: callback
;; btf: func_info
;; expect: R0 not a scalar value
r1 = 10
r2 = func[cb] ll
r3 = 0
r4 = 0
call bpf_loop
exit
cb:
exit

;; ===== bpf_loop_callback_ctx_arg
;; cls: callback
;; btf: func_info
;; expect: accept
*(u64 *)(r10 -8) = 0
r1 = 10
r2 = func[cb] ll
r3 = r10
r3 += -8
r4 = 0
call bpf_loop
r0 = *(u64 *)(r10 -8)
exit
cb:
r3 = *(u64 *)(r2 +0)
r3 += r1
*(u64 *)(r2 +0) = r3
r0 = 0
exit

;; ===== bpf_loop_callback_reads_r3
;; cls: callback
;; btf: func_info
;; expect: R3 !read_ok
r1 = 10
r2 = func[cb] ll
r3 = 0
r4 = 0
call bpf_loop
exit
cb:
r0 = r3
r0 &= 1
exit

;; ===== bpf_loop_not_a_func
;; cls: callback
;; expect: R2 type=scalar expected=func
r1 = 10
r2 = 0
r3 = 0
r4 = 0
call bpf_loop
exit

;; ===== bpf_loop_flags_nonzero
;; cls: callback
;; btf: func_info
;; expect: accept
r1 = 10
r2 = func[cb] ll
r3 = 0
r4 = 1
call bpf_loop
exit
cb:
r0 = 0
exit

;; ===== func_ptr_not_callback_start
;; cls: callback
;; btf: func_info
;; expect: last insn is not an exit or jmp
r1 = 10
r2 = func[mid] ll
r3 = 0
r4 = 0
call bpf_loop
exit
cb:
r0 = 0
mid:
exit
