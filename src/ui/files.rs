//! Asking the user for a file without freezing the window. The system
//! dialog (rfd: the desktop portal, else zenity) runs on a worker thread;
//! where none exists (a plain X server: no portal, no zenity) a built-in
//! dialog takes over and says why. Every request carries a [`Purpose`];
//! whoever asked takes the answer by purpose on a later frame (test
//! dialogs answer at once, within the same frame).

use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

use egui::{Align, Id, Key, Layout, RichText, ScrollArea, TextEdit};

use super::theme::Palette;

/// What a file is asked for; the answer is taken by the same purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    OpenArchive,
    AttachScores,
    /// The CIFAR-10 file of a probe setting (the slot names which one).
    Cifar10(&'static str),
    /// The image folder of a probe setting, and its folder of target images.
    ImageFolder(&'static str),
    TargetFolder(&'static str),
    /// Where Score… writes its results.
    ScoreOutput,
    /// An export waiting for its path (the exporter's number).
    Export(u64),
}

/// A file type: its name and extensions (`*` = any file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub extensions: Vec<String>,
}

impl Filter {
    pub fn new(name: &str, extensions: &[&str]) -> Filter {
        Filter {
            name: name.to_string(),
            extensions: extensions.iter().map(|e| e.to_string()).collect(),
        }
    }

    pub fn all() -> Filter {
        Filter::new("All files", &["*"])
    }

    /// Whether a file name passes (case-insensitive extension).
    pub fn accepts(&self, name: &str) -> bool {
        let ext = Path::new(name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        self.extensions
            .iter()
            .any(|e| e == "*" || ext.as_deref() == Some(e.to_ascii_lowercase().as_str()))
    }

    /// `Name (*.a, *.b)`.
    pub fn describe(&self) -> String {
        let globs: Vec<String> = self
            .extensions
            .iter()
            .map(|e| if e == "*" { "*".to_string() } else { format!("*.{e}") })
            .collect();
        format!("{} ({})", self.name, globs.join(", "))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Open,
    Save {
        file_name: String,
    },
    /// A folder, not a file.
    Folder,
}

/// One question for a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub purpose: Purpose,
    pub title: String,
    pub mode: Mode,
    /// The first is the one shown at first.
    pub filters: Vec<Filter>,
}

impl Request {
    pub fn open_archive() -> Request {
        Request {
            purpose: Purpose::OpenArchive,
            title: "Open archive".to_string(),
            mode: Mode::Open,
            filters: vec![
                Filter::new("Archives", &["lswag", "json", "jsonl", "csv", "tsv"]),
                Filter::all(),
            ],
        }
    }

    pub fn attach_scores() -> Request {
        Request {
            purpose: Purpose::AttachScores,
            title: "Attach a score file to the open archive".to_string(),
            mode: Mode::Open,
            filters: vec![Filter::new("Score files", &["jsonl"]), Filter::all()],
        }
    }

    pub fn cifar10(slot: &'static str) -> Request {
        Request {
            purpose: Purpose::Cifar10(slot),
            title: "CIFAR-10 binary batch (e.g. data_batch_1.bin)".to_string(),
            mode: Mode::Open,
            filters: vec![Filter::new("CIFAR-10 binary", &["bin"]), Filter::all()],
        }
    }

    pub fn image_folder(slot: &'static str) -> Request {
        Request {
            purpose: Purpose::ImageFolder(slot),
            title: "Folder of PNG/JPEG images (one class per subfolder)".to_string(),
            mode: Mode::Folder,
            filters: vec![Filter::new("Images", &["png", "jpg", "jpeg"]), Filter::all()],
        }
    }

    pub fn target_folder(slot: &'static str) -> Request {
        Request {
            purpose: Purpose::TargetFolder(slot),
            title: "Folder of target images (label or normal maps, the image folder's layout)".to_string(),
            mode: Mode::Folder,
            filters: vec![Filter::new("Images", &["png", "jpg", "jpeg"]), Filter::all()],
        }
    }

    pub fn save(purpose: Purpose, default_name: &str, ext: &str) -> Request {
        Request {
            purpose,
            title: format!("Save {default_name}.{ext}"),
            mode: Mode::Save {
                file_name: format!("{default_name}.{ext}"),
            },
            filters: vec![Filter::new(&ext.to_uppercase(), &[ext])],
        }
    }
}

/// What a dialog says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Chosen(PathBuf),
    Cancelled,
    /// Still open; ask [`Dialogs::poll`] on a later frame.
    Pending,
    /// No dialog of this kind exists here (the reason): use the built-in one.
    Unavailable(String),
}

/// Where files are opened from and saved to.
pub trait Dialogs {
    /// Starts asking.
    fn ask(&mut self, request: &Request) -> Reply;
    /// The answer to the request `ask` left pending, once known.
    fn poll(&mut self) -> Reply {
        Reply::Pending
    }
}

/// The line the built-in dialog shows when no system dialog exists.
pub const NO_SYSTEM_DIALOG: &str = "no system file dialog (no desktop portal or zenity): built-in dialog";

/// A system dialog that answers "cancelled" faster than this never opened
/// (rfd logs the failure and returns nothing, as for a cancel).
const QUICK_FAILURE: Duration = Duration::from_millis(400);

/// Why no system dialog can exist, from what the desktop offers: the portal
/// needs a D-Bus session bus, the fallback needs zenity.
pub fn missing_system_dialog(session_bus: bool, zenity: bool) -> Option<String> {
    (!session_bus && !zenity).then(|| NO_SYSTEM_DIALOG.to_string())
}

fn has_session_bus() -> bool {
    let env_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
    // libdbus also finds the per-user bus in the runtime directory.
    let runtime_bus = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists());
    env_bus || runtime_bus
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// The system dialogs (rfd), on a worker thread so the window keeps
/// drawing; once they turn out to be missing, the built-in one for the
/// rest of the session.
pub struct NativeDialogs {
    /// Shows the system dialog and waits for it (rfd; tests put a stand-in).
    pick: Picker,
    /// Check the desktop for a portal bus or zenity before asking.
    probe_desktop: bool,
    last_dir: Option<PathBuf>,
    missing: Option<String>,
    open: Option<(Instant, Receiver<Option<PathBuf>>)>,
}

type Picker = fn(&Request, Option<&Path>) -> Option<PathBuf>;

impl NativeDialogs {
    pub fn new() -> NativeDialogs {
        NativeDialogs {
            pick: rfd_pick,
            probe_desktop: true,
            last_dir: None,
            missing: None,
            open: None,
        }
    }

    /// With `pick` in place of rfd and no look at the desktop (tests).
    #[cfg(test)]
    fn with_picker(pick: Picker) -> NativeDialogs {
        NativeDialogs {
            pick,
            probe_desktop: false,
            ..NativeDialogs::new()
        }
    }
}

impl Default for NativeDialogs {
    fn default() -> Self {
        NativeDialogs::new()
    }
}

fn rfd_pick(request: &Request, dir: Option<&Path>) -> Option<PathBuf> {
    let dialog = rfd_dialog(request, dir);
    match request.mode {
        Mode::Open => dialog.pick_file(),
        Mode::Save { .. } => dialog.save_file(),
        Mode::Folder => dialog.pick_folder(),
    }
}

fn rfd_dialog(request: &Request, dir: Option<&Path>) -> rfd::FileDialog {
    let mut d = rfd::FileDialog::new().set_title(&request.title);
    for f in &request.filters {
        d = d.add_filter(&f.name, &f.extensions);
    }
    if let Mode::Save { file_name } = &request.mode {
        d = d.set_file_name(file_name);
    }
    if let Some(dir) = dir {
        d = d.set_directory(dir);
    }
    d
}

impl Dialogs for NativeDialogs {
    fn ask(&mut self, request: &Request) -> Reply {
        if self.missing.is_none() && self.probe_desktop {
            self.missing = missing_system_dialog(has_session_bus(), on_path("zenity"));
        }
        if let Some(reason) = &self.missing {
            return Reply::Unavailable(reason.clone());
        }
        let (tx, rx) = channel();
        let (picker, request, dir) = (self.pick, request.clone(), self.last_dir.clone());
        let pick = move || {
            let _ = tx.send(picker(&request, dir.as_deref()));
        };
        // AppKit dialogs must run on the main thread; the portal and zenity
        // run anywhere, so elsewhere the window keeps repainting.
        if cfg!(target_os = "macos") {
            pick();
        } else {
            std::thread::spawn(pick);
        }
        self.open = Some((Instant::now(), rx));
        Reply::Pending
    }

    fn poll(&mut self) -> Reply {
        let Some((started, rx)) = &self.open else {
            return Reply::Cancelled;
        };
        let reply = match rx.try_recv() {
            Err(TryRecvError::Empty) => return Reply::Pending,
            Ok(Some(path)) => {
                self.last_dir = path.parent().map(Path::to_path_buf);
                Reply::Chosen(path)
            }
            Ok(None) if started.elapsed() < QUICK_FAILURE => {
                let reason = "no system file dialog answered (the desktop portal and zenity failed): built-in dialog"
                    .to_string();
                self.missing = Some(reason.clone());
                Reply::Unavailable(reason)
            }
            Ok(None) => Reply::Cancelled,
            Err(TryRecvError::Disconnected) => {
                Reply::Unavailable("the system file dialog stopped unexpectedly: built-in dialog".to_string())
            }
        };
        self.open = None;
        reply
    }
}

/// Saves into a fixed folder and opens a fixed file (tests, scripted runs).
pub struct FolderDialogs {
    pub dir: PathBuf,
    pub open: Option<PathBuf>,
}

impl Dialogs for FolderDialogs {
    fn ask(&mut self, request: &Request) -> Reply {
        match (&request.mode, &self.open) {
            (Mode::Save { file_name }, _) => Reply::Chosen(self.dir.join(file_name)),
            (Mode::Open | Mode::Folder, Some(p)) => Reply::Chosen(p.clone()),
            (Mode::Open | Mode::Folder, None) => Reply::Cancelled,
        }
    }
}

/// Dialogs that are always cancelled (the default in tests).
pub struct NoDialogs;

impl Dialogs for NoDialogs {
    fn ask(&mut self, _: &Request) -> Reply {
        Reply::Cancelled
    }
}

/// No system dialog at all, as on a plain X server (tests of the built-in
/// dialog).
pub struct NoSystemDialogs;

impl Dialogs for NoSystemDialogs {
    fn ask(&mut self, _: &Request) -> Reply {
        Reply::Unavailable(NO_SYSTEM_DIALOG.to_string())
    }
}

/// The file requests of the app: at most one open at a time, answers kept
/// by purpose until taken.
pub struct Files {
    dialogs: Box<dyn Dialogs>,
    waiting: Option<Request>,
    builtin: Option<Builtin>,
    answers: Vec<(Purpose, Option<PathBuf>)>,
    /// Where the built-in dialog starts.
    last_dir: Option<PathBuf>,
}

impl Files {
    pub fn new(dialogs: Box<dyn Dialogs>) -> Files {
        Files {
            dialogs,
            waiting: None,
            builtin: None,
            answers: Vec::new(),
            last_dir: None,
        }
    }

    /// Asks for a file; ignored (false) while another dialog is open.
    pub fn ask(&mut self, request: Request) -> bool {
        if self.is_open() {
            return false;
        }
        let reply = self.dialogs.ask(&request);
        self.settle(request, reply);
        true
    }

    fn settle(&mut self, request: Request, reply: Reply) {
        match reply {
            Reply::Chosen(p) => self.answer(request.purpose, Some(p)),
            Reply::Cancelled => self.answer(request.purpose, None),
            Reply::Pending => self.waiting = Some(request),
            Reply::Unavailable(reason) => {
                let start = self
                    .last_dir
                    .clone()
                    .or_else(|| std::env::current_dir().ok())
                    .unwrap_or_else(|| PathBuf::from("/"));
                self.builtin = Some(Builtin::new(request, reason, start));
            }
        }
    }

    fn answer(&mut self, purpose: Purpose, path: Option<PathBuf>) {
        if let Some(dir) = path.as_ref().and_then(|p| p.parent()) {
            self.last_dir = Some(dir.to_path_buf());
        }
        self.answers.retain(|(p, _)| *p != purpose);
        self.answers.push((purpose, path));
    }

    /// The answer for `purpose` once given: `Some(None)` = cancelled.
    pub fn take(&mut self, purpose: &Purpose) -> Option<Option<PathBuf>> {
        let i = self.answers.iter().position(|(p, _)| p == purpose)?;
        Some(self.answers.remove(i).1)
    }

    /// The chosen path for `purpose` (a cancel is taken and dropped).
    pub fn take_path(&mut self, purpose: &Purpose) -> Option<PathBuf> {
        self.take(purpose).flatten()
    }

    /// A dialog (system or built-in) is open.
    pub fn is_open(&self) -> bool {
        self.waiting.is_some() || self.builtin.is_some()
    }

    /// The built-in dialog's request and the reason it is shown (tests).
    pub fn builtin(&self) -> Option<(&Request, &str)> {
        self.builtin.as_ref().map(|b| (&b.request, b.reason.as_str()))
    }

    /// Each frame: picks up a system dialog's answer, draws the built-in one.
    pub fn ui(&mut self, ctx: &egui::Context, palette: &Palette) {
        if self.waiting.is_some() {
            match self.dialogs.poll() {
                Reply::Pending => ctx.request_repaint_after(Duration::from_millis(100)),
                reply => {
                    if let Some(request) = self.waiting.take() {
                        self.settle(request, reply);
                    }
                    // Whoever asked takes the answer on the next frame.
                    ctx.request_repaint();
                }
            }
        }
        if let Some(b) = &mut self.builtin
            && let Some(answer) = b.ui(ctx, palette)
        {
            let purpose = b.request.purpose.clone();
            self.builtin = None;
            self.answer(purpose, answer);
            ctx.request_repaint();
        }
    }
}

struct Entry {
    name: String,
    is_dir: bool,
}

/// The built-in dialog: a path field, the folder's entries, OK and Cancel.
struct Builtin {
    request: Request,
    reason: String,
    dir: PathBuf,
    path: String,
    filter: usize,
    listing: Option<(PathBuf, usize, Result<Vec<Entry>, String>)>,
    error: Option<String>,
}

/// Entries beyond this are not listed (the path field still reaches them).
const MAX_ENTRIES: usize = 2000;

fn list_dir(dir: &Path, filter: &Filter) -> Result<Vec<Entry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut entries: Vec<Entry> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            // Follows links: a link to a folder is a folder.
            let is_dir = e.path().is_dir();
            (!name.starts_with('.') && (is_dir || filter.accepts(&name))).then_some(Entry { name, is_dir })
        })
        .collect();
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    Ok(entries)
}

