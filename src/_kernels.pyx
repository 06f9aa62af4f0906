# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, embedsignature=True
"""Compiled kernels of fastloss: one fused pass computes a loss and its gradient.

Design note
-----------
* The per-element maths and the innermost loops are in ``fl_kernels.h`` (C), because the
  loss is accumulated in double precision and only ``#pragma omp simd reduction`` lets the
  compiler vectorise such a sum without ``-ffast-math``.  This module owns the rest:
  checking every array before a pointer is taken, the sums the reduction needs (its rules
  are ``fastloss/_reduction.py``, the one definition every backend uses), the GIL, the
  threads, and the combination of partial sums.
* **Determinism.**  The rows are cut into blocks of about ``BLOCK_ELEMENTS`` elements.  Block
  boundaries depend on the data's shape only, each block's sum is written to its own slot,
  and the slots are added pairwise in a fixed order after the parallel loop (never an OpenMP
  ``reduction`` clause, whose combination order depends on the thread count).  So the loss
  and the gradient are bitwise the same for any number of threads.
* **Threads.**  ``n_threads <= 0`` means the library default: OpenMP's current maximum
  (which honours ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits``), capped at the
  CPUs this process may use, and one thread below ``PARALLEL_MIN_ELEMENTS`` elements, where
  waking a team costs more than it saves.  An explicit count is capped at those CPUs too.
* **One gate.**  ``fast`` only answers "is this call already well formed?" (native byte
  order, aligned, C-contiguous, the dtypes the kernel takes); anything else goes to the
  Python layer, whose validator (``fastloss._validation``) alone words errors.  The checks
  in ``run``/``run_multi`` are the last line: they keep a wrong call of these private
  functions from reading outside an array.  Labels are range-checked by the kernel as it
  reads them (an unsigned compare) and probabilities outside [0, 1] flagged in the same
  pass; the flags are raised here, worded by the validator.
"""
import os

import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from libc.math cimport isfinite

cnp.import_array()

# The one definition of the reductions and the one wording of errors (fastloss/_reduction.py,
# fastloss/_validation.py): this module only computes the sums they need.
from fastloss._reduction import denominator as _denominator, gradient_scale as _gradient_scale
from fastloss._reduction import value as _reduced_value
from fastloss._validation import label_error as _label_error
from fastloss._validation import first_bad_label as _first_bad_label
from fastloss._validation import probability_error as _probability_error

cdef extern from "numpy/arrayobject.h":
    bint PyArray_CheckExact(object op)

cdef extern from "fl_kernels.h" nogil:
    ctypedef struct fl_args:
        const void *y_true
        const void *y_pred
        void *grad
        void *hess
        void *per_sample
        const double *sample_weight
        const double *class_weight
        Py_ssize_t k
        double scale
        double param[4]
        int64_t ignore_index
        int has_ignore
        const void *x2
        const void *x3
        void *grad2
        void *grad3
        Py_ssize_t n_classes
        Py_ssize_t inner
    ctypedef struct fl_result:
        double sum
        int flags
    ctypedef fl_result (*fl_block_fn)(const fl_args *a, Py_ssize_t r0,
                                      Py_ssize_t r1) noexcept nogil
    fl_block_fn fl_get_block(int kernel, int is_double)
    double fl_pairwise_sum(const double *a, Py_ssize_t n)
    void fl_run_block(fl_block_fn fn, const fl_args *a, Py_ssize_t b, Py_ssize_t rows_per_block,
                      Py_ssize_t n_rows, double *partial, int *flags)
    int fl_or_flags(const int *flags, Py_ssize_t n)
    const char *fl_kernel_name(int kernel)
    int fl_has_hessian(int kernel)
    int FL_ERR_LABEL
    int FL_ERR_PROB_RANGE
    int FL_ERR_NOMEM
    int omp_get_max_threads()
    int FL_HAVE_OPENMP
    const char *FL_COMPILER
    int FL_N_KERNELS
    int FL_SCCE_PROB
    int FL_SCCE_LOGIT
    fl_block_fn fl_get_block_avx2(int kernel, int is_double)
    fl_block_fn fl_get_block_avx512(int kernel, int is_double)
    void fl_vmath_apply(int which, int is_double, const void *x, void *y, Py_ssize_t n)
    void fl_vmath_apply_avx2(int which, int is_double, const void *x, void *y, Py_ssize_t n)
    void fl_vmath_apply_avx512(int which, int is_double, const void *x, void *y, Py_ssize_t n)
    int fl_cpu_isa_level()
    int FL_HAVE_AVX2
    int FL_HAVE_AVX512
    int FL_CONTRASTIVE
    int FL_TRIPLET
    int FL_COSINE_EMBEDDING
    int FL_TVERSKY_PROB
    int FL_TVERSKY_LOGIT

