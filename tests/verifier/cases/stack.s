; The stack: bounds, uninitialised reads (allowed for the privileged: the host runs us as
; root), spills and fills, indirect access through helpers.

;; ===== uninit_stack_read_u64
;; cls: uninit_stack
;; note: unprivileged: 'invalid read from stack off -8+0 size 8'; root may read it
;; expect: accept
r0 = *(u64 *)(r10 -8)
exit

;; ===== uninit_stack_read_u8
;; cls: uninit_stack
;; expect: accept
r0 = *(u8 *)(r10 -1)
exit

;; ===== uninit_stack_helper_key
;; cls: uninit_stack
;; note: an uninitialised key passed to a helper: allowed for root as well
;; expect: accept
.map m hash key=4 value=8 max_entries=4
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
r0 = 0
exit

;; ===== stack_read_above_fp
;; cls: stack_bounds
;; expect: invalid read from stack R10 off=0 size=8
r0 = *(u64 *)(r10 +0)
exit

;; ===== stack_write_above_fp
;; cls: stack_bounds
;; expect: invalid write to stack R10 off=8 size=8
r1 = 1
*(u64 *)(r10 +8) = r1
r0 = 0
exit

;; ===== stack_write_below_512
;; cls: stack_bounds
;; expect: invalid write to stack R10 off=-520 size=8
r1 = 1
*(u64 *)(r10 -520) = r1
r0 = 0
exit

;; ===== stack_read_below_512
;; cls: stack_bounds
;; expect: invalid read from stack R10 off=-513 size=1
r0 = *(u8 *)(r10 -513)
exit

;; ===== stack_st_imm_deep_ok
;; cls: stack_bounds
;; expect: accept
*(u64 *)(r10 -512) = 7
r0 = *(u64 *)(r10 -512)
exit

;; ===== stack_straddle_top
;; cls: stack_bounds
;; expect: misaligned stack access off 0+0+-4 size 8
*(u64 *)(r10 -4) = 1
r0 = 0
exit

;; ===== stack_via_copy_oob
;; cls: stack_bounds
;; expect: invalid write to stack R2 off=-520 size=8
r2 = r10
r2 += -512
*(u64 *)(r2 -8) = 1
r0 = 0
exit

;; ===== stack_var_offset_write
;; cls: stack_var_offset
;; note: a variable-offset stack write within bounds is allowed for root
;; expect: accept
r2 = *(u32 *)(r1 +0)
r2 &= 7
r3 = r10
r3 += -16
r3 += r2
*(u8 *)(r3 +0) = 1
r0 = 0
exit

;; ===== stack_var_offset_unbounded
;; cls: stack_var_offset
;; expect: math between fp pointer and register with unbounded min value is not allowed
r2 = *(u64 *)(r1 +0)
r3 = r10
r3 += r2
*(u8 *)(r3 +0) = 1
r0 = 0
exit

;; ===== spill_fill_pointer
;; cls: spill_fill
;; expect: accept
*(u64 *)(r10 -8) = r1
r2 = *(u64 *)(r10 -8)
r0 = *(u64 *)(r2 +0)
exit

;; ===== partial_fill_of_pointer
;; cls: spill_fill
;; expect: invalid size of register fill
*(u64 *)(r10 -8) = r1
r2 = *(u32 *)(r10 -8)
r0 = *(u64 *)(r2 +0)
exit

;; ===== overwrite_spilled_pointer
;; cls: spill_fill
;; expect: R2 invalid mem access 'scalar'
*(u64 *)(r10 -8) = r1
*(u8 *)(r10 -8) = 0
r2 = *(u64 *)(r10 -8)
r0 = *(u64 *)(r2 +0)
exit

;; ===== spill_scalar_fill_scalar
;; cls: spill_fill
;; expect: accept
r2 = 42
*(u64 *)(r10 -8) = r2
r3 = *(u64 *)(r10 -8)
r0 = r3
exit

;; ===== helper_reads_past_stack
;; cls: stack_indirect
;; expect: invalid write to stack R1 off=-8 size=16
r1 = r10
r1 += -8
r2 = 16
r3 = r10
r3 += -8
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== helper_size_zero_ok
;; cls: stack_indirect
;; expect: accept
r1 = r10
r1 += -8
r2 = 0
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== helper_size_negative
;; cls: stack_indirect
;; expect: R2 min value is negative, either use unsigned or 'var &= const'
r1 = r10
r1 += -8
r2 = -1
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit

;; ===== helper_size_unbounded
;; cls: stack_indirect
;; expect: R2 unbounded memory access, use 'var &= const' or 'if (var < const)'
r6 = r1
r1 = r10
r1 += -8
r2 = *(u32 *)(r6 +0)
r3 = 0
call bpf_probe_read_kernel
r0 = 0
exit
