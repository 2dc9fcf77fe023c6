/*
 * What the static half of Microsoft's C runtime (msvcrt.lib, vcruntime.lib objects) gives an
 * MSVC-target program, for CI on Linux where Wine's PE import libraries stand in for the
 * Windows SDK: the import libraries only name DLL exports, so the pieces a real CRT links in
 * statically are written here. Compiled once per part (-DPART_COMMON, ..) into crt.lib by
 * .ci/install-cross, so that the linker pulls in an entry point only when it is needed.
 *
 * CI only: a real Windows machine with Visual Studio has all of this in its own CRT.
 */
#include <stdint.h>

#if defined(PART_COMMON)
/* The linker looks for this symbol whenever floating point is used. */
int _fltused = 0x9875;

/* Thread-local storage: the image's TLS directory points at the .tls section bounds, the
 * index the loader fills in, and the callback list. Rust std registers its TLS destructor
 * runner in .CRT$XLB, which the linker sorts between the two sentinels below. */
typedef void(__stdcall *tls_callback)(void *module, unsigned long reason, void *reserved);

unsigned long _tls_index = 0;
#if defined(_M_IX86)
/* On x86 the code reads the TLS array through fs:[__tls_array]: offset 0x2c in the TEB. */
__asm__(".globl __tls_array\n.set __tls_array, 0x2c");
#endif
__attribute__((section(".tls"))) char _tls_start = 0;
__attribute__((section(".tls$ZZZ"))) char _tls_end = 0;
__attribute__((section(".CRT$XLA"), used)) tls_callback __xl_a = 0;
__attribute__((section(".CRT$XLZ"), used)) tls_callback __xl_z = 0;

struct tls_directory {
    uintptr_t start, end, index, callbacks;
    uint32_t zero_fill, characteristics;
};
__attribute__((section(".rdata$T"), used)) const struct tls_directory _tls_used = {
    (uintptr_t)&_tls_start, (uintptr_t)&_tls_end, (uintptr_t)&_tls_index,
    (uintptr_t)(&__xl_a + 1), 0, 0};

/* Static initialisers, C (.CRT$XI*, returning int) and C++ (.CRT$XC*), between sentinels. */
typedef int(__cdecl *c_init)(void);
typedef void(__cdecl *cxx_init)(void);
__attribute__((section(".CRT$XIA"), used)) c_init __xi_a = 0;
__attribute__((section(".CRT$XIZ"), used)) c_init __xi_z = 0;
__attribute__((section(".CRT$XCA"), used)) cxx_init __xc_a = 0;
__attribute__((section(".CRT$XCZ"), used)) cxx_init __xc_z = 0;

void __cdecl ci_run_initializers(void) {
    for (c_init *f = &__xi_a + 1; f < &__xi_z; f++)
        if (*f)
            (*f)();
    for (cxx_init *f = &__xc_a + 1; f < &__xc_z; f++)
        if (*f)
            (*f)();
}

/* Rust's MSVC panics are C++ exceptions whose type descriptor points at std::type_info's
 * vtable. Wine matches catch clauses by the type's mangled name only, so the table's contents
 * are never used; it only has to exist. */
static void __cdecl ci_type_info_destructor(void *self) { (void)self; }
const void *ci_type_info_vtable[2] __asm__("??_7type_info@@6B@") = {
    (const void *)ci_type_info_destructor, 0};
#endif

#if defined(PART_GS)
/* /GS stack cookies (clang-cl, and so the cc crate, compiles with /GS). A fixed cookie: this
 * is a test runtime, not a hardened one. */
#if defined(_WIN64)
uintptr_t __security_cookie = 0x00002b992ddfa232ull;
void __cdecl __security_check_cookie(uintptr_t cookie)
#else
uintptr_t __security_cookie = 0xbb40e64eu;
void __fastcall __security_check_cookie(uintptr_t cookie)
#endif
{
    if (cookie != __security_cookie)
        __builtin_trap();
}
void __cdecl __security_init_cookie(void) {}
#endif

#if defined(PART_CFG)
/* Control Flow Guard (-C control-flow-guard, /guard:cf): compiled code calls indirect targets
 * through these pointers, which a real CRT points at the loader's checks through the image's
 * load configuration. Without one (as here), Windows leaves them alone and nothing is
 * enforced; Wine never enforces CFG. x64 code calls the dispatch pointer with the target in
 * rax; x86 code calls the check pointer with the target in ecx, then calls the target. */
#if defined(_M_X64)
__attribute__((naked)) static void ci_guard_dispatch(void) { __asm__("jmp *%rax"); }
void *__guard_dispatch_icall_fptr = (void *)ci_guard_dispatch;
#endif
static void __fastcall ci_guard_check(void *target) { (void)target; }
void *__guard_check_icall_fptr = (void *)ci_guard_check;
#endif

void __cdecl ci_run_initializers(void);

#if defined(PART_EXE)
/* The console entry point, with ucrtbase.dll as the CRT. */
extern int __cdecl main(int argc, char **argv, char **envp);
extern void __cdecl exit(int status);
extern void __cdecl _set_app_type(int type);
extern int __cdecl _configure_narrow_argv(int mode);
extern int __cdecl _initialize_narrow_environment(void);
extern int *__cdecl __p___argc(void);
extern char ***__cdecl __p___argv(void);
extern char ***__cdecl __p__environ(void);

int __cdecl mainCRTStartup(void) {
    _set_app_type(1 /* console */);
    _configure_narrow_argv(1 /* unexpanded */);
    _initialize_narrow_environment();
    ci_run_initializers();
    exit(main(*__p___argc(), *__p___argv(), *__p__environ()));
    return 0;
}
#endif

#if defined(PART_DLL)
/* The DLL entry point: runs the initialisers, then the DLL's own DllMain if it has one. */
int __stdcall DllMain(void *module, unsigned long reason, void *reserved) __attribute__((weak));

int __stdcall _DllMainCRTStartup(void *module, unsigned long reason, void *reserved) {
    if (reason == 1 /* DLL_PROCESS_ATTACH */)
        ci_run_initializers();
    return DllMain ? DllMain(module, reason, reserved) : 1;
}
#endif
