//! Searches end to end: tabular runs on built archives with known answers,
//! resume after a cancel, and one small live run checked against `score`.

use std::path::PathBuf;

use lswag_studio::archive::{Archive, ArchiveBuilder, Provenance, Space, write_native};
use lswag_studio::engine::backend::{Backend, BackendKind};
use lswag_studio::engine::data::DataSource;
use lswag_studio::engine::params::InitScheme;
use lswag_studio::engine::probe::ProbeSettings;
use lswag_studio::jobs::CancelToken;
use lswag_studio::jobs::score::{ScoreConfig, config_batch, config_proxies, score_arch};
use lswag_studio::jobs::search::{RunOptions, SearchConfig, SearchEvent, read_log, run, tabular_study};
use lswag_studio::search::{Algo, Budget, EvolutionSettings, PauseToken};
use lswag_studio::space::NetConfig;
use lswag_studio::space::nb201::{Nb201Arch, Nb201Config, Nb201Space, Op};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lswag-search-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// Weight of op `o` on edge `e` in the additive test proxy.
fn weight(e: usize, o: Op) -> f64 {
    // Distinct per edge, with a different best op on different edges.
    let table = [
        [0.3, 1.0, 2.0, 0.5, 0.1],
        [2.0, 0.2, 0.4, 1.5, 0.3],
        [0.1, 0.2, 0.3, 0.4, 0.5],
    ];
    table[e % 3][o.index()] + 0.01 * e as f64
}

/// Every NB201 cell with an additive proxy `additive`, a noisy copy of it
/// as ground truth, and a proxy `oracle` equal to the truth.
fn full_archive() -> Archive {
    let mut b = ArchiveBuilder::new(Space::Nb201);
    let prov = b.add_provenance(Provenance::new("test", "additive"));
    let task = b.task("cifar10", Some(prov));
    let additive = b.column(task, "additive", prov, false);
    let oracle = b.column(task, "oracle", prov, false);
    for arch in Nb201Arch::all() {
        let row = b.row(&arch.to_string());
        let a: f64 = arch.ops.iter().enumerate().map(|(e, &o)| weight(e, o)).sum();
        // A deterministic pseudo-random truth, loosely tied to `additive`.
        let noise = ((arch.index() as f64 * 0.6180339887).fract() - 0.5) * 3.0;
        let truth = 80.0 + a + noise;
        b.set(additive, row, a);
        b.set(oracle, row, truth);
        b.set_truth(task, row, truth);
    }
    b.build().unwrap()
}

fn config(algo: Algo, fitness: &str, budget: usize, seed: u64, archive: Option<PathBuf>) -> SearchConfig {
    SearchConfig {
        algo,
        fitness: fitness.into(),
        budget: Budget {
            evaluations: budget,
            seconds: None,
        },
        seed,
        param_limits: None,
        evolution: EvolutionSettings::default(),
        archive,
        task: Some("cifar10".into()),
        tabular: true,
        score: ScoreConfig {
            net: NetConfig::Nb201(Nb201Config::default()),
            seed,
            init: InitScheme::KaimingNormal,
            backend: BackendKind::Cpu,
            data: DataSource::Gaussian,
            batch: 16,
            batch_seed: None,
            proxies: vec!["lswag".into()],
            probe: ProbeSettings::default(),
        },
    }
}

/// The archive written to a file of its own (tests run in parallel).
/// A live search on a tiny skeleton (C = 4, N = 1) with a Gaussian batch
/// of `batch`: the probe takes well under a second per cell.
fn live_config(algo: Algo, fitness: &str, budget: usize, seed: u64, batch: usize) -> SearchConfig {
    let mut cfg = config(algo, fitness, budget, seed, None);
    cfg.tabular = false;
    cfg.task = None;
    cfg.score.net = NetConfig::Nb201(Nb201Config {
        channels: 4,
        cells_per_stage: 1,
        num_classes: 10,
        image_size: 32,
    });
    cfg.score.batch = batch;
    cfg
}

/// Runs a search to the end without watching it.
fn run_quiet(
    cfg: &SearchConfig,
    out: &std::path::Path,
) -> Result<lswag_studio::search::SearchResult, lswag_studio::jobs::search::SearchJobError> {
    run(
        cfg,
        &RunOptions::default(),
        out,
        &CancelToken::default(),
        &PauseToken::default(),
        &|_| {},
    )
}