cdef extern from "fl_threads.h" nogil:
    int fl_take_solo_turn()
    void fl_note_parallel_call(int late)
    void fl_backoff_state(int *level, long long *solo_us_left)
    void fl_backoff_reset()
    int fl_run_blocks_parallel(fl_block_fn fn, const fl_args *a, Py_ssize_t n_blocks,
                               Py_ssize_t rows_per_block, Py_ssize_t n_rows, double *partial,
                               int *flags, int nt)


#: Elements per block; block boundaries (and so every partial sum) depend on this only.
BLOCK_ELEMENTS = 8192
cdef Py_ssize_t _BLOCK = BLOCK_ELEMENTS
#: Below this many elements the default thread count is 1.  Measured on a 2-core AVX-512
#: machine (value_and_grad, float32, 1 vs 2 threads): from 16,384 elements (two blocks) two
#: threads win for every kernel, memory-bound MSE included (1.16x at 16k, 1.4-1.8x beyond);
#: below that there is one block, so one thread anyway.
PARALLEL_MIN_ELEMENTS = 16384
cdef Py_ssize_t _PAR_MIN = PARALLEL_MIN_ELEMENTS

cdef int _n_cpus
try:
    _n_cpus = len(os.sched_getaffinity(0))
except (AttributeError, OSError):
    _n_cpus = os.cpu_count() or 1

from fastloss._reduction import CODES as REDUCTION_CODES

#: Kernel ids by name, from the X-macro table in fl_kernels.h (e.g. ``KERNELS["bce_prob"]``).
KERNELS = {(<bytes>fl_kernel_name(i)).decode(): i for i in range(FL_N_KERNELS)
           if fl_kernel_name(i) != NULL}
#: Ids of the kernels that also give the diagonal second derivative (FL_HESSIAN_KERNELS).
HESSIAN_KERNELS = frozenset(i for i in KERNELS.values() if fl_has_hessian(i))

# ---- runtime CPU dispatch (see src/fl_isa.h) ----
ctypedef fl_block_fn (*block_getter)(int kernel, int is_double) noexcept nogil
ctypedef void (*vmath_fn)(int which, int is_double, const void *x, void *y,
                          Py_ssize_t n) noexcept nogil

#: Instruction-set levels, lowest first.
SIMD_LEVELS = ("baseline", "avx2", "avx512")
cdef block_getter _getters[3]
_getters[0] = fl_get_block
_getters[1] = fl_get_block_avx2
_getters[2] = fl_get_block_avx512
cdef vmath_fn _vmaths[3]
_vmaths[0] = fl_vmath_apply
_vmaths[1] = fl_vmath_apply_avx2
_vmaths[2] = fl_vmath_apply_avx512
cdef int _cpu_level = fl_cpu_isa_level()
cdef int _built[3]
_built[0] = 1
_built[1] = FL_HAVE_AVX2
_built[2] = FL_HAVE_AVX512
cdef int _level = 0


def simd_levels():
    """The levels this build has *and* this CPU runs, lowest first."""
    return [name for i, name in enumerate(SIMD_LEVELS) if _built[i] and i <= _cpu_level]


def simd_level():
    """The level the kernels run at now."""
    return SIMD_LEVELS[_level]


def set_simd_level(name):
    """Run the kernels at ``name`` (one of ``simd_levels()``)."""
    global _level
    available = simd_levels()
    if name not in available:
        raise ValueError(f"SIMD level {name!r} is not available here; available: {available}")
    _level = SIMD_LEVELS.index(name)


def _initial_level():
    available = simd_levels()
    best = available[len(available) - 1]
    wanted = os.environ.get("FASTLOSS_SIMD", "").strip().lower()
    if not wanted:
        return best
    if wanted not in SIMD_LEVELS:
        import warnings
        warnings.warn(f"FASTLOSS_SIMD={wanted!r} is not one of {SIMD_LEVELS}; using {best}",
                      RuntimeWarning)
        return best
    # a level above what the CPU/build has falls back to the best available
    return wanted if wanted in available else best


set_simd_level(_initial_level())
cdef enum:
    RED_NONE = 0
    RED_SUM = 1
    RED_MEAN = 2
    RED_SOBS = 3
    STACK_BLOCKS = 256


def build_info():
    """Facts about how this extension was built, for ``fastloss.show_config()``."""
    return {
        "openmp": bool(FL_HAVE_OPENMP),
        "compiler": (<bytes>FL_COMPILER).decode(),
        "simd_built": [n for i, n in enumerate(SIMD_LEVELS) if _built[i]],
        "simd_cpu": SIMD_LEVELS[_cpu_level],
        "block_elements": BLOCK_ELEMENTS,
        "parallel_min_elements": PARALLEL_MIN_ELEMENTS,
    }


cpdef int default_threads():
    """Threads a call with ``n_threads=None`` may use on large inputs."""
    cdef int nt = omp_get_max_threads() if FL_HAVE_OPENMP else 1
    if nt > _n_cpus:
        nt = _n_cpus
    return nt if nt > 0 else 1


# ---- machinery shared by run and run_multi --------------------------------------------------

