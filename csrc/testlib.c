/*
 * C test library for trampoline. See testlib.h for the calling-convention macros.
 *
 * Every function here mirrors a shape that real C APIs give their callbacks. Names start with
 * tl_; Rust declares them in tests/common/mod.rs and examples/tour.rs.
 */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <windows.h>
#else
#include <pthread.h>
#endif

/* MinGW's headers define _stdcall, _fastcall, _thiscall and _cdecl as macros; they would
 * expand inside the function-name suffixes below (tl_call_i3_stdcall, ..) when passed through
 * a macro, and break the 32-bit Windows build. This file uses the TL_ macros instead. */
#undef _stdcall
#undef _fastcall
#undef _thiscall
#undef _cdecl

/* ---- An EnumWindows-style enumerator --------------------------------------------------- */

/* MSVC exports a stdcall function as `name@bytes`; give tests the plain name too, as MinGW's
 * --kill-at does. */
#if defined(_MSC_VER) && defined(TL_X86)
#pragma comment(linker, "/export:tl_enum_items=_tl_enum_items@12")
#endif

/* Calls cb(item, lparam) for items 10, 20, .., 10*count, in order, and stops early when cb
 * returns 0, like EnumWindows. Returns the number of calls made. */
TL_EXPORT int32_t TL_SYSTEM tl_enum_items(int32_t(TL_SYSTEM *cb)(intptr_t item, intptr_t lparam),
                                          intptr_t lparam, int32_t count) {
    int32_t calls = 0;
    for (int32_t i = 1; i <= count; i++) {
        calls++;
        if (!cb((intptr_t)i * 10, lparam))
            break;
    }
    return calls;
}

/* ---- qsort-style sorts: context last (glibc qsort_r), first (BSD/MS qsort_s), absent ----- */

/* A stable insertion sort over int32 elements: deterministic, and it calls the comparator a
 * predictable number of times, unlike a libc qsort. */
#define TL_INSERTION_SORT(CALL_CMP)                                                             \
    for (size_t i = 1; i < n; i++) {                                                            \
        int32_t key = base[i];                                                                  \
        size_t j = i;                                                                           \
        while (j > 0) {                                                                         \
            const void *a = &base[j - 1], *b = &key;                                            \
            if ((CALL_CMP) <= 0)                                                                \
                break;                                                                          \
            base[j] = base[j - 1];                                                              \
            j--;                                                                                \
        }                                                                                       \
        base[j] = key;                                                                          \
    }

TL_EXPORT void tl_sort_ctx_last(int32_t *base, size_t n,
                                int32_t (*cmp)(const void *, const void *, void *ctx), void *ctx) {
    TL_INSERTION_SORT(cmp(a, b, ctx))
}

TL_EXPORT void tl_sort_ctx_first(int32_t *base, size_t n,
                                 int32_t (*cmp)(void *ctx, const void *, const void *), void *ctx) {
    TL_INSERTION_SORT(cmp(ctx, a, b))
}

TL_EXPORT void tl_sort(int32_t *base, size_t n, int32_t (*cmp)(const void *, const void *)) {
    TL_INSERTION_SORT(cmp(a, b))
}

/* ---- Callbacks registered now and fired later ------------------------------------------- */

#define TL_REGISTRY_CAP 64

typedef int64_t (*tl_event_cb)(int64_t event, void *ud);
typedef int64_t (*tl_event_cb_plain)(int64_t event);

typedef struct tl_registry {
    int count;
    tl_event_cb cbs[TL_REGISTRY_CAP];
    void *uds[TL_REGISTRY_CAP];
    tl_event_cb_plain plain[TL_REGISTRY_CAP];
} tl_registry;

TL_EXPORT tl_registry *tl_registry_new(void) { return calloc(1, sizeof(tl_registry)); }

TL_EXPORT void tl_registry_free(tl_registry *r) { free(r); }

/* Returns the handler's index, or -1 when the registry is full. */
TL_EXPORT int32_t tl_registry_add(tl_registry *r, tl_event_cb cb, void *ud) {
    if (r->count == TL_REGISTRY_CAP)
        return -1;
    r->cbs[r->count] = cb;
    r->uds[r->count] = ud;
    return r->count++;
}

