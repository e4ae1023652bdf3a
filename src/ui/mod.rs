//! The desktop app (eframe): the shell in `app`, one file per panel in
//! `panels`, plots and tables shared by panels in `widgets`, all colours in
//! `theme`, and the one adapter to the archive and analysis layers in
//! `model` (query there, draw here).

pub mod app;
pub mod background;
pub mod export;
pub mod files;
pub use crate::figure::model;
pub mod panels;
pub mod scoring;
pub mod theme;
pub mod widgets;

pub use app::{AppOptions, Panel, StartOptions, StudioApp, run_native};

/// An error shown in the UI: the file (or the thing) and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiError {
    pub file: String,
    pub reason: String,
}

/// What the app has to tell the user: errors until dismissed, plus the
/// latest piece of information for the status bar.
#[derive(Clone, Debug, Default)]
pub struct Messages {
    pub errors: Vec<UiError>,
    pub info: Option<String>,
}

impl Messages {
    pub fn error(&mut self, file: impl Into<String>, reason: impl Into<String>) {
        let e = UiError {
            file: file.into(),
            reason: reason.into(),
        };
        if !self.errors.contains(&e) {
            self.errors.push(e);
        }
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.info = Some(text.into());
    }
}
