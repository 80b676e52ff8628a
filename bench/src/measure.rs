//! What a client measures of itself: CPU time of the whole process (all
//! threads, user + system) and its peak resident set.

use std::time::Duration;

/// CPU time used so far by every thread of this process, user + system
/// (`getrusage(RUSAGE_SELF)`), as the contract asks of every client.
pub fn process_cpu() -> Duration {
    // SAFETY: `rusage` is plain integers, so all-zero is a valid value, and
    // getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer cannot fail (EFAULT and
    // EINVAL are the only errors).
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// The process's peak resident set size in KiB (`VmHWM` of
/// `/proc/self/status`), or -1 where there is none.
pub fn peak_rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| vm_hwm(&status))
        .unwrap_or(-1)
}

fn vm_hwm(status: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_in_kib() {
        let status = "Name:\tours\nVmPeak:\t  999 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(vm_hwm(status), Some(20480));
        assert_eq!(vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_peak_and_spends_cpu() {
        assert!(peak_rss_kib() > 0);
        let before = process_cpu();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(process_cpu() > before, "{x}");
    }
}
