//! Calls into iOS: Foundation (backups), UIKit and BackgroundTasks (the courier's
//! background time).

use std::path::Path;

use objc2::runtime::AnyObject;
use objc2_foundation::{NSNumber, NSString, NSURL, NSURLIsExcludedFromBackupKey};

/// Sets `NSURLIsExcludedFromBackupKey` on `dir`, so that neither iCloud Backup nor a
/// backup made with a computer copies it or anything inside it. `dir` must exist.
pub(super) fn exclude_from_backup(dir: &Path) -> Result<(), String> {
    let path = dir.to_str().ok_or_else(|| format!("{} is not UTF-8", dir.display()))?;
    let url = NSURL::fileURLWithPath_isDirectory(&NSString::from_str(path), true);
    let excluded = NSNumber::numberWithBool(true);
    let value: &AnyObject = &excluded;
    // SAFETY: NSURLIsExcludedFromBackupKey takes an NSNumber holding a BOOL.
    unsafe { url.setResourceValue_forKey_error(Some(value), NSURLIsExcludedFromBackupKey) }
        .map_err(|e| e.localizedDescription().to_string())
}

// The courier in iOS's background time. iOS keeps no listener alive in a suspended app, so
// the courier runs only in time iOS gives: as the app leaves the foreground
// (`beginBackgroundTask`, about 30 s, for the letters just made), and in the tasks
// `BGTaskScheduler` runs when it sees fit (a `BGAppRefreshTask`, about 30 s, and a
// `BGProcessingTask`, minutes, on a network), which fetch letters from the couple's home
// relay. Their identifiers are declared in Dioxus.toml's `BGTaskSchedulerPermittedIdentifiers`.

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use block2::RcBlock;
use dispatch2::DispatchQueue;
use objc2::rc::Retained;
use objc2::{AnyThread, MainThreadMarker};
use objc2_background_tasks::{BGAppRefreshTaskRequest, BGProcessingTaskRequest, BGTask, BGTaskScheduler};
use objc2_foundation::NSDate;
use objc2_ui_kit::{UIApplication, UIBackgroundTaskInvalid};

/// The refresh task's identifier: a short fetch from the home relay.
pub(super) const FETCH_LETTERS: &str = "app.steady.Steady.fetch-letters";
/// The processing task's identifier: a longer run, on a network, while the phone rests.
pub(super) const CARRY_LETTERS: &str = "app.steady.Steady.carry-letters";

/// What runs in a piece of background time: it may take the time given, and must return
/// soon after the flag is set (iOS wants its time back).
pub(super) type Carry = fn(Duration, &AtomicBool);

/// Registers the two background tasks. iOS takes registrations only until the app has
/// finished launching: call this before `launch`.
pub(super) fn register_background_tasks(carry: Carry) -> Result<(), String> {
    // SAFETY: the shared scheduler exists for the app's lifetime.
    let scheduler = unsafe { BGTaskScheduler::sharedScheduler() };
    for (id, limit) in [(FETCH_LETTERS, Duration::from_secs(25)), (CARRY_LETTERS, Duration::from_secs(120))] {
        let handler = RcBlock::new(move |task: NonNull<BGTask>| {
            // SAFETY: iOS hands a live task; retaining it keeps it until it is completed.
            if let Some(task) = unsafe { Retained::retain(task.as_ptr()) } {
                run_task(task, limit, carry);
            }
        });
        // SAFETY: a queue of `None` lets iOS pick a background queue; the handler is
        // copied by the scheduler.
        let registered = unsafe {
            scheduler.registerForTaskWithIdentifier_usingQueue_launchHandler(&NSString::from_str(id), None, &handler)
        };
        if !registered {
            return Err(format!("iOS did not take the background task {id}"));
        }
    }
    Ok(())
}