cdef struct block_plan:
    Py_ssize_t n_rows
    Py_ssize_t rows_per_block
    Py_ssize_t n_blocks
    int nt
    bint adaptive       # a default-thread parallel call: reports whether it was held up


cdef block_plan _plan_blocks(Py_ssize_t n_rows, Py_ssize_t k, Py_ssize_t size,
                             int n_threads) noexcept:
    """Blocks of about BLOCK_ELEMENTS elements (whole rows of k), and the threads to use."""
    cdef block_plan plan
    plan.n_rows = n_rows
    plan.rows_per_block = _BLOCK // k
    if plan.rows_per_block < 1:
        plan.rows_per_block = 1
    plan.n_blocks = (n_rows + plan.rows_per_block - 1) // plan.rows_per_block
    plan.adaptive = False
    if n_threads <= 0:
        plan.nt = default_threads() if size >= _PAR_MIN else 1
        if plan.nt > 1 and plan.n_blocks > 1:
            # after calls held up by a thread that lost its core (src/fl_threads.h)
            plan.adaptive = not fl_take_solo_turn()
            if not plan.adaptive:
                plan.nt = 1
    else:  # an explicit count is capped at the CPUs this process may use
        plan.nt = n_threads if n_threads < _n_cpus else _n_cpus
    if plan.nt > plan.n_blocks:
        plan.nt = <int>plan.n_blocks
    return plan


def thread_backoff():
    """(level, seconds left in the current streak of one-thread calls) of the busy-machine
    backoff of default-thread calls (src/fl_threads.h): (0, 0.0) on a machine that has not
    held a call up."""
    cdef int level
    cdef long long left
    fl_backoff_state(&level, &left)
    return level, left * 1e-6


def _note_parallel_call(bint late):
    """Record a default-thread parallel call as held up (late) or not, as a call does (tests)."""
    fl_note_parallel_call(late)


def _reset_thread_backoff():
    fl_backoff_reset()


cdef fl_result _run_blocks(fl_block_fn fn, const fl_args *args, block_plan plan) except *:
    """Run fn over every block (in parallel when plan.nt > 1).  Return the block sums added
    pairwise in block order, so the result does not depend on the thread count, and the OR
    of the blocks' error flags (FL_ERR_*; turning them into exceptions is the caller's job).

    Each block writes its own slots, so blocks are handed out dynamically, one at a time
    (fl_run_blocks_parallel): a thread that loses its core to another process does not hold
    the others up, and which thread ran a block changes nothing.  A default-thread call that
    was held up anyway (the region's join waits for that thread) makes the next ones run on
    one thread for a while (src/fl_threads.h)."""
    cdef double stack_partial[STACK_BLOCKS]
    cdef int stack_flags[STACK_BLOCKS]
    cdef double *partial = stack_partial
    cdef int *flags = stack_flags
    cdef Py_ssize_t n_blocks = plan.n_blocks, n_rows = plan.n_rows
    cdef Py_ssize_t rows_per_block = plan.rows_per_block
    cdef int nt = plan.nt
    if n_blocks > STACK_BLOCKS:
        partial = <double *>malloc(n_blocks * sizeof(double))
        flags = <int *>malloc(n_blocks * sizeof(int))
        if partial == NULL or flags == NULL:
            free(partial)
            free(flags)
            raise MemoryError()
    cdef Py_ssize_t b
    cdef fl_result total
    cdef int late
    try:
        with nogil:
            if nt <= 1:
                for b in range(n_blocks):
                    fl_run_block(fn, args, b, rows_per_block, n_rows, partial, flags)
            else:
                late = fl_run_blocks_parallel(fn, args, n_blocks, rows_per_block, n_rows,
                                              partial, flags, nt)
                if plan.adaptive:
                    fl_note_parallel_call(late)
            total.sum = fl_pairwise_sum(partial, n_blocks)
            total.flags = fl_or_flags(flags, n_blocks)
    finally:
        if partial != stack_partial:
            free(partial)
            free(flags)
    return total


cdef int _raise_kernel_flags(int flags, object y_true, object y_pred, Py_ssize_t k,
                             object ignore_index) except -1:
    """Raise for the error flags a kernel reported in its fused pass (FL_ERR_*), worded by
    the one validator: the first bad label, or the first probability outside [0, 1]."""
    if flags & FL_ERR_NOMEM:
        raise MemoryError("a kernel could not allocate its scratch memory")
    if flags & FL_ERR_LABEL:
        error = _first_bad_label(y_true, k, ignore_index)
        raise error if error is not None else ValueError(
            "y_true holds a label outside [0, n_classes) (it changed during the call)")
    if flags & FL_ERR_PROB_RANGE:
        error = _probability_error(y_pred)
        raise error if error is not None else ValueError(
            "y_pred holds a value outside [0, 1] (it changed during the call)")
    return 0


