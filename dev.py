#!/usr/bin/env python3
"""The set-up-and-run commands of fastloss (stdlib only, so a bare Python runs it).

    python3 dev.py bench     # the main job: quick benchmark against NumPy and installed peers
                             # (--full: the full comparison; --catalogue: the other losses)
    python3 dev.py test      # the whole test suite against the installed wheel (PyTorch CPU
                             # included as the reference), then the kernel battery again at
                             # each lower SIMD level
    python3 dev.py sanitize  # the kernel battery, bad-input, fuzz, layout and kernel-safety
                             # tests on a build with AddressSanitizer + UndefinedBehavior-
                             # Sanitizer (CI runs it after the test command)

Each creates ``.venv`` beside this file if needed and installs fastloss into it the way a
user gets it: an sdist is built from this tree, a wheel is built from that sdist (in a clean
directory, by pypa ``build``), and the wheel is installed with the extras the job needs.
The jobs run against that installed package, never the source tree.  Re-running skips the
build and install when the package's sources and the extras have not changed.
Arguments after the command are passed on (to ``bench/run.py`` or to pytest).
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
DIST = os.path.join(ROOT, "dist")
EXTRAS = {"test": ("test", "torch"), "sanitize": ("test", "torch"), "bench": ("bench",)}
# What the sdist is made of (MANIFEST.in, pyproject.toml): a change here means a new wheel.
PACKAGE_INPUTS = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "src", "fastloss"]
GENERATED = (os.path.join("src", "_kernels.c"),)
STATE = os.path.join(VENV, ".fastloss-install.json")
# The sanitizer build: its own wheel, unpacked here and put first on PYTHONPATH.
SANITIZE_DIR = os.path.join(VENV, "fastloss-sanitize")
SANITIZE_STAMP = os.path.join(VENV, ".fastloss-sanitize.stamp")
SANITIZE_ENV = {"FASTLOSS_SANITIZE": "1", "FASTLOSS_NO_ISA_VARIANTS": "1"}
# The kernel battery, bad input, the fuzz test, unaligned / byte-swapped / strided layouts
# (UBSan checks alignment) and the kernels' own safety tests (labels changed under a
# running kernel, concurrent calls); a file not (yet) in tests/ is left out.
SANITIZE_TESTS = ["tests/test_battery.py", "tests/test_bad_input.py", "tests/test_fuzz.py",
                  "tests/test_layouts.py", "tests/test_kernel_safety.py"]
SIMD_TESTS = ["tests/test_battery.py", "tests/test_numerics.py", "tests/test_vmath.py"]


def venv_python():
    sub = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return os.path.join(VENV, sub, exe)


def sources_digest():
    """SHA-256 over the files the sdist is built from (build products left out)."""
    digest = hashlib.sha256()
    for entry in PACKAGE_INPUTS:
        path = os.path.join(ROOT, entry)
        if os.path.isfile(path):
            files = [path]
        else:
            files = sorted(os.path.join(d, f) for d, dirs, fs in os.walk(path) for f in fs
                           if "__pycache__" not in d and not f.endswith((".so", ".pyd", ".pyc")))
        for name in files:
            rel = os.path.relpath(name, ROOT)
            if rel in GENERATED:
                continue
            digest.update(rel.encode() + b"\0")
            with open(name, "rb") as fh:
                digest.update(fh.read())
    return digest.hexdigest()


def check(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def load_state():
    try:
        with open(STATE) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def build_dists():
    """sdist of this tree, then a wheel built from that sdist; their paths (in dist/)."""
    for old in glob.glob(os.path.join(DIST, "fastloss-*")):
        os.remove(old)
    # pypa build's default: the sdist first, then the wheel from the unpacked sdist in a
    # temporary directory, each in a fresh isolated build environment.
    check([venv_python(), "-m", "build", "--outdir", DIST, ROOT], cwd=ROOT)
    sdists = glob.glob(os.path.join(DIST, "fastloss-*.tar.gz"))
    wheels = glob.glob(os.path.join(DIST, "fastloss-*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise SystemExit(f"expected one sdist and one wheel in dist/, got {sdists + wheels}")
    return sdists[0], wheels[0]


def setup(job):
    """Create .venv if needed; install fastloss's wheel with the job's extras unless the
    same sources are installed already with them.  The install state (.venv/
    .fastloss-install.json) holds the digest of the sources, the extras and the dists."""
    if not os.path.exists(venv_python()):
        print(f"+ python -m venv {os.path.relpath(VENV, ROOT)}", flush=True)
        venv.create(VENV, with_pip=True)
    state = load_state()
    digest = sources_digest()
    extras = set(EXTRAS[job])
    same = (state.get("digest") == digest and os.path.exists(state.get("wheel", ""))
            and os.path.exists(state.get("sdist", "")))
    if same and extras <= set(state.get("extras", ())):
        print(f"(fastloss[{','.join(sorted(state['extras']))}] is up to date in .venv)",
              flush=True)
        return state
    check([venv_python(), "-m", "pip", "install", "--upgrade", "pip", "build"])
    if same:
        sdist, wheel = state["sdist"], state["wheel"]
    else:
        sdist, wheel = build_dists()
    # extras installed for another job stay installed: keep them in the requirement
    extras |= set(state.get("extras", ()))
    # a previous fastloss (an older wheel, or an editable install) goes first
    check([venv_python(), "-m", "pip", "uninstall", "--yes", "fastloss"])
    check([venv_python(), "-m", "pip", "install", f"{wheel}[{','.join(sorted(extras))}]"])
    state = {"digest": digest, "extras": sorted(extras), "sdist": sdist, "wheel": wheel}
    with open(STATE, "w") as fh:
        json.dump(state, fh, indent=1)
    return state


#: Where the test runs start: not the repository root, so that ``python -m pytest`` and
#: ``python -c`` (which put the working directory on sys.path) import the installed wheel,
#: not the source tree, on every Python >= 3.10.
RUN_DIR = os.path.join(ROOT, "tests")


def test_env(**extra):
    """Environment of the test runs: the repository root is not put on sys.path (the runs
    start in tests/, and PYTHONSAFEPATH on Python >= 3.11), so ``import fastloss`` finds
    the installed package; tests/conftest.py fails the run if it is the source tree
    (FASTLOSS_TEST_INSTALLED)."""
    return dict(os.environ, PYTHONSAFEPATH="1", FASTLOSS_TEST_INSTALLED="1", **extra)


def _absolute(arg):
    """A repository-relative path argument (tests/..., bench/...) made absolute: one that
    exists, or one to be created in a folder that exists (``--out bench/out`` on a fresh
    clone), since the jobs run in tests/, not in the repository root."""
    if arg.startswith("-") or os.path.isabs(arg):
        return arg
    path = arg.split("::")[0]
    parent = os.path.dirname(path.rstrip("/"))
    if os.path.exists(os.path.join(ROOT, path)) or (
            parent and os.path.isdir(os.path.join(ROOT, parent))):
        return os.path.join(ROOT, arg)
    return arg


def run(cmd, env, label=""):
    cmd = [_absolute(c) for c in cmd]
    print("+", label + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=RUN_DIR, env=env).returncode


def run_tests(py, args):
    """The whole suite at the best SIMD level, then the kernel battery at every other level
    this CPU runs (FASTLOSS_SIMD forces a level), so each compiled variant is proven."""
    env = test_env()
    code = run([py, "-m", "pytest", "tests", *args], env)
    if code:
        return code
    probe = "from fastloss import _kernels as k; print(' '.join(k.simd_levels()))"
    levels = subprocess.run([py, "-c", probe], cwd=RUN_DIR, env=env, capture_output=True,
                            text=True, check=True).stdout.split()
    for level in levels[:-1]:
        code = run([py, "-m", "pytest", *SIMD_TESTS, *args], dict(env, FASTLOSS_SIMD=level),
                   f"FASTLOSS_SIMD={level} ")
        if code:
            return code
    return 0


def sanitizer_runtime():
    """gcc's AddressSanitizer and UndefinedBehaviorSanitizer runtimes, for LD_PRELOAD (the
    Python executable is not instrumented, so the ASan runtime must be loaded first)."""
    cc = os.environ.get("CC", "gcc").split()[0]
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        out = subprocess.run([cc, f"-print-file-name={name}"], capture_output=True,
                             text=True).stdout.strip()
        if not os.path.isabs(out) or not os.path.exists(out):
            raise SystemExit(f"dev.py sanitize: {cc} has no {name} (the sanitizer build "
                             f"needs gcc with libasan and libubsan)")
        libs.append(os.path.realpath(out))
    return libs


def build_sanitized(state):
    """A wheel built with FASTLOSS_SANITIZE=1 from the installed wheel's sdist, unpacked
    into .venv/fastloss-sanitize (skipped when it was built from the same sources).

    Baseline only (FASTLOSS_NO_ISA_VARIANTS=1): the AVX2 and AVX-512 variants are the same
    C source compiled with other -m flags, and the sanitizers instrument the source's
    memory accesses and operations before vectorisation, so instrumented variants would
    repeat the baseline's checks at the cost of two more compiles and two more runs."""
    stamp = json.dumps([state["digest"], SANITIZE_ENV])
    if (os.path.exists(SANITIZE_STAMP) and os.path.isdir(SANITIZE_DIR)
            and open(SANITIZE_STAMP).read() == stamp):
        print("(the sanitizer build of fastloss is up to date in .venv)", flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="fastloss-sanitize-") as tmp:
        with tarfile.open(state["sdist"]) as tar:
            top = tar.getnames()[0].split("/")[0]
            try:
                tar.extractall(tmp, filter="data")
            except TypeError:           # Python without tarfile extraction filters
                tar.extractall(tmp)
        print(f"+ {' '.join(f'{k}={v}' for k, v in SANITIZE_ENV.items())} "
              f"python -m build --wheel {top}", flush=True)
        subprocess.run([venv_python(), "-m", "build", "--wheel", "--outdir",
                        os.path.join(tmp, "wheel"), os.path.join(tmp, top)], check=True,
                       env=dict(os.environ, **SANITIZE_ENV))
        wheel, = glob.glob(os.path.join(tmp, "wheel", "fastloss-*.whl"))
        shutil.rmtree(SANITIZE_DIR, ignore_errors=True)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(SANITIZE_DIR)
    with open(SANITIZE_STAMP, "w") as fh:
        fh.write(stamp)


