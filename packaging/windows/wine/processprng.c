/*
 * bcryptprimitives.dll with the one export Rust's standard library needs on Windows:
 * ProcessPrng, which Wine 8.0 lacks (a Rust program then exits with status 53 before main).
 * Built with mingw by scripts/wine-test.sh into a scratch Wine prefix's system32, for the
 * tests under Wine only; never shipped, never needed on real Windows (10 and later have it).
 * It fills the buffer from RtlGenRandom (advapi32!SystemFunction036), which Wine has.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
