//! One file per panel. A panel is a struct holding its runtime caches, with
//! `fn ui(&mut self, ui, ctx, settings)`; its persisted settings live in the
//! app's `State`.

pub mod archive;
pub mod layers;
pub mod libra;
pub mod proxies;
pub mod search;

use super::Messages;
use super::background::Exec;
use super::export::Exporter;
use super::model::Dataset;
use super::theme::Palette;

/// What every panel gets from the shell each frame.
pub struct PanelCtx<'a> {
    pub data: &'a Dataset,
    /// The task picked in the top bar.
    pub task: &'a str,
    pub palette: Palette,
    pub exporter: &'a mut Exporter,
    pub msgs: &'a mut Messages,
    pub exec: Exec,
}

/// The sentence shown where ground truth is needed and absent.
pub fn no_truth_text(task: &str, what: &str) -> String {
    format!(
        "Task \"{task}\" has no ground truth, so {what} cannot be computed. \
         Pick a task with accuracies in the top bar, or open an archive that has them (Archive panel)."
    )
}
