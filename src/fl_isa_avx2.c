/* AVX2 + FMA variant of the kernels; built with -mavx2 -mfma (see setup.py). */
#define FL_ISA_NAME avx2
#include "fl_isa_variant.h"