TL_EXPORT int32_t tl_registry_add_plain(tl_registry *r, tl_event_cb_plain cb) {
    if (r->count == TL_REGISTRY_CAP)
        return -1;
    r->plain[r->count] = cb;
    return r->count++;
}

/* A source that owns its callback, as GLib's g_timeout_add_full does: it keeps the callback,
 * its user data and a destroy notify, and calls the notify once, with the user data, when it
 * drops the callback. */
typedef int64_t (*tl_source_cb)(void *ud, int64_t tick);
typedef void (*tl_destroy_notify)(void *ud);

typedef struct tl_source {
    tl_source_cb cb;
    void *ud;
    tl_destroy_notify destroy;
} tl_source;

TL_EXPORT tl_source *tl_source_new(tl_source_cb cb, void *ud, tl_destroy_notify destroy) {
    tl_source *s = malloc(sizeof(tl_source));
    s->cb = cb;
    s->ud = ud;
    s->destroy = destroy;
    return s;
}

/* Calls the callback for ticks 1..=n; returns the sum of its results. */
TL_EXPORT int64_t tl_source_run(tl_source *s, int64_t n) {
    int64_t sum = 0;
    for (int64_t tick = 1; tick <= n; tick++)
        sum += s->cb(s->ud, tick);
    return sum;
}

TL_EXPORT void tl_source_free(tl_source *s) {
    if (s->destroy)
        s->destroy(s->ud);
    free(s);
}

/* A getter-style API, shaped like sqlite3_create_function: the function gets a context, not its
 * user data, and finds that with tl_fn_user_data(ctx) (sqlite3_user_data). */
typedef struct tl_fn_ctx {
    void *user_data;
    int64_t row;
} tl_fn_ctx;
typedef int64_t (*tl_scalar_fn)(tl_fn_ctx *ctx, int64_t x);

TL_EXPORT void *tl_fn_user_data(tl_fn_ctx *ctx) { return ctx->user_data; }

/* Calls `fn` once per row 1..=n with x = row * 10; returns the sum of its results. */
TL_EXPORT int64_t tl_fn_run(tl_scalar_fn fn, void *user_data, int64_t n) {
    tl_fn_ctx ctx = {user_data, 0};
    int64_t sum = 0;
    for (ctx.row = 1; ctx.row <= n; ctx.row++)
        sum += fn(&ctx, ctx.row * 10);
    return sum;
}

/* Calls every handler, in registration order, with `event`; returns the sum of their results. */
TL_EXPORT int64_t tl_registry_fire(const tl_registry *r, int64_t event) {
    int64_t sum = 0;
    for (int i = 0; i < r->count; i++)
        sum += r->cbs[i] ? r->cbs[i](event, r->uds[i]) : r->plain[i](event);
    return sum;
}

/* ---- Callbacks called from threads the library creates itself --------------------------- */

typedef int64_t (*tl_thread_cb)(void *ud, int64_t thread, int64_t i);
typedef int64_t (*tl_thread_cb_plain)(int64_t thread, int64_t i);

typedef struct tl_worker {
    tl_thread_cb cb;
    tl_thread_cb_plain plain;
    void *ud;
    int64_t thread, calls, sum;
} tl_worker;

static void tl_work(tl_worker *w) {
    int64_t sum = 0;
    for (int64_t i = 0; i < w->calls; i++)
        sum += w->cb ? w->cb(w->ud, w->thread, i) : w->plain(w->thread, i);
    w->sum = sum;
}

#if defined(_WIN32)
static DWORD WINAPI tl_thread_main(LPVOID arg) {
    tl_work(arg);
    return 0;
}
#else
static void *tl_thread_main(void *arg) {
    tl_work(arg);
    return NULL;
}
#endif

/* Starts `threads` threads at once; thread t calls the callback `calls` times with (t, i).
 * Returns the sum of all results, or INT64_MIN if a thread could not be created. */
