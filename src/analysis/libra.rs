//! LIBRA (paper Algorithm 1, SPEC.md): pick three complementary proxies and
//! combine them.
//!
//! 1. `rho_z = Spearman(z, y)` for every participating proxy; `z1 = argmax`.
//! 2. Candidates: `h != z1` with `rho_best - tol < rho_h <= rho_best`;
//!    `z2 = argmin IG(h | z1) = H(y | z1) - H(y | z1, h)`.
//! 3. Bias of a metric m: Pearson of rank(m) and rank(bias column), i.e.
//!    Spearman(m, bias). `z3 = argmin |b_y - b_h|` over the remaining
//!    candidates (bias matching).
//! 4. An empty pool falls back to the next-best proxies by rho (setting),
//!    and the result says so.
//!
//! Conventions (SPEC.md): every proxy is "higher is better" (the archive
//! layer negates the others before this point); a proxy missing on more
//! than `max_missing_fraction` of the task's architectures is left out and
//! listed; everything runs on the rows where the truth, the bias column and
//! every participating proxy are present (listwise). Ties in a choice go to
//! the higher rho, then to the earlier column.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::AnalysisError;
use super::info::{BinRule, Discretised, IgMatrix, conditional_entropy, discretise};
use super::ranks::{average_ranks, check_len, is_missing, spearman_core};

/// One task as LIBRA sees it: aligned columns, `NaN` = missing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyTable {
    pub names: Vec<String>,
    /// `columns[j][i]`: proxy j on architecture i, higher = predicted better.
    pub columns: Vec<Vec<f64>>,
    /// Ground truth per architecture (e.g. validation accuracy).
    pub truth: Vec<f64>,
    /// Per proxy: `Some(true)` needs gradients (grad_norm, snip, synflow,
    /// zico, L-SWAG, ...), `Some(false)` does not (nwot, params, flops,
    /// swap, zen, ...), `None` unknown. Only the ablations use it.
    pub gradient_based: Vec<Option<bool>>,
}

impl ProxyTable {
    /// Checks that every column, the names and the flags are aligned and
    /// that names are unique.
    pub fn validate(&self) -> Result<(), AnalysisError> {
        check_len("proxy table: names vs columns", self.names.len(), self.columns.len())?;
        check_len(
            "proxy table: names vs gradient_based",
            self.names.len(),
            self.gradient_based.len(),
        )?;
        for (name, column) in self.names.iter().zip(&self.columns) {
            check_len(
                &format!("proxy table: column {name:?} vs truth"),
                column.len(),
                self.truth.len(),
            )?;
        }
        for (i, name) in self.names.iter().enumerate() {
            if self.names[..i].contains(name) {
                return Err(AnalysisError::DuplicateProxy(name.clone()));
            }
        }
        Ok(())
    }

    /// Column index of a proxy.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// How the chosen proxies are combined into one score (the paper does not
/// say; SPEC.md offers three). Every rule is "higher is better".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combination {
    /// TE-NAS: sum of the average ranks (1 = worst).
    #[default]
    RankSum,
    /// AZ-NAS: sum of `ln(rank / N)` (0 for the best of each proxy).
    LogRank,
    /// Product of the min-max-normalised scores.
    MinMaxProduct,
}

impl Combination {
    pub const ALL: [Combination; 3] = [Combination::RankSum, Combination::LogRank, Combination::MinMaxProduct];

    /// The key used in JSON maps and tables.
    pub fn key(self) -> &'static str {
        match self {
            Combination::RankSum => "rank_sum",
            Combination::LogRank => "log_rank",
            Combination::MinMaxProduct => "minmax_product",
        }
    }
}

/// Combines complete columns (no missing values) of equal length.
///
/// Min-max product: a constant column normalises to 1 (neutral) and
/// infinities to 0 / 1, so the result is always finite.
pub fn combine(columns: &[&[f64]], rule: Combination) -> Vec<f64> {
    let n = columns.first().map_or(0, |c| c.len());
    let mut out = match rule {
        Combination::MinMaxProduct => vec![1.0; n],
        Combination::RankSum | Combination::LogRank => vec![0.0; n],
    };
    for column in columns {
        match rule {
            Combination::RankSum => {
                for (o, r) in out.iter_mut().zip(average_ranks(column)) {
                    *o += r;
                }
            }
            Combination::LogRank => {
                for (o, r) in out.iter_mut().zip(average_ranks(column)) {
                    *o += (r / n as f64).ln();
                }
            }
            Combination::MinMaxProduct => {
                let finite = column.iter().filter(|v| v.is_finite());
                let lo = finite.clone().fold(f64::INFINITY, |a, &b| a.min(b));
                let hi = finite.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                for (o, &v) in out.iter_mut().zip(column.iter()) {
                    *o *= if v == f64::INFINITY {
                        1.0
                    } else if v == f64::NEG_INFINITY {
                        0.0
                    } else if hi > lo {
                        (v - lo) / (hi - lo)
                    } else {
                        1.0
                    };
                }
            }
        }
    }
    out
}

/// LIBRA's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LibraSettings {
    /// Candidate window width: `rho_best - tol < rho_h` (paper: 0.1; 0.2 on
    /// two benchmarks).
    pub tol: f64,
    /// Column whose ranks define a proxy's bias (paper: parameter count).
    pub bias_column: String,
    /// Bins per variable for the entropies.
    pub bins: BinRule,
    /// A proxy missing on more than this share of the task's architectures
    /// is left out (SPEC: 10%).
    pub max_missing_fraction: f64,
    /// Proxies that take part; `None` = all in the table.
    pub include: Option<Vec<String>>,
    /// Proxies that never take part.
    pub exclude: Vec<String>,
    /// An empty candidate pool falls back to the next-best proxies by rho
    /// (SPEC); `false` leaves z2 / z3 empty instead.
    pub fallback: bool,
    /// Combination the ablation table scores with (the LIBRA result always
    /// reports all three).
    pub combination: Combination,
    /// Seed of the random strategies of the ablations.
    pub seed: u64,
}

