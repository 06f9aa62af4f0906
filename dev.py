#!/usr/bin/env python3
"""The two set-up-and-run commands of fastloss (stdlib only, so a bare Python runs it).

    python3 dev.py bench    # the main job: quick benchmark against NumPy and installed peers
    python3 dev.py test     # the whole test suite (PyTorch CPU included as the reference)

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


def main(argv):
    if not argv or argv[0] not in EXTRAS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    job, rest = argv[0], argv[1:]
    setup(job)
    py = venv_python()
    if job == "test":
        cmd = [py, "-m", "pytest", "tests", *rest]
    else:
        full = "--full" in rest
        rest = [a for a in rest if a != "--full"]
        cmd = [py, "-m", "fastloss", "bench", *([] if full else ["--quick"]), *rest]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
