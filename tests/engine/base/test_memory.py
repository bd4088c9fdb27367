"""release_unused: frees memory between a night's stages without starting any process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.base.memory import release_unused


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's (Linux)")
def test_release_unused_starts_no_process_once_the_c_library_is_found(monkeypatch):
    """find_library runs `ldconfig -p` in a child process; a worker calls release_unused after
    every slice, and each child was a fork of a process of hundreds of MB."""
    release_unused()  # the first call may look the library up
    started = []
    real = subprocess.Popen.__init__

    def spy(self, *args, **kwargs):
        started.append(args[0] if args else kwargs.get("args"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    for _ in range(3):
        release_unused()
    assert started == []
