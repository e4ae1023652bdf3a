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

/// The sentence shown where proxies are needed and the task has none (an
/// accuracy table): what to do depends on whether the probe can build the
/// archive's networks.
pub fn no_proxies_text(data: &Dataset, task: &str, what: &str) -> String {
    let fix = match crate::space::NetConfig::default_for(data.space()) {
        Some(_) => {
            "Score… (Layers panel) probes its architectures, or attach a score file (Archive panel).".to_string()
        }
        None => format!(
            "Attach a score file (Archive panel); the probe cannot score these: {}.",
            crate::space::cannot_build(data.space())
        ),
    };
    format!("No proxies in this file for task \"{task}\" (only ground truth): {what}. {fix}")
}
