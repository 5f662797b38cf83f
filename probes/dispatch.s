; The tracex5 dispatcher, written by hand: what probes/syscalls.bpf.c's `dispatch`
; compiles to, readable without a compiler.  Load it with bpf_vm.objfile.load_asm
; or run it with `bpf-vm run probes/dispatch.s --regs orig_ax=39`.
;
; ctx (r1) is the traced thread's struct pt_regs (x86_64, 168 bytes); orig_ax, the
; syscall number, is its 16th u64, at offset 15 * 8 = 0x78.

.license "GPL"

; progs[nr]: one program per syscall, filled by the loader from section names
.map progs prog_array key=4 value=4 max_entries=512
; syscalls that fell through: nr (u32) -> count (u64)
.map unhandled hash key=4 value=8 max_entries=1024
; how often sys_getpid ran (one u64)
.map getpid_calls array key=4 value=8 max_entries=1

.prog dispatch kprobe/syscall_entry
        r3 = *(u64 *)(r1 + 0x78)        ; nr = ctx->orig_ax
        *(u32 *)(r10 - 0x4) = r3        ; key = (u32)nr, kept for the fall-through
        r6 = 0x1
        *(u64 *)(r10 - 0x10) = r6       ; one = 1
        r2 = map[progs] ll
        call bpf_tail_call              ; r1 = ctx, r2 = &progs, r3 = nr: does not return
                                        ; when progs[nr] holds a program
        ; fall-through: no program for this syscall, or the chain is exhausted
        r2 = r10
        r2 += -0x4
        r1 = map[unhandled] ll
        call bpf_map_lookup_elem        ; r0 = &unhandled[nr] or NULL
        if r0 == 0x0 goto first
        r6 = atomic_fetch_add((u64 *)(r0 + 0x0), r6)    ; (*count)++, atomically
        goto out
first:
        r2 = r10
        r2 += -0x4                      ; &key
        r3 = r10
        r3 += -0x10                     ; &one
        r1 = map[unhandled] ll
        r4 = 0x1                        ; BPF_NOEXIST
        call bpf_map_update_elem
out:
        w0 = 0x0                        ; allow
        exit

; An example slot: section ksyscall/getpid puts it at progs[39] (x86_64 getpid).
.prog sys_getpid ksyscall/getpid
        w1 = 0x0
        *(u32 *)(r10 - 0x4) = r1
        r2 = r10
        r2 += -0x4
        r1 = map[getpid_calls] ll
        call bpf_map_lookup_elem
        if r0 == 0x0 goto done
        r1 = 0x1
        lock *(u64 *)(r0 + 0x0) += r1
done:
        w0 = 0x0
        exit
