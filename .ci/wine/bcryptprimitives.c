/*
 * Minimal stand-in for Windows' bcryptprimitives.dll, for running tests under
 * Debian's Wine 8.0, which does not ship it.
 *
 * Rust's std (1.78+) imports ProcessPrng from bcryptprimitives.dll (raw-dylib,
 * undecorated name on i686), so without this DLL every Rust program exits at
 * load time with status 53 (STATUS_DLL_NOT_FOUND family) before main runs.
 *
 * ProcessPrng(pbData, cbData) fills the buffer with random bytes and always
 * returns TRUE; we forward to RtlGenRandom (exported by advapi32 as
 * SystemFunction036), which Wine implements.
 *
 * Built by .ci/install-cross with mingw-w64 for x86_64 (-> system32) and i686
 * (-> syswow64), linked with -Wl,--kill-at so the i686 export is undecorated.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID RandomBuffer, ULONG RandomBufferLength);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
    while (cbData > 0) {
        ULONG chunk = cbData > 0x10000000u ? 0x10000000u : (ULONG)cbData;
        if (!SystemFunction036(pbData, chunk))
            return FALSE;
        pbData += chunk;
        cbData -= chunk;
    }
    return TRUE;
}
