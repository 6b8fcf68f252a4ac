//! The time as the lock measures it. The waits after wrong passcodes, and how long the
//! app has been away, are measured on the boot-time clock: it keeps counting while the
//! phone sleeps (a plain monotonic clock stops), and nobody can set it (the wall clock
//! can be set forward to end a wait). It starts again at each boot, so it comes with the
//! boot's id: a time measured in another boot is not compared with this one's.

use std::time::{Duration, SystemTime};

/// One reading of the clocks the lock uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Now {
    /// The wall clock, which a person can set: kept for the record, never to end a wait.
    pub wall: SystemTime,
    /// Time since this boot, counting while the phone sleeps.
    pub boot: Duration,
    /// Which boot `boot` counts from; empty where the system can't say.
    pub boot_id: String,
}

impl Now {
    /// The clocks as they read now.
    pub fn current() -> Now {
        Now { wall: SystemTime::now(), boot: boot_clock(), boot_id: boot_id() }
    }

    /// How long has passed since `earlier`, on the boot-time clock, if both were read in
    /// the same boot (and the clock did not run backwards).
    pub fn since(&self, earlier_boot: Duration, earlier_boot_id: &str) -> Option<Duration> {
        (earlier_boot_id == self.boot_id).then(|| self.boot.checked_sub(earlier_boot)).flatten()
    }
}

/// Time since boot, counting sleep: `CLOCK_BOOTTIME` on Linux and Android; elsewhere the
/// system's monotonic clock (on Apple's systems it counts sleep too).
fn boot_clock() -> Duration {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let clock = libc::CLOCK_BOOTTIME;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let clock = libc::CLOCK_MONOTONIC;
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write into, and the clock id is a constant the
    // system knows.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// The kernel's id of this boot, where it has one.
fn boot_id() -> String {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_owned()).unwrap_or_default()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_clock_runs_and_names_its_boot() {
        let a = Now::current();
        std::thread::sleep(Duration::from_millis(20));
        let b = Now::current();
        assert!(b.boot > a.boot && !b.boot.is_zero());
        assert_eq!(a.boot_id, b.boot_id);
        #[cfg(target_os = "linux")]
        assert_eq!(a.boot_id.len(), 36, "a boot id: {:?}", a.boot_id);
        assert!(b.since(a.boot, &a.boot_id).is_some_and(|d| d >= Duration::from_millis(20)));
        assert_eq!(b.since(a.boot, "another boot"), None, "a time from another boot is not compared");
    }
}
