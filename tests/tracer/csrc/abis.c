/* The same number through three ABIs: i386 int 0x80 nr 20 (getpid), x86_64 nr 20
   (writev, on a bad fd), x32 nr 39 (getpid; -ENOSYS where x32 is off). */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    long i386_ret, x64_ret, x32_ret;
    __asm__ volatile("int $0x80" : "=a"(i386_ret) : "a"(20L) : "memory");
    __asm__ volatile("syscall" : "=a"(x64_ret) : "a"(20L), "D"(-1L), "S"(0L), "d"(0L)
                     : "rcx", "r11", "memory");
    __asm__ volatile("syscall" : "=a"(x32_ret) : "a"(0x40000000L | 39)
                     : "rcx", "r11", "memory");
    printf("i386_getpid=%ld pid=%d writev=%ld x32=%ld\n", i386_ret, getpid(), x64_ret, x32_ret);
    return i386_ret == getpid() ? 0 : 1;
}
