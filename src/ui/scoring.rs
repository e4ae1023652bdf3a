//! "Score…": runs the probe on architectures of the open archive in the
//! background (`jobs::score::run`), with progress, ETA and cancel. Results
//! are written line by line to a JSON-lines file as they come (closing the
//! app mid-run loses nothing; running again with the same file resumes),
//! and their layer profiles fill the layers panel while the job runs.

use eframe::egui;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{ComboBox, DragValue, ProgressBar, RichText, Ui};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Messages;
use super::files::{Files, Purpose, Request};
use super::model::Dataset;
use super::theme::Palette;
use crate::engine::backend::{BackendKind, choose_backend};
use crate::engine::data::DataSource;
use crate::engine::probe::{DEFAULT_PATTERN_SAMPLES, ProbeSettings};
use crate::engine::profile::{LayerProfile, PatternCeiling};
use crate::jobs::score::{self, ScoreConfig, ScoreEvent};
use crate::jobs::{JobHandle, Progress, format_duration};
use crate::space::{NetConfig, NetOverrides, Space};

/// Which backend the probe runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// wgpu on a hardware GPU, else the CPU backend.
    #[default]
    Auto,
    Cpu,
    Wgpu,
}

/// The probe's input images.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataChoice {
    /// Standard normal pixels, random labels: needs no download.
    #[default]
    Gaussian,
    /// A CIFAR-10 binary file.
    Cifar10(PathBuf),
    /// A folder of PNG/JPEG images (one class per subfolder), with a folder
    /// of target images for TransNAS-Bench-101's pixel tasks.
    Folder { images: PathBuf, targets: Option<PathBuf> },
}

/// Persisted settings of the score dialog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoreSettings {
    /// Score every architecture of the archive (else `sample` of them).
    pub all: bool,
    pub sample: usize,
    /// Seed of the sample and of the initial weights.
    pub seed: u64,
    pub backend: BackendChoice,
    pub batch: usize,
    /// Images whose activation patterns make Psi (at most the batch).
    pub pattern_samples: usize,
    pub data: DataChoice,
    /// NB201 channels C and cells per stage N.
    pub channels: usize,
    pub cells: usize,
    /// ViT input side (AutoFormer); a multiple of 16.
    pub image_size: usize,
    /// NB201 input side: 32 for CIFAR, 16 to probe as ImageNet16-120 does.
    pub nb201_image_size: usize,
    /// TransNAS-Bench-101 input side; `None`: the task's own (Taskonomy's
    /// 256, the jigsaw's 255). A CPU may take 64 or 128 (the evidence runs).
    pub tnb_image_size: Option<usize>,
    /// Classes of the network's head (10 CIFAR-10, 100 CIFAR-100, 120
    /// ImageNet16-120): the images stay CIFAR-10's.
    pub classes: usize,
    /// Output file; `None` = a new file in the app's data folder.
    pub out: Option<PathBuf>,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        ScoreSettings {
            all: false,
            sample: 100,
            seed: 0,
            backend: BackendChoice::Auto,
            batch: 64,
            pattern_samples: DEFAULT_PATTERN_SAMPLES,
            data: DataChoice::Gaussian,
            channels: 16,
            cells: 5,
            image_size: 32,
            nb201_image_size: 32,
            tnb_image_size: None,
            classes: 10,
            out: None,
        }
    }
}

