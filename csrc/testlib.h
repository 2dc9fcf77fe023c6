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

#if defined(__i386__)
#define TL_X86 1
#define TL_STDCALL __attribute__((stdcall))
#define TL_FASTCALL __attribute__((fastcall))
#define TL_THISCALL __attribute__((thiscall))
#endif

#if defined(_WIN32) && defined(__i386__)
#define TL_SYSTEM TL_STDCALL
#else
#define TL_SYSTEM
#endif

#endif
