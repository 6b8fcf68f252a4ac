//! Pieces shared by several screens.

pub mod entry_card;
pub mod forms;
pub mod paged;
pub mod shell;
pub mod steadiness;

use dioxus::prelude::*;

/// Moves keyboard focus to a control as it appears: the safe choice of a confirmation,
/// so that someone using keys or a screen reader lands in it rather than on the page.
pub async fn focus(e: MountedEvent) {
    let _ = e.set_focus(true).await;
}

/// Moves focus to a control as it appears again, when `wanted` says a confirmation it
/// opened has just closed; clears the wish either way.
pub fn focus_if(e: MountedEvent, mut wanted: Signal<bool>) -> impl Future<Output = ()> {
    let go = *wanted.peek();
    if go {
        wanted.set(false);
    }
    async move {
        if go {
            let _ = e.set_focus(true).await;
        }
    }
}

/// Moves focus to the screen itself, when the control that had it is gone (a
/// confirmation answered): the next Tab starts from the top of the screen, not from
/// nowhere.
pub fn focus_screen() {
    document::eval("document.getElementById('screen')?.focus()");
}

/// The text a submitted (or typed-in) form holds in its field `name`, or "" when it has
/// none. Fields keep what is typed in the page; this reads it once, when it is needed,
/// instead of binding the field's value back from a signal on every render, which would
/// write over the keys pressed between an input event and its render.
pub fn typed(e: &FormEvent, name: &str) -> String {
    match e.get_first(name) {
        Some(dioxus::html::FormValue::Text(text)) => text,
        _ => String::new(),
    }
}