fn archive_file(name: &str) -> PathBuf {
    let path = tmp(&format!("{name}.lswag"));
    write_native(&full_archive(), &path).unwrap();
    path
}

#[test]
fn pruning_an_additive_proxy_keeps_the_best_op_of_every_edge() {
    // The mean of an additive score over a sub-supernet is the sum of the
    // per-edge means, so removing the lowest-weight op raises it most and
    // pruning must end at the per-edge argmax, found here by hand.
    let path = archive_file("prune");
    let out = tmp("prune.jsonl");
    let result = run_quiet(&config(Algo::Prune, "additive", 100, 0, Some(path)), &out).unwrap();
    let expected = Nb201Arch {
        ops: std::array::from_fn(|e| {
            Op::ALL
                .into_iter()
                .max_by(|a, b| weight(e, *a).total_cmp(&weight(e, *b)))
                .unwrap()
        }),
    };
    assert_eq!(result.arch, expected.to_string());
    // 1 full supernet + 30 + 24 + 18 + 12 candidates + the final cell.
    assert_eq!(result.evaluations, 86);
    assert!(result.truth.is_some());
}

#[test]
fn random_search_returns_the_best_fitness_it_saw_and_logs_every_evaluation() {
    let path = archive_file("random");
    let out = tmp("random.jsonl");
    let result = run_quiet(&config(Algo::Random, "additive", 40, 3, Some(path)), &out).unwrap();
    let log = read_log(&out).unwrap();
    assert_eq!(log.evaluations.len(), 40);
    assert_eq!(log.result.as_ref(), Some(&result));
    let best = log
        .evaluations
        .iter()
        .max_by(|a, b| a.fitness.unwrap().total_cmp(&b.fitness.unwrap()))
        .unwrap();
    assert_eq!(result.arch, best.arch);
    assert_eq!(result.truth, best.truth);
    // Every candidate is distinct, and the logged best-so-far is a running argmax.
    let keys: std::collections::HashSet<&str> = log.evaluations.iter().map(|e| e.arch.as_str()).collect();
    assert_eq!(keys.len(), 40);
    let mut running = f64::NEG_INFINITY;
    for e in &log.evaluations {
        running = running.max(e.fitness.unwrap());
        assert_eq!(e.best_fitness, Some(running));
    }
    assert_eq!(log.evaluations.last().unwrap().best_arch, result.arch);
}

#[test]
fn a_cancelled_search_resumes_to_the_same_log_as_an_uninterrupted_one() {
    let path = archive_file("resume");
    let cfg = config(Algo::Evolution, "additive", 130, 11, Some(path));
    let whole = tmp("whole.jsonl");
    run_quiet(&cfg, &whole).unwrap();

    let parts = tmp("parts.jsonl");
    let cancel = CancelToken::default();
    let token = cancel.clone();
    let first = run(
        &cfg,
        &RunOptions::default(),
        &parts,
        &cancel,
        &PauseToken::default(),
        &move |e| {
            if let SearchEvent::Evaluated { evaluation, .. } = e
                && evaluation.index == 72
            {
                token.cancel();
            }
        },
    )
    .unwrap();
    assert!(first.cancelled);
    assert_eq!(read_log(&parts).unwrap().evaluations.len(), 73);
    // A half-written line from a kill is cut off on resume.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&parts).unwrap();
        write!(f, "{{\"index\": 73, \"gen").unwrap();
    }
    let second = run_quiet(&cfg, &parts).unwrap();
    let (a, b) = (read_log(&whole).unwrap(), read_log(&parts).unwrap());
    let strip = |log: &lswag_studio::jobs::search::SearchLog| {
        log.evaluations
            .iter()
            .map(|e| (e.arch.clone(), e.generation, e.fitness, e.best_arch.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&b));
    assert_eq!(a.result.unwrap().arch, second.arch);
    assert!(!second.cancelled);
    // Generations follow AutoFormer: 50 random, then 25 mutants + 25 children.
    assert!(b.evaluations[..50].iter().all(|e| e.generation == 0));
    assert!(b.evaluations[50..100].iter().all(|e| e.generation == 1));
    assert!(b.evaluations[100..].iter().all(|e| e.generation == 2));
}

