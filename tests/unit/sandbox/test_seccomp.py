"""The seccomp program, run through a small classic-BPF interpreter: a table of system calls
(number, architecture, first argument) and the verdict the kernel would get."""

from __future__ import annotations

import struct

import pytest

from slipway.sandbox import seccomp
from slipway.sandbox.seccomp import AARCH64, X86_64, Arch

CLONE_THREAD_FLAGS = 0x3D0F00  # what pthread_create passes: VM|FS|FILES|SIGHAND|THREAD|...
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIGCHLD = 17

ALLOW = seccomp.RET_ALLOW
EPERM = seccomp.RET_ERRNO | seccomp.EPERM
ENOSYS = seccomp.RET_ERRNO | seccomp.ENOSYS
KILL = seccomp.RET_KILL_PROCESS


def run(program: bytes, *, arch: int, nr: int, arg0: int = 0) -> int:
    """Interpret `program` over one `struct seccomp_data`; return its verdict."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    insns = [struct.unpack_from("=HBBI", program, off) for off in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x15:  # jeq #k
            pc += jt if acc == k else jf
        elif code == 0x35:  # jge #k
            pc += jt if acc >= k else jf
        elif code == 0x45:  # jset #k
            pc += jt if acc & k else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def verdict(arch: Arch, name: str, arg0: int = 0) -> int:
    return run(seccomp.program(arch), arch=arch.audit, nr=arch.numbers[name], arg0=arg0)


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda a: a.name)
@pytest.mark.parametrize(
    ("name", "arg0", "expected"),
    [
        ("clone", SIGCHLD, ALLOW),  # fork()
        ("clone", CLONE_THREAD_FLAGS, ALLOW),  # a thread
        ("clone", SIGCHLD | CLONE_NEWUSER, EPERM),
        ("clone", SIGCHLD | CLONE_NEWNET, EPERM),
        ("unshare", CLONE_NEWUSER, EPERM),
        ("unshare", 0x80, EPERM),  # CLONE_NEWTIME
        ("unshare", 0x400, ALLOW),  # CLONE_FILES: no namespace
        ("clone3", 0, ENOSYS),
        ("io_uring_setup", 0, ENOSYS),
        ("keyctl", 0, EPERM),
        ("bpf", 0, EPERM),
        ("perf_event_open", 0, EPERM),
        ("userfaultfd", 0, EPERM),
        ("ptrace", 0, EPERM),
        ("mount", 0, EPERM),
        ("setns", 0, EPERM),
        ("open_by_handle_at", 0, EPERM),
        ("kexec_load", 0, EPERM),
    ],
)
def test_verdicts(arch: Arch, name: str, arg0: int, expected: int) -> None:
    assert verdict(arch, name, arg0) == expected


@pytest.mark.parametrize("nr", [0, 1, 2, 3, 39, 60, 231, 257])  # read, write, open, ..., openat
def test_ordinary_calls_pass(nr: int) -> None:
    assert run(seccomp.program(X86_64), arch=X86_64.audit, nr=nr) == ALLOW


def test_x32_calls_and_foreign_architectures_kill() -> None:
    program = seccomp.program(X86_64)
    assert run(program, arch=X86_64.audit, nr=0x40000000 | 2) == KILL
    assert run(program, arch=0x40000003, nr=2) == KILL  # i386
    assert run(seccomp.program(AARCH64), arch=X86_64.audit, nr=63) == KILL


def test_every_denied_call_has_a_number_on_x86_64() -> None:
    assert set(seccomp.DENIED) <= set(X86_64.numbers)