fn expand_home(text: &str) -> PathBuf {
    match (text.strip_prefix('~'), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(text),
    }
}

impl Builtin {
    fn new(request: Request, reason: String, dir: PathBuf) -> Builtin {
        let mut b = Builtin {
            request,
            reason,
            dir: dir.clone(),
            path: String::new(),
            filter: 0,
            listing: None,
            error: None,
        };
        b.enter(dir);
        b
    }

    fn file_name(&self) -> Option<String> {
        match &self.request.mode {
            Mode::Open | Mode::Folder => None,
            Mode::Save { file_name } => Some(
                Path::new(self.path.trim())
                    .file_name()
                    .filter(|_| !self.path.trim_end().ends_with('/'))
                    .map_or(file_name.clone(), |n| n.to_string_lossy().to_string()),
            ),
        }
    }

    /// Shows folder `dir`; saving keeps the file name typed so far.
    fn enter(&mut self, dir: PathBuf) {
        let name = if self.path.is_empty() {
            match &self.request.mode {
                Mode::Open | Mode::Folder => None,
                Mode::Save { file_name } => Some(file_name.clone()),
            }
        } else {
            self.file_name()
        };
        self.path = match name {
            Some(n) => dir.join(n).display().to_string(),
            None => format!("{}/", dir.display().to_string().trim_end_matches('/')),
        };
        self.dir = dir;
        self.error = None;
    }

