"""A second copy of a Triton kernel module that runs on CPU tensors through Triton's interpreter.

Used by the tests of the GPU kernels (``interpret=True`` of the LIF scans and of the circuits
engine); never a default.
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType


def interpreted_copy(module: ModuleType) -> ModuleType:
    """Load ``module`` again, under the name ``<name>_interpreted``, with ``TRITON_INTERPRET=1`` set
    while its kernels are decorated, so that they run on CPU tensors in Triton's interpreter. The
    environment is restored afterwards and ``module`` itself (the compiled kernels) is left as it is.

    Example::

        from spikeforge.circuits import _triton_kernels
        kern = interpreted_copy(_triton_kernels)   # kern.<kernel>[grid](cpu_tensors, ...)
    """
    spec = importlib.util.spec_from_file_location(f"{module.__name__}_interpreted", module.__file__)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    before = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        spec.loader.exec_module(copy)
    finally:
        if before is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = before
    return copy
