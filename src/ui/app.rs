//! The app shell: persisted [`State`] (eframe storage) kept apart from
//! runtime state (datasets, jobs, caches); a top bar (archive, task picker,
//! theme), side tabs for the panels, a status bar, and errors shown in the
//! UI with the file and the reason.

use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui::{Align, Color32, Frame, Layout, Margin, RichText, Ui};
use serde::{Deserialize, Serialize};

use super::Messages;
use super::background::Exec;
use super::export::{Dialogs, Exporter, NativeDialogs, NoDialogs, write_png};
use super::files::{Purpose, Request};
use super::model::{Dataset, LibraConfig, LoadError};
use super::panels::PanelCtx;
use super::panels::archive::{ArchiveAction, ArchivePanel, ArchiveSettings};
use super::panels::layers::{LayersAction, LayersPanel, LayersSettings};
use super::panels::libra::LibraPanel;
use super::panels::proxies::{ProxiesPanel, ProxiesSettings};
use super::panels::search::{SearchPanel, SearchSettings};
use super::theme;
use crate::jobs::JobHandle;

pub use crate::figure::builtin::{Builtin, DEMO_BYTES};

/// The panels, in tab order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Panel {
    Archive,
    #[default]
    Layers,
    Proxies,
    Libra,
    Search,
}

impl Panel {
    pub const ALL: [Panel; 5] = [
        Panel::Archive,
        Panel::Layers,
        Panel::Proxies,
        Panel::Libra,
        Panel::Search,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Panel::Archive => "Archive",
            Panel::Layers => "Layers",
            Panel::Proxies => "Proxies",
            Panel::Libra => "LIBRA",
            Panel::Search => "Search",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            Panel::Archive => "Open archives; table of architectures, truth and proxies",
            Panel::Layers => "Gradient-intensity curves and the L-SWAG window tuner",
            Panel::Proxies => "Correlations, bias and information gain of the proxies",
            Panel::Libra => "LIBRA: three complementary proxies, their ensemble and ablations",
            Panel::Search => "Evolution, random and pruning search with live rank and accuracy plots",
        }
    }

    /// Parses a panel name (case-insensitive), as `--panel` takes it.
    pub fn from_name(name: &str) -> Option<Panel> {
        let n = name.trim().to_ascii_lowercase();
        Panel::ALL.into_iter().find(|p| p.label().to_ascii_lowercase() == n)
    }
}

/// Everything that persists between runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub dark: bool,
    pub panel: Panel,
    pub task: Option<String>,
    pub recent: Vec<PathBuf>,
    /// The archive open when the app was closed (`None`: `last_builtin`).
    pub last_archive: Option<PathBuf>,
    /// The built-in archive open when the app was closed.
    pub last_builtin: Builtin,
    pub archive: ArchiveSettings,
    pub layers: LayersSettings,
    pub proxies: ProxiesSettings,
    pub libra: LibraConfig,
    pub search: SearchSettings,
    /// Score files attached to archives (by the user or by Score…), attached
    /// again whenever the archive is reopened.
    pub attached: Vec<Attached>,
}

/// The score files attached to one archive: a file, or (`archive` is
/// `None`) the built-in `builtin`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attached {
    pub archive: Option<PathBuf>,
    #[serde(default)]
    pub builtin: Builtin,
    pub scores: Vec<PathBuf>,
}

/// An archive that score files can be attached to and that can be reopened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveId {
    Builtin(Builtin),
    File(PathBuf),
}

impl Attached {
    fn is(&self, id: &ArchiveId) -> bool {
        match id {
            ArchiveId::File(p) => self.archive.as_ref() == Some(p),
            ArchiveId::Builtin(b) => self.archive.is_none() && self.builtin == *b,
        }
    }
}

impl State {
    /// The score files attached to `archive`.
    pub fn attached_to(&self, archive: &ArchiveId) -> &[PathBuf] {
        self.attached
            .iter()
            .find(|a| a.is(archive))
            .map_or(&[], |a| a.scores.as_slice())
    }