static int64_t tl_run_threads(tl_thread_cb cb, tl_thread_cb_plain plain, void *ud,
                              int32_t threads, int64_t calls) {
    tl_worker *workers = calloc((size_t)threads, sizeof *workers);
    int64_t total = 0;
    int32_t started = 0;
    bool failed = false;
#if defined(_WIN32)
    HANDLE *handles = calloc((size_t)threads, sizeof *handles);
#else
    pthread_t *handles = calloc((size_t)threads, sizeof *handles);
#endif
    if (!workers || !handles) {
        free(workers);
        free(handles);
        return INT64_MIN;
    }
    for (; started < threads; started++) {
        tl_worker *w = &workers[started];
        w->cb = cb;
        w->plain = plain;
        w->ud = ud;
        w->thread = started;
        w->calls = calls;
#if defined(_WIN32)
        handles[started] = CreateThread(NULL, 0, tl_thread_main, w, 0, NULL);
        if (!handles[started]) {
            failed = true;
            break;
        }
#else
        if (pthread_create(&handles[started], NULL, tl_thread_main, w) != 0) {
            failed = true;
            break;
        }
#endif
    }
    for (int32_t t = 0; t < started; t++) {
#if defined(_WIN32)
        WaitForSingleObject(handles[t], INFINITE);
        CloseHandle(handles[t]);
#else
        pthread_join(handles[t], NULL);
#endif
        total += workers[t].sum;
    }
    free(workers);
    free(handles);
    return failed ? INT64_MIN : total;
}

TL_EXPORT int64_t tl_call_from_threads(tl_thread_cb cb, void *ud, int32_t threads, int64_t calls) {
    return tl_run_threads(cb, NULL, ud, threads, calls);
}

TL_EXPORT int64_t tl_call_from_threads_plain(tl_thread_cb_plain cb, int32_t threads,
                                             int64_t calls) {
    return tl_run_threads(NULL, cb, NULL, threads, calls);
}

/* ---- Re-entrancy: C calls Rust calls C calls Rust ---------------------------------------- */

/* Calls cb(depth, ud) and returns its result plus one, so that a chain of n nested calls
 * returns a value that counts them. The callback nests by calling tl_nest again. */
TL_EXPORT int32_t tl_nest(int32_t (*cb)(int32_t depth, void *ud), void *ud, int32_t depth) {
    return cb(depth, ud) + 1;
}

TL_EXPORT int32_t tl_nest_plain(int32_t (*cb)(int32_t depth), int32_t depth) {
    return cb(depth) + 1;
}

/* ---- Arity: N pointer-sized integers, or N doubles, in every convention ------------------ */

/* tl_call_iN[_conv](cb, a): returns cb(a[0], .., a[N-1]) for a callback taking N intptr_t.
 * Which of them is the user data is the caller's business: C just passes the words. */
#define TL_I0 void
#define TL_I1 intptr_t
#define TL_I2 TL_I1, intptr_t
#define TL_I3 TL_I2, intptr_t
#define TL_I4 TL_I3, intptr_t
#define TL_I5 TL_I4, intptr_t
#define TL_I6 TL_I5, intptr_t
#define TL_I7 TL_I6, intptr_t
#define TL_I8 TL_I7, intptr_t
#define TL_I9 TL_I8, intptr_t
#define TL_I10 TL_I9, intptr_t
#define TL_I11 TL_I10, intptr_t
#define TL_I12 TL_I11, intptr_t
#define TL_I13 TL_I12, intptr_t

#define TL_A0
#define TL_A1 a[0]
#define TL_A2 TL_A1, a[1]
#define TL_A3 TL_A2, a[2]
#define TL_A4 TL_A3, a[3]
#define TL_A5 TL_A4, a[4]
#define TL_A6 TL_A5, a[5]
#define TL_A7 TL_A6, a[6]
#define TL_A8 TL_A7, a[7]
#define TL_A9 TL_A8, a[8]
#define TL_A10 TL_A9, a[9]
#define TL_A11 TL_A10, a[10]
#define TL_A12 TL_A11, a[11]
#define TL_A13 TL_A12, a[12]

#define TL_CALL_I(N, CONV, SUFFIX)                                                              \
    TL_EXPORT intptr_t tl_call_i##N##SUFFIX(intptr_t(CONV * cb)(TL_I##N), const intptr_t *a) { \
        (void)a;                                                                                \
        return cb(TL_A##N);                                                                     \
    }