impl ScoreSettings {
    /// The probe configuration these settings describe, and the backend
    /// choice with its reason.
    /// The fields a space lacks are left out (one set of fields serves
    /// every space); a setting out of range is an error naming it.
    /// `task`: the archive task picked in the app; it sets the network's
    /// task where the space has tasks (TransNAS-Bench-101) and is ignored
    /// elsewhere.
    pub fn score_config(
        &self,
        space: &Space,
        task: &str,
        proxies: &str,
    ) -> Result<(ScoreConfig, crate::engine::backend::BackendChoice), String> {
        let backend = match self.backend {
            BackendChoice::Auto => choose_backend(None),
            BackendChoice::Cpu => choose_backend(Some(BackendKind::Cpu)),
            BackendChoice::Wgpu => choose_backend(Some(BackendKind::Wgpu)),
        };
        let data = match &self.data {
            DataChoice::Gaussian => DataSource::Gaussian,
            DataChoice::Cifar10(p) => DataSource::Cifar10(p.clone()),
            DataChoice::Folder { images, targets: None } => DataSource::Folder(images.clone()),
            DataChoice::Folder {
                images,
                targets: Some(targets),
            } => DataSource::FolderTargets {
                images: images.clone(),
                targets: targets.clone(),
            },
        };
        // NB201 takes the dialog's C, N, side and classes; ViTs its side (224
        // in the paper) and classes; the other benchmarks' networks are their
        // own builders' (Suite-Zero's values come from them), whatever the
        // dialog holds for NB201.
        let overrides = match network_knobs(space) {
            NetworkKnobs::Nb201 => NetOverrides {
                channels: Some(self.channels),
                cells: Some(self.cells),
                classes: Some(self.classes),
                image_size: Some(self.nb201_image_size),
            },
            NetworkKnobs::Vit => NetOverrides {
                classes: Some(self.classes),
                image_size: Some(self.image_size),
                ..NetOverrides::default()
            },
            NetworkKnobs::Benchmark => NetOverrides::default(),
        };
        let net = NetConfig::from_overrides_lenient(space, &overrides)?;
        let net = if task.is_empty() {
            net
        } else {
            net.for_archive_task(task)?
        };
        // After the task: a side is checked against the task it is for.
        let net = match (&net, self.tnb_image_size) {
            (NetConfig::Tnb101Micro(_) | NetConfig::Tnb101Macro(_), Some(size)) => net
                .with_overrides(&NetOverrides {
                    image_size: Some(size),
                    ..NetOverrides::default()
                })
                .map_err(|e| format!("Image size: {e}"))?,
            _ => net,
        };
        let config = ScoreConfig {
            init: net.settings().default_init(),
            net,
            seed: self.seed,
            backend: backend.kind,
            data,
            batch: self.batch.clamp(2, 64),
            batch_seed: None,
            proxies: vec![proxies.to_string()],
            probe: ProbeSettings {
                pattern_samples: Some(self.pattern_samples.clamp(1, 64).min(self.batch.clamp(2, 64))),
                ..ProbeSettings::default()
            },
        };
        Ok((config, backend))
    }
}

/// Folder for score files when the user has not chosen one.
pub fn default_score_dir() -> PathBuf {
    eframe::storage_dir("lswag-studio")
        .unwrap_or_else(std::env::temp_dir)
        .join("scores")
}

/// A running (or finished) score job.
pub struct ScoreRun {
    handle: JobHandle<ScoreEvent>,
    pub out: PathBuf,
    pub total: usize,
    pub already_done: usize,
    pub progress: Option<Progress>,
    pub current: String,
    pub started: Instant,
    /// Profiles scored so far, by archive row (shared with background
    /// computations; refreshed at most once a second).
    pub overlay: Arc<BTreeMap<usize, LayerProfile>>,
    /// Bumped whenever `overlay` changes.
    pub overlay_version: u64,
    pending: Vec<(usize, LayerProfile)>,
    last_merge: Instant,
    rows: HashMap<String, usize>,
    /// `Some((scored, cancelled))` once the job has ended.
    pub finished: Option<(usize, bool)>,
    pub failed: Option<String>,
    pub backend: String,
    /// Cancel was clicked; the job stops after the architecture in flight.
    pub cancelling: bool,
    /// Architectures whose Psi sits at the ceiling of the run's pattern
    /// samples.
    pub at_ceiling: PatternCeiling,
}