#[test]
fn with_a_perfect_proxy_evolution_beats_random_search_on_the_same_budget() {
    let path = archive_file("study");
    let study = |algo| {
        let cfg = config(algo, "oracle", 100, 0, Some(path.clone()));
        let archive = lswag_studio::archive::open_any(&path).unwrap();
        let (_, results) = tabular_study(&cfg, &archive, 0..30, &CancelToken::default(), |_, _| {}).unwrap();
        let mut t: Vec<f64> = results.iter().map(|r| r.truth.unwrap()).collect();
        t.sort_by(f64::total_cmp);
        t[15]
    };
    let (evo, rnd) = (study(Algo::Evolution), study(Algo::Random));
    // Both return the best truth they saw; evolution's second generation
    // searches around the first one's best, so it must do better.
    assert!(evo > rnd, "evolution median {evo} vs random {rnd}");
}

#[test]
fn tabular_search_outside_the_archive_and_bad_settings_fail_with_reasons() {
    let path = archive_file("errors");
    let err = run_quiet(
        &config(Algo::Random, "nosuchproxy", 10, 0, Some(path.clone())),
        &tmp("bad.jsonl"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("nosuchproxy") && err.contains("additive"), "{err}");
    let err = run_quiet(&config(Algo::Prune, "additive", 20, 0, Some(path)), &tmp("bad2.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("86"), "{err}");
}

#[test]
fn a_live_search_scores_exactly_what_score_computes() {
    let cfg = live_config(Algo::Random, "lswag:2-9", 3, 5, 8);
    let out = tmp("live.jsonl");
    let cache = tmp("live-cache.jsonl");
    let options = RunOptions {
        cache: Some(cache.clone()),
        band_runs: 0,
    };
    let result = run(
        &cfg,
        &options,
        &out,
        &CancelToken::default(),
        &PauseToken::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(result.evaluations, 3);
    assert!(result.truth.is_none(), "no archive, no truth");
    let log = read_log(&out).unwrap();
    let batch = config_batch(&cfg.score).unwrap();
    let proxies = config_proxies(&cfg.score).unwrap();
    let backend = Backend::new(BackendKind::Cpu);
    for e in &log.evaluations {
        let arch: Nb201Arch = e.arch.parse().unwrap();
        let space = Nb201Space::new(Nb201Config {
            channels: 4,
            cells_per_stage: 1,
            num_classes: 10,
            image_size: 32,
        });
        let line = score_arch(&space, &arch, &cfg.score, &proxies, &batch, &backend);
        let expected = line.profile.unwrap().lswag(2, 9);
        let got = e.components[0].unwrap();
        assert!(
            (got - expected).abs() <= 1e-9 * expected.abs(),
            "{} {got} vs {expected}",
            e.arch
        );
    }
    // The shared cache holds the three cells, in score-file format.
    let (_, lines, _) = lswag_studio::jobs::score::read_score_file(&cache).unwrap();
    assert_eq!(lines.len(), 3);
}

#[test]
fn a_paused_search_waits_and_then_finishes() {
    let path = archive_file("pause");
    let out = tmp("pause.jsonl");
    let cfg = config(Algo::Random, "additive", 40, 2, Some(path));
    let pause = PauseToken::default();
    pause.set(true);
    let (p, o) = (pause.clone(), out.clone());
    let worker =
        std::thread::spawn(move || run(&cfg, &RunOptions::default(), &o, &CancelToken::default(), &p, &|_| {}));
    std::thread::sleep(std::time::Duration::from_millis(400));
    // Paused before the first evaluation: the log holds only its header.
    assert_eq!(read_log(&out).unwrap().evaluations.len(), 0);
    pause.set(false);
    let result = worker.join().unwrap().unwrap();
    assert_eq!(result.evaluations, 40);
}

#[test]
fn live_pruning_scores_supernets_and_ends_on_one_cell() {
    let cfg = live_config(Algo::Prune, "synflow", 86, 0, 4);
    let out = tmp("live-prune.jsonl");
    let result = run_quiet(&cfg, &out).unwrap();
    assert_eq!(result.evaluations, 86);
    let cell: Nb201Arch = result.arch.parse().expect("one op per edge at the end");
    let log = read_log(&out).unwrap();
    // The first supernet holds every op on every edge; synflow grows with
    // the number of parameterised paths, so the full supernet outscores the
    // final cell.
    assert!(
        log.evaluations[0]
            .arch
            .contains("none/skip_connect/nor_conv_1x1/nor_conv_3x3/avg_pool_3x3~0")
    );
    let last = log.evaluations.last().unwrap();
    assert_eq!(last.arch, cell.to_string());
    assert!(log.evaluations[0].components[0].unwrap() > last.components[0].unwrap());
}

#[test]
fn evolution_over_vits_keeps_to_the_parameter_window_and_the_pool() {
    use lswag_studio::space::autoformer::{AutoformerArch, CountBasis};
    use rand::SeedableRng;
    // 400 sampled ViTs; the proxy is the total number of heads, which
    // evolution can raise by mutating and crossing head genes.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let mut b = ArchiveBuilder::new(Space::AutoFormer);
    let prov = b.add_provenance(Provenance::new("test", "vits"));
    let task = b.task("imagenet", Some(prov));
    let heads = b.column(task, "heads", prov, false);
    for _ in 0..400 {
        let a = AutoformerArch::sample(&mut rng);
        let row = b.row(&a.to_string());
        let total: usize = a.heads.iter().sum();
        b.set(heads, row, total as f64);
        b.set_truth(task, row, total as f64);
    }
    let path = tmp("vits.lswag");
    write_native(&b.build().unwrap(), &path).unwrap();
    let mut cfg = config(Algo::Evolution, "heads", 100, 1, Some(path));
    cfg.score.net = NetConfig::default_for(&lswag_studio::space::Space::AutoFormer).unwrap();
    cfg.task = Some("imagenet".into());
    cfg.param_limits = Some(lswag_studio::search::ParamLimits::parse_millions("18,23").unwrap());
    let out = tmp("vits.jsonl");
    let result = run_quiet(&cfg, &out).unwrap();
    let log = read_log(&out).unwrap();
    assert_eq!(log.evaluations.len(), result.evaluations);
    for e in &log.evaluations {
        let a: AutoformerArch = e.arch.parse().unwrap();
        let p = a.params(CountBasis::PAPER);
        assert!((18_000_000..=23_000_000).contains(&p), "{} has {p} parameters", e.arch);
        assert_eq!(e.params, Some(p));
        assert!(e.truth.is_some(), "every candidate comes from the archive");
    }
    // The pick is the best fitness it evaluated.
    let best = log
        .evaluations
        .iter()
        .filter_map(|e| e.fitness)
        .fold(f64::MIN, f64::max);
    assert_eq!(result.fitness, Some(best));
    // Pruning has no supernet in this space.
    cfg.algo = Algo::Prune;
    let err = run_quiet(&cfg, &tmp("vits-prune.jsonl")).unwrap_err().to_string();
    assert!(err.contains("supernet"), "{err}");
}

#[test]
fn every_out_of_range_search_setting_is_refused_by_name() {
    let base = config(Algo::Evolution, "lswag", 10, 0, None);
    type Change = Box<dyn Fn(&mut SearchConfig)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|c| c.evolution.m_prob = 2.0),
            "mutation probability (--m-prob) 2",
        ),
        (
            Box::new(|c| c.evolution.m_prob = f64::NAN),
            "mutation probability (--m-prob) NaN",
        ),
        (
            Box::new(|c| c.evolution.s_prob = -0.1),
            "structural mutation probability",
        ),
        (Box::new(|c| c.evolution.population = 0), "population 0"),
        (Box::new(|c| c.evolution.parents = 0), "parents 0"),
        (Box::new(|c| c.evolution.generations = 0), "generations 0"),
        (
            Box::new(|c| {
                c.evolution.mutations = 0;
                c.evolution.crossovers = 0
            }),
            "mutations and crossovers are both 0",
        ),
        (Box::new(|c| c.budget.evaluations = 0), "budget 0"),
        (Box::new(|c| c.budget.seconds = Some(-1.0)), "time limit -1 s"),
        // The probe's settings count in live mode only.
        (
            Box::new(|c| {
                c.tabular = false;
                c.score.batch = 1
            }),
            "batch 1",
        ),
    ];
    for (change, want) in cases {
        let mut c = base.clone();
        change(&mut c);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(want), "want `{want}` in: {e}");
    }
    assert!(base.validate().is_ok());
}
