"""The machine's processes as the tests look at them (from /proc): who runs what, under
whom, in which process group, below which parent. A process that ends while it is read is
left out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    state: str  # "R", "S", "Z" (a zombie), ...
    argv: tuple[bytes, ...]

    @property
    def cmdline(self) -> bytes:
        return b" ".join(self.argv)

    @property
    def program(self) -> str:
        """The executable's base name (argv[0]'s)."""
        return Path(self.argv[0].decode(errors="replace")).name if self.argv else ""

    def uid(self) -> int | None:
        """The real uid, or None once the process is gone."""
        try:
            for line in (PROC / str(self.pid) / "status").read_text().splitlines():
                if line.startswith("Uid:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None


def processes(*, zombies: bool = False) -> list[Proc]:
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        proc = Proc(int(entry.name), int(fields[1]), int(fields[2]), fields[0],
                    tuple(a for a in argv if a))  # fmt: skip
        if zombies or proc.state != "Z":
            found.append(proc)
    return found


def descendants(pid: int) -> list[Proc]:
    """Every live process below `pid` (children, their children, ...)."""
    every = processes()
    parent = {p.pid: p.ppid for p in every}
    found = []
    for proc in every:
        ancestor = parent.get(proc.pid)
        while ancestor not in (None, 0, 1, pid):
            ancestor = parent.get(ancestor)
        if ancestor == pid:
            found.append(proc)
    return found


def with_text(text: str | bytes) -> list[Proc]:
    """Live processes whose command line contains `text`."""
    wanted = text.encode() if isinstance(text, str) else text
    return [p for p in processes() if wanted in p.cmdline]


def of_uid(uid: int) -> list[Proc]:
    return [p for p in processes() if p.uid() == uid]