impl Default for LibraSettings {
    fn default() -> Self {
        LibraSettings {
            tol: 0.1,
            bias_column: "params".to_string(),
            bins: BinRule::default(),
            max_missing_fraction: 0.1,
            include: None,
            exclude: Vec::new(),
            fallback: true,
            combination: Combination::default(),
            seed: 0,
        }
    }
}

impl LibraSettings {
    fn validate(&self) -> Result<(), AnalysisError> {
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(AnalysisError::BadSetting {
                what: "tol".to_string(),
                value: self.tol.to_string(),
                expected: "a finite tolerance >= 0".to_string(),
            });
        }
        if !(0.0..=1.0).contains(&self.max_missing_fraction) {
            return Err(AnalysisError::BadSetting {
                what: "max_missing_fraction".to_string(),
                value: self.max_missing_fraction.to_string(),
                expected: "0 <= fraction <= 1".to_string(),
            });
        }
        Ok(())
    }
}

/// Which rule put a proxy in the ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickRule {
    /// Highest Spearman rho (z1).
    BestRho,
    /// Lowest information gain over z1 among the candidates (z2).
    MinInfoGain,
    /// Highest information gain (ablation).
    MaxInfoGain,
    /// Seeded uniform draw from the pool (ablation).
    Random,
    /// Smallest |b_y - b_h| (z3).
    BiasMatching,
    /// Smallest |b_h| (ablation).
    BiasMinimisation,
    /// Best (or second-best) proxy of one gradient type by rho (ablation).
    GradientType,
    /// The pool was empty: next-best remaining proxy by rho.
    FallbackNextBestRho,
}

impl PickRule {
    pub fn describe(self) -> &'static str {
        match self {
            PickRule::BestRho => "best rho",
            PickRule::MinInfoGain => "min IG over z1",
            PickRule::MaxInfoGain => "max IG over z1",
            PickRule::Random => "random",
            PickRule::BiasMatching => "bias matching",
            PickRule::BiasMinimisation => "bias minimisation",
            PickRule::GradientType => "gradient type",
            PickRule::FallbackNextBestRho => "fallback: next-best rho",
        }
    }
}

/// A proxy as LIBRA weighed it. `ig` is over z1; `bias_gap = |b_y - b_h|`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyFacts {
    pub name: String,
    pub rho: f64,
    pub ig: Option<f64>,
    pub bias: Option<f64>,
    pub bias_gap: Option<f64>,
}

/// One chosen proxy and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    #[serde(flatten)]
    pub facts: ProxyFacts,
    pub rule: PickRule,
}

/// A proxy that did not take part because too much of it was missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeftOut {
    pub name: String,
    pub missing: usize,
    pub rows: usize,
}

/// Why LIBRA chose what it chose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reasons {
    pub z1: Pick,
    pub z2: Option<Pick>,
    pub z3: Option<Pick>,
    /// The candidate window `(rho_best - tol, rho_best]`.
    pub window: (f64, f64),
    /// Every candidate in the window with its rho, IG over z1 and bias.
    pub candidates: Vec<ProxyFacts>,
    /// Bias of the ground truth, `b_y`.
    pub truth_bias: Option<f64>,
    pub bias_column: String,
    /// Bins per variable and the rule that gave them.
    pub bins: usize,
    pub bin_rule: BinRule,
    /// Proxies that took part, in table order.
    pub participants: Vec<String>,
    /// Proxies left out for missing values.
    pub left_out: Vec<LeftOut>,
    /// Participants whose rho is undefined on the rows (constant there).
    pub undefined_rho: Vec<String>,
    /// Whether an empty pool made LIBRA fall back to rho order.
    pub fell_back: bool,
    /// Plain-language notes (fallbacks, missing bias, ...).
    pub notes: Vec<String>,
}

/// The single proxy with the best rho (= z1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestSingle {
    pub name: String,
    pub rho: f64,
}

/// LIBRA's answer for one task; serialises to the CLI's `--json` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibraResult {
    pub z1: String,
    pub z2: Option<String>,
    pub z3: Option<String>,
    /// Spearman rho of every participant (`null` when undefined).
    pub rho: BTreeMap<String, Option<f64>>,
    /// Rows used (truth, bias and every participant present).
    pub n: usize,
    /// Task rows not used.
    pub dropped: usize,
    /// The ensemble members, z1 first.
    pub members: Vec<String>,
    /// Spearman rho of the ensemble per combination rule (`rank_sum`,
    /// `log_rank`, `minmax_product`).
    pub ensemble: BTreeMap<String, Option<f64>>,
    pub best_single: BestSingle,
    pub reasons: Reasons,
    pub settings: LibraSettings,
}

/// The task restricted to LIBRA's rows, with everything the picks need.
struct Prepared {
    /// Participating proxies: names, complete columns, rho (None: undefined).
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
    rho: Vec<Option<f64>>,
    gradient_based: Vec<Option<bool>>,
    truth: Vec<f64>,
    truth_codes: Discretised,
    codes: Vec<Discretised>,
    bias: Vec<Option<f64>>,
    truth_bias: Option<f64>,
    bins: usize,
    n: usize,
    total: usize,
    left_out: Vec<LeftOut>,
    /// Index of z1 (best defined rho).
    z1: usize,
    /// Candidate window members (indices), table order.
    candidates: Vec<usize>,
    window: (f64, f64),
    h_given_z1: f64,
}