#define TL_CALL_I_ALL(CONV, SUFFIX)                                                             \
    TL_CALL_I(0, CONV, SUFFIX)                                                                  \
    TL_CALL_I(1, CONV, SUFFIX)                                                                  \
    TL_CALL_I(2, CONV, SUFFIX)                                                                  \
    TL_CALL_I(3, CONV, SUFFIX)                                                                  \
    TL_CALL_I(4, CONV, SUFFIX)                                                                  \
    TL_CALL_I(5, CONV, SUFFIX)                                                                  \
    TL_CALL_I(6, CONV, SUFFIX)                                                                  \
    TL_CALL_I(7, CONV, SUFFIX)                                                                  \
    TL_CALL_I(8, CONV, SUFFIX)                                                                  \
    TL_CALL_I(9, CONV, SUFFIX)                                                                  \
    TL_CALL_I(10, CONV, SUFFIX)                                                                 \
    TL_CALL_I(11, CONV, SUFFIX)                                                                 \
    TL_CALL_I(12, CONV, SUFFIX)                                                                 \
    TL_CALL_I(13, CONV, SUFFIX)

TL_CALL_I_ALL(, )
TL_CALL_I_ALL(TL_SYSTEM, _system)
#if defined(TL_X86)
TL_CALL_I_ALL(TL_STDCALL, _stdcall)
TL_CALL_I_ALL(TL_FASTCALL, _fastcall)
TL_CALL_I_ALL(TL_THISCALL, _thiscall)
#endif

/* tl_call_dN(cb, ud, a): returns cb(ud, a[0], .., a[N-1]) for a callback taking the user data
 * first and then N doubles; tl_call_dN_last passes the user data last. */
#define TL_D0
#define TL_D1 , double
#define TL_D2 TL_D1, double
#define TL_D3 TL_D2, double
#define TL_D4 TL_D3, double
#define TL_D5 TL_D4, double
#define TL_D6 TL_D5, double
#define TL_D7 TL_D6, double
#define TL_D8 TL_D7, double
#define TL_D9 TL_D8, double
#define TL_D10 TL_D9, double
#define TL_D11 TL_D10, double
#define TL_D12 TL_D11, double

#define TL_CALL_D(N)                                                                            \
    TL_EXPORT double tl_call_d##N(double (*cb)(void *TL_D##N), void *ud, const double *a) {     \
        (void)a;                                                                                \
        return cb(ud TL_B##N);                                                                  \
    }                                                                                           \
    TL_EXPORT double tl_call_d##N##_last(double (*cb)(TL_DL##N void *), void *ud,               \
                                         const double *a) {                                     \
        (void)a;                                                                                \
        return cb(TL_BL##N ud);                                                                 \
    }

#define TL_B0
#define TL_B1 , a[0]
#define TL_B2 TL_B1, a[1]
#define TL_B3 TL_B2, a[2]
#define TL_B4 TL_B3, a[3]
#define TL_B5 TL_B4, a[4]
#define TL_B6 TL_B5, a[5]
#define TL_B7 TL_B6, a[6]
#define TL_B8 TL_B7, a[7]
#define TL_B9 TL_B8, a[8]
#define TL_B10 TL_B9, a[9]
#define TL_B11 TL_B10, a[10]
#define TL_B12 TL_B11, a[11]

#define TL_DL0
#define TL_DL1 double,
#define TL_DL2 TL_DL1 double,
#define TL_DL3 TL_DL2 double,
#define TL_DL4 TL_DL3 double,
#define TL_DL5 TL_DL4 double,
#define TL_DL6 TL_DL5 double,
#define TL_DL7 TL_DL6 double,
#define TL_DL8 TL_DL7 double,
#define TL_DL9 TL_DL8 double,
#define TL_DL10 TL_DL9 double,
#define TL_DL11 TL_DL10 double,
#define TL_DL12 TL_DL11 double,

#define TL_BL0
#define TL_BL1 a[0],
#define TL_BL2 TL_BL1 a[1],
#define TL_BL3 TL_BL2 a[2],
#define TL_BL4 TL_BL3 a[3],
#define TL_BL5 TL_BL4 a[4],
#define TL_BL6 TL_BL5 a[5],
#define TL_BL7 TL_BL6 a[6],
#define TL_BL8 TL_BL7 a[7],
#define TL_BL9 TL_BL8 a[8],
#define TL_BL10 TL_BL9 a[9],
#define TL_BL11 TL_BL10 a[10],
#define TL_BL12 TL_BL11 a[11],

TL_CALL_D(0)
TL_CALL_D(1)
TL_CALL_D(2)
TL_CALL_D(3)
TL_CALL_D(4)
TL_CALL_D(5)
TL_CALL_D(6)
TL_CALL_D(7)
TL_CALL_D(8)
TL_CALL_D(9)
TL_CALL_D(10)
TL_CALL_D(11)
TL_CALL_D(12)

/* ---- Mixed classes: integers and floats interleaved, spilling to the stack --------------- */

typedef double (*tl_mixed_cb)(int8_t, double, int16_t, float, int32_t, double, int64_t, float,
                              uint8_t, void *ud, double, uint64_t);

/* Calls cb with fixed, distinctive values (Rust checks each one) and returns its result.
 * Seven integer-class arguments and five float ones: the last integers spill to the stack on
 * System V, and from the fifth argument on everything does on Windows x64. */
TL_EXPORT double tl_call_mixed(tl_mixed_cb cb, void *ud) {
    return cb(-100, 1.5, -30000, 2.25f, -2000000000, -3.125, INT64_MIN + 7, 4.5f, 200, ud,
              5e-324, UINT64_MAX - 5);
}

/* ---- Every scalar type through a callback, as argument and as return --------------------- */

/* tl_echo_T(cb, ud, x): returns cb(ud, x). tl_widen_T returns the callback's result converted
 * to int64_t by C, which catches a callee that leaves garbage where C expects an extension. */
#define TL_ECHO(T, NAME)                                                                        \
    TL_EXPORT T tl_echo_##NAME(T (*cb)(void *, T), void *ud, T x) { return cb(ud, x); }         \
    TL_EXPORT T tl_echo_last_##NAME(T (*cb)(T, void *), void *ud, T x) { return cb(x, ud); }

#define TL_WIDEN(T, NAME)                                                                       \
    TL_EXPORT int64_t tl_widen_##NAME(T (*cb)(void *, T), void *ud, T x) {                       \
        return (int64_t)cb(ud, x);                                                              \
    }

