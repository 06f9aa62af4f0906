"""pytest configuration of the benchmark suite (``pytest bench/ --benchmark-only``).

This directory is not part of the CI test run: ``testpaths`` in pyproject.toml is
``tests``, and nothing here is collected by ``pytest tests/``.  Without pytest-benchmark
installed every benchmark here is skipped rather than erroring on the missing fixture.
"""
import pytest

try:
    import pytest_benchmark  # noqa: F401
    HAVE_BENCHMARK = True
except ImportError:
    HAVE_BENCHMARK = False


def pytest_collection_modifyitems(config, items):
    if HAVE_BENCHMARK:
        return
    skip = pytest.mark.skip(reason="pytest-benchmark is not installed "
                                   "(pip install pytest-benchmark, or the 'bench' extra)")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


if not HAVE_BENCHMARK:
    @pytest.fixture
    def benchmark():  # placeholder so collection succeeds; the tests are skipped
        pytest.skip("pytest-benchmark is not installed")
