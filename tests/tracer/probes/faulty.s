; Reads past the end of pt_regs at every syscall.  The verifier refuses it at load
; (invalid bpf_context access off=168 size=8); with --no-verify the VM faults at run
; time and the syscall still runs.
.license "GPL"
.prog bad kprobe/syscall_entry
        r0 = *(u64 *)(r1 + 0xa8)
        exit