TL_ECHO(int8_t, i8)
TL_ECHO(uint8_t, u8)
TL_ECHO(int16_t, i16)
TL_ECHO(uint16_t, u16)
TL_ECHO(int32_t, i32)
TL_ECHO(uint32_t, u32)
TL_ECHO(int64_t, i64)
TL_ECHO(uint64_t, u64)
TL_ECHO(intptr_t, isize)
TL_ECHO(uintptr_t, usize)
TL_ECHO(bool, bool)
TL_ECHO(float, f32)
TL_ECHO(double, f64)
TL_ECHO(void *, ptr)

TL_WIDEN(int8_t, i8)
TL_WIDEN(uint8_t, u8)
TL_WIDEN(int16_t, i16)
TL_WIDEN(uint16_t, u16)
TL_WIDEN(int32_t, i32)
TL_WIDEN(uint32_t, u32)
TL_WIDEN(bool, bool)

/* Calls a callback that returns nothing, `times` times; returns `times`. */
TL_EXPORT int32_t tl_call_void(void (*cb)(void *ud, int32_t i), void *ud, int32_t times) {
    for (int32_t i = 0; i < times; i++)
        cb(ud, i);
    return times;
}

/* ---- 32-bit x86 conventions with odd stack sizes ----------------------------------------- */

#if defined(TL_X86)
/* A callback with an 8-byte argument between 4-byte ones: 20 bytes of stack arguments for a
 * callee-pop convention to get right. Returns the callback's result. */
#define TL_CALL_X86(CONV, SUFFIX)                                                              \
    TL_EXPORT int64_t tl_call_x86##SUFFIX(int64_t(CONV * cb)(int32_t, void *, int64_t, int8_t,  \
                                                              double),                          \
                                          void *ud) {                                           \
        return cb(-7, ud, INT64_MIN + 3, -128, -2.5);                                           \
    }
TL_CALL_X86(TL_STDCALL, _stdcall)
TL_CALL_X86(TL_FASTCALL, _fastcall)
TL_CALL_X86(TL_THISCALL, _thiscall)
TL_CALL_X86(TL_CDECL, _cdecl)
#endif

/* ---- Loop drivers for benchmarks: the loop runs in C ------------------------------------- */

