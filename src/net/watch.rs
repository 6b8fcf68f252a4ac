//! Knowing at once when another process on this phone writes the journal (the window, or
//! `steady pause` in a terminal), without looking every second: on Linux and Android the
//! kernel says when a file in the journal's folder changes (inotify). Elsewhere, and if
//! the kernel won't, [`FileWatch::start`] gives `None` and the node looks every second.

use std::path::Path;

/// A watch on one folder; [`FileWatch::changed`] returns when something in it changed.
pub struct FileWatch {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl FileWatch {
    /// Watches `folder` for writes, on the current tokio runtime.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn start(folder: &Path) -> Option<FileWatch> {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::CString::new(folder.as_os_str().as_bytes()).ok()?;
        // SAFETY: plain system calls; the descriptor is owned at once, and closed with it.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let mask = libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_CREATE | libc::IN_MOVED_TO;
        let watch = unsafe { libc::inotify_add_watch(std::os::fd::AsRawFd::as_raw_fd(&fd), name.as_ptr(), mask) };
        if watch < 0 {
            return None;
        }
        // SAFETY: the descriptor is owned by what is registered, open, and the same for as
        // long as the registration lasts.
        let fd = unsafe { tokio::io::unix::AsyncFd::register(fd) }.ok()?;
        Some(FileWatch { fd })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn start(_folder: &Path) -> Option<FileWatch> {
        None
    }

    /// Waits until something in the folder changed, and takes in all that did.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub async fn changed(&mut self) {
        use std::os::fd::AsRawFd;
        loop {
            let Ok(mut ready) = self.fd.readable().await else { return std::future::pending().await };
            let mut buf = [0u8; 4096];
            let mut got = false;
            loop {
                // SAFETY: reads into a buffer of its own length.
                let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                got = true;
            }
            ready.clear_ready();
            if got {
                return;
            }
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub async fn changed(&mut self) {
        std::future::pending().await
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn a_write_in_the_folder_is_told_at_once_and_silence_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = FileWatch::start(dir.path()).expect("this kernel watches folders");
        let quiet = tokio::time::timeout(Duration::from_millis(200), watch.changed()).await;
        assert!(quiet.is_err(), "nothing changed, nothing told");
        std::fs::write(dir.path().join("steady.db-wal"), b"a page").unwrap();
        let told = tokio::time::timeout(Duration::from_secs(2), watch.changed()).await;
        assert!(told.is_ok(), "the write was told");
    }
}
