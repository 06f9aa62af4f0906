"""The compiled module's kernel table (``fastloss._kernels.KERNELS``, generated from the
X-macro in src/fl_kernels.h) names exactly the kernel ids the registry uses."""
import pytest

import fastloss as fl
from fastloss import _registry

pytestmark = pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="kernels not built")


def _registry_ids():
    """The registry's kernel-id constants (MSE = 0, ...), by lower-case name."""
    return {name.lower(): value for name, value in vars(_registry).items()
            if name.isupper() and type(value) is int}


def test_kernel_names_match_registry_ids():
    from fastloss import _kernels
    assert _kernels.KERNELS == _registry_ids()


def test_kernel_ids_and_names_are_unique():
    from fastloss import _kernels
    ids = list(_kernels.KERNELS.values())
    assert len(set(ids)) == len(ids)
    assert all(name.isidentifier() and name == name.lower() for name in _kernels.KERNELS)