cdef double _weight_sum(const double *sw, Py_ssize_t n_rows) noexcept:
    """Sum of the sample weights (validated finite and >= 0 by fastloss._validation; a NaN
    weight from a NaN target's class weight gives a NaN loss, as NaN input should)."""
    cdef Py_ssize_t i
    cdef double wsum = 0.0
    with nogil:
        for i in range(n_rows):
            wsum += sw[i]
    return wsum


cdef fl_block_fn _block_function(int kernel, int typenum, str what) except NULL:
    """The block function of ``kernel`` for this dtype at the current SIMD level."""
    if typenum != cnp.NPY_DOUBLE and typenum != cnp.NPY_FLOAT:
        raise TypeError(f"{what} must be float32 or float64 for the compiled kernels")
    cdef fl_block_fn fn = _getters[_level](kernel, typenum == cnp.NPY_DOUBLE)
    if fn == NULL:
        raise ValueError(f"unknown kernel {kernel}")
    return fn


cdef bint _overlaps(cnp.ndarray a, object other):
    """Whether the bytes of ``a`` and of the array ``other`` (or None) overlap."""
    if other is None:
        return False
    cdef cnp.ndarray b = <cnp.ndarray?>other
    cdef char *a0 = <char *>cnp.PyArray_DATA(a)
    cdef char *b0 = <char *>cnp.PyArray_DATA(b)
    return (a0 < b0 + cnp.PyArray_NBYTES(b)) and (b0 < a0 + cnp.PyArray_NBYTES(a))


cdef inline int _is_float(cnp.ndarray a, int typenum):
    return cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_IS_C_CONTIGUOUS(a)


cdef inline bint _kernel_ready(cnp.ndarray a, int typenum):
    """C-contiguous, aligned, native byte order and of this type: what the C loops read."""
    return (cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_IS_C_CONTIGUOUS(a)
            and cnp.PyArray_ISALIGNED(a) and cnp.PyArray_ISNOTSWAPPED(a))


cdef dict _REDUCTION_CODES = REDUCTION_CODES
cdef tuple _NO_PARAMS = (0.0, 0.0, 0.0, 0.0)


def fast(int kernel, int kind, object y_true, object y_pred, object out, object reduction,
         tuple params32, tuple params64, object ignore_index, object class_weight,
         object n_threads, bint want_grad):
    """The per-call fast path: it only answers "is this call already well formed?".

    A well-formed call has C-contiguous, aligned, native-byte-order float32/float64
    ``y_pred`` with targets already in the kernel's form (kind 0 elementwise / 1
    categorical: same dtype and shape; kind 2 sparse: int64 labels of shape
    ``y_pred.shape[:-1]``), ``out`` None or a matching buffer that shares no memory with
    them, a bound ``class_weight`` of one entry per class, a reduction other than "none" and
    no sample weights.  Anything else returns None and the Python layer takes the general
    path, whose validator alone words the errors (labels are checked as the kernel reads
    them, with the same wording).  Returns ``(value, grad)`` (``want_grad``) or the value.
    """
    if not PyArray_CheckExact(y_pred) or not PyArray_CheckExact(y_true):
        return None
    if len(params32) != 4 or len(params64) != 4 or kind < 0 or kind > 2:
        return None
    cdef object code_obj = _REDUCTION_CODES.get(reduction) if type(reduction) is str else None
    if code_obj is None or code_obj == RED_NONE:
        return None
    cdef int nt = 0
    if n_threads is not None:
        if type(n_threads) is not int or n_threads < 1:
            return None
        nt = _n_cpus if n_threads > _n_cpus else n_threads
    cdef cnp.ndarray p = <cnp.ndarray>y_pred
    cdef cnp.ndarray t = <cnp.ndarray>y_true
    cdef int typenum = cnp.PyArray_TYPE(p)
    if (typenum != cnp.NPY_FLOAT and typenum != cnp.NPY_DOUBLE) or not _kernel_ready(p, typenum):
        return None
    cdef int ndim = cnp.PyArray_NDIM(p)
    if ndim == 0 or cnp.PyArray_SIZE(p) == 0:
        return None
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(p)
    cdef cnp.npy_intp *tdims = cnp.PyArray_DIMS(t)
    cdef int i, tndim = cnp.PyArray_NDIM(t)
    if kind == 2:
        if not _kernel_ready(t, cnp.NPY_INT64) or tndim != ndim - 1:
            return None
    elif not _kernel_ready(t, typenum) or tndim != ndim:
        return None
    for i in range(tndim):
        if tdims[i] != dims[i]:
            return None
    cdef Py_ssize_t k = 1 if (kind == 0 and ndim == 1) else dims[ndim - 1]
    if class_weight is not None and cnp.PyArray_SIZE(<cnp.ndarray?>class_weight) != k:
        return None
    cdef cnp.ndarray g = None
    if want_grad:
        if out is None:
            g = cnp.PyArray_EMPTY(ndim, dims, typenum, 0)
        else:
            if not PyArray_CheckExact(out):
                return None
            g = <cnp.ndarray>out
            if (not _kernel_ready(g, typenum) or not cnp.PyArray_ISWRITEABLE(g)
                    or cnp.PyArray_NDIM(g) != ndim):
                return None
            for i in range(ndim):
                if cnp.PyArray_DIMS(g)[i] != dims[i]:
                    return None
            if _overlaps(g, p) or _overlaps(g, t):
                return None
    cdef tuple prm = params32 if typenum == cnp.NPY_FLOAT else params64
    value = _run_impl(kernel, t, p, k, g, None, None, class_weight, <int>code_obj,
                      <double>prm[0], <double>prm[1], <double>prm[2], <double>prm[3],
                      ignore_index, nt, None)
    if want_grad:
        return value, g
    return value


