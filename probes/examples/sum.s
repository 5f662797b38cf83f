; Sum 1..10 in a loop, then call a subprogram that doubles the result.
; Try: bpf-vm run --trace probes/examples/sum.s
        r0 = 0
        r1 = 10
loop:
        r0 += r1                ; accumulate
        r1 -= 1
        if r1 != 0 goto loop
        r1 = r0
        call double             ; a BPF-to-BPF call: new frame, r1 = argument
        exit
double:
        r0 = r1
        r0 <<= 1
        exit