impl Prepared {
    fn new(table: &ProxyTable, settings: &LibraSettings) -> Result<Self, AnalysisError> {
        table.validate()?;
        settings.validate()?;
        let total = table.truth.len();
        for name in settings.include.iter().flatten().chain(&settings.exclude) {
            if table.index_of(name).is_none() {
                return Err(AnalysisError::UnknownProxy(name.clone()));
            }
        }
        if table.names.is_empty() {
            return Err(AnalysisError::NoProxies);
        }
        let bias_index = table
            .index_of(&settings.bias_column)
            .ok_or_else(|| AnalysisError::UnknownBiasColumn {
                name: settings.bias_column.clone(),
                available: table.names.join(", "),
            })?;
        let missing = |j: usize| table.columns[j].iter().filter(|v| is_missing(**v)).count();
        let too_many = |count: usize| count as f64 > settings.max_missing_fraction * total as f64;
        if too_many(missing(bias_index)) {
            return Err(AnalysisError::BiasColumnIncomplete {
                name: settings.bias_column.clone(),
                missing: missing(bias_index),
                rows: total,
                limit: settings.max_missing_fraction * 100.0,
            });
        }

        let mut participants = Vec::new();
        let mut left_out = Vec::new();
        for (j, name) in table.names.iter().enumerate() {
            let included = settings.include.as_ref().is_none_or(|inc| inc.contains(name));
            if !included || settings.exclude.contains(name) {
                continue;
            }
            let m = missing(j);
            if too_many(m) {
                left_out.push(LeftOut {
                    name: name.clone(),
                    missing: m,
                    rows: total,
                });
            } else {
                participants.push(j);
            }
        }
        if participants.is_empty() {
            return Err(AnalysisError::NoUsableProxy { n: 0 });
        }

        let rows: Vec<usize> = (0..total)
            .filter(|&i| {
                !is_missing(table.truth[i])
                    && !is_missing(table.columns[bias_index][i])
                    && participants.iter().all(|&j| !is_missing(table.columns[j][i]))
            })
            .collect();
        let n = rows.len();
        if n < 3 {
            return Err(AnalysisError::TooFewRows {
                what: "LIBRA (truth, bias and every participant present)".to_string(),
                needed: 3,
                found: n,
            });
        }
        let take = |col: &[f64]| rows.iter().map(|&i| col[i]).collect::<Vec<f64>>();
        let truth = take(&table.truth);
        let bias_values = take(&table.columns[bias_index]);
        let columns: Vec<Vec<f64>> = participants.iter().map(|&j| take(&table.columns[j])).collect();
        let rho: Vec<Option<f64>> = columns.iter().map(|c| spearman_core(c, &truth).ok()).collect();
        let bias: Vec<Option<f64>> = columns.iter().map(|c| spearman_core(c, &bias_values).ok()).collect();
        let truth_bias = spearman_core(&truth, &bias_values).ok();

        // z1: best defined rho, first in table order on ties.
        let mut z1: Option<usize> = None;
        for (k, r) in rho.iter().enumerate() {
            if let Some(r) = r
                && z1.and_then(|b| rho[b]).is_none_or(|best| *r > best)
            {
                z1 = Some(k);
            }
        }
        let z1 = z1.ok_or(AnalysisError::NoUsableProxy { n })?;
        let rho_best = rho[z1].unwrap_or(f64::NAN);
        let window = (rho_best - settings.tol, rho_best);
        let candidates: Vec<usize> = (0..columns.len())
            .filter(|&k| k != z1 && rho[k].is_some_and(|r| window.0 < r && r <= window.1))
            .collect();

        let bins = settings.bins.bins(n);
        let truth_codes = discretise(&truth, bins)?;
        let codes = columns
            .iter()
            .map(|c| discretise(c, bins))
            .collect::<Result<Vec<_>, _>>()?;
        let h_given_z1 = conditional_entropy(&truth_codes, &[&codes[z1]])?;
        Ok(Prepared {
            names: participants.iter().map(|&j| table.names[j].clone()).collect(),
            gradient_based: participants.iter().map(|&j| table.gradient_based[j]).collect(),
            columns,
            rho,
            truth,
            truth_codes,
            codes,
            bias,
            truth_bias,
            bins,
            n,
            total,
            left_out,
            z1,
            candidates,
            window,
            h_given_z1,
        })
    }

    /// `IG(h | z1)`.
    fn ig(&self, k: usize) -> Result<f64, AnalysisError> {
        Ok(self.h_given_z1 - conditional_entropy(&self.truth_codes, &[&self.codes[self.z1], &self.codes[k]])?)
    }

    fn bias_gap(&self, k: usize) -> Option<f64> {
        self.truth_bias.zip(self.bias[k]).map(|(by, bh)| (by - bh).abs())
    }

    fn facts(&self, k: usize) -> Result<ProxyFacts, AnalysisError> {
        Ok(ProxyFacts {
            name: self.names[k].clone(),
            rho: self.rho[k].unwrap_or(f64::NAN),
            ig: if k == self.z1 { None } else { Some(self.ig(k)?) },
            bias: self.bias[k],
            bias_gap: self.bias_gap(k),
        })
    }

    fn pick(&self, k: usize, rule: PickRule) -> Result<Pick, AnalysisError> {
        Ok(Pick {
            facts: self.facts(k)?,
            rule,
        })
    }

    /// The usable proxies (defined rho) not in `taken`, best rho first.
    fn by_rho_excluding(&self, taken: &[usize]) -> Vec<usize> {
        let mut rest: Vec<usize> = (0..self.names.len())
            .filter(|k| !taken.contains(k) && self.rho[*k].is_some())
            .collect();
        rest.sort_by(|&a, &b| {
            let (ra, rb) = (self.rho[a].unwrap_or(f64::NAN), self.rho[b].unwrap_or(f64::NAN));
            rb.total_cmp(&ra).then(a.cmp(&b))
        });
        rest
    }

    /// The member of `pool` with the smallest key (ignoring `None` keys);
    /// ties go to the higher rho, then the earlier column.
    fn argmin(
        &self,
        pool: &[usize],
        key: impl Fn(usize) -> Result<Option<f64>, AnalysisError>,
    ) -> Result<Option<usize>, AnalysisError> {
        let mut best: Option<(f64, usize)> = None;
        for &k in pool {
            let Some(v) = key(k)? else { continue };
            let better = match best {
                None => true,
                Some((bv, bk)) => {
                    v < bv || (v == bv && self.rho[k].unwrap_or(f64::NAN) > self.rho[bk].unwrap_or(f64::NAN))
                }
            };
            if better {
                best = Some((v, k));
            }
        }
        Ok(best.map(|(_, k)| k))
    }

    fn ensemble_rho(&self, members: &[usize], rule: Combination) -> Option<f64> {
        let columns: Vec<&[f64]> = members.iter().map(|&k| self.columns[k].as_slice()).collect();
        spearman_core(&combine(&columns, rule), &self.truth).ok()
    }

    fn undefined_rho(&self) -> Vec<String> {
        (0..self.names.len())
            .filter(|&k| self.rho[k].is_none())
            .map(|k| self.names[k].clone())
            .collect()
    }
}