    fn remember_attached(&mut self, archive: &ArchiveId, score: &Path) {
        let i = match self.attached.iter().position(|a| a.is(archive)) {
            Some(i) => i,
            None => {
                let (file, builtin) = match archive {
                    ArchiveId::File(p) => (Some(p.clone()), Builtin::default()),
                    ArchiveId::Builtin(b) => (None, *b),
                };
                self.attached.push(Attached {
                    archive: file,
                    builtin,
                    scores: Vec::new(),
                });
                self.attached.len() - 1
            }
        };
        let scores = &mut self.attached[i].scores;
        scores.retain(|s| s != score);
        scores.push(score.to_path_buf());
    }

    fn forget_attached(&mut self, archive: &ArchiveId, score: &Path) {
        for a in &mut self.attached {
            if a.is(archive) {
                a.scores.retain(|s| s != score);
            }
        }
        self.attached.retain(|a| !a.scores.is_empty());
    }
}

impl Default for State {
    fn default() -> Self {
        State {
            dark: false,
            panel: Panel::Layers,
            task: None,
            recent: Vec::new(),
            last_archive: None,
            last_builtin: Builtin::Demo,
            archive: ArchiveSettings::default(),
            layers: LayersSettings::default(),
            proxies: ProxiesSettings::default(),
            libra: LibraConfig::default(),
            search: SearchSettings::default(),
            attached: Vec::new(),
        }
    }
}

const MAX_RECENT: usize = 8;

/// Said when opening another archive stops a job of the previous one.
const STOPPED: &str = "the job running on the previous archive was cancelled (its file keeps what was done)";

/// A request to save a PNG of the whole window once everything is drawn
/// (`lswag-studio --screenshot PATH`).
#[derive(Clone, Debug)]
pub struct ScreenshotPlan {
    pub path: PathBuf,
    pub panel: Option<Panel>,
    /// Filled with the outcome before the window closes.
    pub outcome: Arc<Mutex<Option<Result<(), String>>>>,
}

/// Where the open dataset came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Builtin(Builtin),
    File(PathBuf),
    /// Handed over directly (tests): nothing to reopen.
    Given,
}

impl Source {
    /// The key of its attached score files; `None` when nothing can be
    /// reopened.
    fn attach_key(&self) -> Option<ArchiveId> {
        match self {
            Source::Builtin(b) => Some(ArchiveId::Builtin(*b)),
            Source::File(p) => Some(ArchiveId::File(p.clone())),
            Source::Given => None,
        }
    }
}

/// How the app starts.
pub struct AppOptions {
    pub exec: Exec,
    pub dialogs: Box<dyn Dialogs>,
    /// Start on this dataset instead of the demo.
    pub dataset: Option<Dataset>,
    pub state: State,
    pub screenshot: Option<ScreenshotPlan>,
    /// Reopen `state.last_archive` on start.
    pub reopen_last: bool,
    /// Open this file on start (`lswag-studio FILE`).
    pub open: Option<PathBuf>,
    /// Open this built-in archive on start (`lswag-studio --builtin NAME`).
    pub builtin: Option<Builtin>,
}

impl AppOptions {
    /// Tests: inline computations, no dialogs, default settings.
    pub fn for_tests(dataset: Dataset) -> AppOptions {
        AppOptions {
            exec: Exec::Inline,
            dialogs: Box::new(NoDialogs),
            dataset: Some(dataset),
            state: State::default(),
            screenshot: None,
            reopen_last: false,
            open: None,
            builtin: None,
        }
    }
}

/// A dataset with its score files attached again.
struct Opened {
    data: Dataset,
    attached: usize,
    /// Score files that no longer attach, with the reason.
    failed: Vec<(PathBuf, LoadError)>,
}

