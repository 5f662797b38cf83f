; The browser tests' probe: a tracex5-style dispatcher that tail-calls the syscall's
; program, which calls a BPF-to-BPF subprogram, reads and writes a map, and tail-calls
; once more into a shared epilogue.  Run it as:
;   bpf-vm run --trace tests/explain/tailcalls.s --regs orig_ax=257,si=0x40
;
; ctx (r1) is the traced thread's struct pt_regs: orig_ax at 0x78, si at 0x68.

.license "GPL"

.map progs prog_array key=4 value=4 max_entries=512
.map counts array key=4 value=8 max_entries=4

.prog dispatch kprobe/syscall_entry
        r6 = r1
        r3 = *(u64 *)(r1 + 0x78)        ; nr = ctx->orig_ax
        r2 = map[progs] ll
        call bpf_tail_call              ; progs[nr]: does not return when it holds one
        r0 = 0x0                        ; fall-through: no program for this syscall
        exit

; progs[257] by its section name
.prog sys_openat ksyscall/openat
        r6 = r1
        r1 = *(u64 *)(r6 + 0x68)        ; flags = ctx->si
        call flag_bits                  ; a BPF-to-BPF call: a new frame
        r7 = r0
        w1 = 0x1
        *(u32 *)(r10 - 0x4) = r1        ; key = 1
        r2 = r10
        r2 += -0x4
        r1 = map[counts] ll
        call bpf_map_lookup_elem        ; r0 = &counts[1]
        if r0 == 0x0 goto out
        r1 = *(u64 *)(r0 + 0x0)
        r1 += r7
        *(u64 *)(r0 + 0x0) = r1         ; counts[1] += bits
out:
        r1 = r6
        r2 = map[progs] ll
        r3 = 0x1ff
        call bpf_tail_call              ; progs[511]: the epilogue
        w0 = 0x1
        exit

; popcount of the low byte of r1
flag_bits:
        r0 = 0x0
        r2 = 0x8
bit:
        r3 = r1
        r3 &= 0x1
        r0 += r3
        r1 >>= 1
        r2 += -1
        if r2 != 0x0 goto bit
        exit

; progs[511] by bpf_load.c's convention
.prog epilogue kprobe/511
        r0 = 0x0
        exit