impl ScoreRun {
    /// Starts scoring; `Err` with a reason when nothing can be scored.
    pub fn start(ds: &Dataset, settings: &ScoreSettings, task: &str) -> Result<ScoreRun, String> {
        let (net, rows) = ds.scorable_rows()?;
        if rows.is_empty() {
            return Err(format!("no key of this archive is a {} architecture", net.space()));
        }
        let mut chosen: Vec<(usize, String)> = rows;
        if !settings.all && settings.sample < chosen.len() {
            let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
            chosen.shuffle(&mut rng);
            chosen.truncate(settings.sample.max(1));
        }
        let (config, backend) = settings.score_config(&net.space(), task, "all")?;
        let out = match &settings.out {
            Some(p) => p.clone(),
            None => {
                let dir = default_score_dir();
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                dir.join(format!(
                    "scores-{}-seed{}-{}.jsonl",
                    crate::ui::export::file_stem(&ds.label),
                    settings.seed,
                    crate::archive::now_rfc3339().replace(':', "")
                ))
            }
        };
        let at_ceiling = PatternCeiling::new(crate::engine::probe::recorded_pattern_samples(
            config.probe.pattern_samples,
            config.batch,
        ));
        let archs: Vec<String> = chosen.iter().map(|(_, a)| a.clone()).collect();
        let row_of: HashMap<String, usize> = chosen.iter().map(|(r, a)| (a.clone(), *r)).collect();
        let path = out.clone();
        let handle = JobHandle::spawn("score", move |send, cancel| {
            if let Err(e) = score::run(&archs, &config, &path, &cancel, &|e| send(e)) {
                send(ScoreEvent::Failed(e.to_string()));
            }
        });
        Ok(ScoreRun {
            handle,
            out,
            total: chosen.len(),
            already_done: 0,
            progress: None,
            current: String::new(),
            started: Instant::now(),
            overlay: Arc::new(BTreeMap::new()),
            overlay_version: 0,
            pending: Vec::new(),
            last_merge: Instant::now(),
            rows: row_of,
            finished: None,
            failed: None,
            backend: format!("{} ({})", backend.kind.name(), backend.reason),
            cancelling: false,
            at_ceiling,
        })
    }

    pub fn is_running(&self) -> bool {
        self.finished.is_none() && self.failed.is_none()
    }

    /// Asks the job to stop; it ends after the architecture being probed.
    pub fn cancel(&mut self) {
        if self.is_running() {
            self.handle.cancel.cancel();
            self.cancelling = true;
        }
    }

    /// Drops the profiles laid over the archive (once they are attached).
    pub fn clear_overlay(&mut self) {
        if !self.overlay.is_empty() {
            self.overlay = Arc::new(BTreeMap::new());
            self.overlay_version += 1;
        }
    }

    /// Architectures done, those already in the file included.
    pub fn done(&self) -> usize {
        self.already_done + self.progress.as_ref().map_or(0, |p| p.done)
    }

    /// The one-line state: progress, "Cancelling…", or how it ended.
    pub fn status(&self) -> String {
        let of = self.already_done + self.total;
        if let Some(msg) = &self.failed {
            format!("Scoring failed: {msg}")
        } else if let Some((scored, cancelled)) = self.finished {
            if cancelled {
                format!(
                    "Cancelled after {} of {of} architectures ({scored} scored in this run) · {}",
                    self.already_done + scored,
                    self.out.display()
                )
            } else {
                format!("Scored {scored} architectures into {}", self.out.display())
            }
        } else if self.cancelling {
            format!(
                "Cancelling… (after {} of {of}: the architecture being probed finishes first)",
                self.done()
            )
        } else {
            let eta = self
                .progress
                .as_ref()
                .and_then(Progress::eta)
                .map_or("estimating…".to_string(), format_duration);
            format!(
                "Scoring {} / {of} · ETA {eta} · elapsed {} · {}",
                self.done(),
                format_duration(self.started.elapsed()),
                self.current
            )
        }
    }