/// Attaches `scores` in order; one that fails is reported, the rest attach.
fn attach_all(mut data: Dataset, scores: &[PathBuf]) -> Opened {
    let mut failed = Vec::new();
    let mut attached = 0;
    for s in scores {
        match data.with_scores(s) {
            Ok((d, _)) => {
                data = d;
                attached += 1;
            }
            Err(e) => failed.push((s.clone(), e)),
        }
    }
    Opened { data, attached, failed }
}

struct Loading {
    what: String,
    job: JobHandle<Result<Opened, LoadError>>,
    path: PathBuf,
}

struct Shot {
    plan: ScreenshotPlan,
    idle_frames: u32,
    started: Instant,
    rx: Option<Receiver<Arc<egui::ColorImage>>>,
}

/// The app: persisted state plus runtime state.
pub struct StudioApp {
    pub state: State,
    data: Dataset,
    source: Source,
    loading: Option<Loading>,
    pub msgs: Messages,
    pub exporter: Exporter,
    exec: Exec,
    archive: ArchivePanel,
    layers: LayersPanel,
    proxies: ProxiesPanel,
    libra: LibraPanel,
    search: SearchPanel,
    applied_dark: Option<bool>,
    shot: Option<Shot>,
}

/// The demo dataset, and a note when it had to fall back.
pub fn demo_dataset() -> (Dataset, Option<String>) {
    builtin_dataset(Builtin::Demo)
}

/// A built-in archive, and a note when it had to fall back.
pub fn builtin_dataset(builtin: Builtin) -> (Dataset, Option<String>) {
    match builtin.dataset() {
        Ok(d) => (d, None),
        // Only a broken build gets here (a test opens every built-in); say
        // so and show the synthetic example rather than nothing.
        Err(e) => (
            Dataset::synthetic(600, 0),
            Some(format!(
                "The built-in archive {} is unreadable ({e}); showing a synthetic example instead",
                builtin.name()
            )),
        ),
    }
}

impl StudioApp {
    /// A new app; the theme is applied on the first frame.
    pub fn new(opts: AppOptions) -> StudioApp {
        let mut msgs = Messages::default();
        let (data, source) = match opts.dataset {
            Some(d) => (d, Source::Given),
            None => {
                let (d, note) = demo_dataset();
                if let Some(n) = note {
                    msgs.info(n);
                }
                (d, Source::Builtin(Builtin::Demo))
            }
        };
        let mut app = StudioApp {
            state: opts.state,
            data,
            source,
            loading: None,
            msgs,
            exporter: Exporter::new(opts.dialogs),
            exec: opts.exec,
            archive: ArchivePanel::default(),
            layers: LayersPanel::default(),
            proxies: ProxiesPanel::default(),
            libra: LibraPanel::default(),
            search: SearchPanel::default(),
            applied_dark: None,
            shot: opts.screenshot.map(|plan| Shot {
                plan,
                idle_frames: 0,
                started: Instant::now(),
                rx: None,
            }),
        };
        if let Some(shot) = &app.shot
            && let Some(p) = shot.plan.panel
        {
            app.state.panel = p;
        }
        app.fix_task();
        if let Some(path) = opts.open {
            app.open_path(path);
        } else if let Some(b) = opts.builtin {
            app.open_builtin(b);
        } else if opts.reopen_last {
            match app.state.last_archive.clone() {
                Some(path) if path.exists() => app.open_path(path),
                Some(_) => app.state.last_archive = None,
                None if matches!(app.source, Source::Builtin(_)) => app.open_builtin(app.state.last_builtin),
                None => {}
            }
        }
        app
    }

