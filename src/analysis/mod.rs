//! The science behind every plot: rank statistics, depth bins and windows,
//! entropy and information gain, and LIBRA (SPEC.md).
//!
//! Pure computation on plain data. The data contract is columnar: a column is
//! a `&[f64]` aligned across architectures, where `NaN` means "missing".
//! Nothing here knows about archives, networks or the UI; the archive layer
//! adapts its tasks into the small input structs defined here.

pub mod info;
pub mod libra;
pub mod ranks;
pub mod report;
pub mod table;
pub mod windows;

pub use info::{BinRule, IgMatrix, InfoGain};
pub use libra::{
    AblationTable, Combination, LibraResult, LibraSettings, ProxyTable, Z2Strategy, Z3Strategy, ablations, libra,
    libra_ig_matrix,
};
pub use ranks::{
    BestRank, Correlation, TopPrecision, Undefined, best_rank_at, kendall_tau_b, pearson, precision_at_top_percent,
    spearman,
};
pub use windows::{
    CvResult, CvSettings, IntensitySeries, WindowBench, WindowData, WindowGrid, WindowReport, WindowSettings,
    analyse_windows, bench_windows, cross_validate,
};

use thiserror::Error;

/// Everything that can go wrong in the analysis layer. Statistics that are
/// merely undefined on the given data (a constant column, too few pairs) are
/// not errors: they come back as `value: None` with the reason.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AnalysisError {
    #[error("{what}: {left} values against {right}; columns must be aligned across architectures")]
    LengthMismatch { what: String, left: usize, right: usize },
    #[error("{what}: value {value} at row {row} is not finite; drop missing rows first")]
    NonFinite { what: String, row: usize, value: f64 },
    #[error("{what}: need at least {needed} complete rows, found {found}")]
    TooFewRows { what: String, needed: usize, found: usize },
    #[error("window [{a}, {b}] is outside 1 <= a <= b <= 10")]
    BadWindow { a: usize, b: usize },
    #[error("{what} = {value} must lie strictly between 0 and 1")]
    BadFraction { what: String, value: f64 },
    #[error("{what} = {value} is out of range: {expected}")]
    BadSetting {
        what: String,
        value: String,
        expected: String,
    },
    #[error("proxy {0:?} is not in the proxy table")]
    UnknownProxy(String),
    #[error(
        "bias column {name:?} is not among the proxies ({available}); LIBRA measures each proxy's bias \
         against the ranks of a column such as params (CLI: --bias)"
    )]
    UnknownBiasColumn { name: String, available: String },
    #[error("no proxies: LIBRA combines proxies, and this task has no proxy values")]
    NoProxies,
    #[error("proxy {0:?} appears twice in the proxy table")]
    DuplicateProxy(String),
    #[error("bias column {name:?} is missing on {missing} of {rows} architectures, more than the {limit:.0}% allowed")]
    BiasColumnIncomplete {
        name: String,
        missing: usize,
        rows: usize,
        limit: f64,
    },
    #[error("no participating proxy has a defined Spearman correlation on the {n} complete rows")]
    NoUsableProxy { n: usize },
}
