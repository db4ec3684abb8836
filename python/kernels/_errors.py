"""Library statuses as Python exceptions carrying kn_last_error()'s text."""
from __future__ import annotations

from ._library import library

# kn_status values (native/include/kernels.h) whose cause is the caller's input: raised as ValueError or TypeError.
_VALUE_ERRORS = {
    -30: "KN_ERROR_INVALID_VALUE",
    -2000: "KN_ERROR_INVALID_HANDLE",
    -2001: "KN_ERROR_NULL_POINTER",
    -2002: "KN_ERROR_INVALID_SIZE",
    -2003: "KN_ERROR_NOT_FINITE",
}
_TYPE_ERRORS = {-2004: "KN_ERROR_PRECISION_MISMATCH"}


class KernelsError(RuntimeError):
    """A failure inside libkernels that is not the caller's input: no OpenCL device, out of memory, a device error.

    ``status`` is the kn_status code and ``status_name`` its name (``"KN_ERROR_BACKEND_UNAVAILABLE"``).
    """

    def __init__(self, message: str, status: int, status_name: str):
        super().__init__(message)
        self.status = status
        self.status_name = status_name


class KernelsValueError(ValueError):
    """Bad input the library refused (NaN, a bad size or level); ``status`` and ``status_name`` as KernelsError."""

    def __init__(self, message: str, status: int, status_name: str):
        super().__init__(message)
        self.status = status
        self.status_name = status_name


class KernelsTypeError(TypeError):
    """A float32 call on a float64 set or the reverse; ``status`` and ``status_name`` as KernelsError."""

    def __init__(self, message: str, status: int, status_name: str):
        super().__init__(message)
        self.status = status
        self.status_name = status_name


def raise_for(status: int, function: str, rename: dict[str, str] | None = None) -> None:
    """Raises the exception for a failed call of ``function``. The library's message names the C parameters;
    ``rename`` maps those names to the Python arguments they came from (``{"queries": "x"}``)."""
    lib = library()
    message = lib.kn_last_error().decode("utf-8", "replace")
    name = lib.kn_status_name(status).decode()
    for c_name, python_name in (rename or {}).items():
        if message.startswith(c_name):
            message = python_name + message[len(c_name):]
    text = f"{message} [{function}: {name}]"
    if status in _VALUE_ERRORS:
        raise KernelsValueError(text, status, name)
    if status in _TYPE_ERRORS:
        raise KernelsTypeError(text, status, name)
    raise KernelsError(text, status, name)