    /// The typed path, relative ones taken from the shown folder.
    fn typed(&self) -> PathBuf {
        let p = expand_home(self.path.trim());
        if p.is_absolute() { p } else { self.dir.join(p) }
    }

    /// OK: a file to answer with, or an error shown in the dialog.
    fn accept(&mut self) -> Option<PathBuf> {
        let path = self.typed();
        if self.path.trim().is_empty() {
            self.error = Some("type a path or pick a file".to_string());
            return None;
        }
        // Folder mode: the folder shown (or typed) is the answer.
        if self.request.mode == Mode::Folder {
            if path.is_dir() {
                return Some(path);
            }
            self.error = Some(format!("{}: no such folder", path.display()));
            return None;
        }
        if path.is_dir() {
            self.enter(path);
            return None;
        }
        match &self.request.mode {
            Mode::Open if path.is_file() => Some(path),
            Mode::Open | Mode::Folder => {
                self.error = Some(format!("{}: no such file", path.display()));
                None
            }
            Mode::Save { .. } => match path.parent() {
                Some(parent) if parent.is_dir() => Some(path),
                _ => {
                    self.error = Some(format!("{}: the folder does not exist", path.display()));
                    None
                }
            },
        }
    }

    /// Draws the dialog; `Some(answer)` once it closes (`None` = cancelled).
    fn ui(&mut self, ctx: &egui::Context, palette: &Palette) -> Option<Option<PathBuf>> {
        let filter = self
            .request
            .filters
            .get(self.filter)
            .cloned()
            .unwrap_or_else(Filter::all);
        let stale = self
            .listing
            .as_ref()
            .is_none_or(|(d, f, _)| *d != self.dir || *f != self.filter);
        if stale {
            self.listing = Some((self.dir.clone(), self.filter, list_dir(&self.dir, &filter)));
        }
        let mut result = None;
        let mut go_to: Option<PathBuf> = None;
        // Taken out while drawn: clicking an entry changes the path.
        let listing = self.listing.take();
        let width = (ctx.content_rect().width() - 80.0).clamp(320.0, 640.0);
        let modal = egui::Modal::new(Id::unique("builtin_file_dialog")).show(ctx, |ui| {
            ui.set_width(width);
            ui.heading(&self.request.title);
            ui.label(RichText::new(&self.reason).color(palette.weak_text));
            ui.separator();
            ui.horizontal(|ui| {
                ui.label("Folder:");
                ui.label(RichText::new(self.dir.display().to_string()).monospace());
                if let Some(parent) = self.dir.parent()
                    && ui.small_button("Up").on_hover_text("The parent folder").clicked()
                {
                    go_to = Some(parent.to_path_buf());
                }
            });
            let list_h = (ctx.content_rect().height() - 300.0).clamp(120.0, 320.0);
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ScrollArea::vertical()
                    .id_salt("builtin_file_list")
                    .max_height(list_h)
                    .auto_shrink([false, false])
                    .show(ui, |ui| match listing.as_ref().map(|(_, _, l)| l) {
                        Some(Ok(entries)) if entries.is_empty() => {
                            ui.label(RichText::new("(no matching files here)").color(palette.weak_text));
                        }
                        Some(Ok(entries)) => {
                            for e in entries.iter().take(MAX_ENTRIES) {
                                let full = self.dir.join(&e.name);
                                let text = if e.is_dir {
                                    RichText::new(format!("{}/", e.name)).strong()
                                } else {
                                    RichText::new(&e.name)
                                };
                                let selected = !e.is_dir && self.typed() == full;
                                let r = ui.selectable_label(selected, text);
                                if r.clicked() {
                                    if e.is_dir {
                                        go_to = Some(full.clone());
                                    } else {
                                        self.path = full.display().to_string();
                                        self.error = None;
                                    }
                                }
                                if r.double_clicked()
                                    && !e.is_dir
                                    && let Some(p) = self.accept()
                                {
                                    result = Some(Some(p));
                                }
                            }
                            if entries.len() > MAX_ENTRIES {
                                ui.label(
                                    RichText::new(format!(
                                        "… {} more: type the name in the path field",
                                        entries.len() - MAX_ENTRIES
                                    ))
                                    .color(palette.weak_text),
                                );
                            }
                        }
                        Some(Err(reason)) => {
                            ui.label(RichText::new(reason).color(palette.error));
                        }
                        None => {}
                    });
            });
            if self.request.filters.len() > 1 {
                ui.horizontal(|ui| {
                    ui.label("Show:");
                    egui::ComboBox::from_id_salt("builtin_file_filter")
                        .selected_text(filter.describe())
                        .show_ui(ui, |ui| {
                            for (i, f) in self.request.filters.iter().enumerate() {
                                ui.selectable_value(&mut self.filter, i, f.describe());
                            }
                        })
                        .response
                        .accessible_name("File type");
                });
            }
            let mut enter = false;
            ui.horizontal(|ui| {
                let label = ui.label("Path:");
                let r = ui
                    .add(TextEdit::singleline(&mut self.path).desired_width(f32::INFINITY))
                    .labelled_by(label.id);
                enter = r.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            });
            if let Some(e) = &self.error {
                ui.label(RichText::new(e).color(palette.error));
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let ok = match self.request.mode {
                    Mode::Open => "Open",
                    Mode::Save { .. } => "Save",
                    Mode::Folder => "Choose this folder",
                };
                if (ui.button(ok).clicked() || enter)
                    && let Some(p) = self.accept()
                {
                    result = Some(Some(p));
                }
                if ui.button("Cancel").clicked() {
                    result = Some(None);
                }
            });
        });
        self.listing = listing;
        if let Some(dir) = go_to {
            self.enter(dir);
        }
        // Escape cancels; a click beside the dialog does not (it is easy to miss).
        let escape = modal.is_top_modal && ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, Key::Escape));
        if result.is_none() && escape {
            result = Some(None);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_extensions_case_insensitively() {
        let bin = Filter::new("CIFAR-10 binary", &["bin"]);
        assert!(bin.accepts("data_batch_1.bin") && bin.accepts("TEST_BATCH.BIN"));
        assert!(!bin.accepts("demo.lswag") && !bin.accepts("bin"));
        assert!(Filter::all().accepts("anything.xyz") && Filter::all().accepts("README"));
        assert_eq!(bin.describe(), "CIFAR-10 binary (*.bin)");
    }

    #[test]
    fn no_bus_and_no_zenity_means_no_system_dialog() {
        assert_eq!(missing_system_dialog(false, false).as_deref(), Some(NO_SYSTEM_DIALOG));
        assert_eq!(missing_system_dialog(true, false), None);
        assert_eq!(missing_system_dialog(false, true), None);
    }

    /// rfd answers "cancelled" within milliseconds when no portal or zenity
    /// answers (measured: 11-16 ms under Xvfb): that is no dialog, and the
    /// built-in one takes over from then on; a cancel after a human's
    /// pause is a cancel.
    #[test]
    fn a_system_dialog_that_cancels_at_once_never_opened() {
        let wait = |d: &mut NativeDialogs| loop {
            match d.poll() {
                Reply::Pending => std::thread::sleep(Duration::from_millis(5)),
                r => return r,
            }
        };
        let mut d = NativeDialogs::with_picker(|_, _| None);
        assert_eq!(d.ask(&Request::open_archive()), Reply::Pending);
        assert!(matches!(wait(&mut d), Reply::Unavailable(r) if r.contains("built-in dialog")));
        // No second try at the system dialog this session.
        assert!(matches!(d.ask(&Request::open_archive()), Reply::Unavailable(_)));

        let mut d = NativeDialogs::with_picker(|_, _| {
            std::thread::sleep(QUICK_FAILURE + Duration::from_millis(100));
            None
        });
        assert_eq!(d.ask(&Request::open_archive()), Reply::Pending);
        assert_eq!(wait(&mut d), Reply::Cancelled);

        let mut d = NativeDialogs::with_picker(|r, _| match &r.mode {
            Mode::Save { file_name } => Some(PathBuf::from("/tmp/out").join(file_name)),
            Mode::Open | Mode::Folder => None,
        });
        d.ask(&Request::save(Purpose::Export(0), "curves", "csv"));
        assert_eq!(wait(&mut d), Reply::Chosen(PathBuf::from("/tmp/out/curves.csv")));
        // The next dialog starts in the folder of the last answer.
        assert_eq!(d.last_dir, Some(PathBuf::from("/tmp/out")));
    }

    #[test]
    fn the_builtin_dialog_accepts_files_and_refuses_what_is_not() {
        let dir = std::env::temp_dir().join(format!("lswag-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("data_batch_1.bin"), b"x").unwrap();
        std::fs::write(dir.join("demo.lswag"), b"x").unwrap();
        let mut b = Builtin::new(Request::cifar10("t"), NO_SYSTEM_DIALOG.into(), dir.clone());
        let names: Vec<String> = list_dir(&dir, &b.request.filters[0])
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["sub", "data_batch_1.bin"]);
        b.path = "missing.bin".into();
        assert_eq!(b.accept(), None);
        assert!(b.error.as_deref().unwrap().contains("no such file"), "{:?}", b.error);
        b.path = "sub".into();
        assert_eq!(b.accept(), None);
        assert_eq!(b.dir, dir.join("sub"));
        b.path = "../data_batch_1.bin".into();
        assert_eq!(b.accept(), Some(dir.join("sub/../data_batch_1.bin")));
        // Saving keeps the file name while the folder changes.
        let mut s = Builtin::new(
            Request::save(Purpose::Export(1), "curves", "csv"),
            NO_SYSTEM_DIALOG.into(),
            dir.clone(),
        );
        assert_eq!(s.path, dir.join("curves.csv").display().to_string());
        s.enter(dir.join("sub"));
        assert_eq!(s.accept(), Some(dir.join("sub/curves.csv")));
        s.path = dir.join("nowhere/x.csv").display().to_string();
        assert_eq!(s.accept(), None);
        assert!(s.error.as_deref().unwrap().contains("does not exist"));
    }
}
