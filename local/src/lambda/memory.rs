//! A process's resident memory, as Lambda counts it against the function's memory size:
//! the peak resident set (`VmHWM` in `/proc/<pid>/status`), reset at the start of each
//! invocation by writing `5` to `/proc/<pid>/clear_refs` (Linux 4.0 and later), so that
//! each invocation's peak is its own. No root, no cgroups: the instance's watchdog reads it
//! every [`POLL`] while an invocation runs, and once more when the invocation answers.

use std::time::Duration;

/// How often the watchdog looks at a running invocation's memory.
pub(super) const POLL: Duration = Duration::from_millis(25);

/// The process's peak resident memory in kB since the last [`reset_peak`] (or since it
/// started, if resetting failed); `None` once the process is gone.
pub(super) fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field_kb(&status, "VmHWM:")
}

/// Resets the process's peak to its current resident memory. `false` if the kernel refused
/// (older than 4.0, or not ours): the peak is then the lifetime peak of the process, which
/// can only overstate an invocation's use, never understate it.
pub(super) fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A `Name:   1234 kB` line of `/proc/<pid>/status`.
fn field_kb(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|number| number.trim().parse().ok())
}

/// kB as whole MB, rounded up (a process using anything uses at least 1 MB).
pub(super) fn kb_to_mb(kb: u64) -> u32 {
    u32::try_from(kb.div_ceil(1024)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_peak_of_this_process_and_resets_it() {
        let pid = std::process::id();
        let before = peak_kb(pid).expect("VmHWM of this process");
        assert!(before > 0);
        assert!(reset_peak(pid), "clear_refs accepts 5 (Linux >= 4.0)");
        assert!(peak_kb(pid).expect("VmHWM") > 0);
        assert_eq!(peak_kb(u32::MAX), None);
    }

    #[test]
    fn parses_status_lines() {
        let status = "Name:\tx\nVmPeak:\t  999 kB\nVmHWM:\t    2049 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(field_kb(status, "VmHWM:"), Some(2049));
        assert_eq!(field_kb(status, "VmSwap:"), None);
        assert_eq!(kb_to_mb(2049), 3);
        assert_eq!(kb_to_mb(2048), 2);
    }
}
