"""The wheel carries libkernels.so (linux-x64), so it is tagged for that platform, not as pure Python: py3-none-linux_x86_64.
Everything else is in pyproject.toml."""
from setuptools import setup
from setuptools.dist import Distribution
from wheel.bdist_wheel import bdist_wheel


class NativeLibraryWheel(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        return "py3", "none", "linux_x86_64"


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(cmdclass={"bdist_wheel": NativeLibraryWheel}, distclass=BinaryDistribution)