TL_EXPORT int64_t tl_loop1(int64_t (*cb)(int64_t), int64_t n) {
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += cb(i);
    return sum;
}

TL_EXPORT int64_t tl_loop1_ud(int64_t (*cb)(int64_t, void *), void *ud, int64_t n) {
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += cb(i, ud);
    return sum;
}

typedef double (*tl_cb6)(int64_t, double, int64_t, double, int64_t, double);
typedef double (*tl_cb6_ud)(int64_t, double, int64_t, double, int64_t, double, void *);

TL_EXPORT double tl_loop6(tl_cb6 cb, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += cb(i, 0.5, i + 1, 1.5, i + 2, 2.5);
    return sum;
}

TL_EXPORT double tl_loop6_ud(tl_cb6_ud cb, void *ud, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += cb(i, 0.5, i + 1, 1.5, i + 2, 2.5, ud);
    return sum;
}

/* Six integer arguments: on System V no argument register is left for a context. */
typedef int64_t (*tl_cb6i)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

TL_EXPORT int64_t tl_loop6i(tl_cb6i cb, int64_t n) {
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += cb(i, i + 1, i + 2, i + 3, i + 4, i + 5);
    return sum;
}

/* Four integer arguments: on Windows x64 no argument register is left (WNDPROC's shape). */
typedef int64_t (*tl_cb4)(int64_t, int64_t, int64_t, int64_t);

TL_EXPORT int64_t tl_loop4(tl_cb4 cb, int64_t n) {
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += cb(i, i + 1, i + 2, i + 3);
    return sum;
}

/* A plain C callback for the benchmarks' floor. */
TL_EXPORT int64_t tl_plain_add1(int64_t x) { return x + 1; }

/* ---- No user data at all: shapes for thunks ---------------------------------------------- */

/* The x86_64 conventions by name, whatever the platform's default: Rust's extern "win64" and
 * extern "sysv64". */
#if defined(TL_X86_64)
TL_CALL_I_ALL(TL_WIN64, _win64)
#endif
#if defined(TL_HAS_SYSV64)
TL_CALL_I_ALL(TL_SYSV64, _sysv64)
#endif

/* tl_call_fN[_conv](cb, a): returns cb(a[0], .., a[N-1]) for a callback taking N doubles and
 * nothing else (no user data), in each convention. */
#define TL_F0 void
#define TL_F1 double
#define TL_F2 TL_F1, double
#define TL_F3 TL_F2, double
#define TL_F4 TL_F3, double
#define TL_F5 TL_F4, double
#define TL_F6 TL_F5, double
#define TL_F7 TL_F6, double
#define TL_F8 TL_F7, double
#define TL_F9 TL_F8, double
#define TL_F10 TL_F9, double
#define TL_F11 TL_F10, double
#define TL_F12 TL_F11, double

#define TL_CALL_F(N, CONV, SUFFIX)                                                              \
    TL_EXPORT double tl_call_f##N##SUFFIX(double(CONV * cb)(TL_F##N), const double *a) {       \
        (void)a;                                                                                \
        return cb(TL_A##N);                                                                     \
    }

#define TL_CALL_F_ALL(CONV, SUFFIX)                                                             \
    TL_CALL_F(0, CONV, SUFFIX)                                                                  \
    TL_CALL_F(1, CONV, SUFFIX)                                                                  \
    TL_CALL_F(2, CONV, SUFFIX)                                                                  \
    TL_CALL_F(3, CONV, SUFFIX)                                                                  \
    TL_CALL_F(4, CONV, SUFFIX)                                                                  \
    TL_CALL_F(5, CONV, SUFFIX)                                                                  \
    TL_CALL_F(6, CONV, SUFFIX)                                                                  \
    TL_CALL_F(7, CONV, SUFFIX)                                                                  \
    TL_CALL_F(8, CONV, SUFFIX)                                                                  \
    TL_CALL_F(9, CONV, SUFFIX)                                                                  \
    TL_CALL_F(10, CONV, SUFFIX)                                                                 \
    TL_CALL_F(11, CONV, SUFFIX)                                                                 \
    TL_CALL_F(12, CONV, SUFFIX)

