//! What the daemon under load costs, read from /proc: CPU time of hotline
//! and of its PostgreSQL (the postmaster, its live backends and the
//! children it already reaped), and resident memory.

use std::path::Path;

/// Clock ticks per second of /proc's CPU times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The fields of /proc/<pid>/stat after the command name.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    // state is not a number; the rest are.
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// CPU seconds of `pid` (user + system), with its reaped children's when
/// `children`.
pub fn cpu_seconds(pid: u32, children: bool) -> f64 {
    // After the state: ppid(0) ... utime(10) stime(11) cutime(12) cstime(13).
    let Some(f) = stat_fields(pid) else {
        return 0.0;
    };
    let mut ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    if children {
        ticks += f.get(12).copied().unwrap_or(0) + f.get(13).copied().unwrap_or(0);
    }
    ticks as f64 / ticks_per_second()
}

fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.first().map(|p| *p as u32)
}

/// Live children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| parent(*p) == Some(pid))
        .collect()
}

/// The postmaster of the cluster whose data directory is `pgdata`.
pub fn postmaster(pgdata: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// CPU seconds of a PostgreSQL cluster: the postmaster with what it
/// reaped, plus every live backend and helper.
pub fn cluster_cpu_seconds(postmaster: u32) -> f64 {
    cpu_seconds(postmaster, true)
        + children(postmaster)
            .into_iter()
            .map(|c| cpu_seconds(c, false))
            .sum::<f64>()
}

/// Resident and peak resident memory of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The 1-, 5- and 15-minute load averages, as /proc says them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU seconds of this process (the load generator).
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id(), false)
}

/// Raise this process's open-file limit to its hard limit (thousands of
/// sockets); children (the daemon) inherit it.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// Time all threads of `pid` spent running and waiting for a CPU on a run
/// queue, in seconds (/proc/<pid>/task/*/schedstat). Waiting long for
/// every second run means the machine, not the program, sets the pace.
pub fn run_and_wait_seconds(pid: u32) -> (f64, f64) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0.0, 0.0);
    };
    let (mut run, mut wait) = (0u64, 0u64);
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        let mut f = text
            .split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0));
        run += f.next().unwrap_or(0);
        wait += f.next().unwrap_or(0);
    }
    (run as f64 / 1e9, wait as f64 / 1e9)
}
