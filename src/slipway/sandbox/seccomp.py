"""The seccomp filter every sandboxed process runs under (bubblewrap's `--seccomp FD`).

A classic BPF program over `struct seccomp_data`, assembled here without libseccomp. It
allows everything except the system calls a tenant's code has no business making and that
are the usual ways into kernel bugs or out of a sandbox, as Docker's and Kubernetes'
`RuntimeDefault` profiles deny them:

- new namespaces: `unshare` and `clone` with any `CLONE_NEW*` flag (a nested user namespace
  is the usual first step of a kernel exploit), `setns`; `clone3` answers ENOSYS, since its
  flags sit behind a pointer a filter cannot read, and the C libraries then fall back to
  `clone`;
- the kernel's keyring (`keyctl`, `add_key`, `request_key`), `bpf`, `perf_event_open`,
  `userfaultfd`, `ptrace`, `process_vm_readv/writev`, `kcmp`;
- mounts of every kind (`mount`, `umount2`, `pivot_root`, `move_mount`, `open_tree`,
  `fsopen`, `fsconfig`, `fsmount`, `fspick`, `mount_setattr`);
- machine-wide state: modules, kexec, swap, reboot, clocks, `syslog`, `acct`, quotas,
  `iopl`/`ioperm`, file handles (`open_by_handle_at` read any file of a mount);
- io_uring answers ENOSYS (libuv and others fall back to threads).

Denied calls fail with EPERM (ENOSYS where a fallback exists), so a program sees an error it
can handle. A call from another architecture (the x32 ABI on x86_64, or a foreign audit
arch) kills the process: the filter's numbers would not mean what they say there.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

# BPF instruction classes and fields (linux/bpf_common.h)
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
EPERM = 1
ENOSYS = 38

# offsets in struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR, _ARCH, _ARG0_LOW = 0, 4, 16

X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET; unshare also takes
# CLONE_NEWTIME (0x80, which clone reads as part of the exit signal).
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
CLONE_NAMESPACES |= 0x20000000 | 0x40000000
UNSHARE_NAMESPACES = CLONE_NAMESPACES | 0x00000080

DENIED = [
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "name_to_handle_at",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "vhangup",
    "nfsservctl",
    "uselib",
]
UNAVAILABLE = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")


@dataclass(frozen=True)
class Arch:
    name: str
    audit: int  # AUDIT_ARCH_* as seccomp_data.arch shows it
    numbers: dict[str, int]  # system call numbers; a name missing here does not exist there
    has_x32: bool = False


X86_64 = Arch(
    "x86_64",
    0xC000003E,
    {
        "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "kcmp": 312, "setns": 308, "unshare": 272, "clone": 56,
        "clone3": 435, "mount": 165, "umount2": 166, "pivot_root": 155, "move_mount": 429,
        "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304,
        "name_to_handle_at": 303, "swapon": 167, "swapoff": 168, "reboot": 169, "syslog": 103,
        "acct": 163, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305,
        "adjtimex": 159, "iopl": 172, "ioperm": 173, "quotactl": 179, "quotactl_fd": 443,
        "lookup_dcookie": 212, "vhangup": 153, "nfsservctl": 180, "uselib": 134,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    },
    has_x32=True,
)  # fmt: skip

AARCH64 = Arch(
    "aarch64",
    0xC00000B7,
    {
        "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "kcmp": 272, "setns": 268, "unshare": 97, "clone": 220,
        "clone3": 435, "mount": 40, "umount2": 39, "pivot_root": 41, "move_mount": 429,
        "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "open_by_handle_at": 265,
        "name_to_handle_at": 264, "swapon": 224, "swapoff": 225, "reboot": 142, "syslog": 116,
        "acct": 89, "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266,
        "adjtimex": 171, "quotactl": 60, "quotactl_fd": 443, "lookup_dcookie": 18,
        "vhangup": 58, "nfsservctl": 42, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427,
    },
)  # fmt: skip

ARCHES = {"x86_64": X86_64, "aarch64": AARCH64}


def host_arch() -> Arch:
    """This machine's architecture; RuntimeError where no filter is written for it."""
    machine = os.uname().machine
    arch = ARCHES.get(machine)
    if arch is None:
        raise RuntimeError(f"no seccomp filter is written for {machine}: sandboxes cannot start")
    return arch


# --------------------------------------------------------------------------- assembly

Insn = tuple[int, str | int, str | int, int]  # (code, jump-if-true, jump-if-false, k)


def _assemble(program: Sequence[Insn | str]) -> bytes:
    """`struct sock_filter[]` from instructions and labels (strings mark positions)."""
    labels: dict[str, int] = {}
    insns: list[Insn] = []
    for item in program:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)
    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(insns):
        offsets = [labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
        if any(not 0 <= off <= 255 for off in offsets):
            raise ValueError("a jump of the seccomp filter is out of range")
        out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
    return bytes(out)


def program(arch: Arch) -> bytes:
    """The filter for `arch`, ready for `bwrap --seccomp`."""
    nrs = arch.numbers
    code: list[Insn | str] = [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 0, "kill", arch.audit),
        (_LD_W_ABS, 0, 0, _NR),
    ]
    if arch.has_x32:
        code.append((_JGE_K, "kill", 0, X32_SYSCALL_BIT))
    code += [(_JEQ_K, "clone", 0, nrs["clone"]), (_JEQ_K, "unshare", 0, nrs["unshare"])]
    code += [(_JEQ_K, "enosys", 0, nrs[name]) for name in UNAVAILABLE if name in nrs]
    code += [(_JEQ_K, "eperm", 0, nrs[name]) for name in DENIED if name in nrs]
    code += [
        (_RET_K, 0, 0, RET_ALLOW),
        "clone",
        (_LD_W_ABS, 0, 0, _ARG0_LOW),
        (_JSET_K, "eperm", "allow", CLONE_NAMESPACES),
        "unshare",
        (_LD_W_ABS, 0, 0, _ARG0_LOW),
        (_JSET_K, "eperm", "allow", UNSHARE_NAMESPACES),
        "allow",
        (_RET_K, 0, 0, RET_ALLOW),
        "eperm",
        (_RET_K, 0, 0, RET_ERRNO | EPERM),
        "enosys",
        (_RET_K, 0, 0, RET_ERRNO | ENOSYS),
        "kill",
        (_RET_K, 0, 0, RET_KILL_PROCESS),
    ]
    return _assemble(code)


def memfd(arch: Arch | None = None) -> int:
    """A file descriptor holding the filter, positioned at its start (for `--seccomp`)."""
    data = program(arch or host_arch())
    fd = os.memfd_create("slipway-seccomp", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
