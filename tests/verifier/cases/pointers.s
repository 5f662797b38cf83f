; Pointers: constants used as pointers, the arithmetic the verifier allows on each pointer
; type, comparisons (allowed for the privileged), and pointers stored where they may leak.

;; ===== const_as_pointer_ld_imm64
;; cls: scalar_deref
;; expect: R1 invalid mem access 'scalar'
r1 = 0x1000000001f8 ll
r0 = *(u64 *)(r1 +0)
exit

;; ===== const_as_pointer_zero
;; cls: scalar_deref
;; expect: R1 invalid mem access 'scalar'
r1 = 0
r0 = *(u8 *)(r1 +0)
exit

;; ===== const_as_pointer_store
;; cls: scalar_deref
;; expect: R1 invalid mem access 'scalar'
r1 = 4096
*(u32 *)(r1 +0) = 1
r0 = 0
exit

;; ===== loaded_value_as_pointer
;; cls: scalar_deref
;; expect: R2 invalid mem access 'scalar'
r2 = *(u64 *)(r1 +0)
r0 = *(u64 *)(r2 +0)
exit

;; ===== pointer_plus_pointer
;; cls: pointer_arith
;; expect: R1 pointer += pointer prohibited
r2 = r10
r1 += r2
r0 = 0
exit

;; ===== pointer_minus_pointer_stack
;; cls: pointer_arith
;; note: ptr - ptr of the same kind gives a scalar (allowed for root)
;; expect: accept
r2 = r10
r3 = r10
r3 += -8
r2 -= r3
r0 = r2
exit

;; ===== scalar_minus_pointer
;; cls: pointer_arith
;; expect: R0 tried to subtract pointer from scalar
r0 = 0
r0 -= r10
exit

;; ===== pointer_mul
;; cls: pointer_arith
;; expect: R2 pointer arithmetic with *= operator prohibited
r2 = r10
r2 *= 2
r0 = 0
exit

;; ===== pointer_or_imm
;; cls: pointer_arith
;; expect: R2 bitwise operator |= on pointer prohibited
r2 = r10
r2 |= 1
r0 = 0
exit

;; ===== pointer_shift
;; cls: pointer_arith
;; expect: R2 pointer arithmetic with <<= operator prohibited
r2 = r10
r2 <<= 1
r0 = 0
exit

;; ===== pointer_neg
;; cls: pointer_arith
;; expect: accept
r2 = r10
r2 = -r2
r0 = 0
exit

;; ===== pointer_32bit_mov
;; cls: pointer_arith
;; expect: accept
w2 = w10
r0 = r2
exit

;; ===== pointer_32bit_mov_deref
;; cls: pointer_arith
;; expect: R2 invalid mem access 'scalar'
w2 = w10
r0 = *(u64 *)(r2 -8)
exit

;; ===== pointer_byte_swap
;; cls: pointer_arith
;; expect: accept
r2 = r10
r2 = be64 r2
r0 = 0
exit

;; ===== pointer_compare_ok
;; cls: pointer_compare
;; note: unprivileged: 'R1 pointer comparison prohibited'
;; expect: accept
r0 = 0
r2 = r10
if r1 > r2 goto +1
r0 = 1
exit

;; ===== pointer_compare_scalar_ok
;; cls: pointer_compare
;; expect: accept
r0 = 0
if r1 == 5 goto +1
r0 = 1
exit

;; ===== pointer_compare_32bit
;; cls: pointer_compare
;; expect: accept
r0 = 0
if w1 == 5 goto +1
r0 = 1
exit

;; ===== pointer_to_scalar_via_stack_partial
;; cls: pointer_leak
;; expect: invalid size of register fill
*(u64 *)(r10 -8) = r10
r0 = *(u32 *)(r10 -8)
exit

;; ===== pointer_stored_in_map
;; cls: pointer_leak
;; note: unprivileged: 'R1 leaks addr into map'
;; expect: accept
.map m array key=4 value=8 max_entries=1
*(u32 *)(r10 -4) = 0
r6 = r1
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +1
*(u64 *)(r0 +0) = r6
r0 = 0
exit

;; ===== pointer_stored_in_ctx_syscall
;; cls: pointer_leak
;; type: syscall
;; expect: accept
*(u64 *)(r1 +0) = r10
r0 = 0
exit

;; ===== pointer_arith_overflow_bound
;; cls: pointer_arith
;; expect: math between fp pointer and 2147483647 is not allowed
r2 = r10
r2 += 0x7fffffff
r0 = *(u8 *)(r2 +0)
exit

;; ===== pointer_add_unknown_scalar_stack
;; cls: pointer_arith
;; expect: math between fp pointer and register with unbounded min value is not allowed
r3 = *(u64 *)(r1 +0)
r2 = r10
r2 += r3
r0 = 0
exit

;; ===== map_value_add_negative_then_back
;; cls: pointer_arith
;; expect: accept
.map m array key=4 value=16 max_entries=1
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +3
r0 += -8
r0 += 8
r0 = *(u64 *)(r0 +8)
exit

;; ===== map_value_sub_pointer
;; cls: pointer_arith
;; expect: accept
.map m array key=4 value=16 max_entries=1
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +1
r0 -= r10
exit

;; ===== ctx_minus_ctx
;; cls: pointer_arith
;; expect: accept
r2 = r1
r1 -= r2
r0 = r1
exit
