/* <bpf/bpf_helpers.h> for systems without libbpf-dev: trace-run's bpf_helpers.h under
 * libbpf's include layout.  The system's /usr/include/bpf/ comes first when installed
 * (bpf-vm build searches this directory after the system's). */
#include "../../bpf_helpers.h"