TL_CALL_F_ALL(, )
TL_CALL_F_ALL(TL_SYSTEM, _system)
#if defined(TL_X86)
TL_CALL_F_ALL(TL_STDCALL, _stdcall)
TL_CALL_F_ALL(TL_FASTCALL, _fastcall)
TL_CALL_F_ALL(TL_THISCALL, _thiscall)
#endif
#if defined(TL_X86_64)
TL_CALL_F_ALL(TL_WIN64, _win64)
#endif
#if defined(TL_HAS_SYSV64)
TL_CALL_F_ALL(TL_SYSV64, _sysv64)
#endif

/* Mixed classes with no user data, in each convention. tl_call_mixed_ints: seven
 * integer-class arguments and five float ones (the 7th integer spills on System V, from the
 * 5th argument on everything does on Windows x64). tl_call_mixed_floats: three integers and
 * nine floats (the 9th float spills on System V while integer registers stay free). Each
 * passes fixed, distinctive values that Rust checks, and returns the callback's result. */
#define TL_CALL_MIXED(CONV, SUFFIX)                                                             \
    TL_EXPORT double tl_call_mixed_ints##SUFFIX(double(CONV * cb)(int8_t, double, int16_t,      \
                                                                   float, int32_t, double,       \
                                                                   int64_t, float, uint8_t,      \
                                                                   void *, double, uint64_t),    \
                                                 void *p) {                                     \
        return cb(-100, 1.5, -30000, 2.25f, -2000000000, -3.125, INT64_MIN + 7, 4.5f, 200, p,   \
                  5e-324, UINT64_MAX - 5);                                                      \
    }                                                                                           \
    TL_EXPORT double tl_call_mixed_floats##SUFFIX(double(CONV * cb)(double, int32_t, float,     \
                                                                     double, double, uint16_t,   \
                                                                     double, float, double,      \
                                                                     double, int64_t, double)) { \
        return cb(-0.0, INT32_MIN, -1.5f, 1e308, 2.5, 0xfffe, -7.25, 1e-45f, 0.1, -1e-310,      \
                  INT64_MAX - 9, 3.0);                                                          \
    }

TL_CALL_MIXED(, )
TL_CALL_MIXED(TL_SYSTEM, _system)
#if defined(TL_X86_64)
TL_CALL_MIXED(TL_WIN64, _win64)
#endif
#if defined(TL_HAS_SYSV64)
TL_CALL_MIXED(TL_SYSV64, _sysv64)
#endif

/* tl_echo_plain_T(cb, x): returns cb(x); tl_widen_plain_T returns it converted to int64_t by
 * C, which catches a callee that leaves garbage where C expects an extension. */
#define TL_ECHO_PLAIN(T, NAME)                                                                  \
    TL_EXPORT T tl_echo_plain_##NAME(T (*cb)(T), T x) { return cb(x); }

#define TL_WIDEN_PLAIN(T, NAME)                                                                 \
    TL_EXPORT int64_t tl_widen_plain_##NAME(T (*cb)(T), T x) { return (int64_t)cb(x); }

TL_ECHO_PLAIN(int8_t, i8)
TL_ECHO_PLAIN(uint8_t, u8)
TL_ECHO_PLAIN(int16_t, i16)
TL_ECHO_PLAIN(uint16_t, u16)
TL_ECHO_PLAIN(int32_t, i32)
TL_ECHO_PLAIN(uint32_t, u32)
TL_ECHO_PLAIN(int64_t, i64)
TL_ECHO_PLAIN(uint64_t, u64)
TL_ECHO_PLAIN(intptr_t, isize)
TL_ECHO_PLAIN(uintptr_t, usize)
TL_ECHO_PLAIN(bool, bool)
TL_ECHO_PLAIN(float, f32)
TL_ECHO_PLAIN(double, f64)
TL_ECHO_PLAIN(void *, ptr)

TL_WIDEN_PLAIN(int8_t, i8)
TL_WIDEN_PLAIN(uint8_t, u8)
TL_WIDEN_PLAIN(int16_t, i16)
TL_WIDEN_PLAIN(uint16_t, u16)
TL_WIDEN_PLAIN(int32_t, i32)
TL_WIDEN_PLAIN(uint32_t, u32)
TL_WIDEN_PLAIN(bool, bool)

/* Calls a callback that takes and returns nothing `times` times; returns `times`. */
TL_EXPORT int32_t tl_call_void_plain(void (*cb)(void), int32_t times) {
    for (int32_t i = 0; i < times; i++)
        cb();
    return times;
}

