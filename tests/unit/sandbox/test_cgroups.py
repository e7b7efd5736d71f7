"""cgroup detection and limits over fake `/proc/self` and cgroup trees (the real v1 tree is
exercised by tests/integration/sandbox; no host here has a delegated cgroup v2)."""

from __future__ import annotations

import os
from pathlib import Path

from slipway.sandbox import cgroups
from slipway.sandbox.cgroups import Limits

LIMITS = Limits(memory_bytes=256 * 1024 * 1024, pids=64, cpus=1.5)


def fake_proc(tmp_path: Path, *, cgroup: str, mountinfo: str) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text(mountinfo)
    return proc


def v1_host(tmp_path: Path) -> Path:
    root = tmp_path / "cg"
    lines = []
    for i, controller in enumerate(("memory", "pids", "cpu")):
        (root / controller / "svc").mkdir(parents=True)
        lines.append(
            f"{30 + i} 25 0:{30 + i} / {root / controller} rw,relatime shared:1 - cgroup cgroup "
            f"rw,{controller}"
        )
    return fake_proc(
        tmp_path,
        cgroup="4:memory:/svc\n8:pids:/svc\n1:cpu:/svc\n0::/\n",
        mountinfo="\n".join(lines),
    )


def test_v1_detected_under_our_own_groups(tmp_path: Path) -> None:
    found = cgroups.detect(v1_host(tmp_path))
    assert found.kind == "cgroup v1"
    assert (tmp_path / "cg" / "memory" / "svc" / "slipway").is_dir()


def test_v1_group_writes_limits_and_counts_oom_kills(tmp_path: Path) -> None:
    found = cgroups.detect(v1_host(tmp_path))
    group = found.create(LIMITS, name="g1")
    mem = tmp_path / "cg" / "memory" / "svc" / "slipway" / "g1"
    assert (mem / "memory.limit_in_bytes").read_text() == str(256 * 1024 * 1024)
    assert (tmp_path / "cg/pids/svc/slipway/g1/pids.max").read_text() == "64"
    assert (tmp_path / "cg/cpu/svc/slipway/g1/cpu.cfs_quota_us").read_text() == "150000"
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert group.oom_kills() == 2
    group.add(1234)
    assert (mem / "cgroup.procs").read_text() == "1234"


def test_v2_preferred_when_it_has_the_controllers(tmp_path: Path) -> None:
    root = tmp_path / "unified"
    own = root / "system.slice" / "slipway.service"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    proc = fake_proc(
        tmp_path,
        cgroup="0::/system.slice/slipway.service\n",
        mountinfo=f"35 24 0:30 / {root} rw shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
    )
    found = cgroups.detect(proc)
    assert found.kind == "cgroup v2"
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    group = found.create(LIMITS, name="g2")
    path = own / "slipway" / "g2"
    assert (path / "memory.max").read_text() == str(256 * 1024 * 1024)
    assert (path / "cpu.max").read_text() == "150000 100000"
    (path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_kills() == 1


def test_no_controllers_means_no_cgroups(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, cgroup="0::/\n", mountinfo="")
    assert not cgroups.detect(proc).available
    assert cgroups.detect(proc).kind == ""


def test_sweep_removes_only_groups_of_processes_that_are_gone(tmp_path: Path) -> None:
    found = cgroups.detect(v1_host(tmp_path))
    parent = tmp_path / "cg" / "pids" / "svc" / "slipway"
    (parent / "4000000-dead").mkdir()
    (parent / f"{os.getpid()}-mine").mkdir()
    assert found.sweep() == ["4000000-dead"]
    assert (parent / f"{os.getpid()}-mine").is_dir()
