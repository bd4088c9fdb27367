"""One writer at a time in a content folder (rules/, strategies/): a file lock around every
read-modify-write.

Planners edit strategies and supervisors approve them at the same time, each from their own
process. Without a lock two `strategies edit` both read the file, both write, and one edit is
lost while both print "edited"; an `approve` that read the file just before an `edit` wrote it
would put `status: approved` back on top of the edit. Every command that reads a content file
and writes it back — strategies add/edit/remove/import, submit and approve of any content —
runs its whole read → validate → write inside `content_lock(folder)`.

The lock is `fcntl.flock` on the content folder itself (a read-only descriptor of the
directory: Linux locks directories like files), so no lock file appears among the planners'
files, in git, or after a refused edit, and everyone who can read the folder can take it.
flock locks belong to the open descriptor and are released by the kernel when the process
ends, so a killed editor never leaves the folder locked. A second writer waits up
to `WAIT_SECONDS`, then is refused (exit 3) with a message naming the folder — never a silent
lost edit. Readers (validate, list, show, run) do not lock: every writer replaces files with
one os.replace, so a reader sees the old or the new file, never half of one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from engine.base.diagnostics import Diagnostic, Refused

WAIT_SECONDS = 30.0
LOCKED = "RP905"


@contextmanager
def content_lock(folder: str | Path, wait: float = WAIT_SECONDS) -> Iterator[Path]:
    """Hold the exclusive edit lock of `folder` (created if missing) for the `with` body."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise Refused([Diagnostic(
                        LOCKED, f"another edit of {folder} has held its lock for more than {wait:.0f} s",
                        file=str(folder), hint="wait for the other command to finish and try again",
                    )]) from None
                time.sleep(0.05)
        yield folder
    finally:
        os.close(fd)  # closing releases the flock
