; mkdir and mkdirat fail with EACCES without running, as a kprobe with
; bpf_override_return would make them: the tracer skips the syscall and sets its result.
.license "GPL"
.map progs prog_array key=4 value=4 max_entries=512

.prog dispatch kprobe/syscall_entry
        r3 = *(u64 *)(r1 + 0x78)        ; orig_ax
        r2 = map[progs] ll
        call bpf_tail_call
        w0 = 0x0
        exit

.prog deny_mkdir ksyscall/mkdir
        r2 = -13                        ; -EACCES
        call bpf_override_return        ; r1 is still ctx
        w0 = 0x0
        exit

.prog deny_mkdirat ksyscall/mkdirat
        r2 = -13
        call bpf_override_return
        w0 = 0x0
        exit