    /// The eframe entry: restores the persisted state.
    pub fn from_creation_context(
        cc: &eframe::CreationContext<'_>,
        screenshot: Option<ScreenshotPlan>,
        open: Option<PathBuf>,
        builtin: Option<Builtin>,
        panel: Option<Panel>,
    ) -> StudioApp {
        let restore = screenshot.is_none();
        let state = if restore {
            cc.storage
                .and_then(|s| eframe::get_value::<State>(s, eframe::APP_KEY))
                .unwrap_or_default()
        } else {
            State::default()
        };
        let mut app = StudioApp::new(AppOptions {
            exec: Exec::Threads,
            dialogs: Box::new(NativeDialogs::new()),
            dataset: None,
            state,
            screenshot,
            reopen_last: restore && open.is_none() && builtin.is_none(),
            open,
            builtin,
        });
        if let Some(p) = panel {
            app.state.panel = p;
        }
        theme::apply(&cc.egui_ctx, app.state.dark);
        app
    }

    pub fn dataset(&self) -> &Dataset {
        &self.data
    }

    /// Spearman rho of L-SWAG for the current window, once computed.
    pub fn live_window_rho(&self) -> Option<f64> {
        self.layers.live().and_then(|l| l.rho)
    }

    pub fn task(&self) -> &str {
        self.state.task.as_deref().unwrap_or("")
    }

    /// The last search's result, once it has finished.
    pub fn search_result(&self) -> Option<&crate::search::SearchResult> {
        self.search.result()
    }

    /// True while anything is computing or loading.
    pub fn is_busy(&self) -> bool {
        self.loading.is_some()
            || self.layers.is_busy()
            || self.proxies.is_busy()
            || self.libra.is_busy()
            || self.search.is_busy()
            || self.exporter.png_pending()
    }

    /// Where the open dataset came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The score files attached to the open archive (and attached again on
    /// reopening it).
    pub fn attached_scores(&self) -> &[PathBuf] {
        match self.source.attach_key() {
            Some(key) => self.state.attached_to(&key),
            None => &[],
        }
    }

    /// Switches to another archive (keeps the task if it exists there):
    /// everything computed for the previous one goes (a running search or
    /// score run is cancelled; their logs keep what was done).
    pub fn set_dataset(&mut self, data: Dataset) {
        let stopped = self.switch_to(data);
        self.source = Source::Given;
        let mut info = format!("Showing {}", self.data.label);
        if stopped {
            info.push_str(&format!("; {STOPPED}"));
        }
        self.msgs.info(info);
    }

    /// [`Self::set_dataset`]; true when a running job was cancelled.
    fn switch_to(&mut self, data: Dataset) -> bool {
        let stopped = self.layers.cancel_score() | self.search.cancel();
        self.archive = ArchivePanel::default();
        self.layers = LayersPanel::default();
        self.proxies = ProxiesPanel::default();
        self.libra = LibraPanel::default();
        self.search = SearchPanel::default();
        self.data = data;
        self.fix_task();
        stopped
    }

    /// The same archive with more scores: derived results are recomputed
    /// (they follow the data's generation), the ablation grid is dropped,
    /// a search's results stay (the archive is the same).
    fn update_dataset(&mut self, data: Dataset) {
        self.libra = LibraPanel::default();
        self.data = data;
        self.fix_task();
    }

    /// Attaches a score file to the open archive and remembers it for
    /// reopening.
    /// Returns whether it attached (else the error is shown).
    pub fn attach_path(&mut self, path: &Path) -> bool {
        match self.data.with_scores(path) {
            Ok((d, report)) => {
                self.msgs.info(format!("{}: {report}", path.display()));
                self.update_dataset(d);
                if let Some(key) = self.source.attach_key() {
                    self.state.remember_attached(&key, path);
                }
                true
            }
            Err(e) => {
                self.msgs.error(e.file, e.reason);
                false
            }
        }
    }

    /// Forgets an attached score file and reopens the archive without it.
    fn detach(&mut self, score: &Path) {
        let Some(key) = self.source.attach_key() else {
            return;
        };
        self.state.forget_attached(&key, score);
        match key {
            ArchiveId::File(p) => self.open_path(p),
            ArchiveId::Builtin(b) => self.open_builtin(b),
        }
    }

