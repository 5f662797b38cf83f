; Maps: NULL checks of lookups, value bounds, read-only maps, map pointers to helpers,
; ld_imm64 map references.

;; ===== lookup_no_null_check
;; cls: map_value_or_null
;; expect: R0 invalid mem access 'map_value_or_null'
.map m hash key=4 value=8 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
r0 = *(u64 *)(r0 +0)
exit

;; ===== lookup_null_checked
;; cls: map_value_or_null
;; expect: accept
.map m hash key=4 value=8 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +1
r0 = *(u64 *)(r0 +0)
exit

;; ===== lookup_wrong_branch
;; cls: map_value_or_null
;; expect: R0 invalid mem access 'scalar'
.map m hash key=4 value=8 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 != 0 goto +1
r0 = *(u64 *)(r0 +0)
exit

;; ===== lookup_copy_checked
;; cls: map_value_or_null
;; expect: accept
.map m array key=4 value=16 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
r6 = r0
if r0 == 0 goto +2
r0 = *(u64 *)(r6 +8)
exit
r0 = 0
exit

;; ===== lookup_or_null_arith
;; cls: map_value_or_null
;; expect: accept
.map m array key=4 value=16 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
r0 += 8
exit

;; ===== value_oob_read
;; cls: map_value_bounds
;; expect: R0 min value is outside of the allowed memory range
.map m array key=4 value=8 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +1
r0 = *(u64 *)(r0 +8)
exit

;; ===== value_oob_negative
;; cls: map_value_bounds
;; expect: R0 min value is outside of the allowed memory range
.map m array key=4 value=8 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +1
r0 = *(u32 *)(r0 -4)
exit

;; ===== value_oob_write_straddle
;; cls: map_value_bounds
;; expect: R0 min value is outside of the allowed memory range
.map m array key=4 value=12 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +2
*(u64 *)(r0 +8) = 1
r0 = 0
exit

;; ===== value_var_index_bounded
;; cls: map_value_bounds
;; expect: accept
.map m array key=4 value=64 max_entries=4
*(u32 *)(r10 -4) = 0
r6 = *(u64 *)(r1 +0)
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +4
r6 &= 56
r0 += r6
r0 = *(u64 *)(r0 +0)
exit
r0 = 0
exit

;; ===== value_var_index_too_wide
;; cls: map_value_bounds
;; expect: R0 max value is outside of the allowed memory range
.map m array key=4 value=64 max_entries=4
*(u32 *)(r10 -4) = 0
r6 = *(u64 *)(r1 +0)
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +4
r6 &= 64
r0 += r6
r0 = *(u64 *)(r0 +0)
exit
r0 = 0
exit

;; ===== value_var_index_unbounded
;; cls: map_value_bounds
;; expect: R0 unbounded memory access, make sure to bounds check any such access
.map m array key=4 value=64 max_entries=4
*(u32 *)(r10 -4) = 0
r6 = *(u64 *)(r1 +0)
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +5
r6 &= 0xfff
r6 <<= 40
r0 += r6
r0 = *(u64 *)(r0 +0)
exit
r0 = 0
exit

;; ===== direct_value_read
;; cls: map_value_bounds
;; expect: accept
.map m array key=4 value=16 max_entries=1
r1 = map[m][0]+8 ll
r0 = *(u64 *)(r1 +0)
exit

;; ===== direct_value_offset_past
;; cls: ld_imm64_map
;; expect: invalid access to map value pointer, value_size=16 off=16
.map m array key=4 value=16 max_entries=1
r1 = map[m][0]+16 ll
r0 = *(u64 *)(r1 +0)
exit

;; ===== direct_value_hash
;; cls: ld_imm64_map
;; expect: no direct value access support for this map type
.map m hash key=4 value=16 max_entries=1
r1 = map[m][0]+0 ll
r0 = 0
exit

