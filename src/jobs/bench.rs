//! `lswag-studio bench`: probe throughput per backend, split by phase, and
//! the achieved GFLOP/s against the networks' arithmetic.

use std::time::{Duration, Instant};

use crate::engine::backend::{Backend, BackendKind};
use crate::engine::data::gaussian_batch;
use crate::engine::params::{InitScheme, arch_seed};
use crate::engine::probe::{PhaseTimes, ProbeSettings, probe};
use crate::jobs::score::probe_workers;
use crate::proxy::{self, ProxyInfo};
use crate::space::nb201::{Nb201Config, Nb201Net, sample_cells};
use crate::space::{ArchSpace, NetConfig, WithSpace};

/// Measured numbers of one backend.
#[derive(Clone, Debug)]
pub struct ProbeBench {
    pub backend: BackendKind,
    pub proxies: Vec<&'static str>,
    pub archs: usize,
    pub median_seconds: f64,
    /// Probes run at once in the throughput measurement.
    pub workers: usize,
    /// Wall time per architecture with `workers` probes at once.
    pub concurrent_seconds: f64,
    pub mean_phases: PhaseTimes,
    /// Median forward MFLOPs per image (2 x multiply-accumulates).
    pub median_mflops: f64,
    /// Arithmetic of the probe's passes (forward + backward ~ 3x forward,
    /// per image, per gradient pass) over its wall time.
    pub gflops_per_s: f64,
    /// The same arithmetic over the wall time with `workers` probes at once.
    pub concurrent_gflops_per_s: f64,
    /// f32 GEMM peak measured in the same run: one core, and `workers`
    /// cores at once (GFLOP/s).
    pub gemm_peak_one: f64,
    pub gemm_peak_all: f64,
    /// NB201's 16-channel 3x3 layer at the benchmark's batch, per pass
    /// (CPU backend only).
    pub conv_layer: Option<crate::engine::host_ops::ConvLayerBench>,
}

/// Side of the square products of the GEMM peak: large enough for gemm's
/// packed kernels to reach their rate, small enough to take milliseconds.
const PEAK_GEMM_SIDE: usize = 512;

/// The proxies the independent PyTorch implementation (the speed anchor)
/// computes from its probe: the engine's set, without the rest of the
/// Suite-Zero suite (grasp alone costs three more f64 gradient passes).
pub const ENGINE_PROXIES: &str = "lswag,lswag_dot,zico,swap,nwot,synflow,grad_norm,snip,params,flops";

