"""Which backend runs the losses, and what the build can do.

The compiled extension is used when it imports, unless ``FASTLOSS_BACKEND=numpy``.  If it
cannot be imported, fastloss warns once and runs everything with the NumPy backend.
"""
import contextlib
import contextvars
import os
import sys
import warnings

BACKENDS = ("cython", "numpy")

try:
    from . import _kernels
    _import_error = None
except ImportError as exc:  # not built, or built for another Python
    _kernels = None
    _import_error = exc


def _initial_backend():
    wanted = os.environ.get("FASTLOSS_BACKEND", "").strip().lower() or "auto"
    if wanted not in ("auto",) + BACKENDS:
        warnings.warn(f"FASTLOSS_BACKEND={wanted!r} is not one of auto, cython, numpy; "
                      f"using auto", RuntimeWarning, stacklevel=3)
        wanted = "auto"
    if wanted == "numpy":
        return "numpy"
    if _kernels is None:
        if wanted == "cython":
            raise ImportError("FASTLOSS_BACKEND=cython but the compiled kernels of fastloss "
                              f"cannot be imported: {_import_error}")
        warnings.warn("fastloss: the compiled kernels cannot be imported "
                      f"({_import_error}); using the NumPy backend", RuntimeWarning,
                      stacklevel=3)
        return "numpy"
    return "cython"


#: The backend a ``use_backend`` block chose in this thread (None: the process default).  A
#: ContextVar, so it is per thread (each thread starts with a fresh context) and per asyncio
#: task, and reading it on the hot path is as cheap as an attribute.
_override = contextvars.ContextVar("fastloss_backend", default=None)


class _State:
    """The backend in use, as seen by the calling thread.

    ``set_backend`` sets the process-wide default; ``use_backend`` overrides it in the
    calling thread only, so a ``with fl.use_backend("numpy")`` block in one thread does not
    change what another thread runs."""

    default = None           # the process-wide backend
    default_compiled = False

    @property
    def backend(self):
        return _override.get() or _State.default

    @property
    def compiled(self):
        return (_override.get() or _State.default) == "cython"


def _set_default(name):
    _State.default = name
    _State.default_compiled = name == "cython"


_set_default(_initial_backend())
state = _State()


def compiled():
    """Whether the calling thread runs the compiled kernels (the hot path's question)."""
    o = _override.get()
    return _State.default_compiled if o is None else o == "cython"


def _check(name):
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "cython" and _kernels is None:
        raise RuntimeError(f"the compiled kernels are not available: {_import_error}")


def set_backend(name):
    """Select the backend for all later calls in every thread (``"cython"`` or ``"numpy"``);
    a ``use_backend`` block in progress in some thread keeps its own choice."""
    _check(name)
    _set_default(name)


@contextlib.contextmanager
def use_backend(name):
    """Context manager: run the enclosed calls *of this thread* with backend ``name``."""
    _check(name)
    token = _override.set(name)
    try:
        yield
    finally:
        _override.reset(token)


def default_threads():
    """Threads a large call with ``n_threads=None`` uses (honours OMP_NUM_THREADS and
    threadpoolctl limits, never more than the CPUs this process may use)."""
    if _kernels is None:
        return 1
    return _kernels.default_threads()


def config():
    """The facts ``show_config`` prints, as a dict."""
    from . import __version__
    info = {"version": __version__, "backend": state.backend,
            "compiled_kernels": _kernels is not None}
    if _kernels is not None:
        build = _kernels.build_info()
        info.update(compiler=build["compiler"], openmp=build["openmp"],
                    simd=_kernels.simd_level(),
                    simd_available=", ".join(_kernels.simd_levels()),
                    default_threads=default_threads(),
                    block_elements=build["block_elements"],
                    parallel_min_elements=build["parallel_min_elements"])
    else:
        info.update(compiler=None, openmp=False, simd=None, default_threads=1,
                    import_error=str(_import_error))
    return info


def show_config(file=None):
    """Print version, backend, compiler, OpenMP, SIMD level and default thread count."""
    info = config()
    out = file or sys.stdout
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}} : {value}", file=out)
