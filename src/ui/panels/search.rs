//! Search panel: configure and launch evolution, random or pruning search on
//! the open benchmark, live (the probe scores each candidate) or tabular
//! (scores looked up in the archive); watch every candidate land on a
//! fitness-rank vs true-rank scatter coloured by generation and the
//! best-so-far accuracy climb against the random-search band; pause,
//! resume, cancel, and export the log and the plots.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eframe::egui;
use egui::{Align, DragValue, Layout, ProgressBar, RichText, ScrollArea, Ui, vec2};
use egui_plot::{FilledArea, Line, LineStyle, MarkerShape, Plot, PlotPoints, Points};
use serde::{Deserialize, Serialize};

use super::PanelCtx;
use crate::archive::Archive;
use crate::figure::{self, generation_colour};
use crate::jobs::search::{RunOptions, SearchConfig, SearchEvent, run_on};
use crate::jobs::{CancelToken, JobHandle, Progress, format_duration};
use crate::search::band::Band;
use crate::search::{Algo, Budget, Evaluation, EvolutionSettings, Fitness, ParamLimits, PauseToken, SearchResult};
use crate::space::{NetConfig, Space};
use crate::ui::background::Exec;
use crate::ui::export::table_csv;
use crate::ui::model::{SearchView, format_value};
use crate::ui::scoring::{ScoreSettings, probe_rows_ui};
use crate::ui::theme::{Palette, with_alpha};
use crate::ui::widgets::{self, LegendItem, Mark, table_heading, text_grid, vector_figure};

/// What the search maximises, as picked in the panel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FitnessChoice {
    /// L-SWAG over the window picked in the Layers panel.
    LayersWindow,
    Proxy(String),
    /// LIBRA's three proxies, picked on the open task.
    Libra,
}

/// Persisted settings of the panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchSettings {
    pub algo: Algo,
    pub fitness: FitnessChoice,
    /// Look scores up in the archive (else probe every candidate).
    pub tabular: bool,
    pub budget: usize,
    pub seed: u64,
    /// Parameter window in millions.
    pub limits: Option<(f64, f64)>,
    pub evolution: EvolutionSettings,
    /// How the probe runs in live mode.
    pub probe: ScoreSettings,
    /// Folder of the search logs; `None` = the app's data folder.
    pub out_dir: Option<PathBuf>,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            algo: Algo::Evolution,
            fitness: FitnessChoice::LayersWindow,
            tabular: true,
            budget: 100,
            seed: 0,
            limits: None,
            evolution: EvolutionSettings::default(),
            probe: ScoreSettings {
                channels: 8,
                cells: 1,
                ..ScoreSettings::default()
            },
            out_dir: None,
        }
    }
}

/// Folder for search logs.
pub fn default_search_dir() -> PathBuf {
    eframe::storage_dir("lswag-studio")
        .unwrap_or_else(std::env::temp_dir)
        .join("searches")
}

/// A running or finished search and everything drawn from it.
struct SearchRun {
    job: Option<JobHandle<SearchEvent>>,
    pause: PauseToken,
    config: SearchConfig,
    archive: Arc<Archive>,
    out: PathBuf,
    fitness: Option<Fitness>,
    band: Option<Band>,
    /// Evaluations replayed from the log on Resume.
    resumed: usize,
    evaluations: Vec<Evaluation>,
    progress: Option<Progress>,
    result: Option<SearchResult>,
    failed: Option<String>,
    view: SearchView,
}

impl SearchRun {
    fn start(config: SearchConfig, archive: Arc<Archive>, out: PathBuf, exec: Exec) -> SearchRun {
        let mut run = SearchRun {
            job: None,
            pause: PauseToken::default(),
            config,
            archive,
            out,
            fitness: None,
            band: None,
            resumed: 0,
            evaluations: Vec::new(),
            progress: None,
            result: None,
            failed: None,
            view: SearchView::default(),
        };
        run.launch(exec);
        run
    }