def run(int kernel, cnp.ndarray y_true, cnp.ndarray y_pred, Py_ssize_t k,
        object grad, object per_sample, object sample_weight, object class_weight,
        int reduction, double p0=0.0, double p1=0.0, double p2=0.0, double p3=0.0,
        object ignore_index=None, int n_threads=0, object hess=None):
    """Run one kernel; return the reduced loss (for ``reduction="none"``: the sum).

    Arrays: ``y_pred`` float32/float64 C-contiguous with ``size = n_rows * k``; ``y_true``
    the same dtype and size, or int64 labels of size ``n_rows`` for the sparse kernels;
    ``grad`` None or like ``y_pred`` and writable; ``per_sample`` None or ``n_rows`` of
    y_pred's dtype; ``sample_weight`` None or ``n_rows`` float64; ``class_weight`` None or
    ``k`` float64; ``hess`` None or like ``grad`` (then ``grad`` is required and the kernel
    one of HESSIAN_KERNELS): the diagonal second derivative of the reduced loss, written in
    the same pass as the gradient and scaled by the same weights.
    """
    return _run_impl(kernel, y_true, y_pred, k, grad, per_sample, sample_weight, class_weight,
                     reduction, p0, p1, p2, p3, ignore_index, n_threads, hess)


cdef object _run_impl(int kernel, cnp.ndarray y_true, cnp.ndarray y_pred, Py_ssize_t k,
                      object grad, object per_sample, object sample_weight,
                      object class_weight, int reduction, double p0, double p1, double p2,
                      double p3, object ignore_index, int n_threads, object hess):
    cdef int typenum = cnp.PyArray_TYPE(y_pred)
    cdef fl_block_fn fn = _block_function(kernel, typenum, "y_pred")
    if not cnp.PyArray_IS_C_CONTIGUOUS(y_pred):
        raise ValueError("y_pred must be C-contiguous")
    cdef Py_ssize_t size = cnp.PyArray_SIZE(y_pred)
    if k < 1 or size == 0 or size % k != 0:
        raise ValueError("y_pred is empty or its last axis does not divide its size")
    cdef Py_ssize_t n_rows = size // k
    cdef bint sparse = kernel == FL_SCCE_PROB or kernel == FL_SCCE_LOGIT

    if sparse:
        if not _is_float(y_true, cnp.NPY_INT64) or cnp.PyArray_SIZE(y_true) != n_rows:
            raise ValueError("y_true must be C-contiguous int64 labels, one per sample")
    elif not _is_float(y_true, typenum) or cnp.PyArray_SIZE(y_true) != size:
        raise ValueError("y_true must match y_pred in dtype, size and C order")

    cdef fl_args args
    memset(&args, 0, sizeof(fl_args))
    args.y_true = cnp.PyArray_DATA(y_true)
    args.y_pred = cnp.PyArray_DATA(y_pred)
    args.grad = NULL
    args.hess = NULL
    args.per_sample = NULL
    args.sample_weight = NULL
    args.class_weight = NULL
    args.k = k
    args.scale = 1.0
    args.param[0] = p0
    args.param[1] = p1
    args.param[2] = p2
    args.param[3] = p3
    args.ignore_index = 0
    args.has_ignore = 0

    cdef cnp.ndarray arr
    if grad is not None:
        arr = <cnp.ndarray?>grad
        if (not _is_float(arr, typenum) or cnp.PyArray_SIZE(arr) != size
                or not cnp.PyArray_ISWRITEABLE(arr)):
            raise ValueError("out must be a writable C-contiguous array like y_pred")
        if _overlaps(arr, y_pred) or _overlaps(arr, y_true):
            raise ValueError("out must not share memory with y_pred or y_true (the kernels "
                             "read the inputs after writing the gradient)")
        args.grad = cnp.PyArray_DATA(arr)
    if hess is not None:
        if not fl_has_hessian(kernel):
            raise NotImplementedError(f"kernel {(<bytes>fl_kernel_name(kernel)).decode()} has "
                                      f"no diagonal second derivative")
        if grad is None:
            raise ValueError("a second derivative is computed with the gradient: pass grad too")
        arr = <cnp.ndarray?>hess
        if (not _is_float(arr, typenum) or cnp.PyArray_SIZE(arr) != size
                or not cnp.PyArray_ISWRITEABLE(arr)):
            raise ValueError("the Hessian output must be a writable C-contiguous array like "
                             "y_pred")
        if (_overlaps(arr, y_pred) or _overlaps(arr, y_true) or _overlaps(arr, grad)):
            raise ValueError("the Hessian output must not share memory with y_pred, y_true "
                             "or the gradient")
        args.hess = cnp.PyArray_DATA(arr)
    if per_sample is not None:
        arr = <cnp.ndarray?>per_sample
        if (not _is_float(arr, typenum) or cnp.PyArray_SIZE(arr) != n_rows
                or not cnp.PyArray_ISWRITEABLE(arr)):
            raise ValueError("per-sample output must be writable, one value per sample")
        args.per_sample = cnp.PyArray_DATA(arr)

    cdef Py_ssize_t i, bad = -1
    cdef double wsum = 0.0, w
    cdef const double *sw = NULL
    cdef const double *cw = NULL
    if sample_weight is not None:
        arr = <cnp.ndarray?>sample_weight
        if not _is_float(arr, cnp.NPY_DOUBLE) or cnp.PyArray_SIZE(arr) != n_rows:
            raise ValueError("sample_weight must be float64, one value per sample")
        sw = <const double *>cnp.PyArray_DATA(arr)
        args.sample_weight = sw
    if class_weight is not None:
        arr = <cnp.ndarray?>class_weight
        if not _is_float(arr, cnp.NPY_DOUBLE) or cnp.PyArray_SIZE(arr) != k:
            raise ValueError("class_weight must be float64, one value per class")
        if not sparse:
            raise ValueError("class_weight is only taken by the sparse kernels")
        cw = <const double *>cnp.PyArray_DATA(arr)
        args.class_weight = cw

    # Pre-pass over the (small) per-sample data: count the samples and sum their weights for
    # the reduction's denominator, so that the fused pass can scale the gradient as it
    # writes it.  (Labels are read once more, and range-checked again, by the kernel.)
    cdef const int64_t *labels
    cdef int64_t ign = 0, lab
    cdef bint has_ign = False
    cdef Py_ssize_t counted = n_rows
    cdef bint weighted = sw != NULL or cw != NULL
    if sparse:
        if ignore_index is not None:
            try:
                ign = ignore_index
            except OverflowError:
                raise ValueError(f"ignore_index must fit in int64, got {ignore_index!r}") from None
            has_ign = True
        args.ignore_index = ign
        args.has_ignore = has_ign
        labels = <const int64_t *>cnp.PyArray_DATA(y_true)
        with nogil:
            counted = 0
            for i in range(n_rows):
                lab = labels[i]
                if has_ign and lab == ign:
                    continue
                if lab < 0 or lab >= k:
                    bad = i
                    break
                counted += 1
                if weighted:
                    w = 1.0 if sw == NULL else sw[i]
                    if cw != NULL:
                        w = w * cw[lab]
                    wsum += w
        if bad >= 0:
            raise _label_error(labels[bad], bad, k, ignore_index if has_ign else None)
    elif sw != NULL:
        wsum = _weight_sum(sw, n_rows)

    if reduction < RED_NONE or reduction > RED_SOBS:
        raise ValueError(f"unknown reduction code {reduction}")
    cdef double denom = _denominator(reduction, counted, wsum if weighted else None)
    args.scale = _gradient_scale(denom)

    cdef block_plan plan = _plan_blocks(n_rows, k, size, n_threads)
    cdef fl_result res = _run_blocks(fn, &args, plan)
    _raise_kernel_flags(res.flags, y_true, y_pred, k, ignore_index if has_ign else None)
    return _reduced_value(res.sum, denom, reduction)


