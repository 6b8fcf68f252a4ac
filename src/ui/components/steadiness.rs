//! The steadiness picture: kept and missed check-ins per week over the last twelve weeks,
//! as stacked bars. A pattern to notice, not a score: no streaks, nothing "broken".

use dioxus::prelude::*;

use crate::model::steadiness::Week;

const BAR: f64 = 14.0;
const GAP: f64 = 6.0;
const HEIGHT: f64 = 80.0;

#[component]
pub fn Steadiness(weeks: Vec<Week>) -> Element {
    let tallest = weeks.iter().map(|w| w.kept + w.missed + w.renegotiated).max().unwrap_or(0).max(1);
    let scale = HEIGHT / f64::from(tallest);
    let width = weeks.len() as f64 * (BAR + GAP);
    let total_kept: u32 = weeks.iter().map(|w| w.kept).sum();
    let total_missed: u32 = weeks.iter().map(|w| w.missed).sum();
    let total_reneg: u32 = weeks.iter().map(|w| w.renegotiated).sum();
    let summary = format!(
        "Over the last {} weeks: {total_kept} kept, {total_missed} missed, {total_reneg} renegotiated.",
        weeks.len()
    );
    if total_kept + total_missed + total_reneg == 0 {
        return rsx! {
            p { class: "empty", "data-steadiness": "empty",
                "No check-ins yet. Each time either of you checks in on an agreement (kept, missed or renegotiated), a bar grows here for that week, over the last {weeks.len()} weeks."
            }
        };
    }
    rsx! {
        figure { class: "steadiness",
            svg {
                role: "img",
                "aria-label": "{summary}",
                view_box: "0 0 {width} {HEIGHT + 14.0}",
                width: "100%",
                for (i, w) in weeks.iter().enumerate() {
                    {
                        let x = i as f64 * (BAR + GAP);
                        let kept_h = f64::from(w.kept) * scale;
                        let reneg_h = f64::from(w.renegotiated) * scale;
                        let missed_h = f64::from(w.missed) * scale;
                        let label = w.starts.format("%e %b").to_string();
                        rsx! {
                            g { key: "{w.starts}",
                                title { "Week of {label}: {w.kept} kept, {w.missed} missed, {w.renegotiated} renegotiated" }
                                rect { class: "kept", x: "{x}", y: "{HEIGHT - kept_h}", width: "{BAR}", height: "{kept_h}", rx: "2" }
                                rect { class: "renegotiated", x: "{x}", y: "{HEIGHT - kept_h - reneg_h}", width: "{BAR}", height: "{reneg_h}", rx: "2" }
                                rect { class: "missed", x: "{x}", y: "{HEIGHT - kept_h - reneg_h - missed_h}", width: "{BAR}", height: "{missed_h}", rx: "2" }
                            }
                        }
                    }
                }
                line { x1: "0", y1: "{HEIGHT}", x2: "{width}", y2: "{HEIGHT}", class: "axis" }
            }
            figcaption { class: "muted",
                span { class: "key kept" } "Kept "
                span { class: "key renegotiated" } "Renegotiated "
                span { class: "key missed" } "Missed"
                br {}
                "{summary}"
            }
        }
    }
}