    /// Runs the job (again: a cancelled search resumes from its log).
    fn launch(&mut self, exec: Exec) {
        self.evaluations.clear();
        self.result = None;
        self.failed = None;
        self.pause.set(false);
        let (config, archive, out, pause) = (
            self.config.clone(),
            self.archive.clone(),
            self.out.clone(),
            self.pause.clone(),
        );
        let options = RunOptions {
            cache: None,
            band_runs: 500,
        };
        let work = move |send: &dyn Fn(SearchEvent), cancel: CancelToken| {
            if let Err(e) = run_on(&config, Some(&archive), &options, &out, &cancel, &pause, send) {
                send(SearchEvent::Failed(e.to_string()));
            }
        };
        match exec {
            Exec::Threads => self.job = Some(JobHandle::spawn("search", work)),
            Exec::Inline => {
                let events = std::cell::RefCell::new(Vec::new());
                work(&|e| events.borrow_mut().push(e), CancelToken::default());
                for e in events.into_inner() {
                    self.take(e);
                }
                self.refresh();
            }
        }
    }

    fn take(&mut self, e: SearchEvent) {
        match e {
            SearchEvent::Started { fitness, band, resumed } => {
                self.fitness = Some(fitness);
                self.band = band;
                self.resumed = resumed;
            }
            SearchEvent::Evaluated { evaluation, progress } => {
                self.evaluations.push(evaluation);
                self.progress = Some(progress);
            }
            SearchEvent::Finished(r) => self.result = Some(r),
            SearchEvent::Failed(msg) => self.failed = Some(msg),
        }
    }

    fn is_running(&self) -> bool {
        self.job.as_ref().is_some_and(|j| !j.is_finished()) && self.result.is_none() && self.failed.is_none()
    }

    /// Takes new events; recomputes the plots when something arrived.
    fn poll(&mut self) {
        let Some(job) = &self.job else { return };
        let mut events = Vec::new();
        while let Ok(e) = job.events.try_recv() {
            events.push(e);
        }
        let finished = job.is_finished();
        let changed = !events.is_empty();
        for e in events {
            self.take(e);
        }
        if finished && self.result.is_none() && self.failed.is_none() {
            self.failed = Some("the search thread stopped unexpectedly".into());
        }
        if changed {
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        if let Some(f) = &self.fitness {
            self.view = SearchView::build(&self.evaluations, f, self.band.as_ref());
        }
    }

    fn cancel(&self) {
        if let Some(j) = &self.job {
            j.cancel.cancel();
        }
        self.pause.set(false);
    }
}

/// Time left, from the evaluations made since the job started only: those
/// replayed from the log on Resume come back at once and say nothing about
/// the pace.
pub fn eta_after_resume(p: &Progress, resumed: usize) -> Option<Duration> {
    let new = p.done.checked_sub(resumed).filter(|n| *n > 0)?;
    (p.done <= p.total).then(|| p.elapsed.mul_f64((p.total - p.done) as f64 / new as f64))
}

#[derive(Default)]
pub struct SearchPanel {
    run: Option<SearchRun>,
}

impl SearchPanel {
    pub fn is_busy(&self) -> bool {
        self.run.as_ref().is_some_and(SearchRun::is_running)
    }

    /// Cancels a running search (another archive opens); true if one ran.
    pub fn cancel(&mut self) -> bool {
        match &self.run {
            Some(run) if run.is_running() => {
                run.cancel();
                true
            }
            _ => false,
        }
    }

    /// The search's current pick and its true accuracy (tests, status).
    pub fn result(&self) -> Option<&SearchResult> {
        self.run.as_ref().and_then(|r| r.result.as_ref())
    }

