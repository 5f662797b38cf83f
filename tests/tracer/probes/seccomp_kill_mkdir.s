; bpf_seccomp_return(SECCOMP_RET_KILL_PROCESS) at mkdir's entry: the kernel's seccomp
; kills the process with SIGSYS, as a filter of its own would (kill_mkdir.s's
; bpf_send_signal(SIGKILL) is a SIGKILL, as in the kernel).
.license "GPL"
.map progs prog_array key=4 value=4 max_entries=512

.prog dispatch kprobe/syscall_entry
        r3 = *(u64 *)(r1 + 0x78)
        r2 = map[progs] ll
        call bpf_tail_call
        w0 = 0x0
        exit

.prog kill_mkdir ksyscall/mkdir
        r1 = 0x80000000 ll              ; SECCOMP_RET_KILL_PROCESS
        call 0x5ec0                     ; bpf_seccomp_return (trace-run's helper)
        w0 = 0x0
        exit

.prog kill_mkdirat ksyscall/mkdirat
        r1 = 0x80000000 ll
        call 0x5ec0
        w0 = 0x0
        exit
