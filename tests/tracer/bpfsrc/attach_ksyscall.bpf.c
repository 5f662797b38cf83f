/* libbpf's BPF_KSYSCALL as tools write it: its arguments come through the syscall
 * wrapper's pointer when the Kconfig extern LINUX_HAS_SYSCALL_WRAPPER says so. */
#include "attach_common.h"

SEC("ksyscall/openat")
int BPF_KSYSCALL(ks_openat, int dfd, const char *pathname, int flags, unsigned int mode)
{
	char path[96];
	if (!mine())
		return 0;
	bpf_probe_read_user_str(path, sizeof(path), pathname);
	bpf_printk("BPF_KSYSCALL openat dfd=%d path=%s", dfd, path);
	bpf_printk("BPF_KSYSCALL openat flags=%x mode=%x", flags, mode);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