    pub fn ui(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, s: &mut SearchSettings, window: (usize, usize)) {
        let palette = ctx.palette;
        if let Some(run) = &mut self.run {
            run.poll();
            if run.is_running() {
                ui.ctx().request_repaint_after(std::time::Duration::from_millis(200));
            }
        }
        if search_space(ctx).is_none() {
            widgets::note(
                ui,
                &palette,
                format!(
                    "Searches run on NB201 cells and AutoFormer ViTs; this archive's space is {}.",
                    ctx.data.space_name()
                ),
            );
            return;
        }
        ui.horizontal_top(|ui| {
            let h = ui.available_height();
            ui.allocate_ui_with_layout(vec2(300.0, h), Layout::top_down(Align::Min), |ui| {
                ui.set_width(300.0);
                ScrollArea::vertical().id_salt("search_settings").show(ui, |ui| {
                    self.settings_ui(ui, ctx, s, window);
                });
            });
            ui.separator();
            ui.vertical(|ui| {
                // Nothing below may widen the column past the window.
                ui.set_max_width(ui.available_width());
                ScrollArea::vertical().id_salt("search_result").show(ui, |ui| match &self.run {
                    Some(run) => run_ui(ui, ctx, run),
                    None => widgets::note(
                        ui,
                        &palette,
                        "Pick an algorithm and a fitness, then start. Every scored candidate appears on the \
                         rank scatter as it is evaluated; ground truth is only used for the plots, never by the search.",
                    ),
                });
            });
        });
    }