fn fmt_rho(r: Option<f64>) -> String {
    r.map_or("undefined".to_string(), |r| format!("{r:.4}"))
}

/// Runs LIBRA (Algorithm 1) on one task.
pub fn libra(table: &ProxyTable, settings: &LibraSettings) -> Result<LibraResult, AnalysisError> {
    let prep = Prepared::new(table, settings)?;
    let mut notes = Vec::new();
    let mut fell_back = false;
    let z1 = prep.z1;
    let undefined_rho = prep.undefined_rho();
    if !undefined_rho.is_empty() {
        notes.push(format!(
            "rho undefined (constant on the {} rows), not considered: {}",
            prep.n,
            undefined_rho.join(", ")
        ));
    }

    // z2: least information gain over z1 among the candidates.
    let mut z2 = prep
        .argmin(&prep.candidates, |k| prep.ig(k).map(Some))?
        .map(|k| (k, PickRule::MinInfoGain));
    if z2.is_none() {
        let next = prep.by_rho_excluding(&[z1]).first().copied();
        let window = format!("({:.4}, {:.4}]", prep.window.0, prep.window.1);
        match next {
            Some(k) if settings.fallback => {
                fell_back = true;
                notes.push(format!(
                    "no candidate in the rho window {window} (tol {}): z2 falls back to the next-best proxy by rho, {} (rho {})",
                    settings.tol,
                    prep.names[k],
                    fmt_rho(prep.rho[k])
                ));
                z2 = Some((k, PickRule::FallbackNextBestRho));
            }
            _ => notes.push(format!(
                "no candidate in the rho window {window} (tol {}): no z2",
                settings.tol
            )),
        }
    }

    // z3: bias matching among the remaining candidates.
    let taken: Vec<usize> = std::iter::once(z1).chain(z2.map(|(k, _)| k)).collect();
    let pool: Vec<usize> = prep.candidates.iter().copied().filter(|k| !taken.contains(k)).collect();
    if prep.truth_bias.is_none() && !pool.is_empty() {
        notes.push(format!(
            "bias of the ground truth against {:?} is undefined; bias matching impossible",
            settings.bias_column
        ));
    }
    let mut z3 = prep
        .argmin(&pool, |k| Ok(prep.bias_gap(k)))?
        .map(|k| (k, PickRule::BiasMatching));
    if z3.is_none() && z2.is_some() {
        let next = prep.by_rho_excluding(&taken).first().copied();
        let why = if pool.is_empty() {
            "no candidate left after z2"
        } else {
            "no candidate with a defined bias gap"
        };
        match next {
            Some(k) if settings.fallback => {
                fell_back = true;
                notes.push(format!(
                    "{why}: z3 falls back to the next-best proxy by rho, {} (rho {})",
                    prep.names[k],
                    fmt_rho(prep.rho[k])
                ));
                z3 = Some((k, PickRule::FallbackNextBestRho));
            }
            Some(_) => notes.push(format!("{why}: no z3")),
            None => notes.push(format!("{why} and no other proxy left: no z3")),
        }
    }

    let members: Vec<usize> = std::iter::once(z1)
        .chain(z2.map(|(k, _)| k))
        .chain(z3.map(|(k, _)| k))
        .collect();
    let ensemble = Combination::ALL
        .iter()
        .map(|&rule| (rule.key().to_string(), prep.ensemble_rho(&members, rule)))
        .collect();
    let candidates = prep
        .candidates
        .iter()
        .map(|&k| prep.facts(k))
        .collect::<Result<Vec<_>, _>>()?;
    let reasons = Reasons {
        z1: prep.pick(z1, PickRule::BestRho)?,
        z2: z2.map(|(k, rule)| prep.pick(k, rule)).transpose()?,
        z3: z3.map(|(k, rule)| prep.pick(k, rule)).transpose()?,
        window: prep.window,
        candidates,
        truth_bias: prep.truth_bias,
        bias_column: settings.bias_column.clone(),
        bins: prep.bins,
        bin_rule: settings.bins,
        participants: prep.names.clone(),
        left_out: prep.left_out.clone(),
        undefined_rho,
        fell_back,
        notes,
    };
    Ok(LibraResult {
        z1: prep.names[z1].clone(),
        z2: z2.map(|(k, _)| prep.names[k].clone()),
        z3: z3.map(|(k, _)| prep.names[k].clone()),
        rho: prep.names.iter().cloned().zip(prep.rho.iter().copied()).collect(),
        n: prep.n,
        dropped: prep.total - prep.n,
        members: members.iter().map(|&k| prep.names[k].clone()).collect(),
        ensemble,
        best_single: BestSingle {
            name: prep.names[z1].clone(),
            rho: prep.rho[z1].unwrap_or(f64::NAN),
        },
        reasons,
        settings: settings.clone(),
    })
}

/// The IG matrix of LIBRA's participants on LIBRA's rows and bins (see
/// `info::ig_matrix` for the layout), so a heatmap shows exactly what LIBRA
/// weighed.
pub fn libra_ig_matrix(table: &ProxyTable, settings: &LibraSettings) -> Result<IgMatrix, AnalysisError> {
    let prep = Prepared::new(table, settings)?;
    let k = prep.names.len();
    let mut values = vec![vec![0.0; k]; k];
    for (i, row) in values.iter_mut().enumerate() {
        let h_given_i = conditional_entropy(&prep.truth_codes, &[&prep.codes[i]])?;
        for (j, cell) in row.iter_mut().enumerate() {
            if i != j {
                *cell = h_given_i - conditional_entropy(&prep.truth_codes, &[&prep.codes[i], &prep.codes[j]])?;
            }
        }
    }
    Ok(IgMatrix {
        names: prep.names.clone(),
        values,
        n: prep.n,
        dropped: prep.total - prep.n,
        bins: prep.bins,
    })
}

