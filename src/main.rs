//! lswag-studio: no arguments opens the app on its embedded demo;
//! subcommands run the same jobs headless.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use lswag_studio::engine::backend::{BackendKind, choose_backend};
use lswag_studio::engine::data::DataSource;
use lswag_studio::engine::params::InitScheme;
use lswag_studio::engine::probe::{GradPath, ProbeSettings};
use lswag_studio::jobs::score::{self, ScoreConfig, ScoreEvent, Shard};
use lswag_studio::jobs::{CancelToken, format_duration};
use lswag_studio::space::nb201::{Nb201Arch, Nb201Config};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Zero-shot NAS studio: L-SWAG, LIBRA and peer proxies on burn.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Score architectures with the probe; one JSON line per architecture.
    Score(ScoreArgs),
}

#[derive(Args)]
struct ScoreArgs {
    /// Search space (nb201).
    #[arg(long, default_value = "nb201")]
    space: String,
    /// File with one arch string or NASLib tuple per line.
    #[arg(long, conflicts_with_all = ["sample", "all"])]
    archs: Option<PathBuf>,
    /// Sample N architectures uniformly (with --seed).
    #[arg(long)]
    sample: Option<usize>,
    /// Score all 15,625 NB201 cells.
    #[arg(long)]
    all: bool,
    /// Seed for sampling and for initial weights (per architecture).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Images: `cifar10:PATH` or `gaussian`.
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
    /// Comma-separated proxies, or `all`.
    #[arg(long, default_value = "all")]
    proxies: String,
    /// Shard i/n of the architecture list (Slurm arrays).
    #[arg(long)]
    shard: Option<Shard>,
    /// Output JSON lines; re-running with the same file resumes.
    #[arg(long)]
    out: PathBuf,
    /// Weight initialisation.
    #[arg(long, value_enum, default_value = "kaiming-normal")]
    init: InitScheme,
    /// NB201 channels C.
    #[arg(long, default_value_t = 16)]
    channels: usize,
    /// NB201 cells per stage N.
    #[arg(long, default_value_t = 5)]
    cells: usize,
    /// sigma_w over k mini-batches instead of per sample.
    #[arg(long)]
    grad_splits: Option<usize>,
    /// Samples used for activation patterns (default: the whole batch).
    #[arg(long)]
    pattern_samples: Option<usize>,
    /// Compute per-sample gradients one sample at a time (reference path).
    #[arg(long)]
    naive: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => bail!("the app window arrives with the UI; use a subcommand (see --help)"),
        Some(Command::Score(args)) => run_score(args),
    }
}

fn run_score(a: ScoreArgs) -> Result<()> {
    if a.space != "nb201" {
        bail!("--space {}: only nb201 is supported by `score` so far", a.space);
    }
    let choice = choose_backend(a.backend);
    eprintln!("backend: {} ({})", choice.kind.name(), choice.reason);
    let archs: Vec<Nb201Arch> = match (&a.archs, a.sample, a.all) {
        (Some(path), _, _) => score::read_arch_file(path)?,
        (None, Some(n), false) => score::sample_archs(n, a.seed),
        (None, None, true) => Nb201Arch::all().collect(),
        _ => bail!("choose the architectures with one of --archs FILE, --sample N or --all"),
    };
    let archs = match a.shard {
        Some(shard) => shard.select(&archs),
        None => archs,
    };
    let config = ScoreConfig {
        space: a.space,
        nb201: Nb201Config {
            channels: a.channels,
            cells_per_stage: a.cells,
            num_classes: 10,
        },
        seed: a.seed,
        init: a.init,
        backend: choice.kind,
        data: a.data.parse::<DataSource>()?,
        batch: a.batch,
        batch_seed: a.batch_seed,
        proxies: vec![a.proxies],
        probe: ProbeSettings {
            grad_splits: a.grad_splits,
            pattern_samples: a.pattern_samples,
            grad_path: if a.naive { GradPath::Naive } else { GradPath::Batched },
        },
    };
    let tty = std::io::stderr().is_terminal();
    let report = move |e: ScoreEvent| match e {
        ScoreEvent::Started { total, already_done } => {
            eprintln!("scoring {total} architectures ({already_done} already in the file)")
        }
        ScoreEvent::Scored { line, progress } => {
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
            eprintln!("{} {scored} architectures", if cancelled { "cancelled after" } else { "scored" });
        }
        ScoreEvent::Failed(msg) => eprintln!("failed: {msg}"),
    };
    score::run(&archs, &config, &a.out, &CancelToken::default(), &report)
        .with_context(|| format!("scoring into {}", a.out.display()))?;
    Ok(())
}