    fn settings_ui(&mut self, ui: &mut Ui, ctx: &mut PanelCtx<'_>, s: &mut SearchSettings, window: (usize, usize)) {
        let palette = ctx.palette;
        let task = ctx.task.to_string();
        let columns: Vec<String> = ctx.data.proxy_columns(&task).into_iter().map(|(n, _, _)| n).collect();
        // Live, the probe computes the candidates' scores: offer its proxies.
        let proxies: Vec<String> = if s.tabular {
            columns.clone()
        } else {
            crate::proxy::all_names().into_iter().map(String::from).collect()
        };
        let has_profiles = ctx.data.profile_count() > 0 || !s.tabular;
        ui.heading("Search");
        egui::Grid::new("search_grid")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                ui.label("Algorithm");
                let prunable = has_supernet(ctx);
                if !prunable && s.algo == Algo::Prune {
                    s.algo = Algo::Evolution;
                }
                ui.horizontal(|ui| {
                    for a in Algo::ALL {
                        ui.add_enabled_ui(prunable || a != Algo::Prune, |ui| {
                            ui.radio_value(&mut s.algo, a, a.name())
                        })
                        .response
                        .on_disabled_hover_text("Pruning needs a cell space with a supernet (NB201, NB301)");
                    }
                });
                ui.end_row();
                ui.label("Fitness");
                let label = fitness_label(&s.fitness, window);
                egui::ComboBox::from_id_salt("search_fitness")
                    .selected_text(label)
                    .width(190.0)
                    .show_ui(ui, |ui| {
                        if has_profiles {
                            ui.selectable_value(
                                &mut s.fitness,
                                FitnessChoice::LayersWindow,
                                fitness_label(&FitnessChoice::LayersWindow, window),
                            )
                            .on_hover_text("The window picked in the Layers panel");
                        }
                        ui.selectable_value(&mut s.fitness, FitnessChoice::Libra, "LIBRA ensemble")
                            .on_hover_text(
                                "The three proxies LIBRA picks on this task, rank sum among everything scored so far",
                            );
                        for p in &proxies {
                            ui.selectable_value(&mut s.fitness, FitnessChoice::Proxy(p.clone()), p);
                        }
                    })
                    .response
                    .accessible_name("Fitness");
                ui.end_row();
                ui.label("Scores");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut s.tabular, true, "from the archive")
                        .on_hover_text("Tabular: look scores up; the search draws only from scored architectures");
                    ui.radio_value(&mut s.tabular, false, "probe live")
                        .on_hover_text("The probe scores every new candidate");
                });
                ui.end_row();
                ui.label("Budget");
                ui.add(DragValue::new(&mut s.budget).range(1..=100_000).suffix(" evaluations"))
                    .accessible_name("Budget");
                ui.end_row();
                ui.label("Seed");
                ui.add(DragValue::new(&mut s.seed)).accessible_name("Search seed");
                ui.end_row();
                ui.label("Parameters");
                ui.horizontal(|ui| {
                    let mut on = s.limits.is_some();
                    if ui.checkbox(&mut on, "limit").changed() {
                        // Defaults: the paper's ViT window; NB201's whole range.
                        let vit = is_vit(ctx);
                        s.limits = on.then_some(if vit { (18.0, 23.0) } else { (0.0, 1.6) });
                    }
                    if let Some((lo, hi)) = &mut s.limits {
                        ui.add(DragValue::new(lo).range(0.0..=*hi).speed(0.01).suffix(" M"));
                        ui.label("to");
                        ui.add(DragValue::new(hi).range(*lo..=1000.0).speed(0.01).suffix(" M"));
                    }
                });
                ui.end_row();
                if !s.tabular {
                    let space = search_space(ctx);
                    probe_rows_ui(ui, &mut s.probe, &mut ctx.exporter.files, "search", space.as_ref());
                }
            });
        if s.algo == Algo::Evolution {
            egui::CollapsingHeader::new("Evolution (AutoFormer defaults)")
                .id_salt("search_evolution")
                .show(ui, |ui| {
                    let e = &mut s.evolution;
                    egui::Grid::new("evo_grid").num_columns(2).show(ui, |ui| {
                        for (label, v) in [
                            ("Population", &mut e.population),
                            ("Parents (top-k)", &mut e.parents),
                            ("Mutations", &mut e.mutations),
                            ("Crossovers", &mut e.crossovers),
                            ("Generations", &mut e.generations),
                        ] {
                            ui.label(label);
                            ui.add(DragValue::new(v).range(1..=10_000)).accessible_name(label);
                            ui.end_row();
                        }
                        ui.label("Mutation prob.");
                        ui.add(DragValue::new(&mut e.m_prob).range(0.01..=1.0).speed(0.01));
                        ui.end_row();
                    });
                    if ui.small_button("Reset to defaults").clicked() {
                        *e = EvolutionSettings::default();
                    }
                });
        }
        if s.tabular && columns.is_empty() && ctx.data.profile_count() == 0 {
            widgets::note(
                ui,
                &palette,
                "This archive has no proxies and no layer profiles in this task, so a search from the archive has \
                 nothing to rank candidates by. Pick \"probe live\" (the probe scores every candidate), or attach a \
                 score file in the Archive panel.",
            );
        }
        ui.add_space(6.0);
        let running = self.is_busy();
        ui.horizontal(|ui| {
            if ui.add_enabled(!running, egui::Button::new("Start search")).clicked() {
                match self.start(ctx, s, window) {
                    Ok(run) => self.run = Some(run),
                    Err(reason) => ctx.msgs.error("search", reason),
                }
            }
            if let Some(run) = &mut self.run {
                if run.is_running() {
                    let paused = run.pause.is_paused();
                    if ui.button(if paused { "Resume" } else { "Pause" }).clicked() {
                        run.pause.set(!paused);
                    }
                    if ui.button("Cancel").clicked() {
                        run.cancel();
                    }
                } else if run.result.as_ref().is_some_and(|r| r.cancelled)
                    && ui
                        .button("Resume")
                        .on_hover_text("Continue the cancelled search from its log")
                        .clicked()
                {
                    run.launch(ctx.exec);
                }
            }
        });
        if let Some(run) = &self.run {
            ui.label(
                RichText::new("Every evaluation is written to the log as it comes (hover for the file)")
                    .color(palette.weak_text)
                    .small(),
            )
            .on_hover_text(run.out.display().to_string());
        }
    }

    fn start(&self, ctx: &PanelCtx<'_>, s: &SearchSettings, window: (usize, usize)) -> Result<SearchRun, String> {
        let fitness = match &s.fitness {
            FitnessChoice::LayersWindow => format!("lswag:{}-{}", window.0, window.1),
            FitnessChoice::Proxy(p) => p.clone(),
            FitnessChoice::Libra => "libra".to_string(),
        };
        let space = search_space(ctx).ok_or("this archive's space cannot be searched")?;
        let (score, _) = s.probe.score_config(&space, ctx.task, "lswag")?;
        let config = SearchConfig {
            algo: s.algo,
            fitness,
            budget: Budget {
                evaluations: if s.algo == Algo::Prune {
                    s.budget
                        .max(crate::search::prune::supernet_evaluations(&score.net).unwrap_or(0))
                } else {
                    s.budget
                },
                seconds: None,
            },
            seed: s.seed,
            param_limits: s.limits.map(|(lo, hi)| ParamLimits {
                min: (lo * 1e6) as u64,
                max: (hi * 1e6) as u64,
            }),
            evolution: s.evolution,
            archive: Some(PathBuf::from(&ctx.data.label)),
            task: Some(ctx.task.to_string()),
            tabular: s.tabular,
            score,
        };
        let dir = s.out_dir.clone().unwrap_or_else(default_search_dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = dir.join(format!(
            "search-{}-{}-seed{}-{}.jsonl",
            s.algo.name(),
            crate::ui::export::file_stem(&config.fitness),
            s.seed,
            crate::archive::now_rfc3339().replace(':', "")
        ));
        Ok(SearchRun::start(config, ctx.data.archive_arc(), out, ctx.exec))
    }
}

