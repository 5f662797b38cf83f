; Encodings: unknown opcodes, reserved fields, malformed ld_imm64, registers past r10,
; division by an immediate zero.  Written as raw slots: '.insn OP DST SRC OFF IMM'.
; Not here: ld_imm64 BPF_PSEUDO_BTF_ID and kfunc calls, whose verdicts depend on the
; host's vmlinux BTF (the corpus leaves every program using them out).

;; ===== opcode_unknown_alu
;; cls: invalid_opcode
;; expect: unknown opcode f4
.insn 0xf4 0 0 0 0
r0 = 0
exit

;; ===== opcode_unknown_jmp
;; cls: invalid_opcode
;; expect: unknown opcode f5
r0 = 0
.insn 0xf5 0 0 0 0
exit

;; ===== opcode_zero
;; cls: invalid_opcode
;; expect: unknown opcode 00
.insn 0x00 0 0 0 0
r0 = 0
exit

;; ===== opcode_ld_abs_dw
;; cls: invalid_opcode
;; type: socket_filter
;; expect: unknown opcode 38
r6 = r1
.insn 0x38 0 0 0 0
exit

;; ===== opcode_ldx_imm_mode
;; cls: invalid_opcode
;; expect: BPF_LDX uses reserved fields
.insn 0x71 0 1 0 0
.insn 0x01 0 0 0 0
exit

;; ===== opcode_stx_memsx
;; cls: invalid_opcode
;; expect: unknown opcode 9b
r0 = 0
.insn 0x9b 10 0 -8 0
exit

;; ===== alu_reserved_off
;; cls: reserved_field
;; expect: BPF_MOV uses reserved fields
.insn 0xb7 0 0 1 0   ; r0 = 0 with off 1
exit

;; ===== alu_reserved_src
;; cls: reserved_field
;; expect: BPF_ALU uses reserved fields
.insn 0x07 0 1 0 1   ; r0 += 1 with src r1
r0 = 0
exit

;; ===== alu_reg_reserved_imm
;; cls: reserved_field
;; expect: BPF_ALU uses reserved fields
r0 = 0
.insn 0x0f 0 1 0 5   ; r0 += r1 with imm 5
exit

;; ===== neg_reserved_src
;; cls: reserved_field
;; expect: BPF_NEG uses reserved fields
r0 = 1
.insn 0x87 0 1 0 0   ; r0 = -r0 with src r1
exit

;; ===== end_bad_width
;; cls: reserved_field
;; expect: BPF_END uses reserved fields
r0 = 1
.insn 0xd4 0 0 0 24  ; r0 = le24 r0
exit

;; ===== movsx_bad_off
;; cls: reserved_field
;; expect: BPF_MOV uses reserved fields
r1 = 1
.insn 0xbf 0 1 24 0  ; r0 = (s24)r1
exit

;; ===== sdiv_bad_off
;; cls: reserved_field
;; expect: BPF_ALU uses reserved fields
r0 = 1
.insn 0x37 0 0 2 3   ; r0 /= 3 with off 2
exit

;; ===== exit_reserved
;; cls: reserved_field
;; expect: BPF_EXIT uses reserved fields
r0 = 0
.insn 0x95 0 0 0 1

;; ===== call_reserved_dst
;; cls: reserved_field
;; expect: BPF_CALL uses reserved fields
.insn 0x85 1 0 0 5   ; call bpf_ktime_get_ns with dst r1
exit

;; ===== call_reserved_off
;; cls: reserved_field
;; expect: BPF_CALL uses reserved fields
.insn 0x85 0 0 1 5
exit

;; ===== call_bad_src
;; cls: reserved_field
;; expect: BPF_CALL uses reserved fields
.insn 0x85 0 3 0 5
exit

;; ===== jmp_reg_reserved_imm
;; cls: reserved_field
;; expect: BPF_JMP/JMP32 uses reserved fields
r0 = 0
.insn 0x1d 0 1 0 3   ; if r0 == r1 goto +0 with imm 3
exit

;; ===== jmp_imm_reserved_src
;; cls: reserved_field
;; expect: BPF_JMP/JMP32 uses reserved fields
r0 = 0
.insn 0x15 0 1 0 3   ; if r0 == 3 goto +0 with src r1
exit