/// How the second proxy (or the pair) is chosen in the ablations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Z2Strategy {
    /// LIBRA: z1, then the candidate with the least IG over z1.
    MinInfoGain,
    /// z1, then the candidate with the most IG.
    MaxInfoGain,
    /// z1, then a seeded random candidate.
    Random,
    /// The two best gradient-free proxies by rho (z1 replaced too).
    TwoGradientFree,
    /// The two best gradient-based proxies by rho.
    TwoGradientBased,
    /// The best gradient-free and the best gradient-based proxy.
    FreeAndBased,
}

impl Z2Strategy {
    pub const ALL: [Z2Strategy; 6] = [
        Z2Strategy::MinInfoGain,
        Z2Strategy::MaxInfoGain,
        Z2Strategy::Random,
        Z2Strategy::TwoGradientFree,
        Z2Strategy::TwoGradientBased,
        Z2Strategy::FreeAndBased,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Z2Strategy::MinInfoGain => "min IG",
            Z2Strategy::MaxInfoGain => "max IG",
            Z2Strategy::Random => "random",
            Z2Strategy::TwoGradientFree => "two gradient-free",
            Z2Strategy::TwoGradientBased => "two gradient-based",
            Z2Strategy::FreeAndBased => "free + based",
        }
    }
}

/// How the third proxy is chosen in the ablations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Z3Strategy {
    /// Two proxies only.
    None,
    /// Seeded random member of the pool.
    Random,
    /// Smallest |b_h|: the pool member least tied to the bias column.
    BiasMinimisation,
    /// LIBRA: smallest |b_y - b_h|.
    BiasMatching,
}

impl Z3Strategy {
    pub const ALL: [Z3Strategy; 4] = [
        Z3Strategy::None,
        Z3Strategy::Random,
        Z3Strategy::BiasMinimisation,
        Z3Strategy::BiasMatching,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Z3Strategy::None => "none",
            Z3Strategy::Random => "random",
            Z3Strategy::BiasMinimisation => "bias min.",
            Z3Strategy::BiasMatching => "bias matching",
        }
    }
}

/// One cell of the ablation table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AblationCell {
    pub z2: Z2Strategy,
    pub z3: Z3Strategy,
    /// The proxies combined, in pick order.
    pub members: Vec<String>,
    /// Spearman rho of their combination; `None` when the strategy could not
    /// be filled (see `note`).
    pub rho: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The paper's Table 4: z2 strategies x z3 strategies -> rho.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AblationTable {
    pub combination: Combination,
    pub n: usize,
    pub seed: u64,
    /// Row-major: `Z2Strategy::ALL` x `Z3Strategy::ALL`.
    pub cells: Vec<AblationCell>,
}

impl AblationTable {
    pub fn get(&self, z2: Z2Strategy, z3: Z3Strategy) -> Option<&AblationCell> {
        self.cells.iter().find(|c| c.z2 == z2 && c.z3 == z3)
    }
}

/// The paper's Table 4 ablations, scored with `settings.combination` on
/// LIBRA's rows.
///
/// - Candidates are LIBRA's window around the overall best rho.
/// - IG and random z2 strategies keep z1 and choose the second proxy from the
///   candidates. The gradient-type strategies choose the *pair* by rho
///   within the type, from every participant: `gradient_based` = `Some(false)`
///   is gradient-free, `Some(true)` gradient-based, `None` is in neither.
/// - z3 comes from the candidates not already chosen. An empty pool falls
///   back to the next-best remaining proxy by rho (with a note) when
///   `settings.fallback`.
/// - Random picks are seeded: z2 draws with ChaCha8 seeded `seed`, z3 with
///   `seed + 1`, one draw per cell; rerun with other seeds to see spread.
pub fn ablations(table: &ProxyTable, settings: &LibraSettings) -> Result<AblationTable, AnalysisError> {
    let prep = Prepared::new(table, settings)?;
    let mut cells = Vec::new();
    for z2 in Z2Strategy::ALL {
        let mut notes: Vec<String> = Vec::new();
        let pair = ablation_pair(&prep, settings, z2, &mut notes)?;
        for z3 in Z3Strategy::ALL {
            let mut cell_notes = notes.clone();
            let members = match &pair {
                None => Vec::new(),
                Some(pair) => {
                    let mut members = pair.clone();
                    if let Some(k) = ablation_third(&prep, settings, z3, &members, &mut cell_notes)? {
                        members.push(k);
                    }
                    members
                }
            };
            let rho = if pair.is_some() {
                prep.ensemble_rho(&members, settings.combination)
            } else {
                None
            };
            cells.push(AblationCell {
                z2,
                z3,
                members: members.iter().map(|&k| prep.names[k].clone()).collect(),
                rho,
                note: (!cell_notes.is_empty()).then(|| cell_notes.join("; ")),
            });
        }
    }
    Ok(AblationTable {
        combination: settings.combination,
        n: prep.n,
        seed: settings.seed,
        cells,
    })
}