/// The searchable space of the open archive.
fn search_space(ctx: &PanelCtx<'_>) -> Option<Space> {
    NetConfig::default_for(ctx.data.space()).map(|net| net.space())
}

/// Whether the open archive's space has a pruning supernet.
fn has_supernet(ctx: &PanelCtx<'_>) -> bool {
    NetConfig::default_for(ctx.data.space())
        .is_some_and(|net| crate::search::prune::supernet_evaluations(&net).is_some())
}

/// Whether the open archive's space is AutoFormer's ViTs (no pruning;
/// the ViT image size and parameter window).
fn is_vit(ctx: &PanelCtx<'_>) -> bool {
    search_space(ctx) == Some(Space::AutoFormer)
}

fn fitness_label(f: &FitnessChoice, window: (usize, usize)) -> String {
    match f {
        FitnessChoice::LayersWindow => format!("L-SWAG [{}–{}] (Layers window)", window.0, window.1),
        FitnessChoice::Proxy(p) => p.clone(),
        FitnessChoice::Libra => "LIBRA ensemble".to_string(),
    }
}

/// Colour of generation `g` of `count`: early generations light, late dark.
fn run_ui(ui: &mut Ui, ctx: &mut PanelCtx<'_>, run: &SearchRun) {
    let palette = ctx.palette;
    let v = &run.view;
    // Status line.
    let done = run.evaluations.len();
    let budget = run.config.budget.evaluations;
    if let Some(msg) = &run.failed {
        ui.label(RichText::new(format!("Search failed: {msg}")).color(palette.error));
    }
    ui.horizontal_wrapped(|ui| {
        ui.add(
            ProgressBar::new(done as f32 / budget.max(1) as f32)
                .desired_width(220.0)
                .show_percentage(),
        );
        let eta = run
            .progress
            .as_ref()
            .and_then(|p| eta_after_resume(p, run.resumed))
            .map(format_duration);
        let state = match (&run.result, run.is_running(), run.pause.is_paused()) {
            (Some(r), _, _) if r.cancelled => "cancelled".to_string(),
            (Some(_), _, _) => "finished".to_string(),
            (None, true, true) => "paused".to_string(),
            (None, true, false) => format!("running · ETA {}", eta.unwrap_or_else(|| "estimating…".into())),
            _ => String::new(),
        };
        ui.label(format!(
            "{} · {} · {done} / {budget} evaluations · {state}",
            run.config.algo.name(),
            run.fitness.as_ref().map_or(run.config.fitness.clone(), Fitness::label),
        ));
    });
    if let Some(r) = &run.result {
        let truth = r
            .truth
            .map_or("no ground truth".to_string(), |t| format!("true accuracy {t:.2}"));
        ui.label(RichText::new(format!("Pick: {}  ({truth})", r.arch)).strong());
    }
    if v.with_truth == 0 && done > 0 {
        widgets::note(
            ui,
            &palette,
            "This task has no ground truth for the scored candidates, so the rank scatter and the accuracy curve stay empty.",
        );
    }
    // Two plots side by side within the width (at 1024 px they were cut).
    let half = ((ui.available_width() - 24.0) / 2.0).max(180.0);
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(half);
            let title = format!(
                "Rank by fitness vs true rank (n = {}, ρ = {})",
                v.with_truth,
                v.rho.map_or("–".into(), |r| format!("{r:.3}"))
            );
            vector_figure(
                ui,
                ctx.exporter,
                ctx.msgs,
                &title,
                || v.scatter_csv(),
                |page| figure::search_scatter_svg(page, v),
                |ui| scatter_ui(ui, &palette, v, half),
            );
        });
        ui.vertical(|ui| {
            ui.set_width(half);
            vector_figure(
                ui,
                ctx.exporter,
                ctx.msgs,
                "Best-so-far true accuracy",
                || v.curve_csv(),
                |page| figure::search_curve_svg(page, v, budget),
                |ui| curve_ui(ui, &palette, v, budget, half),
            );
        });
    });
    ui.add_space(8.0);
    let cells = || top_cells(run, 10);
    table_heading(ui, ctx.exporter, ctx.msgs, "Top 10 by fitness", cells);
    let (header, rows) = top_cells(run, 10);
    // Long architecture strings scroll sideways instead of running off.
    ScrollArea::horizontal().id_salt("search_top_h").show(ui, |ui| {
        text_grid(ui, "search_top", &header, &rows, |col, _, text| {
            // The architecture column in monospace, so cells line up.
            if col == 5 {
                RichText::new(text).monospace()
            } else {
                RichText::new(text)
            }
        });
    });
    ui.horizontal(|ui| {
        if ui.small_button("Export log as CSV…").clicked() {
            let (h, r) = log_cells(run);
            ctx.exporter
                .save_text(ctx.msgs, "search log", "csv", &table_csv(&h, &r));
        }
        if ui.small_button("Export log as JSON…").clicked() {
            let json = serde_json::json!({
                "config": run.config,
                "fitness": run.fitness,
                "evaluations": run.evaluations,
                "result": run.result,
            });
            ctx.exporter.save_text(
                ctx.msgs,
                "search log",
                "json",
                &serde_json::to_string_pretty(&json).unwrap_or_default(),
            );
        }
    });
}

