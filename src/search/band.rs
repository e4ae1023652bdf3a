//! The random-search band: what random search with the same fitness and
//! budget returns, over many simulated runs on a scored pool. The live view
//! draws it behind the search's best-so-far curve.

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Fitness, argmax};

/// Per evaluation count k = 1..=budget: quantiles of the true accuracy of
/// random search's pick after k evaluations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub p10: Vec<f64>,
    pub median: Vec<f64>,
    pub p90: Vec<f64>,
    pub runs: usize,
}

/// Simulates `runs` random searches over the pool (`raw` components and
/// `truth` per pool member); `None` when the pool is empty.
pub fn random_band(
    raw: &[Vec<f64>],
    truth: &[f64],
    fitness: &Fitness,
    budget: usize,
    runs: usize,
    seed: u64,
) -> Option<Band> {
    let n = raw.len().min(truth.len());
    if n == 0 || budget == 0 || runs == 0 {
        return None;
    }
    let budget = budget.min(n);
    let single = fitness.components.len() == 1;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // picks[k][run]: truth of the pick after k + 1 evaluations.
    let mut picks = vec![Vec::with_capacity(runs); budget];
    for _ in 0..runs {
        let order = sample(&mut rng, n, budget).into_vec();
        let mut best: Option<usize> = None;
        for k in 0..budget {
            let pick = if single {
                let i = order[k];
                // Strictly better replaces: the earliest wins ties, as in a search.
                if best.is_none_or(|b| super::cmp_fitness(raw[i][0], raw[b][0]).is_gt()) {
                    best = Some(i);
                }
                best.unwrap_or(i)
            } else {
                let prefix: Vec<Vec<f64>> = order[..=k].iter().map(|&i| raw[i].clone()).collect();
                order[argmax(&fitness.values(&prefix)).unwrap_or(0)]
            };
            picks[k].push(truth[pick]);
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        let pos = p * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    let mut band = Band {
        runs,
        ..Band::default()
    };
    for mut v in picks {
        band.p10.push(q(&mut v, 0.1));
        band.median.push(q(&mut v, 0.5));
        band.p90.push(q(&mut v, 0.9));
    }
    Some(band)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::FitnessSpec;

    #[test]
    fn a_perfect_proxy_climbs_like_the_order_statistics_of_the_truth() {
        // Fitness = truth on 0..1000: after k draws the pick is the max of k
        // uniform draws without replacement; E[max] = (k/(k+1)) * 1001 - 1.
        let n = 1000;
        let truth: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let raw: Vec<Vec<f64>> = truth.iter().map(|&t| vec![t]).collect();
        let fitness = FitnessSpec::Proxy("p".into()).resolve(None).unwrap();
        let band = random_band(&raw, &truth, &fitness, 50, 4000, 7).unwrap();
        assert_eq!(band.median.len(), 50);
        // k = 1: uniform over 0..999, median 499.5.
        assert!((band.median[0] - 499.5).abs() < 25.0, "{}", band.median[0]);
        // k = 9: median of the max of 9 draws ~ 1000 * 0.5^(1/9) = 926.
        assert!((band.median[8] - 926.0).abs() < 8.0, "{}", band.median[8]);
        for k in 1..50 {
            assert!(band.median[k] >= band.median[k - 1]);
            assert!(band.p10[k] <= band.median[k] && band.median[k] <= band.p90[k]);
        }
    }

    #[test]
    fn a_useless_proxy_stays_at_the_pool_median() {
        // Constant fitness: the earliest draw is kept, so the pick is one
        // uniform draw whatever k is.
        let n = 500;
        let truth: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let raw = vec![vec![1.0]; n];
        let fitness = FitnessSpec::Proxy("p".into()).resolve(None).unwrap();
        let band = random_band(&raw, &truth, &fitness, 30, 3000, 1).unwrap();
        assert!((band.median[29] - 249.5).abs() < 20.0, "{}", band.median[29]);
    }
}
