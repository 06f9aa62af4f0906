import os
import sys

# tests/ holds the shared case table (cases.py) next to the tests that import it.
sys.path.insert(0, os.path.dirname(__file__))


def pytest_configure(config):
    """With FASTLOSS_TEST_INSTALLED=1 (``dev.py test`` sets it) the suite must test the
    installed package: fail at once if ``import fastloss`` found the source tree."""
    if os.environ.get("FASTLOSS_TEST_INSTALLED", "") in ("", "0"):
        return
    import fastloss
    import pytest
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    where = os.path.dirname(os.path.abspath(fastloss.__file__))
    source = os.path.join(root, "fastloss")
    if os.path.isdir(source) and os.path.samefile(where, source):
        raise pytest.UsageError(
            f"FASTLOSS_TEST_INSTALLED is set but fastloss was imported from the source tree "
            f"({os.path.relpath(where, root)}), not the installed package: run pytest so "
            f"the repository root is not on sys.path (e.g. PYTHONSAFEPATH=1)")
    if not fastloss.config()["compiled_kernels"]:
        raise pytest.UsageError("FASTLOSS_TEST_INSTALLED is set but the installed fastloss "
                                "has no compiled kernels: "
                                f"{fastloss.config().get('import_error')}")