    fn fix_task(&mut self) {
        let ok = self.state.task.as_ref().is_some_and(|t| self.data.has_task(t));
        if !ok {
            self.state.task = self.data.default_task();
        }
    }

    /// Opens a file (in the background with threads), with the score
    /// files attached to it before.
    pub fn open_path(&mut self, path: PathBuf) {
        let what = path.display().to_string();
        let p = path.clone();
        let scores = self.state.attached_to(&ArchiveId::File(path.clone())).to_vec();
        let job = JobHandle::spawn("open-archive", move |send, _| {
            send(Dataset::open(&p).map(|d| attach_all(d, &scores)))
        });
        self.loading = Some(Loading { what, job, path });
        if self.exec == Exec::Inline {
            // Tests: finish now.
            while self.loading.as_ref().is_some_and(|l| !l.job.is_finished()) {
                std::thread::sleep(Duration::from_millis(2));
            }
            self.poll_loading();
        }
    }

    fn poll_loading(&mut self) {
        let Some(l) = &self.loading else { return };
        let result = match l.job.events.try_recv() {
            Ok(r) => r,
            Err(_) if l.job.is_finished() => Err(LoadError {
                file: l.what.clone(),
                reason: "the reader stopped unexpectedly".to_string(),
            }),
            Err(_) => return,
        };
        let Some(l) = self.loading.take() else { return };
        match result {
            Ok(opened) => {
                let p = l.path;
                self.state.recent.retain(|r| r != &p);
                self.state.recent.insert(0, p.clone());
                self.state.recent.truncate(MAX_RECENT);
                self.state.last_archive = Some(p.clone());
                self.show_opened(opened, Source::File(p));
            }
            Err(e) => {
                if self.state.last_archive.as_ref() == Some(&l.path) {
                    self.state.last_archive = None;
                }
                self.msgs.error(e.file, e.reason);
            }
        }
    }

    /// Shows a freshly opened archive and says what was opened.
    fn show_opened(&mut self, opened: Opened, source: Source) {
        let key = source.attach_key();
        for (score, e) in &opened.failed {
            if let Some(k) = &key {
                self.state.forget_attached(k, score);
            }
            self.msgs.error(
                e.file.clone(),
                format!("{}; no longer attached to this archive", e.reason),
            );
        }
        let d = opened.data;
        let reattached = match opened.attached {
            0 => String::new(),
            1 => ", 1 attached score file".to_string(),
            n => format!(", {n} attached score files"),
        };
        let tasks = d.task_names().len();
        let mut info = format!(
            "Opened {}: {} architectures, {tasks} task{}, {} layer profiles{reattached}",
            d.label,
            d.len(),
            if tasks == 1 { "" } else { "s" },
            d.profile_count()
        );
        if self.switch_to(d) {
            info.push_str(&format!("; {STOPPED}"));
        }
        self.source = source;
        // The status bar names this archive, not the previous one.
        self.msgs.info(info);
    }

    /// Opens a built-in archive, with the score files attached to it before.
    pub fn open_builtin(&mut self, builtin: Builtin) {
        let (d, note) = builtin_dataset(builtin);
        self.state.last_archive = None;
        self.state.last_builtin = builtin;
        let opened = attach_all(d, self.state.attached_to(&ArchiveId::Builtin(builtin)));
        self.show_opened(opened, Source::Builtin(builtin));
        if let Some(n) = note {
            self.msgs.info(n);
        }
    }

    /// Takes the answers of the app's own file dialogs.
    fn take_files(&mut self) {
        if let Some(p) = self.exporter.files.take_path(&Purpose::OpenArchive) {
            self.open_path(p);
        }
        if let Some(p) = self.exporter.files.take_path(&Purpose::AttachScores) {
            let _ = self.attach_path(&p);
        }
    }