/// Asks iOS to run the two tasks when it sees fit: the refresh no sooner than in 15
/// minutes, the processing task whenever the phone has a network and rests.
pub(super) fn schedule_background_tasks() -> Result<(), String> {
    // SAFETY: as above; the requests are made, filled in and submitted on this thread.
    unsafe {
        let scheduler = BGTaskScheduler::sharedScheduler();
        let refresh = BGAppRefreshTaskRequest::initWithIdentifier(
            BGAppRefreshTaskRequest::alloc(),
            &NSString::from_str(FETCH_LETTERS),
        );
        refresh.setEarliestBeginDate(Some(&NSDate::dateWithTimeIntervalSinceNow(15.0 * 60.0)));
        scheduler.submitTaskRequest_error(&refresh).map_err(|e| e.localizedDescription().to_string())?;
        let processing = BGProcessingTaskRequest::initWithIdentifier(
            BGProcessingTaskRequest::alloc(),
            &NSString::from_str(CARRY_LETTERS),
        );
        processing.setRequiresNetworkConnectivity(true);
        scheduler.submitTaskRequest_error(&processing).map_err(|e| e.localizedDescription().to_string())
    }
}

/// A task, handed to the thread that carries letters and then completes it.
struct Task(Retained<BGTask>);

// SAFETY: Apple documents `setTaskCompletedWithSuccess:` and the expiration handler's
// setter as callable from any thread; nothing else of the task is used.
unsafe impl Send for Task {}

fn run_task(task: Retained<BGTask>, limit: Duration, carry: Carry) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let expired = RcBlock::new(move || flag.store(true, Ordering::SeqCst));
    // SAFETY: the task copies the handler; it runs it on a queue of its choosing.
    unsafe { task.setExpirationHandler(Some(&expired)) };
    let kept = task.clone();
    let handed = Task(task);
    let spawned = std::thread::Builder::new().name("steady-background".into()).spawn(move || {
        let task = handed;
        carry(limit, &stop);
        if let Err(e) = schedule_background_tasks() {
            tracing::info!("the next background fetch was not scheduled: {e}");
        }
        // SAFETY: see `Task`.
        unsafe { task.0.setTaskCompletedWithSuccess(!stop.load(Ordering::SeqCst)) };
    });
    if let Err(e) = spawned {
        tracing::warn!("no thread for the background task: {e}");
        // SAFETY: see `Task`.
        unsafe { kept.setTaskCompletedWithSuccess(false) };
    }
}

/// The time iOS gives as the app leaves the foreground: begun on the main thread, given
/// to `carry` on a thread of its own, and ended once, by whichever comes first: `carry`
/// returning, or iOS's expiration handler (which must end it, or iOS ends the app).
struct Leaving {
    id: AtomicUsize,
    ended: AtomicBool,
    stop: AtomicBool,
}

impl Leaving {
    fn end(&self, app: &UIApplication) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            app.endBackgroundTask(self.id.load(Ordering::SeqCst));
        }
    }
}

/// Asks iOS for time to let the letters just made leave, as the app leaves the foreground.
pub(super) fn carry_while_leaving(carry: Carry) {
    DispatchQueue::main().exec_async(move || {
        let Some(main) = MainThreadMarker::new() else { return };
        let app = UIApplication::sharedApplication(main);
        let leaving =
            Arc::new(Leaving { id: AtomicUsize::new(0), ended: AtomicBool::new(false), stop: AtomicBool::new(false) });
        let on_expiry = leaving.clone();
        let expired = RcBlock::new(move || {
            on_expiry.stop.store(true, Ordering::SeqCst);
            // iOS runs the expiration handler on the main thread.
            if let Some(main) = MainThreadMarker::new() {
                on_expiry.end(&UIApplication::sharedApplication(main));
            }
        });
        let name = NSString::from_str("Steady: letters leaving");
        let id = app.beginBackgroundTaskWithName_expirationHandler(Some(&name), Some(&expired));
        // SAFETY: a constant UIKit exports.
        if id == unsafe { UIBackgroundTaskInvalid } {
            return;
        }
        leaving.id.store(id, Ordering::SeqCst);
        // Leave iOS a few seconds of its own; in the foreground this reads as unbounded.
        let remaining = app.backgroundTimeRemaining() - 5.0;
        let limit = Duration::from_secs_f64(if remaining.is_finite() { remaining.clamp(1.0, 25.0) } else { 25.0 });
        let carried = leaving.clone();
        let spawned = std::thread::Builder::new().name("steady-leaving".into()).spawn(move || {
            carry(limit, &carried.stop);
            DispatchQueue::main().exec_async(move || {
                if let Some(main) = MainThreadMarker::new() {
                    carried.end(&UIApplication::sharedApplication(main));
                }
            });
        });
        if spawned.is_err() {
            leaving.end(&app);
        }
    });
}
