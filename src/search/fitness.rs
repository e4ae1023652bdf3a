//! What a search maximises: one proxy, L-SWAG over a depth window, or a
//! LIBRA ensemble ranked among everything scored so far.

use serde::{Deserialize, Serialize};

use super::SearchError;
use crate::analysis::{Combination, LibraSettings, libra};
use crate::archive::Archive;
use crate::engine::profile::PERC_BINS;

/// One raw value a candidate is scored on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// A proxy column (higher = better, already sign-corrected).
    Proxy(String),
    /// `L-SWAG[a..b]` from the layer profile.
    Window { a: usize, b: usize },
}

impl Component {
    pub fn label(&self) -> String {
        match self {
            Component::Proxy(name) => name.clone(),
            Component::Window { a, b } => format!("L-SWAG[{a}-{b}]"),
        }
    }
}

/// The `--fitness` setting as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitnessSpec {
    Proxy(String),
    Window {
        a: usize,
        b: usize,
    },
    /// LIBRA picks the members on the archive's task (needs ground truth).
    LibraAuto,
    Ensemble(Vec<String>),
}

impl std::str::FromStr for FitnessSpec {
    type Err = SearchError;

    /// `lswag`, `lswag:A-B`, `libra`, `libra:P1,P2,P3` or a proxy name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = |why: &str| SearchError::Setting(format!("fitness `{s}`: {why}"));
        if let Some(window) = s.strip_prefix("lswag:") {
            let (a, b) = window
                .split_once('-')
                .ok_or_else(|| bad("expected lswag:A-B, e.g. lswag:3-8"))?;
            let (a, b): (usize, usize) = (
                a.trim().parse().map_err(|_| bad("window start is not a number"))?,
                b.trim().parse().map_err(|_| bad("window end is not a number"))?,
            );
            if !(1 <= a && a <= b && b <= PERC_BINS) {
                return Err(bad(&format!("window must satisfy 1 <= A <= B <= {PERC_BINS}")));
            }
            return Ok(FitnessSpec::Window { a, b });
        }
        if s == "libra" {
            return Ok(FitnessSpec::LibraAuto);
        }
        if let Some(list) = s.strip_prefix("libra:") {
            let members: Vec<String> = list
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            if members.is_empty() {
                return Err(bad("expected libra:P1,P2,... with at least one proxy"));
            }
            return Ok(FitnessSpec::Ensemble(members));
        }
        if s.is_empty() {
            return Err(bad("empty"));
        }
        Ok(FitnessSpec::Proxy(s.to_string()))
    }
}

impl std::fmt::Display for FitnessSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitnessSpec::Proxy(p) => f.write_str(p),
            FitnessSpec::Window { a, b } => write!(f, "lswag:{a}-{b}"),
            FitnessSpec::LibraAuto => f.write_str("libra"),
            FitnessSpec::Ensemble(m) => write!(f, "libra:{}", m.join(",")),
        }
    }
}

impl FitnessSpec {
    /// Resolves `libra` by running LIBRA on the archive's task; the other
    /// forms need nothing.
    pub fn resolve(&self, archive: Option<(&Archive, &str)>) -> Result<Fitness, SearchError> {
        let components = match self {
            FitnessSpec::Proxy(p) => vec![Component::Proxy(p.clone())],
            FitnessSpec::Window { a, b } => vec![Component::Window { a: *a, b: *b }],
            FitnessSpec::Ensemble(m) => m.iter().cloned().map(Component::Proxy).collect(),
            FitnessSpec::LibraAuto => {
                let (archive, task) = archive.ok_or_else(|| {
                    SearchError::Setting(
                        "fitness `libra` picks its members on a benchmark: give --archive and --task, or name them: libra:P1,P2,P3".into(),
                    )
                })?;
                let (table, _) = crate::analysis::table::proxy_table(archive, task)?;
                let result = libra(&table, &LibraSettings::default())
                    .map_err(|e| SearchError::Setting(format!("LIBRA on task {task}: {e}")))?;
                result.members.into_iter().map(Component::Proxy).collect()
            }
        };
        Ok(Fitness {
            components,
            combination: Combination::RankSum,
        })
    }
}

/// Turns raw component values into one fitness per candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fitness {
    pub components: Vec<Component>,
    pub combination: Combination,
}

impl Fitness {
    pub fn label(&self) -> String {
        match &self.components[..] {
            [one] => one.label(),
            many => format!(
                "{} of {}",
                self.combination.key().replace('_', " "),
                many.iter().map(Component::label).collect::<Vec<_>>().join(" + ")
            ),
        }
    }

    /// Fitness of every row of `raw` (rows x components). One component:
    /// its value. Several: the combination over the rows where every
    /// component is present; other rows get `NaN` (ranked last).
    pub fn values(&self, raw: &[Vec<f64>]) -> Vec<f64> {
        if self.components.len() == 1 {
            return raw.iter().map(|r| r.first().copied().unwrap_or(f64::NAN)).collect();
        }
        let complete: Vec<usize> = (0..raw.len())
            .filter(|&i| raw[i].iter().all(|v| v.is_finite()))
            .collect();
        let columns: Vec<Vec<f64>> = (0..self.components.len())
            .map(|j| complete.iter().map(|&i| raw[i][j]).collect())
            .collect();
        let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let combined = crate::analysis::libra::combine(&refs, self.combination);
        let mut out = vec![f64::NAN; raw.len()];
        for (&i, v) in complete.iter().zip(combined) {
            out[i] = v;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for s in ["lswag", "lswag:3-8", "libra", "libra:zico,nwot,params", "synflow"] {
            let spec: FitnessSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        assert_eq!(
            "lswag:2-5".parse::<FitnessSpec>().unwrap(),
            FitnessSpec::Window { a: 2, b: 5 }
        );
        for bad in ["lswag:5-2", "lswag:0-3", "lswag:3-11", "lswag:x", "libra:", ""] {
            assert!(bad.parse::<FitnessSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ensemble_fitness_is_the_rank_sum_among_complete_rows() {
        let fitness = FitnessSpec::Ensemble(vec!["a".into(), "b".into()])
            .resolve(None)
            .unwrap();
        // Ranks (1 = worst) of a over complete rows 0,1,3: 1,3,2; of b: 2,1,3.
        let raw = vec![vec![0.1, 5.0], vec![0.9, 1.0], vec![0.5, f64::NAN], vec![0.4, 7.0]];
        let v = fitness.values(&raw);
        assert_eq!(v[0], 3.0);
        assert_eq!(v[1], 4.0);
        assert!(v[2].is_nan());
        assert_eq!(v[3], 5.0);
        assert_eq!(fitness.label(), "rank sum of a + b");
    }

    #[test]
    fn libra_without_an_archive_asks_for_one() {
        let err = FitnessSpec::LibraAuto.resolve(None).unwrap_err().to_string();
        assert!(err.contains("--archive") && err.contains("--task"), "{err}");
    }
}