    fn ask_file(&mut self, request: Request) {
        if !self.exporter.files.ask(request) {
            self.msgs.info("A file dialog is already open: finish it first");
        }
        self.take_files();
    }

    /// Draws the whole app into `ui` (eframe and tests call this).
    pub fn show(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        if self.applied_dark != Some(self.state.dark) {
            theme::apply(&ctx, self.state.dark);
            self.applied_dark = Some(self.state.dark);
        }
        self.poll_loading();
        self.exporter.poll(&mut self.msgs);
        self.take_files();
        match self.layers.poll() {
            Some(LayersAction::AttachScores(path)) => {
                let status = self.layers.score.as_ref().map(|r| r.status());
                let attached = self.attach_path(&path);
                self.layers.scores_attached();
                if attached && let (Some(status), Some(info)) = (status, &self.msgs.info) {
                    self.msgs.info(format!("{status}; {info}"));
                }
            }
            Some(LayersAction::Ended(status)) => self.msgs.info(status),
            None => {}
        }
        self.handle_dropped_files(&ctx);
        let palette = theme::palette(self.state.dark);

        egui::Panel::top("top_bar")
            .frame(Frame::side_top_panel(ui.style()).inner_margin(Margin::symmetric(10, 6)))
            .show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_ui(ui));
        egui::Panel::left("tabs")
            .resizable(false)
            .exact_size(132.0)
            .show(ui, |ui| self.tabs_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            self.errors_ui(ui, &palette);
            let task = self.task().to_string();
            let mut pctx = PanelCtx {
                data: &self.data,
                task: &task,
                palette,
                exporter: &mut self.exporter,
                msgs: &mut self.msgs,
                exec: self.exec,
            };
            if self.data.task_names().is_empty() {
                super::widgets::note(ui, &palette, "This archive has no task: nothing to show.");
                return;
            }
            match self.state.panel {
                Panel::Archive => {
                    let attached = match self.source.attach_key() {
                        Some(key) => self.state.attached_to(&key).to_vec(),
                        None => Vec::new(),
                    };
                    let action = self
                        .archive
                        .ui(ui, &mut pctx, &mut self.state.archive, &self.state.recent, &attached);
                    match action {
                        Some(ArchiveAction::PickFile) => self.ask_file(Request::open_archive()),
                        Some(ArchiveAction::PickScores) => self.ask_file(Request::attach_scores()),
                        Some(ArchiveAction::Open(p)) => self.open_path(p),
                        Some(ArchiveAction::Detach(p)) => self.detach(&p),
                        Some(ArchiveAction::Builtin(b)) => self.open_builtin(b),
                        None => {}
                    }
                }
                Panel::Layers => self.layers.ui(ui, &mut pctx, &mut self.state.layers),
                Panel::Proxies => self.proxies.ui(ui, &mut pctx, &mut self.state.proxies),
                Panel::Libra => self.libra.ui(ui, &mut pctx, &mut self.state.libra),
                Panel::Search => {
                    let window = self.state.layers.window;
                    self.search.ui(ui, &mut pctx, &mut self.state.search, window)
                }
            }
        });
        self.exporter.files.ui(&ctx, &palette);
        self.take_files();
        if self.is_busy() {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        self.screenshot_step(&ctx);
    }

    fn top_bar_ui(&mut self, ui: &mut Ui) {
        let palette = theme::palette(self.state.dark);
        // Right to left first: the buttons keep their place and the archive
        // name takes what is left (cut with "…"), so nothing overlaps at 1024 px.
        ui.horizontal(|ui| {
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                if ui
                    .selectable_label(self.state.dark, "Dark")
                    .on_hover_text("Dark theme")
                    .clicked()
                {
                    self.state.dark = true;
                }
                if ui
                    .selectable_label(!self.state.dark, "Light")
                    .on_hover_text("Light theme")
                    .clicked()
                {
                    self.state.dark = false;
                }
                ui.label(RichText::new("Theme:").color(palette.weak_text));
                ui.separator();
                if ui.button("Open archive…").clicked() {
                    self.ask_file(Request::open_archive());
                }
                ui.separator();
                ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
                    ui.label(RichText::new("lswag-studio").strong().size(17.0).color(palette.accent));
                    ui.separator();
                    let tasks = self.data.tasks();
                    let current = self.task().to_string();
                    let shown = tasks
                        .iter()
                        .find(|t| t.name == current)
                        .map_or(current.clone(), |t| task_label(&t.name, t.has_truth));
                    let picker_w = (ui.available_width() * 0.4).clamp(140.0, 240.0);
                    let room = (ui.available_width() - picker_w - 70.0).max(40.0);
                    ui.scope(|ui| {
                        ui.set_max_width(room);
                        let text = format!(
                            "{} · {} · {} architectures",
                            self.data.label,
                            self.data.space_name(),
                            self.data.len()
                        );
                        ui.add(egui::Label::new(RichText::new(text).strong()).truncate())
                            .on_hover_text(format!(
                                "{} · {} · from {}",
                                self.data.label,
                                self.data.space_name(),
                                self.data.sources()
                            ));
                    });
                    ui.separator();
                    ui.label("Task:");
                    egui::ComboBox::from_id_salt("task_picker")
                        .selected_text(shown)
                        .width(picker_w)
                        .truncate()
                        .show_ui(ui, |ui| {
                            for t in &tasks {
                                let mut sel = self.state.task.clone();
                                if ui
                                    .selectable_value(&mut sel, Some(t.name.clone()), task_label(&t.name, t.has_truth))
                                    .clicked()
                                {
                                    self.state.task = sel;
                                }
                            }
                        })
                        .response
                        .accessible_name("Task");
                });
            });
        });
    }

    fn tabs_ui(&mut self, ui: &mut Ui) {
        ui.add_space(8.0);
        ui.with_layout(Layout::top_down_justified(Align::Min), |ui| {
            for p in Panel::ALL {
                let text = RichText::new(p.label()).size(16.0);
                if ui
                    .selectable_label(self.state.panel == p, text)
                    .on_hover_text(p.hint())
                    .clicked()
                {
                    self.state.panel = p;
                }
                ui.add_space(2.0);
            }
        });
    }

    fn status_ui(&mut self, ui: &mut Ui) {
        let palette = theme::palette(self.state.dark);
        ui.horizontal(|ui| {
            if let Some(l) = &self.loading {
                ui.spinner();
                ui.label(format!("Opening {}…", l.what));
            } else if let Some(run) = self.layers.score.as_ref().filter(|r| r.is_running()) {
                ui.spinner();
                if ui.link(format!("{} (Layers panel)", run.status())).clicked() {
                    self.state.panel = Panel::Layers;
                }
            } else if let Some(info) = &self.msgs.info {
                ui.label(RichText::new(info).color(palette.weak_text));
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                ui.label(
                    RichText::new(format!(
                        "{} layer profiles · {} v{}",
                        self.layers.profile_count(&self.data),
                        env!("CARGO_PKG_NAME"),
                        env!("CARGO_PKG_VERSION")
                    ))
                    .color(palette.weak_text),
                );
            });
        });
    }

    fn errors_ui(&mut self, ui: &mut Ui, palette: &theme::Palette) {
        let mut dismiss = None;
        for (i, e) in self.msgs.errors.iter().enumerate() {
            Frame::new()
                .fill(palette.error_fill)
                .stroke(egui::Stroke::new(1.0, palette.error))
                .corner_radius(4.0)
                .inner_margin(Margin::symmetric(10, 6))
                .show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal_wrapped(|ui| {
                        ui.label(RichText::new("Error").strong().color(palette.error));
                        ui.label(RichText::new(&e.file).monospace().color(palette.text));
                        ui.label(RichText::new(&e.reason).color(palette.text));
                        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                            if ui.small_button("Dismiss").clicked() {
                                dismiss = Some(i);
                            }
                        });
                    });
                });
        }
        if let Some(i) = dismiss {
            self.msgs.errors.remove(i);
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let (dropped, hovering) = ctx.input(|i| (i.raw.dropped_files.clone(), !i.raw.hovered_files.is_empty()));
        if hovering {
            let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop")));
            let rect = ctx.content_rect();
            painter.rect_filled(rect, 0.0, Color32::from_black_alpha(150));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop an archive to open it",
                egui::FontId::proportional(26.0),
                Color32::WHITE,
            );
        }
        if let Some(f) = dropped.first() {
            let p = f.path().to_path_buf();
            if p.as_os_str().is_empty() {
                self.msgs.error(
                    format!("{f:?}"),
                    "dropped data has no file path; save it to a file first",
                );
            } else {
                self.open_path(p);
            }
        }
    }

    /// `--screenshot`: once nothing has been computing for a few frames,
    /// capture the window, save it and close.
    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let busy = self.is_busy();
        let Some(shot) = &mut self.shot else { return };
        ctx.request_repaint();
        if let Some(rx) = &shot.rx {
            if let Ok(image) = rx.try_recv() {
                let result = write_png(&shot.plan.path, &image);
                if let Ok(mut o) = shot.plan.outcome.lock() {
                    *o = Some(result);
                }
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            return;
        }
        shot.idle_frames = if busy { 0 } else { shot.idle_frames + 1 };
        let timed_out = shot.started.elapsed() > Duration::from_secs(300);
        if shot.idle_frames >= 10 || timed_out {
            let (tx, rx) = channel();
            let repaint = ctx.clone();
            ctx.request_screenshot(move |image| {
                let _ = tx.send(image);
                repaint.request_repaint();
            });
            shot.rx = Some(rx);
        }
    }
}