/// Probes `n` sampled NB201 cells (C = 16, N = 5, batch `batch` at 32x32)
/// with `proxies`, after one warm-up architecture.
pub fn bench_probe(kind: BackendKind, n: usize, batch: usize, proxies: &[&ProxyInfo]) -> ProbeBench {
    let backend = Backend::new(kind);
    let data = gaussian_batch(batch, [3, 32, 32], 10, 0);
    let needs = proxy::needs_of(proxies);
    let archs = sample_cells(n + 1, 0);
    let mut seconds = Vec::new();
    let mut mflops = Vec::new();
    let mut sum = PhaseTimes::default();
    let mut work = 0.0;
    for (i, arch) in archs.iter().enumerate() {
        let key = arch.to_string();
        let (net, mut params) = Nb201Net::new(*arch, Nb201Config::default());
        params.init(InitScheme::KaimingNormal, arch_seed(0, &key));
        let t = Instant::now();
        let rec = probe(&net, &params, &data, &backend, &ProbeSettings::default(), needs);
        let dt = t.elapsed();
        if i == 0 {
            continue; // warm-up: kernel compilation, allocator growth
        }
        seconds.push(dt.as_secs_f64());
        let fwd = 2.0 * rec.flops() as f64;
        mflops.push(fwd / 1e6);
        // Three gradient passes (per-sample, splits, batch), each a forward
        // and a backward of about twice the forward's arithmetic.
        work += fwd * batch as f64 * 3.0 * 3.0;
        sum.forward += rec.times.forward;
        sum.backward += rec.times.backward;
        sum.statistics += rec.times.statistics;
        sum.patterns += rec.times.patterns;
    }
    let div = |d: Duration| d / n.max(1) as u32;
    let total: f64 = seconds.iter().sum();
    // The same architectures again, one probe per thread at once, as
    // `score` runs them on the CPU backend.
    let workers = probe_workers(kind, &NetConfig::Nb201(Nb201Config::default()), n);
    let next = std::sync::atomic::AtomicUsize::new(1);
    let t = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let backend = Backend::new(kind);
                while let Some(arch) = archs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    let (net, mut params) = Nb201Net::new(*arch, Nb201Config::default());
                    params.init(InitScheme::KaimingNormal, arch_seed(0, &arch.to_string()));
                    probe(&net, &params, &data, &backend, &ProbeSettings::default(), needs);
                }
            });
        }
    });
    let concurrent_seconds = t.elapsed().as_secs_f64() / n.max(1) as f64;
    ProbeBench {
        workers,
        concurrent_seconds,
        backend: kind,
        proxies: proxies.iter().map(|p| p.name).collect(),
        archs: n,
        median_seconds: median(&mut seconds),
        mean_phases: PhaseTimes {
            forward: div(sum.forward),
            backward: div(sum.backward),
            statistics: div(sum.statistics),
            patterns: div(sum.patterns),
        },
        median_mflops: median(&mut mflops),
        gflops_per_s: work / total.max(1e-9) / 1e9,
        concurrent_gflops_per_s: work / (concurrent_seconds * n.max(1) as f64).max(1e-9) / 1e9,
        gemm_peak_one: crate::engine::host_grads::gemm_gflops(PEAK_GEMM_SIDE, 1, 5),
        gemm_peak_all: crate::engine::host_grads::gemm_gflops(PEAK_GEMM_SIDE, workers, 5),
        conv_layer: (kind == BackendKind::Cpu)
            .then(|| crate::engine::host_ops::bench_conv_layer([batch, 16, 32, 32], 5)),
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

impl std::fmt::Display for ProbeBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.mean_phases;
        writeln!(
            f,
            "backend {}: {} NB201 cells (C=16, N=5), proxies {}",
            self.backend.name(),
            self.archs,
            self.proxies.join(",")
        )?;
        writeln!(
            f,
            "  median {:.3} s/arch ({:.2} arch/s); median forward {:.1} MFLOPs/image",
            self.median_seconds,
            1.0 / self.median_seconds,
            self.median_mflops
        )?;
        writeln!(
            f,
            "  mean phases: forward {:.3} s, backward {:.3} s, statistics {:.3} s, patterns {:.3} s",
            p.forward.as_secs_f64(),
            p.backward.as_secs_f64(),
            p.statistics.as_secs_f64(),
            p.patterns.as_secs_f64()
        )?;
        writeln!(
            f,
            "  f32 GEMM peak now ({PEAK_GEMM_SIDE}^3 products): {:.1} GFLOP/s on one core, {:.1} on {} at once",
            self.gemm_peak_one, self.gemm_peak_all, self.workers
        )?;
        // A probe's convolutions spread over every core (`host_ops`), so one
        // probe at a time is measured against the all-core peak too.
        writeln!(
            f,
            "  achieved {:.1} GFLOP/s of network arithmetic, one probe at a time: {:.0}% of the {}-core peak",
            self.gflops_per_s,
            100.0 * self.gflops_per_s / self.gemm_peak_all,
            self.workers
        )?;
        if let Some(c) = &self.conv_layer {
            let [s, ch, h, w] = c.shape;
            let pct = |g: f64| 100.0 * g / self.gemm_peak_all;
            writeln!(
                f,
                "  conv 3x3 {ch}->{ch} at {h}x{w}, batch {s} (NB201's layer), GFLOP/s and % of the {}-core peak: ours \
                 forward {:.1} ({:.0}%), input grad {:.1} ({:.0}%), weight grad {:.1} ({:.0}%); burn-flex forward \
                 {:.1} ({:.0}%), backward {:.1} ({:.0}%)",
                self.workers,
                c.ours[0],
                pct(c.ours[0]),
                c.ours[1],
                pct(c.ours[1]),
                c.ours[2],
                pct(c.ours[2]),
                c.burn_forward,
                pct(c.burn_forward),
                c.burn_backward,
                pct(c.burn_backward)
            )?;
        }
        let concurrent = self.concurrent_gflops_per_s;
        write!(
            f,
            "  throughput with {} probes at once: {:.3} s/arch ({:.2} arch/s), about {:.1} GFLOP/s: {:.0}% of the \
             {}-core peak",
            self.workers,
            self.concurrent_seconds,
            1.0 / self.concurrent_seconds,
            concurrent,
            100.0 * concurrent / self.gemm_peak_all,
            self.workers
        )
    }
}