# ---- kernels of several inputs: metric learning and segmentation (ids 40-59) -----------------

# kernel -> (number of prediction inputs, what y_true is)
TARGET_NONE, TARGET_PER_ROW, TARGET_LIKE_INPUT = 0, 1, 2
MULTI_KERNELS = {
    FL_CONTRASTIVE: (2, TARGET_PER_ROW),
    FL_TRIPLET: (3, TARGET_NONE),
    FL_COSINE_EMBEDDING: (2, TARGET_PER_ROW),
    FL_TVERSKY_PROB: (1, TARGET_LIKE_INPUT),
    FL_TVERSKY_LOGIT: (1, TARGET_LIKE_INPUT),
}


def run_multi(int kernel, object y_true, tuple inputs, object grads, Py_ssize_t k,
              object per_sample, object sample_weight, int reduction,
              double p0=0.0, double p1=0.0, double p2=0.0, double p3=0.0,
              Py_ssize_t n_classes=1, Py_ssize_t inner=1, int n_threads=0):
    """Run a kernel of one to three prediction inputs; return the reduced loss (for
    ``reduction="none"``: the sum).  Blocks, threads and the combination of block sums are
    those of :func:`run`.

    Arrays: ``inputs`` a tuple of as many arrays as the kernel takes (MULTI_KERNELS), all
    float32 or all float64, C-contiguous, of one size ``n_rows * k``; ``grads`` None or a
    tuple of as many writable arrays like them; ``y_true`` None (triplet), one label per row
    (contrastive, cosine embedding) or an array like the inputs (segmentation), in their
    dtype; ``per_sample`` None or ``n_rows`` of their dtype; ``sample_weight`` None or
    ``n_rows`` float64.  Segmentation rows are laid out as (outer, n_classes, inner).
    """
    spec = MULTI_KERNELS.get(kernel)
    if spec is None:
        raise ValueError(f"unknown kernel {kernel} for run_multi")
    cdef Py_ssize_t n_inputs = spec[0]
    cdef int target_kind = spec[1]
    if len(inputs) != n_inputs:
        raise ValueError(f"kernel {kernel} takes {n_inputs} inputs, got {len(inputs)}")
    cdef cnp.ndarray first = <cnp.ndarray?>inputs[0]
    cdef int typenum = cnp.PyArray_TYPE(first)
    cdef fl_block_fn fn = _block_function(kernel, typenum, "inputs")
    cdef Py_ssize_t size = cnp.PyArray_SIZE(first)
    if k < 1 or size == 0 or size % k != 0:
        raise ValueError("inputs are empty or their row length does not divide their size")
    cdef Py_ssize_t n_rows = size // k

    cdef const void *data[3]
    cdef void *gdata[3]
    cdef Py_ssize_t j
    cdef cnp.ndarray arr
    for j in range(n_inputs):
        arr = <cnp.ndarray?>inputs[j]
        if not _is_float(arr, typenum) or cnp.PyArray_SIZE(arr) != size:
            raise ValueError(f"input {j} must be a C-contiguous array like input 0 "
                             f"(same dtype and size)")
        data[j] = cnp.PyArray_DATA(arr)
    gdata[0] = gdata[1] = gdata[2] = NULL
    if grads is not None:
        if not isinstance(grads, tuple) or len(grads) != n_inputs:
            raise ValueError(f"out must be a tuple of {n_inputs} gradient arrays")
        for j in range(n_inputs):
            arr = <cnp.ndarray?>grads[j]
            if (not _is_float(arr, typenum) or cnp.PyArray_SIZE(arr) != size
                    or not cnp.PyArray_ISWRITEABLE(arr)):
                raise ValueError(f"out[{j}] must be a writable C-contiguous array like "
                                 f"the inputs")
            if _overlaps(arr, y_true) or any(_overlaps(arr, x) for x in inputs):
                raise ValueError(f"out[{j}] must not share memory with an input")
            gdata[j] = cnp.PyArray_DATA(arr)

    cdef fl_args args
    memset(&args, 0, sizeof(fl_args))
    if target_kind == TARGET_NONE:
        if y_true is not None:
            raise ValueError(f"kernel {kernel} takes no y_true")
    else:
        if not isinstance(y_true, cnp.ndarray):
            raise ValueError(f"kernel {kernel} needs y_true as an array")
        arr = <cnp.ndarray>y_true
        if not _is_float(arr, typenum) or cnp.PyArray_SIZE(arr) != (
                n_rows if target_kind == TARGET_PER_ROW else size):
            raise ValueError("y_true must be C-contiguous, in the inputs' dtype, "
                             + ("one value per row" if target_kind == TARGET_PER_ROW
                                else "shaped like the inputs"))
        args.y_true = cnp.PyArray_DATA(arr)
    args.y_pred = data[0]
    args.x2 = data[1] if n_inputs > 1 else NULL
    args.x3 = data[2] if n_inputs > 2 else NULL
    args.grad = gdata[0]
    args.grad2 = gdata[1]
    args.grad3 = gdata[2]
    args.k = k
    args.param[0] = p0
    args.param[1] = p1
    args.param[2] = p2
    args.param[3] = p3
    if n_classes < 1 or inner < 1 or n_classes > k or inner > k or k % (n_classes * inner) != 0:
        raise ValueError(f"a row of {k} elements cannot be laid out as "
                         f"(outer, {n_classes} classes, {inner})")
    args.n_classes = n_classes
    args.inner = inner

    if per_sample is not None:
        arr = <cnp.ndarray?>per_sample
        if (not _is_float(arr, typenum) or cnp.PyArray_SIZE(arr) != n_rows
                or not cnp.PyArray_ISWRITEABLE(arr)):
            raise ValueError("per-sample output must be writable, one value per sample")
        args.per_sample = cnp.PyArray_DATA(arr)
    cdef double wsum = 0.0
    if sample_weight is not None:
        arr = <cnp.ndarray?>sample_weight
        if not _is_float(arr, cnp.NPY_DOUBLE) or cnp.PyArray_SIZE(arr) != n_rows:
            raise ValueError("sample_weight must be float64, one value per sample")
        args.sample_weight = <const double *>cnp.PyArray_DATA(arr)
        wsum = _weight_sum(args.sample_weight, n_rows)

    if reduction < RED_NONE or reduction > RED_SOBS:
        raise ValueError(f"unknown reduction code {reduction}")
    cdef double denom = _denominator(reduction, n_rows,
                                     wsum if sample_weight is not None else None)
    args.scale = _gradient_scale(denom)

    cdef block_plan plan = _plan_blocks(n_rows, k, size * n_inputs, n_threads)
    cdef fl_result res = _run_blocks(fn, &args, plan)
    _raise_kernel_flags(res.flags, y_true, first, k, None)
    return _reduced_value(res.sum, denom, reduction)


