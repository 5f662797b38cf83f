/* <bpf/bpf_helper_defs.h>: trace-run's generated helper declarations. */
#include "../../bpf_helper_defs.h"
