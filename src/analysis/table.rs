//! Adapting an archive's task into the analysis layer's plain inputs.

use crate::archive::{Archive, ArchiveError};
use crate::engine::profile::LayerProfile;

use super::libra::ProxyTable;

/// Whether a proxy needs gradients: the engine's registry first, then the
/// NAS-Bench-Suite-Zero proxies the engine does not compute.
pub fn gradient_based(name: &str) -> Option<bool> {
    if let Some(info) = crate::proxy::info(name) {
        return Some(info.gradient_based);
    }
    match name {
        "grasp" | "fisher" | "jacov" | "epe_nas" | "snip" | "synflow" | "grad_norm" | "zico" | "plain" => Some(true),
        "nwot" | "zen" | "params" | "flops" | "l2_norm" | "swap" => Some(false),
        _ => None,
    }
}

/// The rows of a task (architectures with ground truth there, or every
/// architecture of a task without ground truth).
pub fn task_rows(archive: &Archive, task: &str) -> Result<Vec<usize>, ArchiveError> {
    let t = archive.require_task(task)?;
    Ok((0..archive.len()).filter(|&r| t.is_member(r)).collect())
}

/// A task's proxies and ground truth as LIBRA's table, with the archive row
/// of each table row.
pub fn proxy_table(archive: &Archive, task: &str) -> Result<(ProxyTable, Vec<usize>), ArchiveError> {
    let t = archive.require_task(task)?;
    let rows = task_rows(archive, task)?;
    let take = |v: &[f64]| rows.iter().map(|&r| v[r]).collect::<Vec<f64>>();
    let table = ProxyTable {
        names: t.proxies().iter().map(|c| c.name().to_string()).collect(),
        columns: t.proxies().iter().map(|c| take(c.values())).collect(),
        truth: take(t.truth()),
        gradient_based: t.proxies().iter().map(|c| gradient_based(c.name())).collect(),
    };
    Ok((table, rows))
}

/// Profiles and ground truth of a task's rows, for the window analysis.
pub fn task_profiles<'a>(
    archive: &'a Archive,
    task: &str,
) -> Result<(Vec<Option<&'a LayerProfile>>, Vec<f64>), ArchiveError> {
    let t = archive.require_task(task)?;
    let rows = task_rows(archive, task)?;
    Ok((
        rows.iter().map(|&r| archive.profile(r)).collect(),
        rows.iter().map(|&r| t.truth()[r]).collect(),
    ))
}