/// `bench --what conv`: NB201's 16-channel 3x3 layer at `batch`, each
/// pass on one core and on every core, against the GEMM peaks measured in
/// the same run: the quick loop for work on the host convolutions.
pub fn bench_conv(batch: usize) -> String {
    let workers = rayon::current_num_threads();
    let peak_one = crate::engine::host_grads::gemm_gflops(PEAK_GEMM_SIDE, 1, 5);
    let peak_all = crate::engine::host_grads::gemm_gflops(PEAK_GEMM_SIDE, workers, 5);
    let shape = [batch, 16, 32, 32];
    // A first round faults in the buffers' pages, as a probe's first
    // layers do for the rest of its passes.
    crate::engine::host_ops::bench_host_conv(shape, 10);
    let all_cores = crate::engine::host_ops::bench_host_conv(shape, 5);
    let one_core = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map(|pool| pool.install(|| crate::engine::host_ops::bench_host_conv(shape, 5)));
    let line = |c: &[f64; 3], peak: f64| {
        let [f, i, w] = c.map(|g| format!("{g:.1} ({:.0}%)", 100.0 * g / peak));
        format!("forward {f}, input grad {i}, weight grad {w}")
    };
    let mut text = format!(
        "conv 3x3 16->16 at 32x32, batch {batch} (NB201's layer), GFLOP/s and % of the peak on as many cores\n  \
         f32 GEMM peak now ({PEAK_GEMM_SIDE}^3 products): {peak_one:.1} GFLOP/s on one core, {peak_all:.1} on {workers} at once\n"
    );
    match one_core {
        Ok(c) => text += &format!("  one core: {}\n", line(&c, peak_one)),
        Err(e) => text += &format!("  one core: no one-thread pool ({e})\n"),
    }
    let cores = if workers == 1 {
        "1 core".to_string()
    } else {
        format!("{workers} cores")
    };
    text += &format!("  {cores}: {}", line(&all_cores, peak_all));
    text
}

/// Seconds per architecture and peak memory of one space's probe (`bench
/// --space`): `n` distinct architectures drawn with seed 0 after one
/// warm-up, each probed on its own at `batch` Gaussian images of the
/// space's input size.
#[derive(Clone, Debug)]
pub struct SpaceBench {
    pub net: NetConfig,
    pub backend: BackendKind,
    pub proxies: Vec<&'static str>,
    pub archs: usize,
    pub batch: usize,
    pub median_seconds: f64,
    pub mean_phases: PhaseTimes,
    /// The process's memory high-water mark after the probes.
    pub peak_memory: Option<String>,
}

/// Probes `n` architectures of `net`'s space (see [`SpaceBench`]).
pub fn bench_space(
    net: &NetConfig,
    kind: BackendKind,
    n: usize,
    batch: usize,
    proxies: &[&ProxyInfo],
) -> Result<SpaceBench, String> {
    struct Probe<'a> {
        kind: BackendKind,
        n: usize,
        batch: usize,
        proxies: &'a [&'a ProxyInfo],
    }
    impl WithSpace for Probe<'_> {
        type Out = Result<(Vec<f64>, PhaseTimes), String>;
        fn run<S: ArchSpace>(self, space: &S) -> Self::Out {
            let backend = Backend::new(self.kind);
            let settings = space.config();
            let side = settings.image_size();
            let data = gaussian_batch(self.batch, [3, side, side], settings.num_classes(), 0);
            let needs = proxy::needs_of(self.proxies);
            let mut seconds = Vec::new();
            let mut sum = PhaseTimes::default();
            for (i, arch) in space.sample_distinct(self.n + 1, 0, None)?.iter().enumerate() {
                let (net, mut params) = space.build(arch);
                params.init(settings.settings().default_init(), arch_seed(0, &arch.to_string()));
                let t = Instant::now();
                let rec = probe(net.as_ref(), &params, &data, &backend, &ProbeSettings::default(), needs);
                if i == 0 {
                    continue; // warm-up
                }
                seconds.push(t.elapsed().as_secs_f64());
                sum.forward += rec.times.forward;
                sum.backward += rec.times.backward;
                sum.statistics += rec.times.statistics;
                sum.patterns += rec.times.patterns;
            }
            Ok((seconds, sum))
        }
    }
    net.validate()?;
    let (mut seconds, sum) = net.with(Probe {
        kind,
        n,
        batch,
        proxies,
    })?;
    let div = |d: Duration| d / n.max(1) as u32;
    Ok(SpaceBench {
        net: *net,
        backend: kind,
        proxies: proxies.iter().map(|p| p.name).collect(),
        archs: n,
        batch,
        median_seconds: median(&mut seconds),
        mean_phases: PhaseTimes {
            forward: div(sum.forward),
            backward: div(sum.backward),
            statistics: div(sum.statistics),
            patterns: div(sum.patterns),
        },
        peak_memory: crate::jobs::score::peak_memory(&Backend::new(kind)),
    })
}

