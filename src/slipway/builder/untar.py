"""Unpack a commit's tree (`git archive` output on stdin) into the current directory.

This file runs *inside* the sandbox, as the app's own uid, with the Python Slipway runs on
(`python3 -I untar.py`): it imports nothing of Slipway. Unpacking untrusted archives on the
host with tarfile's filters is how CVE-2025-4517 and its family wrote outside the
destination; here the sandbox is the first wall (the only writable places are the checkout,
`/tmp` and nothing of the host), and these checks are the second: a member fails the whole
checkout, with one line on stderr naming why, when
- its name is absolute, has a `..` part, is empty or too long, or nests too deep;
- it is not a file, a directory or a symbolic link (hard links, devices, fifos);
- it repeats an earlier member's name (a file twice, or a file over a directory);
- it lies below an earlier symbolic link (writing through a link to a place outside).
Files are written with O_NOFOLLOW and O_EXCL, directories 0755, files 0644 (0755 when
executable): the archive's owners and other mode bits are ignored.
"""

from __future__ import annotations

import os
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO

MAX_DEPTH = 64
MAX_NAME = 1024
MAX_PART = 255
EXIT_UNSAFE = 3


class UnsafeMember(Exception):
    """A member that would escape, collide or be something a checkout has no place for."""


def member_path(name: str) -> str:
    """The member's normalised relative path ("" for the archive's root); UnsafeMember else."""
    if "\0" in name or len(name) > MAX_NAME:
        raise UnsafeMember(f"an entry name is too long or holds a NUL byte: {name[:80]!r}")
    if name.startswith("/"):
        raise UnsafeMember(f"an entry has an absolute path: {name[:200]!r}")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeMember(f"an entry has a '..' in its path: {name[:200]!r}")
    if len(parts) > MAX_DEPTH:
        raise UnsafeMember(f"an entry nests deeper than {MAX_DEPTH} directories: {name[:200]!r}")
    if any(len(p.encode()) > MAX_PART for p in parts):
        raise UnsafeMember(f"an entry has a name part over {MAX_PART} bytes: {name[:200]!r}")
    return "/".join(parts)


class Checker:
    """Remembers what the archive made so far, to refuse collisions and links on the way."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {"": "dir"}

    def check(self, member: tarfile.TarInfo) -> str:
        path = member_path(member.name)
        if member.isdir():
            kind = "dir"
        elif member.isreg():
            kind = "file"
        elif member.issym():
            kind = "symlink"
        else:
            raise UnsafeMember(f"an entry is neither a file, a directory nor a link: {path!r}")
        parent = ""
        for part in path.split("/")[:-1] if path else []:
            parent = f"{parent}/{part}" if parent else part
            seen = self.kinds.get(parent)
            if seen == "symlink":
                raise UnsafeMember(f"an entry lies below a symbolic link: {path!r}")
            if seen == "file":
                raise UnsafeMember(f"an entry lies below a file: {path!r}")
            self.kinds.setdefault(parent, "dir")
        previous = self.kinds.get(path)
        if previous is not None and not (previous == kind == "dir"):
            raise UnsafeMember(f"an entry appears twice: {path!r}")
        self.kinds[path] = kind
        return path


def unpack(stream: IO[bytes], dest: Path = Path()) -> int:
    """Unpack the tar on `stream` into `dest`; the number of entries written."""
    checker = Checker()
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            path = checker.check(member)
            if not path:
                continue
            target = dest / path
            if member.isdir():
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
            elif member.issym():
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                target.symlink_to(member.linkname)
            else:
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                _write(target, source, executable=bool(member.mode & 0o111))
            count += 1
    return count


def _write(target: Path, source: IO[bytes], *, executable: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, 0o755 if executable else 0o644)
    with os.fdopen(fd, "wb") as out:
        for chunk in iter(lambda: source.read(1 << 16), b""):
            out.write(chunk)


def main(argv: Iterable[str] = ()) -> int:
    os.umask(0o022)
    try:
        unpack(sys.stdin.buffer)
    except UnsafeMember as exc:
        print(f"unsafe tree: {exc}", file=sys.stderr)
        return EXIT_UNSAFE
    except (tarfile.TarError, OSError) as exc:
        print(f"unreadable tree: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
