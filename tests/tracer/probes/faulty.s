; Reads past the end of pt_regs at every syscall: the VM faults, the syscall still runs.
.license "GPL"
.prog bad kprobe/syscall_entry
        r0 = *(u64 *)(r1 + 0xa8)
        exit