impl std::fmt::Display for SpaceBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.mean_phases;
        writeln!(
            f,
            "backend {}: {} {} architectures at batch {}, proxies {}",
            self.backend.name(),
            self.archs,
            self.net.space(),
            self.batch,
            self.proxies.join(",")
        )?;
        writeln!(f, "  median {:.2} s/arch, one probe at a time", self.median_seconds)?;
        writeln!(
            f,
            "  mean phases: forward {:.2} s, backward {:.2} s, statistics {:.2} s, patterns {:.2} s",
            p.forward.as_secs_f64(),
            p.backward.as_secs_f64(),
            p.statistics.as_secs_f64(),
            p.patterns.as_secs_f64()
        )?;
        write!(
            f,
            "  peak memory: {}",
            self.peak_memory.as_deref().unwrap_or("not measurable here")
        )
    }
}

/// The smallest, median and largest of the 500 cells of Suite-Zero's
/// `zc_nasbench101.json` (0.29, 2.79 and 30.68 M parameters).
pub const NB101_BENCH_CELLS: [&str; 3] = [
    "(0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
     0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 2, 2, 2, 1)",
    "(0, 0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, \
     0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 3, 4, 3, 1)",
    "(0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, \
     0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 4, 4, 4, 1)",
];

/// One NB101 cell's probe: time by phase and the process's peak RSS.
#[derive(Clone, Debug)]
pub struct Nb101Bench {
    pub params: u64,
    /// Forward multiply-accumulates per image, in millions (Suite-Zero's `flops`).
    pub mmacs: f64,
    pub seconds: f64,
    pub phases: PhaseTimes,
    /// VmHWM after the probe, reset before it where the kernel allows
    /// (`/proc/self/clear_refs`), else the high-water so far.
    pub peak_mib: Option<f64>,
}

/// Probes full-size NB101 cells (128 stem channels, 3 x 3 cells, 32 x 32)
/// one after another at `batch` Gaussian images; `cells`: keys.
pub fn bench_nb101(
    kind: BackendKind,
    batch: usize,
    proxies: &[&ProxyInfo],
    cells: &[&str],
) -> Result<Vec<Nb101Bench>, String> {
    use crate::space::nb101::{Nb101Arch, Nb101Config, Nb101Net};
    let backend = Backend::new(kind);
    let data = gaussian_batch(batch, [3, 32, 32], 10, 0);
    let needs = proxy::needs_of(proxies);
    let hwm_mib = || crate::archive::proc_bytes("/proc/self/status", "VmHWM").map(|b| b as f64 / (1024.0 * 1024.0));
    cells
        .iter()
        .map(|key| {
            let arch = Nb101Arch::parse(key)?;
            let (net, mut params) = Nb101Net::new(&arch, Nb101Config::default());
            params.init(InitScheme::KaimingNormal, arch_seed(0, key));
            // "5" resets the peak RSS to the current RSS (Linux >= 4.0).
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let t = Instant::now();
            let rec = probe(&net, &params, &data, &backend, &ProbeSettings::default(), needs);
            Ok(Nb101Bench {
                params: rec.params,
                mmacs: rec.flops() as f64 / 1e6,
                seconds: t.elapsed().as_secs_f64(),
                phases: rec.times,
                peak_mib: hwm_mib(),
            })
        })
        .collect()
}

impl std::fmt::Display for Nb101Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.phases;
        write!(
            f,
            "NB101 cell {:.2} M params, {:.0} M MACs/image: {:.1} s (forward {:.1}, backward {:.1}, statistics {:.1}, \
             patterns {:.1}); peak RSS {}",
            self.params as f64 / 1e6,
            self.mmacs,
            self.seconds,
            p.forward.as_secs_f64(),
            p.backward.as_secs_f64(),
            p.statistics.as_secs_f64(),
            p.patterns.as_secs_f64(),
            self.peak_mib.map_or("unknown".to_string(), |m| format!("{m:.0} MiB"))
        )
    }
}
