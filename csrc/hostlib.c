/* hostlib.c - the host side's few machine instructions, as a shared object loaded with cffi's
 * ffi.dlopen (physcall/hostlib.py): built by the trampoline's gcc into the same cache directory, and
 * carried into the guest with it.  Compiled code instead of bytes in a writable and executable page.
 */
#include "hostlib.h"

/* The TSC, as the trampoline reads it on the other side of the jump (rdtsc, EDX:EAX).  Not rdtscp:
 * the trampoline's stamps are plain rdtsc, and the round trip is compared with them. */
uint64_t physcall_rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
