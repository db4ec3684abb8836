"""The wheel installs and imports from a folder that is not the repository, with libkernels.so inside the package."""
import os

import pytest

import kernels
from kernels import _library

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_installed_package_carries_its_library_and_lives_outside_the_repository():
    package = os.path.dirname(os.path.abspath(kernels.__file__))
    if os.environ.get("KERNELS_REQUIRE_INSTALLED") != "1" and package == os.path.join(REPOSITORY, "python", "kernels"):
        pytest.skip("running from the source tree (python/); CI runs this suite on the installed wheel")
    assert not os.environ.get(_library.LIBRARY_VARIABLE), "KERNELS_LIBRARY would bypass the bundled library"
    assert not package.startswith(REPOSITORY + os.sep), f"kernels was imported from {package}, inside the repository"
    assert _library.library_path() == os.path.join(package, "_native", "libkernels.so")
    for name in ("libkernels.so", "libkernels-x86-64-v3.so", "libkernels-x86-64-v4.so"):
        assert os.path.isfile(os.path.join(package, "_native", name)), name
    assert kernels.native_version() == kernels.__version__
