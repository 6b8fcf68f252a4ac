//! Calls into the Android app through JNI.
//!
//! The Java VM and the activity come from `ndk-context`, which tao fills in when the
//! activity is created, before the app's `main` runs. Calls that must happen on the UI
//! thread go through wry's `dispatch`, which runs them on that thread's looper.

use std::path::PathBuf;

use jni::objects::{GlobalRef, JObject, JString, JValue};
use jni::{JNIEnv, JavaVM};

/// A failed call into Java, as a sentence.
struct Failure(String);

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Failure {
        Failure(e.to_string())
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> String {
        f.0
    }
}

/// The app's Java VM and activity.
fn android_context() -> Result<(JavaVM, JObject<'static>), Failure> {
    let context = std::panic::catch_unwind(ndk_context::android_context)
        .map_err(|_| Failure("Steady is not running inside its Android app".into()))?;
    // SAFETY: tao hands ndk-context the process's Java VM and a global reference to the
    // activity, and keeps both alive until the activity is destroyed.
    let vm = unsafe { JavaVM::from_raw(context.vm().cast()) }?;
    let activity = unsafe { JObject::from_raw(context.context().cast()) };
    Ok((vm, activity))
}

/// Runs `f` with this thread attached to the Java VM (attaching it for the call if it was
/// not), inside a local reference frame so that nothing it creates outlives it. A Java
/// exception becomes the error, and is cleared.
fn with_activity<T>(f: impl FnOnce(&mut JNIEnv, &JObject) -> Result<T, Failure>) -> Result<T, Failure> {
    let (vm, activity) = android_context()?;
    let mut env = vm.attach_current_thread()?;
    let result = env.with_local_frame(16, |env| f(env, &activity));
    clear_exception(&mut env);
    result
}

/// Logs and clears a pending Java exception, so the next JNI call does not abort.
fn clear_exception(env: &mut JNIEnv) {
    if env.exception_check().unwrap_or(false) {
        let _ = env.exception_describe();
        let _ = env.exception_clear();
    }
}

fn string(env: &mut JNIEnv, object: JObject) -> Result<String, Failure> {
    if object.is_null() {
        return Err(Failure("Android returned no text".into()));
    }
    Ok(env.get_string(&JString::from(object))?.into())
}

/// `context.getFilesDir().getAbsolutePath()`.
pub(super) fn files_dir() -> Result<PathBuf, String> {
    Ok(with_activity(|env, activity| {
        let dir = env.call_method(activity, "getFilesDir", "()Ljava/io/File;", &[])?.l()?;
        if dir.is_null() {
            return Err(Failure("Android has no files directory for the app".into()));
        }
        let path = env.call_method(&dir, "getAbsolutePath", "()Ljava/lang/String;", &[])?.l()?;
        Ok(PathBuf::from(string(env, path)?))
    })?)
}

/// `PowerManager.isInteractive()` is false, or `KeyguardManager.isDeviceLocked()` true.
/// A call that fails counts as off: the lock errs toward locking.
pub(super) fn screen_off_or_locked() -> bool {
    with_activity(|env, activity| {
        let name = env.new_string("power")?;
        let power = env
            .call_method(activity, "getSystemService", "(Ljava/lang/String;)Ljava/lang/Object;", &[(&name).into()])?
            .l()?;
        let interactive = !power.is_null() && env.call_method(&power, "isInteractive", "()Z", &[])?.z()?;
        let name = env.new_string("keyguard")?;
        let keyguard = env
            .call_method(activity, "getSystemService", "(Ljava/lang/String;)Ljava/lang/Object;", &[(&name).into()])?
            .l()?;
        let locked = !keyguard.is_null() && env.call_method(&keyguard, "isDeviceLocked", "()Z", &[])?.z()?;
        Ok(!interactive || locked)
    })
    .unwrap_or(true)
}

/// A held `WifiManager.MulticastLock`.
pub(super) struct WifiLock(GlobalRef);

impl WifiLock {
    /// `getApplicationContext().getSystemService("wifi").createMulticastLock("steady-sync")`,
    /// not reference-counted, then `acquire()`.
    pub(super) fn acquire() -> Result<WifiLock, String> {
        Ok(with_activity(|env, activity| {
            let app = env.call_method(activity, "getApplicationContext", "()Landroid/content/Context;", &[])?.l()?;
            let wifi_service = env.new_string("wifi")?;
            let wifi = env
                .call_method(
                    &app,
                    "getSystemService",
                    "(Ljava/lang/String;)Ljava/lang/Object;",
                    &[JValue::Object(&wifi_service)],
                )?
                .l()?;
            if wifi.is_null() {
                return Err(Failure("this phone has no Wi-Fi service".into()));
            }
            let tag = env.new_string("steady-sync")?;
            let lock = env
                .call_method(
                    &wifi,
                    "createMulticastLock",
                    "(Ljava/lang/String;)Landroid/net/wifi/WifiManager$MulticastLock;",
                    &[JValue::Object(&tag)],
                )?
                .l()?;
            // One release undoes any number of acquires.
            env.call_method(&lock, "setReferenceCounted", "(Z)V", &[JValue::from(false)])?;
            env.call_method(&lock, "acquire", "()V", &[])?;
            Ok(WifiLock(env.new_global_ref(&lock)?))
        })?)
    }