fn task_label(name: &str, has_truth: bool) -> String {
    if has_truth {
        name.to_string()
    } else {
        format!("{name} (no ground truth)")
    }
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.shot.is_none() {
            eframe::set_value(storage, eframe::APP_KEY, &self.state);
        }
    }
}

/// How `lswag-studio` (no subcommand) starts the window.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Open this file (else the archive open when the app was last closed).
    pub file: Option<PathBuf>,
    /// Open this built-in archive.
    pub builtin: Option<Builtin>,
    /// Start on this panel.
    pub panel: Option<Panel>,
    /// Save a PNG of the window here once everything is drawn, and exit.
    pub screenshot: Option<PathBuf>,
}

/// Opens the app window. With a screenshot path, saves a PNG of the window
/// once everything is drawn and exits.
pub fn run_native(start: StartOptions) -> anyhow::Result<()> {
    let outcome: Arc<Mutex<Option<Result<(), String>>>> = Arc::new(Mutex::new(None));
    let StartOptions {
        file,
        builtin,
        panel,
        screenshot,
    } = start;
    let plan = screenshot.map(|path| ScreenshotPlan {
        path,
        panel,
        outcome: outcome.clone(),
    });
    let is_shot = plan.is_some();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("lswag-studio")
            .with_inner_size([1400.0, 900.0])
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        persist_window: !is_shot,
        ..Default::default()
    };
    eframe::run_native(
        "lswag-studio",
        options,
        Box::new(move |cc| {
            Ok(Box::new(StudioApp::from_creation_context(
                cc, plan, file, builtin, panel,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not be opened: {e}"))?;
    if is_shot {
        let result = outcome
            .lock()
            .map_err(|_| anyhow::anyhow!("screenshot state poisoned"))?
            .take();
        match result {
            Some(Ok(())) => Ok(()),
            Some(Err(reason)) => Err(anyhow::anyhow!("screenshot not saved: {reason}")),
            None => Err(anyhow::anyhow!("the window closed before the screenshot was taken")),
        }
    } else {
        Ok(())
    }
}
