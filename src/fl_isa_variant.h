/*
 * Body of one instruction-set variant (see fl_isa.h).  The including file defines
 * FL_ISA_NAME (avx2 | avx512) and is compiled with that level's flags.
 */
#include "fl_kernels.h"

#define FL_ISA_CAT_(a, b) a##_##b
#define FL_ISA_CAT(a, b) FL_ISA_CAT_(a, b)

fl_block_fn FL_ISA_CAT(fl_get_block, FL_ISA_NAME)(int kernel, int is_double)
{
    return fl_get_block(kernel, is_double);
}

void FL_ISA_CAT(fl_vmath_apply, FL_ISA_NAME)(int which, int is_double, const void *in,
                                              void *out, ptrdiff_t n)
{
    fl_vmath_apply(which, is_double, in, out, n);
}