def _sparse_unchecked(int kernel, cnp.ndarray labels, cnp.ndarray y_pred, object grad=None,
                      object ignore_index=None, int n_threads=1):
    """Testing hook: run a sparse kernel (scce_prob / scce_logit) *without* run's label
    pre-check and return ``(sum, flags)`` instead of raising.  It shows what the kernel does
    with a label that a concurrent writer changed after the check: it must never index with it
    (the row contributes 0 and FL_ERR_LABEL is set).  Shapes and dtypes are still checked."""
    if kernel != FL_SCCE_PROB and kernel != FL_SCCE_LOGIT:
        raise ValueError("only the sparse kernels")
    cdef int typenum = cnp.PyArray_TYPE(y_pred)
    cdef fl_block_fn fn = _block_function(kernel, typenum, "y_pred")
    if cnp.PyArray_NDIM(y_pred) != 2 or not cnp.PyArray_IS_C_CONTIGUOUS(y_pred):
        raise ValueError("y_pred must be a C-contiguous (n, C) array")
    cdef Py_ssize_t n_rows = cnp.PyArray_DIMS(y_pred)[0], k = cnp.PyArray_DIMS(y_pred)[1]
    if n_rows < 1 or k < 1:
        raise ValueError("y_pred is empty")
    if not _is_float(labels, cnp.NPY_INT64) or cnp.PyArray_SIZE(labels) != n_rows:
        raise ValueError("labels must be C-contiguous int64, one per row")
    cdef fl_args args
    memset(&args, 0, sizeof(fl_args))
    args.y_true = cnp.PyArray_DATA(labels)
    args.y_pred = cnp.PyArray_DATA(y_pred)
    args.k = k
    args.scale = 1.0
    args.param[0] = 1e-7
    cdef cnp.ndarray g
    if grad is not None:
        g = <cnp.ndarray?>grad
        if (not _is_float(g, typenum) or cnp.PyArray_SIZE(g) != n_rows * k
                or not cnp.PyArray_ISWRITEABLE(g) or _overlaps(g, y_pred)):
            raise ValueError("grad must be a writable C-contiguous array like y_pred")
        args.grad = cnp.PyArray_DATA(g)
    if ignore_index is not None:
        args.ignore_index = ignore_index
        args.has_ignore = 1
    cdef fl_result res = _run_blocks(fn, &args, _plan_blocks(n_rows, k, n_rows * k, n_threads))
    return res.sum, res.flags


