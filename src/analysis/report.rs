//! Plain-text tables for the CLI (`windows`, `libra`): pure strings, no
//! terminal codes, so the output pipes and diffs cleanly.

use std::fmt::Write;

use super::libra::{AblationTable, LibraResult, Pick, Z2Strategy, Z3Strategy};
use super::ranks::Correlation;
use super::windows::{IntensitySeries, WindowReport};
use crate::engine::profile::PERC_BINS;

/// Column alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table of strings rendered with padded columns, a rule under the
/// header and two spaces between columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextTable {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl TextTable {
    /// First column left-aligned, the others right-aligned (numbers).
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Self {
        let align = (0..headers.len())
            .map(|i| if i == 0 { Align::Left } else { Align::Right })
            .collect();
        TextTable {
            headers: headers.iter().map(|h| h.as_ref().to_string()).collect(),
            align,
            rows: Vec::new(),
        }
    }

    /// Sets the alignment of column `column` (ignored if out of range).
    pub fn with_align(mut self, column: usize, align: Align) -> Self {
        if let Some(a) = self.align.get_mut(column) {
            *a = align;
        }
        self
    }

    /// Appends a row; missing cells render empty, extra cells are kept.
    pub fn push_row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let cell = |row: &[String], c: usize| row.get(c).map_or("", |s| s.as_str()).to_string();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                std::iter::once(&self.headers)
                    .chain(&self.rows)
                    .map(|row| cell(row, c).chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |row: &[String]| {
            let padded: Vec<String> = (0..columns)
                .map(|c| {
                    let text = cell(row, c);
                    let pad = " ".repeat(widths[c] - text.chars().count());
                    match self.align.get(c).copied().unwrap_or(Align::Right) {
                        Align::Left => format!("{text}{pad}"),
                        Align::Right => format!("{pad}{text}"),
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        let rule_width = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
        out.push_str(&"-".repeat(rule_width));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

/// A number with `decimals` places, or `n/a`.
pub fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        Some(v) => format!("{v}"),
        None => "n/a".to_string(),
    }
}

fn fmt_corr(c: &Correlation) -> String {
    fmt_opt(c.value, 3)
}

fn intensity_table(series: &IntensitySeries) -> String {
    let mut table = TextTable::new(&["bin", "mean", "std", "archs"]);
    for bin in &series.bins {
        table.push_row([
            bin.bin.to_string(),
            fmt_opt(bin.mean, 3),
            fmt_opt(bin.std, 3),
            bin.count.to_string(),
        ]);
    }
    table.render()
}

/// The `windows` subcommand's text output.
pub fn format_windows(report: &WindowReport) -> String {
    let mut out = String::new();
    let grid = &report.grid;
    let statistic = match report.intensity.statistic {
        crate::engine::profile::LayerStatistic::Lambda => "Lambda_l",
        crate::engine::profile::LayerStatistic::MeanLogSigma => "mean log sigma_w",
    };
    let _ = writeln!(
        out,
        "Depth windows: {} architectures with profile and truth, {} dropped",
        grid.n, grid.dropped
    );
    let _ = writeln!(
        out,
        "\nGradient intensity ({statistic}, mean +- std across {} architectures)",
        report.intensity.architectures
    );
    out.push_str(&intensity_table(&report.intensity));

    if !report.by_depth.is_empty() {
        let _ = writeln!(out, "\nGradient intensity by depth L (mean per bin)");
        let mut headers = vec!["L".to_string(), "archs".to_string()];
        headers.extend((1..=PERC_BINS).map(|p| p.to_string()));
        let mut table = TextTable::new(&headers);
        for series in &report.by_depth {
            let mut row = vec![
                series.depth.map_or("all".to_string(), |d| d.to_string()),
                series.architectures.to_string(),
            ];
            row.extend(series.bins.iter().map(|b| fmt_opt(b.mean, 2)));
            table.push_row(row);
        }
        out.push_str(&table.render());
    }

    let _ = writeln!(out, "\nSpearman rho of L-SWAG per single bin [p, p]");
    let mut table = TextTable::new(&["bin", "rho", "n"]);
    for w in grid.single_bins() {
        table.push_row([w.a.to_string(), fmt_corr(&w.rho), w.rho.n.to_string()]);
    }
    out.push_str(&table.render());

    let _ = writeln!(out, "\nSpearman rho of L-SWAG[a..b] (rows a, columns b)");
    let mut headers = vec!["a\\b".to_string()];
    headers.extend((1..=PERC_BINS).map(|b| b.to_string()));
    let mut table = TextTable::new(&headers);
    let matrix = grid.matrix();
    for a in 1..=PERC_BINS {
        let mut row = vec![a.to_string()];
        row.extend((1..=PERC_BINS).map(|b| {
            if b < a {
                String::new()
            } else {
                fmt_opt(matrix[a - 1][b - 1], 3)
            }
        }));
        table.push_row(row);
    }
    out.push_str(&table.render());

    match &report.best {
        Some(best) => {
            let _ = writeln!(
                out,
                "\nBest window: [{}, {}], rho {} (in-sample; see the cross-validated rho for how much is luck)",
                best.a,
                best.b,
                fmt_corr(&best.rho)
            );
        }
        None => out.push_str("\nBest window: none (rho undefined for every window)\n"),
    }

    if let Some(cv) = &report.cv {
        let s = &cv.settings;
        let _ = writeln!(
            out,
            "\nCross-validated choice: {} splits, {:.0}% calibration, seeds {}..{}",
            cv.repeats.len(),
            s.calibration_fraction * 100.0,
            s.seed,
            s.seed.wrapping_add(s.repeats.saturating_sub(1) as u64)
        );
        let _ = writeln!(
            out,
            "rho on calibration {} -> on held-out {} +- {} (optimism {})",
            fmt_opt(cv.calibration_mean, 3),
            fmt_opt(cv.report_mean, 3),
            fmt_opt(cv.report_std, 3),
            fmt_opt(cv.optimism, 3)
        );
        let mut table = TextTable::new(&["window", "chosen"]);
        for c in &cv.choices {
            table.push_row([
                format!("[{}, {}]", c.a, c.b),
                format!("{}/{}", c.count, cv.repeats.len()),
            ]);
        }
        out.push_str(&table.render());
    }
    out
}

fn pick_row(role: &str, pick: &Pick) -> Vec<String> {
    vec![
        role.to_string(),
        pick.facts.name.clone(),
        fmt_opt(Some(pick.facts.rho), 4),
        fmt_opt(pick.facts.ig, 4),
        fmt_opt(pick.facts.bias, 4),
        fmt_opt(pick.facts.bias_gap, 4),
        pick.rule.describe().to_string(),
    ]
}

/// The `libra` subcommand's text output.
pub fn format_libra(result: &LibraResult) -> String {
    let mut out = String::new();
    let r = &result.reasons;
    let _ = writeln!(
        out,
        "LIBRA on {} architectures ({} dropped: truth, {} or a participant missing)",
        result.n, result.dropped, r.bias_column
    );
    let _ = writeln!(
        out,
        "tol {}, candidate window ({:.4}, {:.4}], bias column {}, b_y {}, {} bins per variable ({})",
        result.settings.tol,
        r.window.0,
        r.window.1,
        r.bias_column,
        fmt_opt(r.truth_bias, 4),
        r.bins,
        r.bin_rule.describe()
    );

    out.push('\n');
    let mut table = TextTable::new(&["", "proxy", "rho", "IG over z1", "bias", "|b_y - b_h|", "chosen by"])
        .with_align(1, Align::Left)
        .with_align(6, Align::Left);
    table.push_row(pick_row("z1", &r.z1));
    match &r.z2 {
        Some(p) => table.push_row(pick_row("z2", p)),
        None => table.push_row(["z2", "none"]),
    }
    match &r.z3 {
        Some(p) => table.push_row(pick_row("z3", p)),
        None => table.push_row(["z3", "none"]),
    }
    out.push_str(&table.render());
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }

    let _ = writeln!(out, "\nCandidates (rho within tol of the best)");
    if r.candidates.is_empty() {
        out.push_str("none\n");
    } else {
        let mut table = TextTable::new(&["proxy", "rho", "IG over z1", "bias", "|b_y - b_h|"]);
        for c in &r.candidates {
            table.push_row([
                c.name.clone(),
                fmt_opt(Some(c.rho), 4),
                fmt_opt(c.ig, 4),
                fmt_opt(c.bias, 4),
                fmt_opt(c.bias_gap, 4),
            ]);
        }
        out.push_str(&table.render());
    }

    let _ = writeln!(out, "\nEnsemble of {} vs single proxies", result.members.join(" + "));
    let mut table = TextTable::new(&["score", "rho"]);
    for (rule, rho) in &result.ensemble {
        table.push_row([format!("ensemble, {rule}"), fmt_opt(*rho, 4)]);
    }
    table.push_row([
        format!("best single ({})", result.best_single.name),
        fmt_opt(Some(result.best_single.rho), 4),
    ]);
    out.push_str(&table.render());

    let _ = writeln!(out, "\nSpearman rho per participating proxy");
    let mut rhos: Vec<(&String, &Option<f64>)> = result.rho.iter().collect();
    // Best first; undefined last; names break ties so the order is stable.
    rhos.sort_by(|a, b| {
        let key = |v: &Option<f64>| v.unwrap_or(f64::NEG_INFINITY);
        key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(b.0))
    });
    let mut table = TextTable::new(&["proxy", "rho"]);
    for (name, rho) in rhos {
        table.push_row([name.clone(), fmt_opt(*rho, 4)]);
    }
    out.push_str(&table.render());

    if !r.left_out.is_empty() {
        let _ = writeln!(
            out,
            "\nLeft out (missing on more than {:.0}% of architectures)",
            result.settings.max_missing_fraction * 100.0
        );
        let mut table = TextTable::new(&["proxy", "missing"]);
        for l in &r.left_out {
            table.push_row([l.name.clone(), format!("{}/{}", l.missing, l.rows)]);
        }
        out.push_str(&table.render());
    }
    out
}

/// The ablation table (paper Table 4): rows z2 strategies, columns z3.
pub fn format_ablations(table: &AblationTable) -> String {
    let mut out = format!(
        "Ablations (paper Table 4): Spearman rho of the {} ensemble on {} architectures, seed {}\n",
        table.combination.key(),
        table.n,
        table.seed
    );
    let mut headers = vec!["z2 \\ z3".to_string()];
    headers.extend(Z3Strategy::ALL.iter().map(|s| s.describe().to_string()));
    let mut grid = TextTable::new(&headers);
    let mut notes = Vec::new();
    for z2 in Z2Strategy::ALL {
        let mut row = vec![z2.describe().to_string()];
        for z3 in Z3Strategy::ALL {
            let cell = table.get(z2, z3);
            row.push(cell.map_or("n/a".to_string(), |c| fmt_opt(c.rho, 4)));
            if let Some(c) = cell {
                let members = if c.members.is_empty() {
                    "-".to_string()
                } else {
                    c.members.join(" + ")
                };
                let note = c.note.as_ref().map_or(String::new(), |n| format!(" ({n})"));
                notes.push(format!("{} / {}: {members}{note}", z2.describe(), z3.describe()));
            }
        }
        grid.push_row(row);
    }
    out.push_str(&grid.render());
    out.push_str("\nMembers\n");
    for note in notes {
        out.push_str(&note);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::libra::{LibraSettings, ProxyTable, ablations, libra};
    use crate::analysis::windows::{CvSettings, WindowSettings, analyse_windows, synthetic_profiles};
    use crate::engine::profile::LayerProfile;

    #[test]
    fn text_table_pads_aligns_and_rules() {
        let mut t = TextTable::new(&["proxy", "rho"]);
        t.push_row(["nwot", "0.8"]);
        t.push_row(["synflow", "-0.25"]);
        t.push_row(["x"]);
        let want = "proxy      rho\n\
                    --------------\n\
                    nwot       0.8\n\
                    synflow  -0.25\n\
                    x\n";
        assert_eq!(t.render(), want);
        // Unicode widths count characters, and a left-aligned last column
        // leaves no trailing blanks.
        let mut t = TextTable::new(&["ρ", "name"]).with_align(1, Align::Left);
        t.push_row(["0.5", "é"]);
        assert_eq!(t.render(), "ρ    name\n---------\n0.5  é\n");
        assert_eq!(fmt_opt(None, 3), "n/a");
        assert_eq!(fmt_opt(Some(0.12345), 3), "0.123");
    }

    fn small_table() -> ProxyTable {
        let truth: Vec<f64> = (0..40).map(|i| f64::from(i % 13) + f64::from(i) * 0.01).collect();
        let a: Vec<f64> = truth.iter().map(|t| t * 2.0).collect();
        let b: Vec<f64> = (0..40).map(f64::from).collect();
        let params: Vec<f64> = (0..40).map(|i| f64::from((i * 7) % 40)).collect();
        ProxyTable {
            names: vec!["a".into(), "b".into(), "params".into()],
            columns: vec![a, b, params],
            truth,
            gradient_based: vec![Some(true), Some(false), Some(false)],
        }
    }

    #[test]
    fn libra_text_names_the_picks_and_the_fallback() {
        let result = libra(&small_table(), &LibraSettings::default()).unwrap();
        let text = format_libra(&result);
        assert!(text.starts_with("LIBRA on 40 architectures (0 dropped"));
        assert!(text.contains("z1  a "), "{text}");
        // rho(a) = 1 and the rest are far below: the window is empty.
        assert!(text.contains("fallback: next-best rho"), "{text}");
        assert!(text.contains("note: no candidate in the rho window"), "{text}");
        assert!(text.contains("ensemble, rank_sum"));
        assert!(text.contains("best single (a)"));
        let ab = format_ablations(&ablations(&small_table(), &LibraSettings::default()).unwrap());
        assert!(ab.contains("min IG") && ab.contains("bias matching") && ab.contains("Members"));
    }

    #[test]
    fn windows_text_has_every_section() {
        let (profiles, truth) = synthetic_profiles(120, 2);
        let wrapped: Vec<Option<&LayerProfile>> = profiles.iter().map(Some).collect();
        let settings = WindowSettings {
            by_depth: true,
            cv: Some(CvSettings {
                repeats: 2,
                ..CvSettings::default()
            }),
            ..WindowSettings::default()
        };
        let report = analyse_windows(&wrapped, &truth, settings).unwrap();
        let text = format_windows(&report);
        for section in [
            "Depth windows: 120 architectures",
            "Gradient intensity (Lambda_l",
            "Gradient intensity by depth L",
            "per single bin",
            "rows a, columns b",
            "Best window: [",
            "Cross-validated choice: 2 splits, 50% calibration, seeds 0..1",
        ] {
            assert!(text.contains(section), "missing {section:?} in\n{text}");
        }
        // The grid has ten rows a = 1..10 below its header and rule.
        let grid = text.split("rows a, columns b)\n").nth(1).unwrap();
        let lines: Vec<&str> = grid.lines().collect();
        assert!(lines[0].starts_with("a\\b"));
        assert_eq!(lines[11].split_whitespace().next(), Some("10"));
        assert_eq!(lines[11].split_whitespace().count(), 2);
    }
}