;; ===== stx_reserved_imm
;; cls: reserved_field
;; expect: BPF_STX uses reserved fields
r1 = 0
.insn 0x7b 10 1 -8 7
r0 = 0
exit

;; ===== st_reserved_src
;; cls: reserved_field
;; expect: BPF_ST uses reserved fields
.insn 0x7a 10 1 -8 7
r0 = 0
exit

;; ===== ldx_reserved_imm
;; cls: reserved_field
;; expect: BPF_LDX uses reserved fields
.insn 0x79 0 1 0 7
exit

;; ===== atomic_bad_op
;; cls: reserved_field
;; expect: BPF_ATOMIC uses invalid atomic opcode 30
*(u64 *)(r10 -8) = 0
r1 = 1
.insn 0xdb 10 1 -8 0x30
r0 = 0
exit

;; ===== atomic_u8
;; cls: reserved_field
;; expect: invalid atomic operand size
*(u64 *)(r10 -8) = 0
r1 = 1
.insn 0xd3 10 1 -8 0
r0 = 0
exit

;; ===== reg_11_dst
;; cls: invalid_register
;; expect: R11 is invalid
.insn 0xb7 11 0 0 0
r0 = 0
exit

;; ===== reg_12_src
;; cls: invalid_register
;; expect: R12 is invalid
.insn 0xbf 0 12 0 0
exit

;; ===== reg_15_base
;; cls: invalid_register
;; expect: R15 is invalid
.insn 0x79 0 15 0 0
exit

;; ===== ld_imm64_truncated
;; cls: ld_imm64_malformed
;; expect: last insn is not an exit or jmp
r0 = 0
exit
.insn 0x18 0 0 0 1

;; ===== ld_imm64_second_slot_opcode
;; cls: ld_imm64_malformed
;; expect: invalid bpf_ld_imm64 insn
.insn 0x18 0 0 0 1
.insn 0xb7 0 0 0 0
exit

;; ===== ld_imm64_second_slot_reg
;; cls: ld_imm64_malformed
;; expect: invalid bpf_ld_imm64 insn
.insn 0x18 0 0 0 1
.insn 0x00 1 0 0 0
exit

;; ===== ld_imm64_second_slot_off
;; cls: ld_imm64_malformed
;; expect: invalid bpf_ld_imm64 insn
.insn 0x18 0 0 0 1
.insn 0x00 0 0 3 0
exit

;; ===== ld_imm64_bad_pseudo
;; cls: ld_imm64_malformed
;; expect: unrecognized bpf_ld_imm64 insn
.insn 0x18 0 7 0 1
.insn 0x00 0 0 0 0
exit

;; ===== ld_imm64_off_set
;; cls: ld_imm64_malformed
;; expect: BPF_LD_IMM64 uses reserved fields
.insn 0x18 0 0 1 1
.insn 0x00 0 0 0 0
exit

;; ===== ld_imm64_map_fd_hi_set
;; cls: ld_imm64_malformed
;; expect: unrecognized bpf_ld_imm64 insn
.map m array key=4 value=8 max_entries=1
.insn 0x18 1 1 0 0
.insn 0x00 0 0 0 5
r0 = 0
exit

;; ===== div_imm_zero
;; cls: div_by_zero
;; expect: div by zero
r0 = 1
r0 /= 0
exit

;; ===== mod_imm_zero32
;; cls: div_by_zero
;; expect: div by zero
w0 = 1
w0 %= 0
exit

;; ===== sdiv_imm_zero
;; cls: div_by_zero
;; expect: div by zero
r0 = 1
.insn 0x37 0 0 1 0   ; r0 s/= 0
exit

;; ===== div_reg_zero_ok
;; cls: div_by_zero
;; note: a register divisor of zero is defined (the result is 0)
;; expect: accept
r0 = 1
r1 = 0
r0 /= r1
exit

;; ===== goto_self_only
;; cls: infinite_loop
;; expect: old state: R1=ctx() R10=fp0
.insn 0x05 0 0 -1 0

;; ===== ld_imm64_second_slot_exit
;; cls: ld_imm64_malformed
;; expect: invalid bpf_ld_imm64 insn
r0 = 0
.insn 0x18 0 0 0 1
exit
