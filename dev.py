#!/usr/bin/env python3
"""The two set-up-and-run commands of fastloss (stdlib only, so a bare Python runs it).

    python3 dev.py bench    # the main job: quick benchmark against NumPy and installed peers
    python3 dev.py test     # the whole test suite (PyTorch CPU included as the reference),
                            # then the kernel battery again at each lower SIMD level

Each creates ``.venv`` beside this file if needed, installs fastloss into it in editable
mode (which compiles the Cython/C kernels) with the extra the job needs, and runs the job.
Arguments after the command are passed on (to ``python -m fastloss bench`` or to pytest).
Re-running skips the install when the sources and the extras have not changed.
"""
import hashlib
import os
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
EXTRAS = {"test": "test,torch", "bench": "bench"}
BUILD_INPUTS = ["pyproject.toml", "setup.py", "src"]


def venv_python():
    sub = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return os.path.join(VENV, sub, exe)


def sources_digest(extras):
    digest = hashlib.sha256(extras.encode())
    for entry in BUILD_INPUTS:
        path = os.path.join(ROOT, entry)
        files = [path] if os.path.isfile(path) else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
            if f.endswith((".pyx", ".pxd", ".h", ".c")) and not f.startswith("_kernels.c"))
        for name in files:
            digest.update(os.path.relpath(name, ROOT).encode())
            with open(name, "rb") as fh:
                digest.update(fh.read())
    return digest.hexdigest()


def check(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def setup(job):
    if not os.path.exists(venv_python()):
        print(f"+ python -m venv {os.path.relpath(VENV, ROOT)}", flush=True)
        venv.create(VENV, with_pip=True)
    extras = EXTRAS[job]
    stamp = os.path.join(VENV, f".fastloss-{job}.stamp")
    digest = sources_digest(extras)
    if os.path.exists(stamp) and open(stamp).read() == digest:
        print(f"(fastloss[{extras}] is up to date in .venv)", flush=True)
        return
    check([venv_python(), "-m", "pip", "install", "--upgrade", "pip"])
    check([venv_python(), "-m", "pip", "install", "-e", f".[{extras}]"], cwd=ROOT)
    with open(stamp, "w") as fh:
        fh.write(digest)


def run_tests(py, args):
    """The whole suite at the best SIMD level, then the kernel battery at every other level
    this CPU runs (FASTLOSS_SIMD forces a level), so each compiled variant is proven."""
    cmd = [py, "-m", "pytest", "tests", *args]
    print("+", " ".join(cmd), flush=True)
    code = subprocess.run(cmd, cwd=ROOT).returncode
    if code:
        return code
    probe = "from fastloss import _kernels as k; print(' '.join(k.simd_levels()))"
    levels = subprocess.run([py, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    for level in levels[:-1]:
        cmd = [py, "-m", "pytest", "tests/test_battery.py", "tests/test_numerics.py",
               "tests/test_vmath.py", *args]
        print(f"+ FASTLOSS_SIMD={level}", " ".join(cmd), flush=True)
        code = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, FASTLOSS_SIMD=level)).returncode
        if code:
            return code
    return 0


def main(argv):
    if not argv or argv[0] not in EXTRAS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    job, rest = argv[0], argv[1:]
    setup(job)
    py = venv_python()
    if job == "test":
        return run_tests(py, rest)
    else:
        full = "--full" in rest
        rest = [a for a in rest if a != "--full"]
        cmd = [py, "-m", "fastloss", "bench", *([] if full else ["--quick"]), *rest]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
