/*
 * Runtime CPU dispatch.  The kernels (fl_kernels.h) are compiled once per instruction-set
 * level: the portable baseline inside the Cython module, and, on x86-64, AVX2+FMA and
 * AVX-512 in their own translation units (fl_isa_avx2.c, fl_isa_avx512.c) built with those
 * flags.  Each variant exports a table getter and a vmath test hook; the Cython layer picks
 * the best level the CPU supports at import (FASTLOSS_SIMD can ask for a lower one).
 * Only the variants' own code uses the wider instructions, so the module still loads and
 * runs on any x86-64.
 */
#ifndef FASTLOSS_ISA_H
#define FASTLOSS_ISA_H

#include <stddef.h>


enum { FL_ISA_BASELINE = 0, FL_ISA_AVX2 = 1, FL_ISA_AVX512 = 2, FL_N_ISA = 3 };

/* What this CPU (and OS) supports: the highest FL_ISA_* level. */
static inline int fl_cpu_isa_level(void)
{
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("fma"))
        return FL_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FL_ISA_AVX2;
#endif
    return FL_ISA_BASELINE;
}

#endif