def run_sanitized(py, args):
    """SANITIZE_TESTS against the sanitizer build; any ASan or UBSan report aborts the
    process, so fails the run."""
    env = test_env(
        PYTHONPATH=os.pathsep.join([SANITIZE_DIR] + [
            p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        LD_PRELOAD=" ".join(sanitizer_runtime()),
        ASAN_OPTIONS="detect_leaks=0:exitcode=86",   # CPython leaks by design
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=86")
    probe = ("import fastloss, os; c = fastloss.config(); "
             "assert c['backend'] == 'cython' and '[asan+ubsan]' in (c['compiler'] or ''), c; "
             "assert fastloss.__file__.startswith(os.environ['PYTHONPATH'].split(os.pathsep)[0]); "
             "print('sanitizer build:', c['compiler'], '| SIMD', c['simd'])")
    print("+ (ASan+UBSan) python -c <check that the sanitizer build is the one imported>",
          flush=True)
    code = subprocess.run([py, "-c", probe], cwd=RUN_DIR, env=env).returncode
    if code:
        return code
    tests = [t for t in SANITIZE_TESTS if os.path.exists(os.path.join(ROOT, t))]
    # --capture=sys: pytest's default capture redirects file descriptor 2, and a report
    # written there just before the sanitizer ends the process would be lost with it.
    return run([py, "-m", "pytest", *tests, "-x", "-p", "no:randomly", "--capture=sys",
                *args], env, "(ASan+UBSan) ")


def main(argv):
    if not argv or argv[0] not in EXTRAS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    job, rest = argv[0], argv[1:]
    state = setup(job)
    py = venv_python()
    if job == "test":
        return run_tests(py, rest)
    if job == "sanitize":
        build_sanitized(state)
        return run_sanitized(py, rest)
    # the quick run unless --full or another mode (--catalogue, --from-json) is asked for
    mode = [] if any(a == "--full" or a.startswith(("--catalogue", "--from-json"))
                     for a in rest) else ["--quick"]
    rest = [a for a in rest if a != "--full"]
    # bench/run.py is run as a script: the repository root is then not on sys.path, and
    # the benchmark imports the installed fastloss.
    return run([py, os.path.join("bench", "run.py"), *mode, *rest], dict(os.environ))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
