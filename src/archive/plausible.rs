//! Ground truth that reads fine but cannot be right: a typo'd 1e6, a column
//! of one value, fractions mixed into percentages. Such values would still
//! be ranked, so the correlations would mislead without a word; the
//! commands print these findings once when they open a file.

use super::model::Archive;

/// Accuracies are at most 100 (percent); Suite-Zero's losses and scores
/// (TransNAS room_layout, autoencoder) stay far below this magnitude.
const LARGEST_PLAUSIBLE: f64 = 1e4;

/// One sentence per suspicious task, naming the task and the values.
pub fn implausible_truth(archive: &Archive) -> Vec<String> {
    let mut out = Vec::new();
    for task in archive.tasks() {
        let values: Vec<f64> = task.truth().iter().copied().filter(|v| v.is_finite()).collect();
        if values.len() < 2 {
            continue;
        }
        let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
        let name = task.name();
        if lo == hi {
            out.push(format!(
                "task {name}: all {} ground-truth values are {lo}; no proxy can be correlated with it",
                values.len()
            ));
        } else if lo.abs().max(hi.abs()) > LARGEST_PLAUSIBLE {
            let (row, v) = values
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map(|(i, v)| (i, *v))
                .unwrap_or_default();
            let key = task_key(archive, task.truth(), row);
            out.push(format!(
                "task {name}: ground truth {v} at {key} is implausible for an accuracy or a loss (values span {lo} to {hi})"
            ));
        } else if lo >= 0.0 && hi > 100.0 {
            out.push(format!(
                "task {name}: ground truth reaches {hi}, above 100; accuracies are percentages (at most 100) or fractions"
            ));
        } else if lo >= 0.0 && hi > 1.0 {
            // Fractions among percentages: a share far above the few
            // chance-level cells a benchmark has (NB201: 1% on CIFAR-100).
            let fractions = values.iter().filter(|&&v| v <= 1.0).count();
            if fractions * 5 >= values.len() {
                out.push(format!(
                    "task {name}: {fractions} of {} ground-truth values lie in 0..1 while others reach {hi}: \
                     fractions mixed with percentages?",
                    values.len()
                ));
            }
        }
    }
    out
}

/// The key of the `index`-th finite value of `truth`.
fn task_key(archive: &Archive, truth: &[f64], index: usize) -> String {
    truth
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .nth(index)
        .and_then(|(row, _)| archive.key(row))
        .map_or_else(|| format!("value {}", index + 1), |k| format!("architecture {k}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{CsvOptions, parse_csv};
    use crate::testdata::shared_data_dir;

    fn warnings(csv: &str) -> Vec<String> {
        implausible_truth(&parse_csv(csv.as_bytes(), "t.csv", &CsvOptions::default()).unwrap())
    }

    #[test]
    fn typos_constants_and_mixed_scales_are_named() {
        let w = warnings("arch,acc\na,91.5\nb,1e6\nc,88\n");
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("task acc") && w[0].contains("1000000") && w[0].contains("architecture b"),
            "{w:?}"
        );
        let w = warnings("arch,acc\na,120\nb,90\nc,88\n");
        assert!(w[0].contains("reaches 120"), "{w:?}");
        let w = warnings("arch,acc\na,70\nb,70\nc,70\n");
        assert!(w[0].contains("all 3 ground-truth values are 70"), "{w:?}");
        let w = warnings("arch,acc\na,0.91\nb,0.88\nc,93\nd,90\ne,92\n");
        assert!(w[0].contains("2 of 5") && w[0].contains("fractions"), "{w:?}");
        // Percentages, fractions and negative losses alone are fine.
        for ok in [
            "arch,acc\na,91.5\nb,0.8\nc,88\nd,90\ne,92\nf,93\n",
            "arch,acc\na,0.91\nb,0.88\n",
            "arch,loss\na,-0.61\nb,-0.55\n",
        ] {
            assert!(warnings(ok).is_empty(), "{ok}: {:?}", warnings(ok));
        }
    }

    #[test]
    fn no_shared_benchmark_file_is_flagged() {
        let Some(dir) = shared_data_dir() else { return };
        for file in [
            "suite_zero/zc_nasbench201.json",
            "suite_zero/zc_nasbench101.json",
            "suite_zero/zc_nasbench301.json",
            "suite_zero/zc_transbench101_micro.json",
            "suite_zero/zc_transbench101_macro.json",
            "nb201/nb201_accuracies.csv",
        ] {
            let a = crate::archive::open_any(&dir.join(file)).unwrap();
            assert_eq!(implausible_truth(&a), Vec::<String>::new(), "{file}");
        }
    }
}
