"""Turns shared by every process on the machine: flock'd lock files, one per turn, held until closed. The decoder
sandbox (app/uploads/sandbox.py) and receipt derivations (app/crypto/receipts.py) bound their work with them."""

import fcntl
import os


def take(folder: str, count: int) -> tuple[int, int] | None:
    """Take a free turn of ``count`` in ``folder``: its index and the open lock file that holds it until closed;
    None when all are taken."""
    for index in range(count):
        fd = os.open(os.path.join(folder, f"slot-{index}"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return index, fd
    return None