;; ===== invalid_map_fd
;; cls: ld_imm64_map
;; expect: fd 999 is not pointing to valid bpf_map
r1 = map[fd:999] ll
r0 = 0
exit

;; ===== map_ptr_deref
;; cls: map_ptr
;; expect: accept
.map m array key=4 value=16 max_entries=1
r1 = map[m] ll
r0 = *(u32 *)(r1 +0)
exit

;; ===== map_ptr_write
;; cls: map_ptr
;; expect: only read from bpf_array is supported
.map m array key=4 value=16 max_entries=1
r1 = map[m] ll
*(u32 *)(r1 +0) = 1
r0 = 0
exit

;; ===== map_ptr_arith
;; cls: map_ptr
;; expect: R1 pointer arithmetic on map_ptr prohibited
.map m array key=4 value=16 max_entries=1
r1 = map[m] ll
r1 += 8
r0 = 0
exit

;; ===== rdonly_prog_write
;; cls: map_readonly
;; expect: write into map forbidden, value_size=8 off=0 size=8
.map m array key=4 value=8 max_entries=1 flags=0x80
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +1
*(u64 *)(r0 +0) = 1
r0 = 0
exit

;; ===== rdonly_frozen_const_read
;; cls: map_readonly
;; init: m 2a00000000000000
;; freeze: m
;; expect: accept
.map m array key=4 value=8 max_entries=1 flags=0x80
r1 = map[m][0]+0 ll
r0 = *(u64 *)(r1 +0)
exit

;; ===== update_with_rdonly_value
;; cls: map_readonly
;; expect: accept
.map m hash key=4 value=8 max_entries=4
.map ro array key=4 value=8 max_entries=1 flags=0x80
r1 = map[m] ll
r2 = map[ro][0]+0 ll
r3 = map[ro][0]+0 ll
r4 = 0
call bpf_map_update_elem
r0 = 0
exit

;; ===== ringbuf_to_lookup
;; cls: map_helper_type
;; expect: invalid zero-sized read
.map rb ringbuf key=0 value=0 max_entries=4096
*(u32 *)(r10 -4) = 0
r1 = map[rb] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
r0 = 0
exit

;; ===== array_to_ringbuf_output
;; cls: map_helper_type
;; expect: cannot pass map_type 2 into func bpf_ringbuf_output#130
.map m array key=4 value=8 max_entries=1
*(u64 *)(r10 -8) = 0
r1 = map[m] ll
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call bpf_ringbuf_output
r0 = 0
exit

;; ===== lookup_key_too_small
;; cls: map_helper_args
;; expect: invalid read from stack R2 off=-4 size=8
.map m hash key=8 value=8 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
r0 = 0
exit

;; ===== lookup_key_scalar
;; cls: map_helper_args
;; expect: R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_
.map m hash key=4 value=8 max_entries=4
r1 = map[m] ll
r2 = 0
call bpf_map_lookup_elem
r0 = 0
exit

;; ===== lookup_map_scalar
;; cls: helper_arg_type
;; expect: R1 type=scalar expected=map_ptr
r1 = 0
r2 = r10
r2 += -8
call bpf_map_lookup_elem
r0 = 0
exit

;; ===== lookup_map_ctx
;; cls: helper_arg_type
;; expect: R1 type=ctx expected=map_ptr
r2 = r10
r2 += -8
call bpf_map_lookup_elem
r0 = 0
exit

;; ===== update_value_from_map_value
;; cls: map_helper_args
;; expect: accept
.map m array key=4 value=8 max_entries=4
*(u32 *)(r10 -4) = 0
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +7
r3 = r0
r1 = map[m] ll
r2 = r10
r2 += -4
r4 = 0
call bpf_map_update_elem
r0 = 0
exit

;; ===== percpu_array_lookup
;; cls: map_value_bounds
;; expect: accept
.map m percpu_array key=4 value=24 max_entries=2
*(u32 *)(r10 -4) = 1
r1 = map[m] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto +1
r0 = *(u64 *)(r0 +16)
exit
