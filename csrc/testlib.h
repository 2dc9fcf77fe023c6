/*
 * The C side of trampoline's tests, benches and tour: a small library that takes callbacks
 * the way real C APIs do (with and without a user-data slot, called now, later, from its own
 * threads, re-entrantly) and drives them. Rust loads it at run time with libloading.
 *
 * Calling-convention macros:
 *   TL_SYSTEM    the Windows API convention: __stdcall on 32-bit x86 Windows, else the C one
 *                (what Rust calls extern "system").
 *   TL_STDCALL, TL_FASTCALL, TL_THISCALL   the 32-bit x86 conventions, defined on x86 only.
 */
#ifndef TRAMPOLINE_TESTLIB_H
#define TRAMPOLINE_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define TL_EXPORT __declspec(dllexport)
#else
#define TL_EXPORT __attribute__((visibility("default")))
#endif

/* The architecture, as GCC/Clang (__i386__, __x86_64__) or MSVC (_M_IX86, _M_X64) say it. */
#if defined(__i386__) || defined(_M_IX86)
#define TL_X86 1
#elif defined(__x86_64__) || (defined(_M_X64) && !defined(_M_ARM64EC))
#define TL_X86_64 1
#endif

/* Conventions by keyword: MSVC and MinGW spell them __stdcall etc.; GCC and Clang elsewhere
 * only have the attributes. */
#if defined(TL_X86) && (defined(_MSC_VER) || defined(_WIN32))
#define TL_STDCALL __stdcall
#define TL_FASTCALL __fastcall
#define TL_THISCALL __thiscall
#define TL_CDECL __cdecl
#elif defined(TL_X86)
#define TL_STDCALL __attribute__((stdcall))
#define TL_FASTCALL __attribute__((fastcall))
#define TL_THISCALL __attribute__((thiscall))
#define TL_CDECL __attribute__((cdecl))
#endif

/* The x86_64 conventions by name (Rust's extern "win64" and "sysv64"). cl.exe has no
 * attribute for System V: there TL_HAS_SYSV64 stays undefined and build.rs tells the Rust
 * tests (cfg testlib_no_sysv64). */
#if defined(TL_X86_64) && (defined(__GNUC__) || defined(__clang__))
#define TL_WIN64 __attribute__((ms_abi))
#define TL_SYSV64 __attribute__((sysv_abi))
#define TL_HAS_SYSV64 1
#elif defined(TL_X86_64)
#define TL_WIN64
#endif

#if defined(_WIN32) && defined(TL_X86)
#define TL_SYSTEM TL_STDCALL
#else
#define TL_SYSTEM
#endif

#endif