fn scatter_ui(ui: &mut Ui, palette: &Palette, v: &SearchView, width: f32) {
    let n = v.with_truth.max(1) as f64;
    let count = v.scatter.last().map_or(1, |(g, _)| g + 1);
    Plot::new("search_scatter")
        .width(width)
        .height((width * 0.8).min(420.0))
        .x_axis_label("true rank (1 = best)")
        .y_axis_label("fitness rank (1 = best)")
        .include_x(0.0)
        .include_x(n + 1.0)
        .include_y(0.0)
        .include_y(n + 1.0)
        .show(ui, |plot| {
            plot.line(
                Line::new("perfect ranking", PlotPoints::new(vec![[1.0, 1.0], [n, n]]))
                    .color(palette.diagonal)
                    .style(LineStyle::dashed_dense())
                    .allow_hover(false),
            );
            for (g, pts) in &v.scatter {
                plot.points(
                    Points::new(format!("generation {g}"), PlotPoints::new(pts.clone()))
                        .shape(MarkerShape::Circle)
                        .filled(true)
                        .radius(3.0)
                        .color(generation_colour(palette, *g, count)),
                );
            }
        });
    // Under the plot, off the points; many generations: the first and the last.
    let mut legend = vec![LegendItem::new(Mark::Dashed, palette.diagonal, "perfect ranking")];
    let gens: Vec<usize> = v.scatter.iter().map(|(g, _)| *g).collect();
    let shown: Vec<usize> = if gens.len() > 6 {
        vec![gens[0], gens[gens.len() - 1]]
    } else {
        gens.clone()
    };
    for (i, g) in shown.iter().enumerate() {
        let label = if gens.len() > 6 && i == 1 {
            format!("… generation {g}")
        } else {
            format!("generation {g}")
        };
        legend.push(LegendItem::new(Mark::Dot, generation_colour(palette, *g, count), label));
    }
    widgets::legend_row(ui, palette, &legend);
}