    /// Takes the job's events; returns true when it has just ended.
    pub fn poll(&mut self) -> bool {
        let was_running = self.is_running();
        while let Ok(e) = self.handle.events.try_recv() {
            match e {
                ScoreEvent::Started { total, already_done } => {
                    self.total = total;
                    self.already_done = already_done;
                }
                ScoreEvent::Scored { line, progress } => {
                    self.at_ceiling.record(line.profile.as_ref());
                    if let (Some(&row), Some(p)) = (self.rows.get(&line.arch), line.profile) {
                        self.pending.push((row, p));
                    }
                    self.current = line.arch;
                    self.progress = Some(progress);
                }
                ScoreEvent::Finished { scored, cancelled } => self.finished = Some((scored, cancelled)),
                ScoreEvent::Failed(msg) => self.failed = Some(msg),
            }
        }
        if self.is_running() && self.handle.is_finished() {
            // The worker ended without a final event (it panicked).
            if let Ok(ScoreEvent::Finished { scored, cancelled }) = self.handle.events.try_recv() {
                self.finished = Some((scored, cancelled));
            } else {
                self.failed = Some("the scoring thread stopped unexpectedly".to_string());
            }
        }
        let ended = was_running && !self.is_running();
        if !self.pending.is_empty() && (ended || self.last_merge.elapsed() > Duration::from_secs(1)) {
            let map = Arc::make_mut(&mut self.overlay);
            for (row, p) in self.pending.drain(..) {
                map.insert(row, p);
            }
            self.overlay_version += 1;
            self.last_merge = Instant::now();
        }
        ended
    }

    /// Progress bar, ETA and cancel.
    pub fn ui(&self, ui: &mut Ui, palette: &Palette) {
        let fraction = self.progress.as_ref().map_or(0.0, Progress::fraction);
        let text = RichText::new(self.status());
        let text = if self.failed.is_some() {
            text.color(palette.error)
        } else if self.cancelling && self.is_running() {
            text.color(palette.warn)
        } else {
            text
        };
        ui.add(ProgressBar::new(fraction).desired_width(240.0).show_percentage());
        ui.add(egui::Label::new(text).truncate())
            .on_hover_text(self.out.display().to_string());
        if self.already_done > 0 {
            ui.label(
                RichText::new(format!("{} already in the file, skipped", self.already_done)).color(palette.weak_text),
            );
        }
        if self.at_ceiling.count > 0 {
            let c = &self.at_ceiling;
            ui.label(
                RichText::new(format!(
                    "Psi at its 2^{} ceiling on {} architectures: L-SWAG ranks by Lambda there",
                    c.samples, c.count
                ))
                .color(palette.warn),
            )
            .on_hover_text(format!(
                "Psi over all layers reached {:.1}% {}. More pattern samples (Score…, at most the batch) count them \
                 again; which ranks better depends on the space (README, \"pattern_samples 16 / 32 / 64\").",
                100.0 * c.highest,
                c.meaning()
            ));
        }
    }
}

/// Which of the dialog's network fields a space takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkKnobs {
    /// C, cells per stage N, image side, classes (CIFAR-10, CIFAR-100,
    /// ImageNet16-120 heads).
    Nb201,
    /// Image side and classes (AutoFormer).
    Vit,
    /// None: the benchmark builder's own network (NB101, NB301,
    /// TransNAS-Bench-101, whose task sets the head and input).
    Benchmark,
}

pub fn network_knobs(space: &Space) -> NetworkKnobs {
    match space {
        Space::Nb201 => NetworkKnobs::Nb201,
        Space::AutoFormer => NetworkKnobs::Vit,
        _ => NetworkKnobs::Benchmark,
    }
}

/// The network a benchmark's own builder makes, as the dialog names it.
pub fn benchmark_network_label(space: &Space) -> String {
    match NetConfig::default_for(space) {
        Some(NetConfig::Nb101(c)) => format!(
            "NAS-Bench-101's: {} stem channels, {} stacks of {} cells, {} px, {} classes",
            c.stem_channels, c.stacks, c.cells_per_stack, c.image_size, c.num_classes
        ),
        Some(NetConfig::Nb301(c)) => format!(
            "NAS-Bench-301's (DARTS): C = {}, {} cells, {} px, {} classes",
            c.channels, c.cells, c.image_size, c.num_classes
        ),
        Some(NetConfig::Tnb101Micro(c) | NetConfig::Tnb101Macro(c)) => format!(
            "TransNAS-Bench-101's: {} channels; the archive task picks the head and the input (256 px, jigsaw 255)",
            c.channels
        ),
        _ => format!("the {space} benchmark's own"),
    }
}

