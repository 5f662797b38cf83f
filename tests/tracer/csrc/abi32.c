/* i386 syscalls (int 0x80) from a 64-bit program, with their buffers below 4 GiB
   (MAP_32BIT) since the i386 ABI passes 32-bit pointers: getpid, open, read, close,
   write.  Prints what each returned, then one x32 getpid (ENOSYS where x32 is off). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

int main(void) {
    char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED)
        return 2;
    strcpy(low, "/proc/self/comm");
    char *msg = low + 64, *buf = low + 128;
    strcpy(msg, "hello from int 0x80\n");
    long pid = int80(20, 0, 0, 0);                       /* getpid */
    long fd = int80(5, (long)low, 0, 0);                 /* open(path, O_RDONLY) */
    long got = int80(3, fd, (long)buf, 16);              /* read */
    long closed = int80(6, fd, 0, 0);                    /* close */
    long wrote = int80(4, 1, (long)msg, (long)strlen(msg));   /* write(1, ...) */
    long x32;
    __asm__ volatile("syscall" : "=a"(x32) : "a"(0x40000000L | 39)
                     : "rcx", "r11", "memory");
    printf("pid=%ld real=%d fd=%ld read=%ld close=%ld wrote=%ld x32=%ld\n",
           pid, getpid(), fd, got, closed, wrote, x32);
    return pid == getpid() && fd >= 0 && got > 0 && closed == 0 && wrote == (long)strlen(msg)
        ? 0 : 1;
}