    /// `release()`. Releasing a lock that is no longer held does nothing.
    pub(super) fn release(&self) {
        let released = with_activity(|env, _| {
            env.call_method(self.0.as_obj(), "release", "()V", &[])?;
            Ok(())
        });
        if let Err(Failure(e)) = released {
            eprintln!("steady: could not release the Wi-Fi multicast lock: {e}");
        }
    }
}

/// Runs `f` on the UI thread with the activity, inside a local reference frame; logs a
/// failure and clears any Java exception.
#[cfg(any(feature = "desktop", feature = "mobile"))]
fn on_ui_thread(what: &'static str, f: impl FnOnce(&mut JNIEnv, &JObject) -> Result<(), Failure> + Send + 'static) {
    #[cfg(feature = "desktop")]
    use dioxus::desktop::wry;
    #[cfg(all(feature = "mobile", not(feature = "desktop")))]
    use dioxus::mobile::wry;

    wry::prelude::dispatch(move |env, activity, _webview| {
        let result = env.with_local_frame(16, |env| f(env, activity));
        clear_exception(env);
        if let Err(Failure(e)) = result {
            eprintln!("steady: could not {what}: {e}");
        }
    });
}

/// `activity.getWindow().setFlags(FLAG_SECURE, FLAG_SECURE)`, on the UI thread.
#[cfg(any(feature = "desktop", feature = "mobile"))]
pub(super) fn secure_window() {
    on_ui_thread("keep the app out of screenshots", |env, activity| {
        let window = env.call_method(activity, "getWindow", "()Landroid/view/Window;", &[])?.l()?;
        if window.is_null() {
            return Err(Failure("the activity has no window".into()));
        }
        let flag = JValue::Int(super::FLAG_SECURE);
        env.call_method(&window, "setFlags", "(II)V", &[flag, flag])?;
        Ok(())
    });
}

/// On Android 17 (API 37) and later, `activity.requestPermissions` for
/// `ACCESS_LOCAL_NETWORK` unless it is granted already.
#[cfg(any(feature = "desktop", feature = "mobile"))]
pub(super) fn request_local_network() {
    const ANDROID_17: i32 = 37;
    const PERMISSION: &str = "android.permission.ACCESS_LOCAL_NETWORK";
    on_ui_thread("ask for the local network", |env, activity| {
        let sdk = env.get_static_field("android/os/Build$VERSION", "SDK_INT", "I")?.i()?;
        if sdk < ANDROID_17 {
            return Ok(());
        }
        let permission = env.new_string(PERMISSION)?;
        let state = env
            .call_method(activity, "checkSelfPermission", "(Ljava/lang/String;)I", &[JValue::Object(&permission)])?
            .i()?;
        const PERMISSION_GRANTED: i32 = 0;
        if state == PERMISSION_GRANTED {
            return Ok(());
        }
        let permissions = env.new_object_array(1, "java/lang/String", &permission)?;
        env.call_method(
            activity,
            "requestPermissions",
            "([Ljava/lang/String;I)V",
            &[JValue::Object(&permissions), JValue::Int(1)],
        )?;
        Ok(())
    });
}

/// Asks the activity to start `CourierService` (`MainActivity.startCourierService`, in
/// platforms/android/MainActivity.kt), on the UI thread.
pub(super) fn start_courier_service() {
    on_ui_thread("start the courier service", |env, activity| {
        env.call_method(activity, "startCourierService", "()V", &[])?;
        Ok(())
    });
}

/// `CourierService.nativeCarry(dir, carry)`: the service says whether its conditions
/// hold (on Wi-Fi; charging, if the person asked for that). The courier then runs for
/// the journal in `dir`, unless the app's node is this phone on the network.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_dioxus_main_CourierService_nativeCarry<'local>(
    mut env: JNIEnv<'local>,
    _service: JObject<'local>,
    dir: JString<'local>,
    carry: jni::sys::jboolean,
) {
    let dir: Option<String> = env.get_string(&dir).ok().map(Into::into);
    clear_exception(&mut env);
    if let Some(dir) = dir {
        let config = crate::net::NetConfig::default();
        crate::net::courier::want(crate::net::courier::Wants::Service, carry != 0, std::path::Path::new(&dir), config);
    }
}
