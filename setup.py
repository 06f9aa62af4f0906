"""Build of fastloss's compiled kernels: only what pyproject.toml cannot say.

* OpenMP: used when the compiler accepts ``-fopenmp`` (probed by compiling and linking a tiny
  program); otherwise the kernels build serially and ``fastloss.show_config()`` says so.
* Flags: ``-O3 -fno-math-errno -fno-trapping-math -ffp-contract=fast`` and nothing
  CPU-specific in the module itself, so a wheel built here runs on any x86-64.
  ``-fno-trapping-math`` lets gcc if-convert the kernels' selects (it only gives up the
  fidelity of floating-point exception *flags*, which Python never reads);
  ``-ffp-contract=fast`` lets it fuse a*b+c into FMAs in the AVX2/AVX-512 variants.
  Never ``-ffast-math``: it breaks NaN/inf handling and, when linked, changes the
  floating-point mode of the whole Python process.
* Instruction-set variants: on x86-64 the kernels are also compiled with AVX2+FMA and
  AVX-512 flags in their own objects (``src/fl_isa_*.c``); the module picks the best the CPU
  runs at import (``FASTLOSS_SIMD`` forces a lower level; ``FASTLOSS_NO_ISA_VARIANTS=1``
  builds the baseline only).
* ``FASTLOSS_EXTRA_CFLAGS`` adds flags (for experiments such as ``-march=native``).
* ``FASTLOSS_SANITIZE=1`` builds for AddressSanitizer and UndefinedBehaviorSanitizer
  (alignment included; any report aborts): ``-O1 -g``, no frame-pointer omission.  Such a
  build only loads with gcc's libasan and libubsan preloaded (``python3 dev.py sanitize``
  does that); never ship it.
"""
import os
import platform
import shlex
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _compiler_accepts(compiler, flags, source):
    """Compile and link ``source`` with ``flags``; True if both succeed."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=flags)
        except Exception:
            return False
    return True


#: Compile and link flags of a FASTLOSS_SANITIZE=1 build (gcc and clang).
SANITIZE_CFLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                   "-fno-sanitize-recover=all"]
SANITIZE_LDFLAGS = ["-fsanitize=address,undefined"]

#: Flags of the instruction-set variants of the kernels, chosen at run time (src/fl_isa.h).
ISA_FLAGS = {
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mfma",
               "-mprefer-vector-width=512"],
}

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += omp_get_num_threads() > 0;
    return n > 0 ? 0 : 1;
}
"""


class BuildExt(build_ext):
    def build_extensions(self):
        compiler = self.compiler
        ctype = compiler.compiler_type
        name = "msvc" if ctype == "msvc" else os.path.basename(
            (getattr(compiler, "compiler_so", None) or ["cc"])[0])
        version = ""
        if ctype != "msvc":
            try:
                import subprocess
                out = subprocess.run([compiler.compiler_so[0], "--version"], capture_output=True,
                                     text=True, timeout=30).stdout
                version = out.splitlines()[0] if out else ""
            except Exception:
                pass
        label = (version or name).replace('"', "'")

        if ctype == "msvc":
            cflags, ldflags, omp = ["/O2", "/openmp"], [], ["/openmp"]
            use_omp = True
        else:
            cflags = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast",
                      "-std=c99"]
            ldflags = []
            use_omp = _compiler_accepts(compiler, ["-fopenmp"], OPENMP_PROBE)
            if use_omp:
                cflags.append("-fopenmp")
                ldflags.append("-fopenmp")
            elif _compiler_accepts(compiler, ["-fopenmp-simd"], "int main(void){return 0;}"):
                cflags.append("-fopenmp-simd")
            print(f"fastloss: OpenMP {'on' if use_omp else 'off'} ({label})", file=sys.stderr)
            if os.environ.get("FASTLOSS_SANITIZE", "") not in ("", "0"):
                cflags += SANITIZE_CFLAGS          # after -O3: the last -O wins
                ldflags += SANITIZE_LDFLAGS
                label += " [asan+ubsan]"           # shown by fastloss.show_config()
                print("fastloss: sanitizer build (" + " ".join(SANITIZE_CFLAGS) + ")",
                      file=sys.stderr)
        cflags += shlex.split(os.environ.get("FASTLOSS_EXTRA_CFLAGS", ""))
        variants = self._isa_variants(compiler, cflags) if ctype != "msvc" else {}
        # The variants are compiled in worker threads while the module itself compiles (three
        # compiles of about equal length); the link waits for them.
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        jobs = []
        with ThreadPoolExecutor(max_workers=max(1, min(len(variants), cores))) as pool:
            for ext in self.extensions:
                ext.extra_compile_args = list(cflags)
                ext.extra_link_args = list(ldflags)
                ext.define_macros = list(ext.define_macros or []) + [
                    ("FL_COMPILER", f'"{label}"'),
                    ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                ] + [(f"FL_HAVE_{name.upper()}", "1") for name in variants]
                ext.extra_objects = list(ext.extra_objects or [])
                for name, flags in variants.items():
                    source = os.path.join("src", f"fl_isa_{name}.c")
                    ext.extra_objects += compiler.object_filenames(
                        [source], output_dir=self.build_temp)
                    jobs.append(pool.submit(
                        compiler.compile, [source], output_dir=self.build_temp,
                        macros=ext.define_macros, include_dirs=ext.include_dirs,
                        extra_postargs=cflags + flags, depends=ext.depends))
            link = compiler.link_shared_object

            def link_after_variants(*args, **kwargs):
                for job in jobs:
                    job.result()            # re-raises a variant's compile error
                return link(*args, **kwargs)
            compiler.link_shared_object = link_after_variants
            try:
                super().build_extensions()
            finally:
                compiler.link_shared_object = link
        for job in jobs:
            job.result()

    @staticmethod
    def _isa_variants(compiler, cflags):
        """The instruction-set variants this compiler can build (x86-64 only)."""
        if platform.machine().lower() not in ("x86_64", "amd64"):
            return {}
        if os.environ.get("FASTLOSS_NO_ISA_VARIANTS"):
            return {}
        found = {}
        for name, flags in ISA_FLAGS.items():
            if _compiler_accepts(compiler, cflags + flags, "int main(void){return 0;}"):
                found[name] = flags
        print(f"fastloss: SIMD variants built: baseline {' '.join(found)}", file=sys.stderr)
        return found


extensions = [
    Extension(
        "fastloss._kernels",
        sources=["src/_kernels.pyx"],
        include_dirs=["src", numpy.get_include()],
        depends=[os.path.join("src", f) for f in os.listdir("src") if f.endswith(".h")],
    ),
]

setup(
    ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}),
    cmdclass={"build_ext": BuildExt},
)
