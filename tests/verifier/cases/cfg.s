; Control flow: jumps out of the program, unreachable code, the last instruction, loops
; (bounded loops are allowed for the privileged), the complexity limit, may_goto.

;; ===== jump_out_of_range_fwd
;; cls: jump_out_of_range
;; expect: jump out of range from insn 1 to 5
r0 = 0
.insn 0x05 0 0 3 0  ; goto +3
exit

;; ===== jump_out_of_range_back
;; cls: jump_out_of_range
;; expect: jump out of range from insn 1 to -2
r0 = 0
.insn 0x05 0 0 -4 0  ; goto -4
exit

;; ===== cond_jump_out_of_range
;; cls: jump_out_of_range
;; expect: jump out of range from insn 1 to 4
r0 = 0
.insn 0x15 0 0 2 0  ; if r0 == 0 goto +2
exit

;; ===== jump_into_ld_imm64
;; cls: jump_out_of_range
;; expect: jump into the middle of ldimm64 insn 2
r0 = 0
.insn 0x15 1 0 1 0  ; if r1 == 0 goto +1 (into the ld_imm64)
r1 = 0x1234567890 ll
exit

;; ===== unreachable_tail
;; cls: unreachable
;; expect: unreachable insn 2
r0 = 0
exit
r0 = 1
exit

;; ===== unreachable_skipped
;; cls: unreachable
;; expect: unreachable insn 2
r0 = 0
goto +1
r0 = 1
exit

;; ===== last_insn_not_exit
;; cls: last_insn
;; expect: last insn is not an exit or jmp
r0 = 0

;; ===== fall_off_after_branch
;; cls: last_insn
;; expect: last insn is not an exit or jmp
r0 = 0
if r1 == 0 goto +1
exit
r0 = 1

;; ===== bounded_loop
;; cls: loop
;; note: unprivileged: 'back-edge from insn 3 to 1'; root may loop while it is bounded
;; expect: accept
r0 = 0
r0 += 1
if r0 < 10 goto -2
exit

;; ===== back_edge_to_self_infinite
;; cls: infinite_loop
;; expect: old state: R0=0 R1=ctx() R10=fp0
r0 = 0
if r1 != 0 goto +1
goto -2
exit

;; ===== infinite_loop_no_progress
;; cls: infinite_loop
;; expect: old state: R0=0 R1=0 R10=fp0
r0 = 0
r1 = 0
if r1 == 0 goto -2
exit

;; ===== loop_unknown_bound
;; cls: complexity
;; expect: BPF program is too large. Processed 1000001 insn
r6 = *(u64 *)(r1 +0)
r0 = 0
r0 += 1
if r0 < r6 goto -2
exit

;; ===== complexity_limit
;; cls: complexity
;; expect: BPF program is too large. Processed 1000001 insn
r0 = 0
r0 += 1
if r0 < 10000000 goto -2
r0 = 0
exit

;; ===== may_goto_loop
;; cls: may_goto
;; note: may_goto (0xe5) bounds the loop at run time; the kernel accepts it
;; expect: accept
r0 = 0
.insn 0xe5 0 0 2 0  ; may_goto +2
r0 += 1
goto -3
exit

;; ===== may_goto_forever
;; cls: may_goto
;; expect: accept
r0 = 0
.insn 0xe5 0 0 1 0  ; may_goto +1
goto -2
exit

;; ===== may_goto_reserved_field
;; cls: may_goto
;; expect: invalid may_goto imm 1
r0 = 0
.insn 0xe5 0 0 1 1  ; may_goto +1 with imm 1
goto -2
exit

;; ===== ja_32bit
;; cls: jump_out_of_range
;; expect: accept
r0 = 0
if r1 == 0 goto +1
.insn 0x06 0 0 0 1  ; gotol +1
r0 = 1
exit

;; ===== ja_32bit_out_of_range
;; cls: jump_out_of_range
;; expect: jump out of range from insn 1 to 7
r0 = 0
.insn 0x06 0 0 0 5  ; gotol +5
exit

;; ===== ja_with_reserved_imm
;; cls: invalid_insn
;; expect: BPF_JA uses reserved fields
r0 = 0
.insn 0x05 0 0 0 1  ; goto +0 with imm 1
exit

;; ===== empty_branch_ok
;; cls: unreachable
;; expect: accept
r0 = 0
if r1 == 0 goto +0
exit

;; ===== dead_branch_is_unreachable
;; cls: unreachable
;; note: the verifier prunes the dead arm of a constant branch but check_cfg sees it
;; expect: accept
r0 = 0
if r0 != 0 goto +1
exit
r0 = *(u64 *)(r0 +0)
exit
