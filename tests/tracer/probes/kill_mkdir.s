; bpf_send_signal(SIGKILL) at mkdir's entry: the process dies before mkdir runs.
.license "GPL"
.map progs prog_array key=4 value=4 max_entries=512

.prog dispatch kprobe/syscall_entry
        r3 = *(u64 *)(r1 + 0x78)
        r2 = map[progs] ll
        call bpf_tail_call
        w0 = 0x0
        exit

.prog kill_mkdir ksyscall/mkdir
        r1 = 9                          ; SIGKILL
        call bpf_send_signal
        w0 = 0x0
        exit

.prog kill_mkdirat ksyscall/mkdirat
        r1 = 9
        call bpf_send_signal
        w0 = 0x0
        exit
