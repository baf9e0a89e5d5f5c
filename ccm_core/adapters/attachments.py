"""Files customers sent with their complaints, kept in a directory the operator chose.

One folder per case, named by its reference, so erasing a customer's data removes the folder. A
file is written under a temporary name and renamed, so a crash never leaves half a file under its
real name; its name carries a digest of its content, so storing the same file twice (a mail taken
in again after a crash) writes it once.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

_UNSAFE = re.compile(r"[^\w.\-]+")


class FileAttachmentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, reference: str, name: str, content: bytes) -> str:
        """Keep ``content``; the key it is found under again."""
        digest = hashlib.sha256(content).hexdigest()[:16]
        safe = _UNSAFE.sub("_", name).strip("._")[-100:] or "file"
        key = f"{_folder(reference)}/{digest}-{safe}"
        path = self.root / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            partial.write_bytes(content)
            partial.replace(path)
        return key

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def delete_case(self, reference: str) -> None:
        """Every file of the case, gone (erasure)."""
        shutil.rmtree(self.root / _folder(reference), ignore_errors=True)


def _folder(reference: str) -> str:
    return _UNSAFE.sub("_", reference)
