/* Prints what the getpid syscall returns (glibc no longer caches it). */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    printf("%ld\n", (long)syscall(SYS_getpid));
    return 0;
}