/// The score dialog's contents; returns true when "Start" is clicked.
pub fn settings_ui(
    ui: &mut Ui,
    s: &mut ScoreSettings,
    ds: &Dataset,
    files: &mut Files,
    msgs: &mut Messages,
    palette: &Palette,
) -> bool {
    let scorable = ds.scorable_rows().map(|(net, r)| (net.space(), r.len()));
    let mut start = false;
    match &scorable {
        Err(reason) => {
            ui.label(RichText::new(reason).color(palette.error));
            return false;
        }
        Ok((space, n)) => {
            ui.label(format!("{n} {space} architectures of \"{}\" can be scored.", ds.label));
        }
    }
    let n = scorable.as_ref().map_or(0, |(_, n)| *n);
    egui::Grid::new("score_settings")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            ui.label("Architectures");
            ui.horizontal(|ui| {
                ui.radio_value(&mut s.all, false, "sample");
                ui.add_enabled(!s.all, DragValue::new(&mut s.sample).range(1..=n.max(1)))
                    .accessible_name("Number of architectures to sample");
                ui.radio_value(&mut s.all, true, format!("all {n}"));
            });
            ui.end_row();
            ui.label("Seed");
            ui.add(DragValue::new(&mut s.seed))
                .accessible_name("Seed")
                .on_hover_text("Seeds the sample and every network's initial weights");
            ui.end_row();
            probe_rows_ui(ui, s, files, "score", scorable.as_ref().ok().map(|(space, _)| space));
            ui.label("Output");
            ui.horizontal(|ui| {
                let shown = s
                    .out
                    .as_ref()
                    .map_or(format!("new file in {}", default_score_dir().display()), |p| {
                        p.display().to_string()
                    });
                ui.label(RichText::new(shown).monospace());
                if ui.small_button("Change…").clicked() {
                    files.ask(Request::save(Purpose::ScoreOutput, "scores", "jsonl"));
                }
                if let Some(p) = files.take_path(&Purpose::ScoreOutput) {
                    s.out = Some(p);
                }
                if s.out.is_some() && ui.small_button("Default").clicked() {
                    s.out = None;
                }
            });
            ui.end_row();
        });
    ui.label(
        RichText::new("Results are written as they come; running again with the same output file resumes.")
            .color(palette.weak_text),
    );
    if ui.button("Start scoring").clicked() {
        start = true;
    }
    if start && n == 0 {
        msgs.error(ds.label.clone(), "nothing to score");
        return false;
    }
    start
}

