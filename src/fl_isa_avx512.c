/* AVX-512 (F, DQ, BW, VL) variant of the kernels; built with -mavx512* (see setup.py). */
#define FL_ISA_NAME avx512
#include "fl_isa_variant.h"
