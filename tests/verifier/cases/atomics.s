; Atomic operations and sign-extending loads: what they may touch.

;; ===== atomic_add_stack_ok
;; cls: atomic
;; expect: accept
*(u64 *)(r10 -8) = 0
r1 = 1
lock *(u64 *)(r10 -8) += r1
r0 = *(u64 *)(r10 -8)
exit

;; ===== atomic_fetch_add_uninit_src
;; cls: atomic
;; expect: R2 !read_ok
*(u64 *)(r10 -8) = 0
.insn 0xdb 10 2 -8 1   ; r2 = atomic_fetch_add((u64 *)(r10 -8), r2)
r0 = 0
exit

;; ===== atomic_on_uninit_stack
;; cls: atomic
;; expect: accept
r1 = 1
lock *(u64 *)(r10 -8) += r1
r0 = 0
exit

;; ===== atomic_on_spilled_pointer
;; cls: atomic
;; expect: accept
*(u64 *)(r10 -8) = r1
r2 = 1
lock *(u64 *)(r10 -8) += r2
r0 = 0
exit

;; ===== atomic_pointer_operand
;; cls: atomic
;; expect: accept
*(u64 *)(r10 -8) = 0
lock *(u64 *)(r10 -8) += r10
r0 = 0
exit

;; ===== atomic_map_value_ok
;; cls: atomic
;; expect: accept
.map m array key=4 value=8 max_entries=1
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +2
r1 = 1
lock *(u64 *)(r0 +0) += r1
r0 = 0
exit

;; ===== atomic_map_value_misaligned
;; cls: atomic
;; expect: misaligned value access off 0+0+4 size 8
.map m array key=4 value=16 max_entries=1
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +2
r1 = 1
lock *(u64 *)(r0 +4) += r1
r0 = 0
exit

;; ===== cmpxchg_uninit_r0
;; cls: atomic
;; expect: R0 !read_ok
*(u64 *)(r10 -8) = 0
r1 = 1
r0 = cmpxchg_64(r10 - 8, r0, r1)
exit

;; ===== cmpxchg_ok
;; cls: atomic
;; expect: accept
*(u64 *)(r10 -8) = 0
r1 = 1
r0 = 0
r0 = cmpxchg_64(r10 - 8, r0, r1)
exit

;; ===== xchg32_stack
;; cls: atomic
;; expect: accept
*(u32 *)(r10 -4) = 0
w1 = 3
w1 = xchg32_32(r10 - 4, w1)
r0 = r1
exit

;; ===== atomic_readonly_map
;; cls: atomic
;; expect: write into map forbidden, value_size=8 off=0 size=8
.map m array key=4 value=8 max_entries=1 flags=0x80
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +2
r1 = 1
lock *(u64 *)(r0 +0) += r1
r0 = 0
exit

;; ===== ldsx_ctx_kprobe
;; cls: ctx_access
;; expect: accept
r0 = *(s32 *)(r1 +0)
exit

;; ===== ldsx_stack
;; cls: spill_fill
;; expect: accept
*(u64 *)(r10 -8) = -1
r0 = *(s8 *)(r10 -8)
exit

;; ===== ldsx_spilled_pointer
;; cls: spill_fill
;; expect: invalid size of register fill
*(u64 *)(r10 -8) = r1
r0 = *(s32 *)(r10 -8)
exit
