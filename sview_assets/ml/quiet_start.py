"""TensorFlow's native start-up lines kept off the console, unless they say something a user must read.

TensorFlow's C++ side writes straight to file descriptor 2 when it loads and when it first looks for
GPUs: ``I0000`` lines (oneDNN, the CUDA stub, CPU instructions it was not built for) and, on a machine
without an NVIDIA driver, ``E0000 … failed call to cuInit``, which reads like an error but only says
there is no GPU. ``TF_CPP_MIN_LOG_LEVEL`` does not reach these (they are logged before absl's logging
is set up). So the first import of ``tensorflow`` in a process runs with descriptor 2 pointed at a
temporary file, looks for GPUs once, and then writes back every captured line except those. The
cuInit line is kept where an NVIDIA device exists, because there it means a broken driver.

:func:`install` (called when :mod:`sview_assets.ml` is imported) hooks the import; a process that
never imports TensorFlow pays nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$"),
    re.compile(r"^I0000 "),
    re.compile(r"rebuild TensorFlow with the appropriate compiler flags"),
)
NO_GPU_NOISE = re.compile(r"failed call to cuInit")


def nvidia_device_present() -> bool:
    """Whether this machine exposes an NVIDIA device node (then a failed cuInit is worth reading)."""
    return Path("/dev/nvidiactl").exists() or any(Path("/dev").glob("nvidia[0-9]*"))


def is_noise(line: str, gpu_present: bool) -> bool:
    """Whether a native start-up ``line`` says nothing a user must act on."""
    return any(pattern.search(line) for pattern in NOISE) or (not gpu_present and bool(NO_GPU_NOISE.search(line)))


@contextmanager
def native_stderr_filtered(gpu_present: bool):
    """Capture what anything (C++ included) writes to descriptor 2 in this block; write back all but the noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True) if not is_noise(line, gpu_present)]
            if kept:
                os.write(2, "".join(kept).encode())


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow`` inside :func:`native_stderr_filtered`, then looks for GPUs once."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        with native_stderr_filtered(nvidia_device_present()):
            self.loader.exec_module(module)
            module.config.list_physical_devices("GPU")


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` the usual way, once, and hands it to :class:`_QuietLoader`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Quiet TensorFlow's first import in this process (nothing to do once it is imported)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
