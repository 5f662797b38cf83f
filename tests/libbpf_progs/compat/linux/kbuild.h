/* trace-run test stand-in (not vendored) for the kernel tree's include/linux/kbuild.h:
 * DEFINE() leaves a "->SYMBOL VALUE EXPR" marker in the compiler's assembly output,
 * which tests/libbpf/catalogue.py turns into a #define, as Kbuild does for
 * samples/bpf/syscall_nrs.h. */
#ifndef __TRACE_RUN_TEST_KBUILD_H
#define __TRACE_RUN_TEST_KBUILD_H
#define DEFINE(sym, val) \
	asm volatile("\n.ascii \"->" #sym " %0 " #val "\"" : : "i" (val))
#define COMMENT(x) asm volatile("\n.ascii \"->#" x "\"")
#endif
