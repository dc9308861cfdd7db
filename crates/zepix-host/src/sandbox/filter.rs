//! seccomp: the system calls a plugin may not make.
//!
//! Two filters, both allowing everything they do not name:
//! - the deny list: `EPERM` for process creation other than threads, sockets, tracing and other
//!   processes' memory, signals to other processes, mounts and namespaces, kernel modules and
//!   keys, clock setting, raising resource limits, System V and POSIX message IPC, and more;
//! - the guard: `clone3` answers `ENOSYS` (so the C library falls back to `clone`, whose flags the
//!   deny list can inspect), system calls of another ABI (x32) answer `ENOSYS`, and a foreign
//!   architecture kills the process.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};

/// Whether this build has filters for the architecture it runs on.
pub(super) fn arch() -> Option<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH).ok()
}

/// Denied outright.
const DENIED: &[libc::c_long] = &[
    // Processes: only threads may be created (`clone` is conditional, below).
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    // Network: no sockets (socketpair stays: asyncio's wake-up pipe).
    libc::SYS_socket,
    // Other processes.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_kcmp,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_getfd,
    libc::SYS_pidfd_send_signal,
    libc::SYS_tkill,
    // Mounts, namespaces, roots.
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_setns,
    libc::SYS_unshare,
    // Kernel facilities.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_personality,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_syslog,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_acct,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_vhangup,
    libc::SYS_lookup_dcookie,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
    // Resource limits may not be raised (reading them goes through prlimit64 without a new limit).
    #[cfg(target_arch = "x86_64")]
    libc::SYS_setrlimit,
    // IPC with processes outside the sandbox.
    libc::SYS_msgget,
    libc::SYS_semget,
    libc::SYS_shmget,
    libc::SYS_mq_open,
];

/// Namespace flags `clone` may not carry even for a thread.
const NAMESPACES: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> io::Result<SeccompCondition> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(seccomp)
}

fn rule(conditions: Vec<SeccompCondition>) -> io::Result<SeccompRule> {
    SeccompRule::new(conditions).map_err(seccomp)
}

fn seccomp(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("seccomp: {e}"))
}

fn flag(flag: libc::c_int) -> u64 {
    u64::from(flag.unsigned_abs())
}

/// The filters for a process whose pid is `own_pid` (the launcher's pid, which exec keeps).
pub(super) fn programs(arch: TargetArch, own_pid: u32) -> io::Result<[BpfProgram; 2]> {
    #[allow(clippy::useless_conversion, reason = "`c_long` is `i64` only on 64-bit targets")]
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|nr| (i64::from(*nr), Vec::new())).collect();

    // clone: a new process (no CLONE_THREAD), or a thread in a new namespace.
    let mut clone = vec![rule(vec![condition(0, SeccompCmpOp::MaskedEq(flag(libc::CLONE_THREAD)), 0)?])?];
    for ns in NAMESPACES {
        clone.push(rule(vec![condition(0, SeccompCmpOp::MaskedEq(flag(*ns)), flag(*ns))?])?);
    }
    rules.insert(libc::SYS_clone, clone);

    // Signals: only to itself (its threads share its pid as thread-group id).
    let others = || -> io::Result<Vec<SeccompRule>> {
        Ok(vec![rule(vec![condition(0, SeccompCmpOp::Ne, u64::from(own_pid))?])?])
    };
    rules.insert(libc::SYS_kill, others()?);
    rules.insert(libc::SYS_tgkill, others()?);
    rules.insert(libc::SYS_rt_sigqueueinfo, others()?);
    rules.insert(libc::SYS_rt_tgsigqueueinfo, others()?);

    // prlimit64 with a new limit.
    rules.insert(
        libc::SYS_prlimit64,
        vec![rule(vec![SeccompCondition::new(2, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, 0).map_err(seccomp)?])?],
    );

    // Typing into the terminal it may have inherited.
    #[allow(clippy::useless_conversion, reason = "`Ioctl` is `u64` only on 64-bit targets")]
    let tty = |request: libc::Ioctl| condition(1, SeccompCmpOp::Eq, u64::from(request));
    rules.insert(libc::SYS_ioctl, vec![rule(vec![tty(libc::TIOCSTI)?])?, rule(vec![tty(libc::TIOCLINUX)?])?]);

    let deny = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno(libc::EPERM)), arch)
        .map_err(seccomp)?;
    let deny: BpfProgram = deny.try_into().map_err(seccomp)?;
    Ok([guard(arch), deny])
}

fn errno(e: libc::c_int) -> u32 {
    e.unsigned_abs()
}

/// The hand-written guard (seccompiler matches syscall numbers one by one; this needs a range).
fn guard(arch: TargetArch) -> BpfProgram {
    // BPF_LD | BPF_W | BPF_ABS, BPF_JMP | BPF_JEQ | BPF_K, ... (linux/bpf_common.h).
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x05 | 0x10;
    const JGE_K: u16 = 0x05 | 0x30;
    const RET_K: u16 = 0x06;
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let stmt = |code, k| sock_filter { code, jt: 0, jf: 0, k };
    let jump = |code, k, jt, jf| sock_filter { code, jt, jf, k };
    let audit_arch = match arch {
        TargetArch::x86_64 => 0xC000_003E,
        TargetArch::aarch64 => 0xC000_00B7,
        TargetArch::riscv64 => 0xC000_00F3,
    };
    let enosys = libc::SECCOMP_RET_ERRNO | errno(libc::ENOSYS);
    let mut program = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JEQ_K, audit_arch, 1, 0),
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, NR),
    ];
    if arch == TargetArch::x86_64 {
        program.extend([jump(JGE_K, X32_SYSCALL_BIT, 0, 1), stmt(RET_K, enosys)]);
    }
    let clone3 = u32::try_from(libc::SYS_clone3).unwrap_or(u32::MAX);
    program.extend([jump(JEQ_K, clone3, 0, 1), stmt(RET_K, enosys), stmt(RET_K, libc::SECCOMP_RET_ALLOW)]);
    program
}

/// Installs the filters on the calling thread (the launcher is single-threaded).
pub(super) fn apply(programs: &[BpfProgram]) -> io::Result<()> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(seccomp)?;
    }
    Ok(())
}