/// Grid rows for how the probe runs: backend, batch, images, skeleton.
/// Shared by the score dialog and the search panel's live mode (`slot`
/// tells their CIFAR-10 pickers apart).
pub fn probe_rows_ui(ui: &mut Ui, s: &mut ScoreSettings, files: &mut Files, slot: &'static str, space: Option<&Space>) {
    let knobs = space.map_or(NetworkKnobs::Nb201, network_knobs);
    ui.label("Backend");
    ComboBox::from_id_salt("score_backend")
        .selected_text(match s.backend {
            BackendChoice::Auto => "automatic",
            BackendChoice::Cpu => "CPU (burn-flex)",
            BackendChoice::Wgpu => "GPU (wgpu)",
        })
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut s.backend, BackendChoice::Auto, "automatic")
                .on_hover_text("wgpu on a hardware GPU, else the CPU backend");
            ui.selectable_value(&mut s.backend, BackendChoice::Cpu, "CPU (burn-flex)");
            ui.selectable_value(&mut s.backend, BackendChoice::Wgpu, "GPU (wgpu)");
        })
        .response
        .accessible_name("Backend");
    ui.end_row();
    ui.label("Batch size S");
    ui.add(DragValue::new(&mut s.batch).range(2..=64))
        .accessible_name("Batch size");
    ui.end_row();
    ui.label("Pattern samples");
    ui.add(DragValue::new(&mut s.pattern_samples).range(1..=64))
        .on_hover_text(
            "Images whose activation patterns make Psi (L-SWAG, SWAP), at most the batch. 16, as SWAP's code; \
             where Psi reaches the 2^K patterns K images can tell apart, the run says so",
        )
        .accessible_name("Pattern samples");
    ui.end_row();
    ui.label("Images");
    // Two lines in one grid cell: a wrapped row would overlap the next row.
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            if ui.radio(s.data == DataChoice::Gaussian, "Gaussian noise").clicked() {
                s.data = DataChoice::Gaussian;
            }
            let (label, on) = match &s.data {
                DataChoice::Cifar10(p) => (format!("CIFAR-10: {}", p.display()), true),
                _ => ("CIFAR-10 file…".to_string(), false),
            };
            if ui.radio(on, label).clicked() {
                files.ask(Request::cifar10(slot));
            }
        });
        ui.horizontal(|ui| {
            let (label, on) = match &s.data {
                DataChoice::Folder { images, .. } => (format!("folder: {}", images.display()), true),
                _ => ("Image folder…".to_string(), false),
            };
            if ui
                .radio(on, label)
                .on_hover_text("PNG/JPEG images, one class per subfolder (a flat folder is one class)")
                .clicked()
            {
                files.ask(Request::image_folder(slot));
            }
            if let DataChoice::Folder { targets, .. } = &mut s.data {
                let label = match targets {
                    Some(t) => format!("targets: {}", t.display()),
                    None => "Target images…".to_string(),
                };
                if ui
                    .button(label)
                    .on_hover_text(
                        "A folder of label maps (segmentsemantic) or normal maps (normal) with the image folder's \
                         file names; the other tasks take none",
                    )
                    .clicked()
                {
                    files.ask(Request::target_folder(slot));
                }
                if targets.is_some() && ui.small_button("no targets").clicked() {
                    *targets = None;
                }
            }
        });
        if let Some(p) = files.take_path(&Purpose::Cifar10(slot)) {
            s.data = DataChoice::Cifar10(p);
        }
        if let Some(p) = files.take_path(&Purpose::ImageFolder(slot)) {
            s.data = DataChoice::Folder {
                images: p,
                targets: None,
            };
        }
        if let Some(p) = files.take_path(&Purpose::TargetFolder(slot))
            && let DataChoice::Folder { targets, .. } = &mut s.data
        {
            *targets = Some(p);
        }
    });
    ui.end_row();
    ui.label("Network");
    if let (NetworkKnobs::Benchmark, Some(space)) = (knobs, space) {
        ui.label(benchmark_network_label(space))
            .on_hover_text("Built as the benchmark's own code builds it, so that scores compare with its files");
        ui.end_row();
        if matches!(space, Space::TransNasMicro | Space::TransNasMacro) {
            ui.label("Image size");
            ui.horizontal(|ui| {
                let mut own = s.tnb_image_size.is_none();
                ui.checkbox(&mut own, "the task's own")
                    .on_hover_text("Taskonomy's 256 x 256 (the jigsaw 255); a CPU run may take 64 or 128");
                if own {
                    s.tnb_image_size = None;
                } else {
                    let size = s.tnb_image_size.get_or_insert(128);
                    ui.add(DragValue::new(size).range(64..=1024).speed(16.0))
                        .accessible_name("TransNAS-Bench-101 image size")
                        .on_hover_text(
                            "Multiples of 64 for the pixel tasks; the jigsaw takes multiples of 3 from 192 (its \
                             3 x 3 tiles of 64 or more); macro networks need 128 or more",
                        );
                }
            });
            ui.end_row();
        }
        return;
    }
    if knobs == NetworkKnobs::Vit {
        ui.horizontal(|ui| {
            ui.label("image size");
            ui.add(DragValue::new(&mut s.image_size).range(16..=224).speed(16.0))
                .accessible_name("Image size")
                .on_hover_text("Side of the ViT's input in pixels, a multiple of the 16-pixel patch");
        });
    } else {
        ui.horizontal(|ui| {
            ui.label("C");
            ui.add(DragValue::new(&mut s.channels).range(1..=64))
                .accessible_name("Channels C");
            ui.label("cells per stage N");
            ui.add(DragValue::new(&mut s.cells).range(1..=5))
                .accessible_name("Cells per stage N");
            ui.label("image size");
            ui.add(DragValue::new(&mut s.nb201_image_size).range(4..=64))
                .accessible_name("Image size")
                .on_hover_text("Images are resized to it: 32 for CIFAR, 16 to probe as ImageNet16-120 does");
        });
    }
    ui.end_row();
    ui.label("Head");
    ui.horizontal(|ui| {
        ui.add(DragValue::new(&mut s.classes).range(2..=1000))
            .accessible_name("Classes")
            .on_hover_text("Classes of the classifier: 10 CIFAR-10, 100 CIFAR-100, 120 ImageNet16-120");
        ui.label("classes");
    });
    ui.end_row();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dialog's head and image size reach the probe configuration, and
    /// the batch it loads: ImageNet16-120's 120 classes at 16 x 16.
    #[test]
    fn head_and_image_size_reach_the_probe() {
        let settings = ScoreSettings {
            classes: 120,
            nb201_image_size: 16,
            batch: 4,
            ..ScoreSettings::default()
        };
        let (config, _) = settings.score_config(&Space::Nb201, "", "swap").unwrap();
        assert_eq!((config.net.num_classes(), config.net.image_size()), (120, 16));
        let batch = crate::jobs::score::config_batch(&config).unwrap();
        assert_eq!((batch.shape, batch.num_classes), ([4, 3, 16, 16], 120));
        let (vit, _) = ScoreSettings {
            classes: 100,
            ..ScoreSettings::default()
        }
        .score_config(&Space::AutoFormer, "", "swap")
        .unwrap();
        assert_eq!((vit.net.num_classes(), vit.net.image_size()), (100, 32));
    }

    /// NB101's, NB301's and TransNAS-Bench-101's networks are their
    /// builders' whatever the dialog holds for NB201: its C = 16 and N = 5
    /// had built NB301 at C = 16 with 5 cells (the benchmark's: 32, 8),
    /// NB101 with 16 stem channels and 5 cells a stack (128, 3) and
    /// TransNAS-Bench-101 at 16 channels (64), so Score… and live search
    /// scored other networks than the benchmark files' on those spaces.
    #[test]
    fn benchmark_spaces_score_their_builders_networks() {
        let settings = ScoreSettings {
            channels: 8,
            cells: 2,
            classes: 100,
            nb201_image_size: 16,
            ..ScoreSettings::default()
        };
        for (space, task) in [
            (Space::Nb101, ""),
            (Space::Nb301, ""),
            (Space::TransNasMicro, "class_object"),
            (Space::TransNasMacro, "jigsaw"),
        ] {
            assert_eq!(network_knobs(&space), NetworkKnobs::Benchmark);
            let (config, _) = settings.score_config(&space, task, "params").unwrap();
            let own = NetConfig::default_for(&space).unwrap();
            let own = if task.is_empty() {
                own
            } else {
                own.with_task(task).unwrap()
            };
            assert_eq!(config.net, own, "{space}");
        }
        let (tnb, _) = settings
            .score_config(&Space::TransNasMacro, "jigsaw", "params")
            .unwrap();
        assert_eq!((tnb.net.num_classes(), tnb.net.image_size()), (1000, 255));
        let label = benchmark_network_label(&Space::Nb301);
        assert!(label.contains("C = 32, 8 cells"), "{label}");
        // A side of one's own, checked against the task it is for.
        let small = ScoreSettings {
            tnb_image_size: Some(128),
            ..settings.clone()
        };
        let (seg, _) = small
            .score_config(&Space::TransNasMacro, "segmentsemantic", "params")
            .unwrap();
        assert_eq!(seg.net.image_size(), 128);
        let e = small
            .score_config(&Space::TransNasMacro, "jigsaw", "params")
            .unwrap_err();
        assert!(
            e.contains("Image size") && e.contains("image size 128") && e.contains("jigsaw"),
            "{e}"
        );
        // NB201 still takes them.
        let (nb201, _) = settings.score_config(&Space::Nb201, "", "params").unwrap();
        assert_eq!((nb201.net.num_classes(), nb201.net.image_size()), (100, 16));
    }
}
