/* trace-run test stand-in (not vendored): the "bpf_helpers.h" that samples/bpf's
 * tracex5_kern.c includes was samples/bpf's own header of its time, which also defined
 * the PT_REGS_PARM* accessors (they moved to bpf_tracing.h in Linux 5.4).  trace-run's
 * probes/include/bpf_helpers.h and bpf_tracing.h together offer the same. */
#include_next <bpf_helpers.h>
#include "bpf_tracing.h"
