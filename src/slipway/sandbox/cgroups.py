"""Resource limits for sandboxes as cgroups: v2 where the host delegates it, else the v1
`memory`, `pids` and `cpu` hierarchies (this machine), else none (`Cgroups.none()`), and
the sandbox falls back to rlimits.

Each sandboxed process tree gets a group of its own, `<our group>/slipway/<name>`, created
before the tree runs a line of tenant code (`sandbox.spawn` moves bubblewrap's processes in
while bubblewrap waits on its block fd) and removed once the tree is gone. Memory is capped
without swap, so an allocation past the limit makes the kernel kill a process of the group:
`Group.oom_kills()` reads the kernel's count, so the runtime can say `OOMKilled`. The
sandbox's `/tmp` is a tmpfs, and tmpfs pages are charged to the group that writes them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PARENT = "slipway"
CPU_PERIOD_US = 100_000
_V1_CONTROLLERS = ("memory", "pids", "cpu")


@dataclass(frozen=True)
class Limits:
    """What one sandboxed process tree may use."""

    memory_bytes: int
    pids: int
    cpus: float

    @property
    def memory_mb(self) -> int:
        return self.memory_bytes // (1024 * 1024)


class Group:
    """The cgroup (one directory per hierarchy) of one sandboxed process tree."""

    def __init__(self, dirs: dict[str, Path], *, events: Path) -> None:
        self.dirs = dirs  # controller (or "unified") -> directory
        self._events = events  # the file with the `oom_kill` counter

    def add(self, pid: int) -> None:
        for path in self.dirs.values():
            (path / "cgroup.procs").write_text(str(pid))

    def oom_kills(self) -> int:
        """How many processes of the group the kernel killed for memory."""
        try:
            text = self._events.read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def pids(self) -> list[int]:
        """The processes in the group now."""
        path = next(iter(self.dirs.values())) / "cgroup.procs"
        try:
            return [int(x) for x in path.read_text().split()]
        except OSError:
            return []

    def remove(self) -> bool:
        """Remove the group's directories; False while processes are still in it."""
        gone = True
        for path in self.dirs.values():
            try:
                path.rmdir()
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise
                gone = False
        return gone


class Cgroups:
    """Creates `Group`s under our own cgroup, in whichever layout the host has."""

    def __init__(self, kind: str, parents: dict[str, Path]) -> None:
        self.kind = kind  # "cgroup v2", "cgroup v1" or "" (none)
        self._parents = parents

    @classmethod
    def none(cls) -> Cgroups:
        return cls("", {})

    @property
    def available(self) -> bool:
        return bool(self._parents)

    def create(self, limits: Limits, *, name: str | None = None) -> Group:
        """A new group, named `<our pid>-<random>` unless a name is given."""
        name = name or f"{os.getpid()}-{secrets.token_hex(6)}"
        if self.kind == "cgroup v2":
            return self._create_v2(name, limits)
        return self._create_v1(name, limits)

    def sweep(self) -> list[str]:
        """Remove the (empty) groups of Slipway processes that are gone; their names."""
        removed: list[str] = []
        for parent in self._parents.values():
            with contextlib.suppress(OSError):
                for child in parent.iterdir():
                    pid = child.name.partition("-")[0]
                    if not child.is_dir() or not pid.isdigit() or Path(f"/proc/{pid}").exists():
                        continue
                    with contextlib.suppress(OSError):
                        child.rmdir()
                        removed.append(child.name)
        return sorted(set(removed))

    def _create_v1(self, name: str, limits: Limits) -> Group:
        dirs = {c: self._parents[c] / name for c in _V1_CONTROLLERS}
        for path in dirs.values():
            path.mkdir()
        memory = dirs["memory"]
        _write(memory / "memory.limit_in_bytes", limits.memory_bytes)
        if (memory / "memory.memsw.limit_in_bytes").exists():
            _write(memory / "memory.memsw.limit_in_bytes", limits.memory_bytes)  # no swap
        _write(dirs["pids"] / "pids.max", limits.pids)
        _write(dirs["cpu"] / "cpu.cfs_period_us", CPU_PERIOD_US)
        _write(dirs["cpu"] / "cpu.cfs_quota_us", int(limits.cpus * CPU_PERIOD_US))
        return Group(dirs, events=memory / "memory.oom_control")

    def _create_v2(self, name: str, limits: Limits) -> Group:
        path = self._parents["unified"] / name
        path.mkdir()
        _write(path / "memory.max", limits.memory_bytes)
        if (path / "memory.swap.max").exists():
            _write(path / "memory.swap.max", 0)
        _write(path / "pids.max", limits.pids)
        (path / "cpu.max").write_text(f"{int(limits.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        return Group({"unified": path}, events=path / "memory.events")


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))


# --------------------------------------------------------------------------- detection


def detect(proc: Path = Path("/proc/self")) -> Cgroups:
    """The cgroup layout this process may create sandboxes' groups in; `Cgroups.none()`
    when it may not (no cgroups, a controller missing, or no permission)."""
    memberships = _memberships(proc / "cgroup")
    mounts = _mounts(proc / "mountinfo")
    unified = mounts.get("cgroup2")
    if unified is not None and "" in memberships:
        found = _v2(unified / memberships[""].lstrip("/"))
        if found is not None:
            return found
    v1: dict[str, Path] = {}
    for controller in _V1_CONTROLLERS:
        mount = mounts.get(controller)
        if mount is None or controller not in memberships:
            return Cgroups.none()
        parent = mount / memberships[controller].lstrip("/") / PARENT
        if not _usable(parent):
            return Cgroups.none()
        v1[controller] = parent
    return Cgroups("cgroup v1", v1)


def _v2(own: Path) -> Cgroups | None:
    """Our group in the unified hierarchy, if it can host limited children: the controllers
    are available and can be enabled for `slipway/` (moving this process into a leaf of its
    own first, as cgroup v2 allows no processes in a group whose children have controllers)."""
    try:
        available = set((own / "cgroup.controllers").read_text().split())
    except OSError:
        return None
    if not {"memory", "pids", "cpu"} <= available:
        return None
    parent = own / PARENT
    try:
        _enable(own, parent)
    except OSError:
        return None
    return Cgroups("cgroup v2", {"unified": parent})


def _enable(own: Path, parent: Path) -> None:
    control = "+memory +pids +cpu"
    try:
        (own / "cgroup.subtree_control").write_text(control)
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        leaf = own / "platform"  # the no-internal-processes rule: move ourselves down
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(str(os.getpid()))
        (own / "cgroup.subtree_control").write_text(control)
    parent.mkdir(exist_ok=True)
    (parent / "cgroup.subtree_control").write_text(control)


def _usable(parent: Path) -> bool:
    try:
        parent.mkdir(exist_ok=True)
    except OSError:
        return False
    return os.access(parent, os.W_OK)


def _memberships(path: Path) -> dict[str, str]:
    """controller -> our group's path in its hierarchy ("" for the unified one)."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            _, controllers, group = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                found[controller] = group
    return found


def _mounts(path: Path) -> dict[str, Path]:
    """ "cgroup2" and each v1 controller -> where its hierarchy is mounted."""
    found: dict[str, Path] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) < 5 or len(rest) < 3:
                continue
            where = Path(fields[4].replace("\\040", " "))
            if rest[0] == "cgroup2":
                found.setdefault("cgroup2", where)
            elif rest[0] == "cgroup":
                for option in _options(rest[2:]):
                    found.setdefault(option, where)
    return found


def _options(fields: Iterable[str]) -> list[str]:
    return [opt for field in fields for opt in field.split(",")]