#: The functions :func:`vmath` applies, in the order of fl_vmath_apply's ``which``.
VMATH_NAMES = ("exp", "log", "log1p", "expm1", "log1p_rcp", "coshm1_small", "log1p_small",
               "log1p_nodiv", "expm1_nonpos", "log1p_rcp_bounded", "log1p_gtm1")


def vmath(str name, cnp.ndarray x, level=None):
    """Apply the kernels' own exp/log/log1p/expm1 (``fl_vmath.h``) to a float32/float64 array
    at SIMD ``level`` (default: the current one).  For testing their accuracy against libm.
    ``"log1p_rcp"`` is log1p computed by ``fl_log1p_rcp`` from x and 1 / (1 + x);
    ``"coshm1_small"`` (cosh(x) - 1, |x| <= 2), ``"log1p_small"`` (0 <= x <= 1/32),
    ``"expm1_nonpos"`` (x <= 0), ``"log1p_rcp_bounded"`` (0 <= x <= 4) and ``"log1p_gtm1"``
    (fl_log1p_rcp_gtm1 with fl_log1p_rcp_guess; x > -1, inf, NaN) hold on their domains only."""
    if name not in VMATH_NAMES:
        raise ValueError(f"unknown function {name!r}")
    cdef int lvl = _level if level is None else SIMD_LEVELS.index(level)
    if SIMD_LEVELS[lvl] not in simd_levels():
        raise ValueError(f"SIMD level {SIMD_LEVELS[lvl]!r} is not available here")
    if x.dtype != np.float32 and x.dtype != np.float64:
        raise TypeError("x must be float32 or float64")
    x = np.ascontiguousarray(x)
    cdef cnp.ndarray out = np.empty_like(x)
    cdef int which = VMATH_NAMES.index(name)
    cdef int is_double = x.dtype == np.float64
    cdef const void *src = cnp.PyArray_DATA(x)
    cdef void *dst = cnp.PyArray_DATA(out)
    cdef Py_ssize_t n = x.size
    with nogil:
        _vmaths[lvl](which, is_double, src, dst, n)
    return out
