//! Whether the app is in the foreground, from the window's event loop.

use dioxus::prelude::*;

/// `true` while the app is in the foreground, `false` while it is not. Starts `true`.
///
/// Android: it turns `false` when the activity pauses (`onPause`: another app, the home
/// screen, the recent-apps list, the screen turning off) and `true` again when it resumes.
/// iOS: `false` from "will resign active" (the app switcher, a call, Control Centre, going
/// to the background) until "did become active". tao reports these as `Event::Suspended`
/// and `Event::Resumed`, and Dioxus hands every event-loop event to this hook.
///
/// On the desktop, and wherever no app window runs (component tests), it stays `true`.
///
/// Call it in one component (the root) and pass the signal down or into a context; each
/// call registers its own listener, removed when that component goes away.
pub fn use_foreground() -> Signal<bool> {
    let foreground = use_signal(|| true);
    watch(foreground);
    foreground
}

#[cfg(feature = "desktop")]
use dioxus::desktop as webview;
#[cfg(all(feature = "mobile", not(feature = "desktop")))]
use dioxus::mobile as webview;

#[cfg(any(feature = "desktop", feature = "mobile"))]
fn watch(foreground: Signal<bool>) {
    use dioxus::dioxus_core::{Runtime, current_scope_id, use_hook_with_cleanup};
    use webview::tao::event::Event;

    use_hook_with_cleanup(
        move || {
            // No window (a headless test): nothing to listen to.
            let window = try_consume_context::<webview::DesktopContext>()?;
            let runtime = Runtime::current();
            let scope = current_scope_id();
            let mut foreground = foreground;
            Some(window.create_wry_event_handler(move |event, _| {
                let now = match event {
                    Event::Suspended => false,
                    Event::Resumed => true,
                    _ => return,
                };
                runtime.in_scope(scope, || {
                    if *foreground.peek() != now {
                        foreground.set(now);
                    }
                });
            }))
        },
        |handler| {
            if let Some(handler) = handler {
                handler.remove();
            }
        },
    );
}

#[cfg(not(any(feature = "desktop", feature = "mobile")))]
fn watch(_foreground: Signal<bool>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_window_the_app_counts_as_in_the_foreground() {
        fn app() -> Element {
            let foreground = use_foreground();
            rsx! { p { "{foreground}" } }
        }
        let mut dom = VirtualDom::new(app);
        dom.rebuild_in_place();
        assert_eq!(dioxus_ssr::render(&dom), "<p>true</p>");
    }
}