fn curve_ui(ui: &mut Ui, palette: &Palette, v: &SearchView, budget: usize, width: f32) {
    Plot::new("search_curve")
        .width(width)
        .height((width * 0.8).min(420.0))
        .x_axis_label("evaluations")
        .y_axis_label("true accuracy (%)")
        .include_x(0.0)
        .include_x(budget as f64)
        .show(ui, |plot| {
            if let Some(b) = &v.band {
                let k = b.median.len();
                // A filled area between the two percentile lines: the band is
                // not convex, so a polygon fill of its outline draws a fan.
                let xs: Vec<f64> = (1..=k).map(|i| i as f64).collect();
                plot.add(
                    FilledArea::new(
                        format!("random search, 10–90% of {} runs", b.runs),
                        &xs,
                        &b.p10[..k],
                        &b.p90[..k],
                    )
                    .fill_color(with_alpha(palette.series[7], 40))
                    .stroke(egui::Stroke::new(0.5, with_alpha(palette.series[7], 90))),
                );
                plot.line(
                    Line::new(
                        "random search, median",
                        PlotPoints::new((0..k).map(|i| [(i + 1) as f64, b.median[i]]).collect()),
                    )
                    .color(palette.series[7])
                    .style(LineStyle::dashed_loose()),
                );
            }
            plot.line(
                Line::new("best evaluated (oracle)", PlotPoints::new(v.oracle.clone()))
                    .color(palette.series[2])
                    .style(LineStyle::dotted_dense()),
            );
            plot.line(
                Line::new("search's pick", PlotPoints::new(v.best.clone()))
                    .color(palette.accent)
                    .width(2.2),
            );
        });
    let mut legend = vec![
        LegendItem::new(Mark::Line, palette.accent, "search's pick"),
        LegendItem::new(Mark::Dotted, palette.series[2], "best evaluated (oracle)"),
    ];
    if let Some(b) = &v.band {
        legend.push(LegendItem::new(
            Mark::Dashed,
            palette.series[7],
            "random search, median",
        ));
        legend.push(LegendItem::new(
            Mark::Fill,
            with_alpha(palette.series[7], 60),
            format!("random search, 10–90% of {} runs", b.runs),
        ));
    }
    widgets::legend_row(ui, palette, &legend);
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("–".to_string(), |x| format!("{x:.decimals$}"))
}

fn top_cells(run: &SearchRun, k: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let v = &run.view;
    let header = ["#", "true acc.", "fitness", "params (M)", "gen.", "architecture"]
        .map(String::from)
        .to_vec();
    let rows = v
        .order
        .iter()
        .take(k)
        .enumerate()
        .filter_map(|(rank, &i)| {
            let e = run.evaluations.get(i)?;
            Some(vec![
                (rank + 1).to_string(),
                opt(e.truth, 2),
                v.fitness
                    .get(i)
                    .copied()
                    .filter(|f| f.is_finite())
                    .map_or("–".to_string(), format_value),
                opt(e.params.map(|p| p as f64 / 1e6), 3),
                e.generation.to_string(),
                e.arch.clone(),
            ])
        })
        .collect();
    (header, rows)
}

fn log_cells(run: &SearchRun) -> (Vec<String>, Vec<Vec<String>>) {
    let header = [
        "index",
        "generation",
        "arch",
        "fitness",
        "truth",
        "params",
        "best_arch",
        "best_truth",
        "seconds",
    ]
    .map(String::from)
    .to_vec();
    let rows = run
        .evaluations
        .iter()
        .map(|e| {
            vec![
                e.index.to_string(),
                e.generation.to_string(),
                e.arch.clone(),
                e.fitness.map_or(String::new(), |v| v.to_string()),
                e.truth.map_or(String::new(), |v| v.to_string()),
                e.params.map_or(String::new(), |v| v.to_string()),
                e.best_arch.clone(),
                e.best_truth.map_or(String::new(), |v| v.to_string()),
                format!("{:.3}", e.seconds),
            ]
        })
        .collect();
    (header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 50 evaluations replayed from the log, then 10 new ones in 10 s: 40
    /// left take 40 s, not the 6.7 s that counting the replayed ones gives.
    #[test]
    fn the_eta_after_resume_counts_only_new_evaluations() {
        let p = Progress {
            done: 60,
            total: 100,
            elapsed: Duration::from_secs(10),
        };
        assert_eq!(eta_after_resume(&p, 50), Some(Duration::from_secs(40)));
        assert!(p.eta().unwrap() < Duration::from_secs(7));
        assert_eq!(eta_after_resume(&p, 0), p.eta());
        // Only replayed so far: no pace yet.
        assert_eq!(eta_after_resume(&p, 60), None);
    }
}