/// The first two members for a z2 strategy, `None` when it cannot be met.
fn ablation_pair(
    prep: &Prepared,
    settings: &LibraSettings,
    strategy: Z2Strategy,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<usize>>, AnalysisError> {
    let z1 = prep.z1;
    let of_type = |flag: bool| -> Vec<usize> {
        prep.by_rho_excluding(&[])
            .into_iter()
            .filter(|&k| prep.gradient_based[k] == Some(flag))
            .collect()
    };
    let second = match strategy {
        Z2Strategy::MinInfoGain => prep.argmin(&prep.candidates, |k| prep.ig(k).map(Some))?,
        Z2Strategy::MaxInfoGain => prep.argmin(&prep.candidates, |k| prep.ig(k).map(|v| Some(-v)))?,
        Z2Strategy::Random => prep
            .candidates
            .choose(&mut ChaCha8Rng::seed_from_u64(settings.seed))
            .copied(),
        Z2Strategy::TwoGradientFree | Z2Strategy::TwoGradientBased => {
            let flag = strategy == Z2Strategy::TwoGradientBased;
            let typed = of_type(flag);
            if typed.len() < 2 {
                let kind = if flag { "gradient-based" } else { "gradient-free" };
                notes.push(format!("fewer than two {kind} proxies with a defined rho"));
                return Ok(None);
            }
            return Ok(Some(typed[..2].to_vec()));
        }
        Z2Strategy::FreeAndBased => {
            let (free, based) = (of_type(false), of_type(true));
            return Ok(match (free.first(), based.first()) {
                (Some(&f), Some(&b)) => {
                    // Better rho first, like z1 before z2.
                    let pair = if prep.rho[f] >= prep.rho[b] {
                        vec![f, b]
                    } else {
                        vec![b, f]
                    };
                    Some(pair)
                }
                _ => {
                    notes.push("needs one gradient-free and one gradient-based proxy".to_string());
                    None
                }
            });
        }
    };
    match second {
        Some(k) => Ok(Some(vec![z1, k])),
        None => match prep.by_rho_excluding(&[z1]).first() {
            Some(&k) if settings.fallback => {
                notes.push(format!("no candidate: z2 = next-best by rho ({})", prep.names[k]));
                Ok(Some(vec![z1, k]))
            }
            _ => {
                notes.push("no candidate for z2".to_string());
                Ok(None)
            }
        },
    }
}

/// The third member for a z3 strategy.
fn ablation_third(
    prep: &Prepared,
    settings: &LibraSettings,
    strategy: Z3Strategy,
    members: &[usize],
    notes: &mut Vec<String>,
) -> Result<Option<usize>, AnalysisError> {
    if strategy == Z3Strategy::None {
        return Ok(None);
    }
    let pool: Vec<usize> = prep
        .candidates
        .iter()
        .copied()
        .filter(|k| !members.contains(k))
        .collect();
    let third = match strategy {
        Z3Strategy::None => None,
        Z3Strategy::Random => pool
            .choose(&mut ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(1)))
            .copied(),
        Z3Strategy::BiasMinimisation => prep.argmin(&pool, |k| Ok(prep.bias[k].map(f64::abs)))?,
        Z3Strategy::BiasMatching => prep.argmin(&pool, |k| Ok(prep.bias_gap(k)))?,
    };
    if third.is_some() {
        return Ok(third);
    }
    match prep.by_rho_excluding(members).first() {
        Some(&k) if settings.fallback => {
            notes.push(format!("no candidate: z3 = next-best by rho ({})", prep.names[k]));
            Ok(Some(k))
        }
        _ => {
            notes.push("no candidate for z3".to_string());
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: Option<f64>, want: f64) {
        let got = got.expect("defined");
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    /// The LCG of the python reference: s = (1664525 s + 1013904223) mod
    /// 2^32, u = s / 2^32.
    fn lcg(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = (1664525 * s + 1013904223) % (1 << 32);
                s as f64 / 4294967296.0
            })
            .collect()
    }

    /// The task the python reference was run on (n = 150): u_k = lcg(k, 150);
    /// y = u1 + 0.6 u2 + 0.3 u3, NaN where i % 37 == 5; params = u1 + 0.5 u4
    /// (NaN where i % 53 == 11); flops = params + 0.1 u6; a = u1 + 0.3 u2
    /// (NaN where i % 41 == 7); b = u1 + 0.6 u2 + 0.5 u5; c = u1 + 0.6 u2 +
    /// 0.4 u4; d = u3; e = u1 + 0.2 u3 (NaN where i % 5 == 0, 20%: left
    /// out); f = floor(4 u1 + 2 u2) (ties).
    fn task() -> ProxyTable {
        let n = 150;
        let u: Vec<Vec<f64>> = (0..8).map(|k| lcg(k, n)).collect();
        let col = |f: &dyn Fn(usize) -> f64, gap: &dyn Fn(usize) -> bool| -> Vec<f64> {
            (0..n).map(|i| if gap(i) { f64::NAN } else { f(i) }).collect()
        };
        let none = |_: usize| false;
        let params_clean: Vec<f64> = (0..n).map(|i| u[1][i] + 0.5 * u[4][i]).collect();
        let columns = vec![
            col(&|i| params_clean[i], &|i| i % 53 == 11),
            col(&|i| params_clean[i] + 0.1 * u[6][i], &none),
            col(&|i| u[1][i] + 0.3 * u[2][i], &|i| i % 41 == 7),
            col(&|i| u[1][i] + 0.6 * u[2][i] + 0.5 * u[5][i], &none),
            col(&|i| u[1][i] + 0.6 * u[2][i] + 0.4 * u[4][i], &none),
            col(&|i| u[3][i], &none),
            col(&|i| u[1][i] + 0.2 * u[3][i], &|i| i % 5 == 0),
            col(&|i| (4.0 * u[1][i] + 2.0 * u[2][i]).floor(), &none),
        ];
        ProxyTable {
            names: ["params", "flops", "a", "b", "c", "d", "e", "f"]
                .map(String::from)
                .to_vec(),
            columns,
            truth: col(&|i| u[1][i] + 0.6 * u[2][i] + 0.3 * u[3][i], &|i| i % 37 == 5),
            gradient_based: vec![
                Some(false),
                Some(false),
                Some(true),
                Some(true),
                Some(false),
                Some(false),
                Some(true),
                Some(true),
            ],
        }
    }

    #[test]
    fn libra_matches_the_independent_python_reference() {
        // An independent python LIBRA on the same table: scipy 1.17
        // spearmanr / rankdata, numpy 2.4 histogramdd entropies with
        // round(1 + 3.322 ln 139) = 17 bins per variable.
        let result = libra(&task(), &LibraSettings::default()).unwrap();
        assert_eq!((result.n, result.dropped), (139, 11));
        assert_eq!(result.reasons.bins, 17);
        assert_eq!(
            result.reasons.left_out,
            vec![LeftOut {
                name: "e".into(),
                missing: 30,
                rows: 150
            }]
        );
        assert_eq!(
            result.reasons.participants,
            ["params", "flops", "a", "b", "c", "d", "f"]
        );
        let want_rho = [
            ("params", 0.7666160239510253),
            ("flops", 0.7732695830912908),
            ("a", 0.9462665892131016),
            ("b", 0.8946914518074979),
            ("c", 0.9151481299432502),
            ("d", 0.17402922382590819),
            ("f", 0.94545825408347),
        ];
        for (name, rho) in want_rho {
            close(result.rho[name], rho);
        }
        assert!(!result.rho.contains_key("e"));

        assert_eq!(
            (result.z1.as_str(), result.z2.as_deref(), result.z3.as_deref()),
            ("a", Some("f"), Some("b"))
        );
        let r = &result.reasons;
        assert_eq!(
            r.candidates.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["b", "c", "f"]
        );
        close(r.truth_bias, 0.7666160239510253);
        let facts = |name: &str| r.candidates.iter().find(|c| c.name == name).unwrap();
        close(facts("b").ig, 0.8200974895203244);
        close(facts("c").ig, 0.8244886742551412);
        close(facts("f").ig, 0.22374837458413932);
        close(facts("b").bias, 0.7055006926136109);
        close(facts("c").bias, 0.8783368336386789);
        close(facts("b").bias_gap, 0.7666160239510253 - 0.7055006926136109);
        assert_eq!(r.z1.rule, PickRule::BestRho);
        assert_eq!(r.z2.as_ref().unwrap().rule, PickRule::MinInfoGain);
        assert_eq!(r.z3.as_ref().unwrap().rule, PickRule::BiasMatching);
        close(r.z1.facts.bias, 0.8661602395102549);
        assert!(!r.fell_back);

        close(result.ensemble["rank_sum"], 0.9510240928834162);
        close(result.ensemble["log_rank"], 0.9505831359756914);
        close(result.ensemble["minmax_product"], 0.9528866864443516);
        assert_eq!(result.best_single.name, "a");
        assert_eq!(result.members, ["a", "f", "b"]);
    }

    #[test]
    fn an_empty_candidate_window_falls_back_to_rho_order_and_says_so() {
        // a (0.94627) and f (0.94546) are 0.0008 apart: tol 0.0005 leaves the
        // window empty. The reference's rho order is a, f, c, b; ensemble
        // of a, f, c: 0.9568485337459256 / 0.959065372744435 /
        // 0.9588079713669048.
        let settings = LibraSettings {
            tol: 0.0005,
            ..LibraSettings::default()
        };
        let result = libra(&task(), &settings).unwrap();
        assert!(result.reasons.candidates.is_empty());
        assert_eq!(
            (result.z1.as_str(), result.z2.as_deref(), result.z3.as_deref()),
            ("a", Some("f"), Some("c"))
        );
        assert!(result.reasons.fell_back);
        assert_eq!(result.reasons.z2.as_ref().unwrap().rule, PickRule::FallbackNextBestRho);
        assert_eq!(result.reasons.z3.as_ref().unwrap().rule, PickRule::FallbackNextBestRho);
        assert!(
            result
                .reasons
                .notes
                .iter()
                .any(|n| n.contains("no candidate") && n.contains("falls back"))
        );
        close(result.ensemble["rank_sum"], 0.9568485337459256);
        close(result.ensemble["log_rank"], 0.959065372744435);
        close(result.ensemble["minmax_product"], 0.9588079713669048);

        // Without the fallback LIBRA returns z1 alone and says why.
        let strict = LibraSettings {
            fallback: false,
            ..settings
        };
        let result = libra(&task(), &strict).unwrap();
        assert_eq!((result.z2.as_deref(), result.z3.as_deref()), (None, None));
        assert_eq!(result.members, ["a"]);
        close(result.ensemble["rank_sum"], 0.9462665892131016);
        assert!(result.reasons.notes.iter().any(|n| n.contains("no z2")));
    }

    #[test]
    fn the_json_has_the_cli_fields_with_null_for_a_missing_z3() {
        let settings = LibraSettings {
            tol: 0.0005,
            fallback: false,
            ..LibraSettings::default()
        };
        let result = libra(&task(), &settings).unwrap();
        let json: serde_json::Value = serde_json::to_value(&result).unwrap();
        for field in ["z1", "z2", "z3", "rho", "n", "ensemble", "reasons"] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert_eq!(json["z1"], "a");
        assert!(json["z3"].is_null());
        assert_eq!(json["n"], 139);
        assert!(json["ensemble"]["rank_sum"].is_number());
        let back: LibraResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, result);
    }

    #[test]
    fn participation_settings_and_bad_input() {
        let table = task();
        // Excluding z1 promotes the next best.
        let settings = LibraSettings {
            exclude: vec!["a".into()],
            ..LibraSettings::default()
        };
        let result = libra(&table, &settings).unwrap();
        assert_eq!(result.z1, "f");
        assert!(!result.rho.contains_key("a"));
        // Only two participants: z3 has nowhere to come from.
        let settings = LibraSettings {
            include: Some(vec!["a".into(), "d".into()]),
            ..LibraSettings::default()
        };
        let result = libra(&table, &settings).unwrap();
        assert_eq!(
            (result.z1.as_str(), result.z2.as_deref(), result.z3),
            ("a", Some("d"), None)
        );
        assert!(result.reasons.notes.iter().any(|n| n.contains("no other proxy left")));
        // Without a's gaps more rows survive.
        assert_eq!(result.n, 139);

        let unknown = LibraSettings {
            bias_column: "size".into(),
            ..LibraSettings::default()
        };
        let e = libra(&table, &unknown).unwrap_err();
        assert!(
            matches!(&e, AnalysisError::UnknownBiasColumn { name, .. } if name == "size"),
            "{e}"
        );
        assert!(
            e.to_string().contains("--bias") && e.to_string().contains(&table.names.join(", ")),
            "{e}"
        );
        let mut gappy = table.clone();
        // Rows 0..40 plus the 64 and 117 already missing: 42 of 150.
        for v in gappy.columns[0].iter_mut().take(40) {
            *v = f64::NAN;
        }
        assert!(matches!(
            libra(&gappy, &LibraSettings::default()),
            Err(AnalysisError::BiasColumnIncomplete { missing: 42, .. })
        ));
        let mut dup = table.clone();
        dup.names[1] = "params".into();
        assert_eq!(
            libra(&dup, &LibraSettings::default()),
            Err(AnalysisError::DuplicateProxy("params".into()))
        );
        let mut short = table.clone();
        short.columns[3].pop();
        assert!(matches!(
            libra(&short, &LibraSettings::default()),
            Err(AnalysisError::LengthMismatch { .. })
        ));
        let bad_tol = LibraSettings {
            tol: -1.0,
            ..LibraSettings::default()
        };
        assert!(libra(&table, &bad_tol).is_err());
    }

    #[test]
    fn the_ig_matrix_uses_libras_participants_rows_and_bins() {
        let table = task();
        let m = libra_ig_matrix(&table, &LibraSettings::default()).unwrap();
        assert_eq!(m.names, ["params", "flops", "a", "b", "c", "d", "f"]);
        assert_eq!((m.n, m.dropped, m.bins), (139, 11, 17));
        // Row z1 = a holds the IGs LIBRA reported (python reference).
        let a = 2;
        assert!((m.values[a][3] - 0.8200974895203244).abs() < 1e-12);
        assert!((m.values[a][6] - 0.22374837458413932).abs() < 1e-12);
        // Same numbers as info::ig_matrix on those columns (whose listwise
        // rows equal LIBRA's here, params being a participant).
        let columns: Vec<&[f64]> = [0, 1, 2, 3, 4, 5, 7]
            .iter()
            .map(|&j| table.columns[j].as_slice())
            .collect();
        let plain = crate::analysis::info::ig_matrix(&m.names, &columns, &table.truth, BinRule::SuiteZero).unwrap();
        assert_eq!(plain.values, m.values);
    }

    #[test]
    fn a_constant_proxy_is_reported_and_never_chosen() {
        let mut table = task();
        table.names.push("flat".into());
        table.columns.push(vec![1.0; 150]);
        table.gradient_based.push(None);
        let result = libra(&table, &LibraSettings::default()).unwrap();
        assert_eq!(result.rho["flat"], None);
        assert_eq!(result.reasons.undefined_rho, ["flat"]);
        assert_eq!(result.members, ["a", "f", "b"]);
    }

    #[test]
    fn combination_rules_match_hand_computation() {
        let x = [3.0, 1.0, 2.0, 2.0];
        let y = [10.0, 30.0, 20.0, 40.0];
        // Average ranks: x [4, 1, 2.5, 2.5], y [1, 3, 2, 4].
        assert_eq!(combine(&[&x, &y], Combination::RankSum), vec![5.0, 4.0, 4.5, 6.5]);
        let log = combine(&[&x, &y], Combination::LogRank);
        let want = [
            (1.0f64 / 4.0).ln(),
            (1.0f64 / 4.0).ln() + (3.0f64 / 4.0).ln(),
            (2.5f64 / 4.0).ln() + (2.0f64 / 4.0).ln(),
            (2.5f64 / 4.0).ln(),
        ];
        for (g, w) in log.iter().zip(want) {
            assert!((g - w).abs() < 1e-15);
        }
        // Min-max: x -> [1, 0, 0.5, 0.5], y -> [0, 2/3, 1/3, 1].
        let product = combine(&[&x, &y], Combination::MinMaxProduct);
        let want = [0.0, 0.0, 0.5 / 3.0, 0.5];
        for (g, w) in product.iter().zip(want) {
            assert!((g - w).abs() < 1e-15);
        }
        assert_eq!(
            combine(&[&[f64::NEG_INFINITY, 0.0, f64::INFINITY]], Combination::MinMaxProduct),
            vec![0.0, 1.0, 1.0]
        );
    }

    #[test]
    fn ablations_match_the_reference_and_libra() {
        let table = task();
        let settings = LibraSettings::default();
        let ab = ablations(&table, &settings).unwrap();
        assert_eq!(ab.cells.len(), 24);
        let cell = |z2, z3| ab.get(z2, z3).unwrap();
        // The LIBRA cell is LIBRA (rank sum).
        let libra_cell = cell(Z2Strategy::MinInfoGain, Z3Strategy::BiasMatching);
        assert_eq!(libra_cell.members, ["a", "f", "b"]);
        close(libra_cell.rho, 0.9510240928834162);
        // The python reference, rank sum, with the ablation mapping documented
        // on `ablations`:
        let check = |z2, z3, members: &[&str], rho: f64| {
            let c = cell(z2, z3);
            assert_eq!(c.members, members, "{z2:?} / {z3:?}");
            close(c.rho, rho);
        };
        check(
            Z2Strategy::MinInfoGain,
            Z3Strategy::None,
            &["a", "f"],
            0.953121229724295,
        );
        check(
            Z2Strategy::MaxInfoGain,
            Z3Strategy::None,
            &["a", "c"],
            0.9511515292179051,
        );
        check(
            Z2Strategy::TwoGradientFree,
            Z3Strategy::BiasMinimisation,
            &["c", "flops", "b"],
            0.9173041865092368,
        );
        check(
            Z2Strategy::TwoGradientBased,
            Z3Strategy::BiasMatching,
            &["a", "f", "b"],
            0.9510240928834162,
        );
        check(
            Z2Strategy::FreeAndBased,
            Z3Strategy::None,
            &["a", "c"],
            0.9511515292179051,
        );

        // Random picks come from the candidates, are reproducible, and a
        // different seed may pick differently but stays in the pool.
        for seed in 0..5 {
            let s = LibraSettings {
                seed,
                ..LibraSettings::default()
            };
            let a = ablations(&table, &s).unwrap();
            assert_eq!(a, ablations(&table, &s).unwrap());
            let c = a.get(Z2Strategy::Random, Z3Strategy::Random).unwrap();
            assert_eq!(c.members[0], "a");
            assert!(["b", "c", "f"].contains(&c.members[1].as_str()));
            assert!(["b", "c", "f"].contains(&c.members[2].as_str()));
            assert_ne!(c.members[1], c.members[2]);
        }

        // A type with fewer than two proxies leaves its row empty, with a
        // note.
        let mut untyped = table.clone();
        untyped.gradient_based = vec![None; 8];
        untyped.gradient_based[2] = Some(true);
        let a = ablations(&untyped, &settings).unwrap();
        let c = a.get(Z2Strategy::TwoGradientBased, Z3Strategy::None).unwrap();
        assert_eq!((c.rho, c.members.len()), (None, 0));
        assert!(c.note.as_deref().unwrap_or("").contains("gradient-based"));
        assert!(a.get(Z2Strategy::FreeAndBased, Z3Strategy::None).unwrap().rho.is_none());
    }
}