#if defined(TL_X86)
/* As tl_call_x86<conv>, with a plain pointer `p` where the user data was. */
#define TL_CALL_X86_PLAIN(CONV, SUFFIX)                                                        \
    TL_EXPORT int64_t tl_call_x86_plain##SUFFIX(                                                \
        int64_t(CONV * cb)(int32_t, void *, int64_t, int8_t, double), void *p) {                \
        return cb(-7, p, INT64_MIN + 3, -128, -2.5);                                            \
    }
TL_CALL_X86_PLAIN(TL_STDCALL, _stdcall)
TL_CALL_X86_PLAIN(TL_FASTCALL, _fastcall)
TL_CALL_X86_PLAIN(TL_THISCALL, _thiscall)
TL_CALL_X86_PLAIN(TL_CDECL, _cdecl)
#endif

/* ---- Unwinding through callbacks: a window procedure, structured exceptions -------------- */

/* WNDPROC's shape: four arguments, so no argument register is left for a thunk's context on
 * Windows x64, and a frame adapter is on the stack while the callback runs. */
typedef intptr_t(TL_SYSTEM *tl_wndproc)(void *hwnd, uint32_t msg, uintptr_t wparam,
                                        intptr_t lparam);

/* DispatchMessage's part: calls the window procedure and returns its result. */
TL_EXPORT intptr_t tl_dispatch_message(tl_wndproc proc, void *hwnd, uint32_t msg,
                                       uintptr_t wparam, intptr_t lparam) {
    return proc(hwnd, msg, wparam, lparam);
}

#if defined(_MSC_VER)
#include <excpt.h>
#if !defined(GetExceptionCode)
/* MSVC's excpt.h defines it so; some header sets (Wine's CRT headers) leave it out. */
unsigned long __cdecl _exception_code(void);
#define GetExceptionCode _exception_code
#endif

/* As tl_dispatch_message, inside __try: a structured exception with code `code` raised by the
 * window procedure is handled here (others pass on). Returns `code` if it was, else 0 with
 * the procedure's result in *result. The handler is found, and the frames between are
 * unwound, only through every frame's unwind information: the callback's, the thunk's
 * frame adapter's, and this function's. */
TL_EXPORT uint32_t tl_dispatch_message_seh(tl_wndproc proc, void *hwnd, uint32_t msg,
                                           uintptr_t wparam, intptr_t lparam, uint32_t code,
                                           intptr_t *result) {
    __try {
        *result = proc(hwnd, msg, wparam, lparam);
    } __except (GetExceptionCode() == code ? EXCEPTION_EXECUTE_HANDLER
                                           : EXCEPTION_CONTINUE_SEARCH) {
        return code;
    }
    return 0;
}
#endif

/* ---- Structs by value ---------------------------------------------------------------------- */

/* A 2-D point of floats (an SSE eightbyte on System V, an HFA on AAPCS64, 8 bytes on Windows),
 * a rectangle of doubles (32 bytes: in memory, or by reference), and a tagged value mixing
 * integers and floats. */
typedef struct tl_point { float x, y; } tl_point;
typedef struct tl_rect { double left, top, right, bottom; } tl_rect;
typedef struct tl_tagged { uint8_t tag; int32_t n; double value; } tl_tagged;

typedef tl_point (*tl_point_fn)(tl_point p, float scale, void *ud);
typedef tl_rect (*tl_rect_fn)(tl_rect r, tl_tagged t, int32_t grow);

/* Maps each of `n` points through cb with `scale`, in place. */
TL_EXPORT void tl_map_points(tl_point *points, size_t n, float scale, tl_point_fn cb, void *ud) {
    for (size_t i = 0; i < n; i++)
        points[i] = cb(points[i], scale, ud);
}

/* Calls cb with a fixed rectangle and tagged value; returns the rectangle's area after. */
TL_EXPORT double tl_grow_rect(tl_rect_fn cb, int32_t grow) {
    tl_rect r = {-1.5, 2.25, 10.0, 20.5};
    tl_tagged t = {0xA5, -7, 0.125};
    tl_rect out = cb(r, t, grow);
    return (out.right - out.left) * (out.bottom - out.top);
}
