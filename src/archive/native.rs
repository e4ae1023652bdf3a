//! The native archive format: what the app saves and reopens instantly.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "LSWAGARC"
//! 8       4     schema version, u32 little-endian
//! 12      4     flags, u32 LE (0; reserved)
//! 16      8     payload length in bytes, u64 LE
//! 24      8     payload checksum, u64 LE (see `checksum`)
//! 32      ..    payload: postcard encoding of `PayloadV1`
//! ```
//!
//! The first 12 bytes stay the same in every future version, so any build
//! can say which version a file is before touching the rest. postcard is
//! not self-describing: any change to the payload structs (field order,
//! types) needs a new schema version and a decoder for the old one in
//! [`decode_native`]'s `match`.
//!
//! Bulk numbers (columns, layer profiles) are little-endian byte strings
//! inside the postcard payload, column by column, so that opening is a few
//! slice copies rather than millions of serde calls. Profiles are not
//! serialised through `LayerProfile`'s own serde derive: the encoder
//! destructures it exhaustively, so a field added to `LayerProfile` fails
//! to compile here rather than silently changing the file format.
//!
//! Column data is stored once per distinct `Arc` (a proxy shared by every
//! task is written once) and shared again on load.
//!
//! Writes are atomic: a temporary file in the same directory, fsync, then
//! rename over the target, so a crash mid-save leaves the old file intact.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::engine::profile::{LayerProfile, LayerStat, PERC_BINS, depth_bin};
use crate::space::nb201::{NUM_ARCHS, Nb201Arch};

use super::error::ArchiveError;
use super::model::{Archive, ArchiveBuilder, Column, Provenance, Space, Task, Values, clean_value};

pub const MAGIC: [u8; 8] = *b"LSWAGARC";
/// The version this build writes.
pub const SCHEMA_VERSION: u32 = 1;
/// The oldest version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// Conventional file extension.
pub const NATIVE_EXTENSION: &str = "lswag";
const HEADER_LEN: usize = 32;

/// A 64-bit checksum that reads 8 bytes per step (fast enough to be
/// invisible next to decoding) and catches truncation and bit rot. Each
/// step is a bijection of the state for a fixed word and of the word for a
/// fixed state, so a change in one word always changes the result. Not
/// cryptographic.
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    // Final avalanche (murmur3 fmix64).
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

// ---- payload, schema version 1 -------------------------------------------
// One struct serves both directions: `Cow` borrows from the archive when
// writing and from the file bytes when reading.

/// Bulk numbers as one little-endian byte string. postcard frames it as a
/// length and raw bytes that decode by slice copy, instead of one serde call
/// per number: opening the full NB201 archive then takes a fraction of the
/// time, most visibly in debug builds.
#[derive(Debug, Default)]
struct Bytes<'a>(Cow<'a, [u8]>);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Bytes<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(self, v: &'de [u8]) -> Result<Bytes<'a>, E> {
                Ok(Bytes(Cow::Borrowed(v)))
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes<'a>, E> {
                Ok(Bytes(Cow::Owned(v.to_vec())))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes<'a>, E> {
                Ok(Bytes(Cow::Owned(v)))
            }
        }
        d.deserialize_bytes(V(std::marker::PhantomData))
    }
}

/// Little-endian writers and checked readers for the byte strings.
trait Le: Sized + Copy {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    fn take(bytes: &[u8]) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn take(bytes: &[u8]) -> $t {
                let mut w = [0u8; std::mem::size_of::<$t>()];
                w.copy_from_slice(&bytes[..Self::SIZE]);
                <$t>::from_le_bytes(w)
            }
        }
    )*};
}
le!(u32, u64, f32, f64);

/// A byte string as `count` values, or why not.
fn values_of<T: Le>(b: &Bytes<'_>, count: usize, what: &str) -> Result<Vec<T>, String> {
    if Some(b.0.len()) != count.checked_mul(T::SIZE) {
        return Err(format!(
            "{what}: {} bytes where {count} values of {} bytes belong",
            b.0.len(),
            T::SIZE
        ));
    }
    Ok(b.0.chunks_exact(T::SIZE).map(T::take).collect())
}

#[derive(Serialize, Deserialize)]
struct ProvenanceV1<'a> {
    source: Cow<'a, str>,
    read_at: Cow<'a, str>,
    config: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct ColumnV1<'a> {
    name: Cow<'a, str>,
    /// Index into the column pool.
    values: u32,
    provenance: Vec<u32>,
    negated: bool,
}

#[derive(Serialize, Deserialize)]
struct TaskV1<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    truth: u32,
    truth_provenance: Vec<u32>,
    #[serde(borrow)]
    proxies: Vec<ColumnV1<'a>>,
}

/// Layer profiles, column by column. Per record: `present` (1 byte, 0 or
/// 1). Per present profile, in record order: `lambda_bin` (10 f64),
/// `psi_upto`, `psi_bin` (10 u64 each), `params`, `flops` (u64), `depth`
/// (u32, its number of layers). Per layer of every present profile, in
/// order: `layer_bin` (u8), `layer_flags` (u8: bit 0 lambda present, bit 1
/// mean_log_sigma present), `layer_lambda`, `layer_mean_log_sigma` (f32, 0
/// when absent), `layer_psi` (u32).
#[derive(Serialize, Deserialize, Default)]
struct ProfilesV1<'a> {
    #[serde(borrow)]
    present: Bytes<'a>,
    #[serde(borrow)]
    lambda_bin: Bytes<'a>,
    #[serde(borrow)]
    psi_upto: Bytes<'a>,
    #[serde(borrow)]
    psi_bin: Bytes<'a>,
    #[serde(borrow)]
    params: Bytes<'a>,
    #[serde(borrow)]
    flops: Bytes<'a>,
    #[serde(borrow)]
    depth: Bytes<'a>,
    #[serde(borrow)]
    layer_bin: Bytes<'a>,
    #[serde(borrow)]
    layer_flags: Bytes<'a>,
    #[serde(borrow)]
    layer_lambda: Bytes<'a>,
    #[serde(borrow)]
    layer_mean_log_sigma: Bytes<'a>,
    #[serde(borrow)]
    layer_psi: Bytes<'a>,
}

#[derive(Serialize, Deserialize)]
struct PayloadV1<'a> {
    /// App name and version that wrote the file (diagnostics only).
    writer: Cow<'a, str>,
    space: Cow<'a, str>,
    keys: Cow<'a, [String]>,
    #[serde(borrow)]
    provenance: Vec<ProvenanceV1<'a>>,
    /// Distinct column storages, f64 little-endian.
    #[serde(borrow)]
    columns: Vec<Bytes<'a>>,
    #[serde(borrow)]
    tasks: Vec<TaskV1<'a>>,
    #[serde(borrow)]
    profiles: ProfilesV1<'a>,
}

/// Column-wise profile encoding. Destructures `LayerProfile` and `LayerStat`
/// exhaustively: a field added there must be added to the format (and the
/// schema version) before this compiles.
fn encode_profiles(profiles: &[Option<LayerProfile>]) -> ProfilesV1<'static> {
    let mut p: [Vec<u8>; 12] = Default::default();
    let [
        present,
        lambda_bin_b,
        psi_upto_b,
        psi_bin_b,
        params_b,
        flops_b,
        depth_b,
        bin_b,
        flags_b,
        lambda_b,
        mls_b,
        psi_b,
    ] = &mut p;
    for profile in profiles {
        let Some(profile) = profile else {
            present.push(0);
            continue;
        };
        present.push(1);
        let LayerProfile {
            lambda_bin,
            psi_upto,
            psi_bin,
            layers,
            params,
            flops,
        } = profile;
        lambda_bin.iter().for_each(|v| v.put(lambda_bin_b));
        psi_upto.iter().for_each(|v| v.put(psi_upto_b));
        psi_bin.iter().for_each(|v| v.put(psi_bin_b));
        params.put(params_b);
        flops.put(flops_b);
        to_u32(layers.len()).put(depth_b);
        for layer in layers {
            let LayerStat {
                bin,
                lambda,
                mean_log_sigma,
                psi,
            } = layer;
            bin_b.push(*bin);
            flags_b.push(u8::from(lambda.is_some()) | (u8::from(mean_log_sigma.is_some()) << 1));
            lambda.unwrap_or(0.0).put(lambda_b);
            mean_log_sigma.unwrap_or(0.0).put(mls_b);
            psi.put(psi_b);
        }
    }
    let [a, b, c, d, e, f, g, h, i, j, k, l] = p.map(|v| Bytes(Cow::Owned(v)));
    ProfilesV1 {
        present: a,
        lambda_bin: b,
        psi_upto: c,
        psi_bin: d,
        params: e,
        flops: f,
        depth: g,
        layer_bin: h,
        layer_flags: i,
        layer_lambda: j,
        layer_mean_log_sigma: k,
        layer_psi: l,
    }
}

fn decode_profiles(p: &ProfilesV1<'_>, records: usize) -> Result<Vec<Option<LayerProfile>>, String> {
    let present = &p.present.0;
    if present.len() != records {
        return Err(format!(
            "profile presence for {} records, but there are {records}",
            present.len()
        ));
    }
    if let Some(b) = present.iter().find(|&&b| b > 1) {
        return Err(format!("profile presence byte {b}, expected 0 or 1"));
    }
    let count = present.iter().filter(|&&b| b == 1).count();
    let depth: Vec<u32> = values_of(&p.depth, count, "profile depths")?;
    let total = depth
        .iter()
        .try_fold(0usize, |acc, &d| acc.checked_add(d as usize))
        .ok_or("layer count overflows")?;
    let lambda_bin: Vec<f64> = values_of(&p.lambda_bin, count * PERC_BINS, "lambda_bin")?;
    let psi_upto: Vec<u64> = values_of(&p.psi_upto, count * PERC_BINS, "psi_upto")?;
    let psi_bin: Vec<u64> = values_of(&p.psi_bin, count * PERC_BINS, "psi_bin")?;
    let params: Vec<u64> = values_of(&p.params, count, "params")?;
    let flops: Vec<u64> = values_of(&p.flops, count, "flops")?;
    let bins = &p.layer_bin.0;
    let flags = &p.layer_flags.0;
    if bins.len() != total || flags.len() != total {
        return Err(format!(
            "{} layer bins and {} flags for {total} layers",
            bins.len(),
            flags.len()
        ));
    }
    if let Some(f) = flags.iter().find(|&&f| f > 3) {
        return Err(format!("layer flags {f}, expected 0..=3"));
    }
    let lambda: Vec<f32> = values_of(&p.layer_lambda, total, "layer lambda")?;
    let mls: Vec<f32> = values_of(&p.layer_mean_log_sigma, total, "layer mean_log_sigma")?;
    let psi: Vec<u32> = values_of(&p.layer_psi, total, "layer psi")?;
    let bins10 = |v: &[u64], k: usize| -> [u64; PERC_BINS] { std::array::from_fn(|i| v[k * PERC_BINS + i]) };
    let mut out = Vec::with_capacity(records);
    let (mut k, mut start) = (0usize, 0usize);
    for &flag in present.iter() {
        if flag == 0 {
            out.push(None);
            continue;
        }
        let end = start + depth[k] as usize;
        let layers = (start..end)
            .map(|i| LayerStat {
                bin: bins[i],
                lambda: (flags[i] & 1 != 0).then_some(lambda[i]),
                mean_log_sigma: (flags[i] & 2 != 0).then_some(mls[i]),
                psi: psi[i],
            })
            .collect();
        out.push(Some(LayerProfile {
            lambda_bin: std::array::from_fn(|i| lambda_bin[k * PERC_BINS + i]),
            psi_upto: bins10(&psi_upto, k),
            psi_bin: bins10(&psi_bin, k),
            layers,
            params: params[k],
            flops: flops[k],
        }));
        k += 1;
        start = end;
    }
    Ok(out)
}

fn writer_id() -> String {
    format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Distinct column storages, each written once.
#[derive(Default)]
struct Pool {
    columns: Vec<Bytes<'static>>,
    index: HashMap<usize, u32>,
}

impl Pool {
    fn intern(&mut self, v: &Values) -> u32 {
        let key = Arc::as_ptr(v) as *const f64 as usize;
        let columns = &mut self.columns;
        *self.index.entry(key).or_insert_with(|| {
            let mut bytes = Vec::with_capacity(v.len() * 8);
            v.iter().for_each(|x| x.put(&mut bytes));
            columns.push(Bytes(Cow::Owned(bytes)));
            to_u32(columns.len() - 1)
        })
    }
}

/// Encodes an archive: header + payload.
pub fn encode_native(archive: &Archive) -> Result<Vec<u8>, ArchiveError> {
    let mut pool = Pool::default();
    let prov = |idx: &[usize]| idx.iter().map(|&i| to_u32(i)).collect::<Vec<u32>>();
    let tasks: Vec<TaskV1> = archive
        .tasks
        .iter()
        .map(|t| TaskV1 {
            name: Cow::Borrowed(&t.name),
            truth: pool.intern(&t.truth),
            truth_provenance: prov(&t.truth_provenance),
            proxies: t
                .proxies
                .iter()
                .map(|c| ColumnV1 {
                    name: Cow::Borrowed(&c.name),
                    values: pool.intern(&c.values),
                    provenance: prov(&c.provenance),
                    negated: c.negated,
                })
                .collect(),
        })
        .collect();
    let payload = PayloadV1 {
        writer: Cow::Owned(writer_id()),
        space: Cow::Borrowed(archive.space.name()),
        keys: Cow::Borrowed(&archive.keys),
        provenance: archive
            .provenance
            .iter()
            .map(|p| ProvenanceV1 {
                source: Cow::Borrowed(&p.source),
                read_at: Cow::Borrowed(&p.read_at),
                config: Cow::Borrowed(&p.config),
            })
            .collect(),
        columns: pool.columns,
        tasks,
        profiles: encode_profiles(&archive.profiles),
    };
    let mut out = vec![0u8; HEADER_LEN];
    out = postcard::to_extend(&payload, out)
        .map_err(|e| ArchiveError::invalid("encoding a native archive", e.to_string()))?;
    let payload_len = (out.len() - HEADER_LEN) as u64;
    let sum = checksum(&out[HEADER_LEN..]);
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&SCHEMA_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&0u32.to_le_bytes());
    out[16..24].copy_from_slice(&payload_len.to_le_bytes());
    out[24..32].copy_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// Whether a process with this pid exists. Where `/proc` is missing (not
/// Linux), a process is assumed live: keeping a stale file is safe,
/// removing a live writer's is not.
pub fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The temporary file [`write_atomic`] writes `name` through.
fn temp_name(name: &str, pid: u32, nanos: u32) -> String {
    format!(".{name}.{pid}-{nanos}.tmp")
}

/// Removes the temporary files of `name` in `dir` that killed writers left
/// (their process is gone); a live writer's are kept.
fn remove_stale_temps(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix)?.strip_suffix(".tmp"))
        else {
            continue;
        };
        let pid = rest.split_once('-').and_then(|(pid, nanos)| {
            nanos.parse::<u32>().ok()?;
            pid.parse::<u32>().ok()
        });
        if let Some(pid) = pid
            && pid != std::process::id()
            && !process_alive(pid)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same directory,
/// fsync, rename, then fsync of the directory (best effort). Temporary
/// files of earlier writers of `path` that were killed are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
    let file = path.display().to_string();
    let werr = |source: std::io::Error| ArchiveError::Write {
        file: file.clone(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| werr(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path")))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = name.to_string_lossy();
    remove_stale_temps(&dir, &name);
    let tmp = dir.join(temp_name(&name, std::process::id(), nanos));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable; not possible on every platform.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(werr(e));
    }
    Ok(())
}

/// Writes a native archive atomically; returns its size in bytes.
pub fn write_native(archive: &Archive, path: &Path) -> Result<u64, ArchiveError> {
    let bytes = encode_native(archive)?;
    write_atomic(path, &bytes)?;
    Ok(bytes.len() as u64)
}

pub fn read_native(path: &Path) -> Result<Archive, ArchiveError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ArchiveError::Read {
        file: file.clone(),
        source,
    })?;
    decode_native(&bytes, &file)
}

/// Decodes a native archive; `source` names it in messages.
pub fn decode_native(bytes: &[u8], source: &str) -> Result<Archive, ArchiveError> {
    let corrupt = |reason: String| ArchiveError::Corrupt {
        file: source.to_string(),
        reason,
    };
    if bytes.len() < 12 || bytes[..8] != MAGIC {
        return Err(corrupt(format!(
            "it does not start with the magic bytes `LSWAGARC` (is it a native archive? {} bytes)",
            bytes.len()
        )));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version > SCHEMA_VERSION {
        return Err(ArchiveError::Version {
            file: source.to_string(),
            found: version,
            reason: format!(
                "this build reads versions {OLDEST_READABLE_VERSION} to {SCHEMA_VERSION}; \
                 the file was written by a newer lswag-studio, update to open it"
            ),
        });
    }
    if version < OLDEST_READABLE_VERSION {
        return Err(ArchiveError::Version {
            file: source.to_string(),
            found: version,
            reason: format!(
                "older than the oldest version this build reads ({OLDEST_READABLE_VERSION}); \
                 no lswag-studio release wrote it, so it cannot be converted"
            ),
        });
    }
    // Version 1 (the only one so far). A version 2 would add a branch here
    // and keep this one, converting old payloads on load.
    decode_v1(bytes).map_err(corrupt)
}

fn decode_v1(bytes: &[u8]) -> Result<Archive, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "the header is cut short ({} of {HEADER_LEN} bytes)",
            bytes.len()
        ));
    }
    let word = |at: usize| u64::take(&bytes[at..at + 8]);
    let payload = &bytes[HEADER_LEN..];
    let declared = word(16);
    if declared != payload.len() as u64 {
        return Err(format!(
            "the header announces {declared} payload bytes but {} follow (a truncated or appended copy?)",
            payload.len()
        ));
    }
    if word(24) != checksum(payload) {
        return Err("the payload checksum does not match (the file is damaged)".to_string());
    }
    let (p, rest): (PayloadV1, &[u8]) =
        postcard::take_from_bytes(payload).map_err(|e| format!("the payload does not decode: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} stray bytes after the payload", rest.len()));
    }
    let n = p.keys.len();
    let mut columns: Vec<Values> = Vec::with_capacity(p.columns.len());
    for (i, c) in p.columns.iter().enumerate() {
        let mut v: Vec<f64> = values_of(c, n, &format!("column {i}"))?;
        // Uphold the NaN contract even for a hand-made file.
        v.iter_mut().for_each(|x| *x = clean_value(*x));
        columns.push(Values::from(v));
    }
    let column = |i: u32, what: &dyn Fn() -> String| -> Result<Values, String> {
        columns
            .get(i as usize)
            .cloned()
            .ok_or_else(|| format!("{} refers to column {i}, but there are {}", what(), columns.len()))
    };
    let idx = |v: Vec<u32>| v.into_iter().map(|i| i as usize).collect::<Vec<usize>>();
    let mut tasks = Vec::with_capacity(p.tasks.len());
    for t in p.tasks {
        let truth = column(t.truth, &|| format!("task `{}`", t.name))?;
        let mut proxies = Vec::with_capacity(t.proxies.len());
        for c in t.proxies {
            let values = column(c.values, &|| format!("task `{}` proxy `{}`", t.name, c.name))?;
            proxies.push(Column {
                name: c.name.into_owned(),
                values,
                provenance: idx(c.provenance),
                negated: c.negated,
            });
        }
        tasks.push(Task::new(t.name.into_owned(), truth, idx(t.truth_provenance), proxies));
    }
    let provenance = p
        .provenance
        .into_iter()
        .map(|q| Provenance {
            source: q.source.into_owned(),
            read_at: q.read_at.into_owned(),
            config: q.config.into_owned(),
        })
        .collect();
    let profiles = decode_profiles(&p.profiles, n)?;
    Archive::from_parts_checked(
        Space::from_name(&p.space),
        p.keys.into_owned(),
        tasks,
        profiles,
        provenance,
    )
}

// ---- benchmark -------------------------------------------------------------

/// What [`bench_native`] builds: by default the full NB201 archive of the
/// issue (15,625 records, 15 proxies shared by 3 tasks, ~60-layer profiles).
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    /// At most 15,625 (NB201 cells).
    pub records: usize,
    pub proxies: usize,
    pub tasks: usize,
    /// Layers per profile (varies +-4 around this, as real depths do).
    pub layers: usize,
    /// Timed opens; the median is reported.
    pub repeats: usize,
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> BenchConfig {
        BenchConfig {
            records: NUM_ARCHS,
            proxies: 15,
            tasks: 3,
            layers: 60,
            repeats: 5,
            seed: 0,
        }
    }
}

/// Measured numbers of [`bench_native`].
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    pub config: BenchConfig,
    pub file_bytes: u64,
    pub write_seconds: f64,
    /// Read + checksum + decode + validation + key index, median of repeats.
    pub open_seconds_median: f64,
    pub open_seconds_min: f64,
    /// [`Archive::heap_bytes`] of the opened archive.
    pub heap_bytes: usize,
    /// Growth of the process's resident set over the first open (Linux
    /// only). The synthetic archive was freed just before, and the
    /// allocator may reuse that memory, so this can under-read; run
    /// [`measure_open`] in a fresh process for a clean number.
    pub rss_growth_bytes: Option<u64>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let mb = |b: f64| b / (1024.0 * 1024.0);
        writeln!(
            f,
            "native archive: {} records, {} tasks, {} proxies (shared by the tasks), profiles of ~{} layers",
            c.records, c.tasks, c.proxies, c.layers
        )?;
        writeln!(f, "  file size      {:8.2} MiB", mb(self.file_bytes as f64))?;
        writeln!(
            f,
            "  write          {:8.1} ms (atomic, fsync)",
            self.write_seconds * 1e3
        )?;
        writeln!(
            f,
            "  open           {:8.1} ms median, {:.1} ms min of {}",
            self.open_seconds_median * 1e3,
            self.open_seconds_min * 1e3,
            c.repeats
        )?;
        writeln!(
            f,
            "  memory (heap)  {:8.2} MiB (estimated from the structures' capacities)",
            mb(self.heap_bytes as f64)
        )?;
        match self.rss_growth_bytes {
            Some(b) => write!(f, "  RSS growth     {:8.2} MiB over the first open", mb(b as f64)),
            None => write!(f, "  RSS growth     n/a"),
        }
    }
}

/// Resident set size of this process (Linux `/proc/self/status`).
fn rss_bytes() -> Option<u64> {
    proc_bytes("/proc/self/status", "VmRSS")
}

/// A `Name:   N kB` field of a Linux `/proc` file (`/proc/meminfo`,
/// `/proc/self/status`), in bytes; `None` where there is no such file.
pub fn proc_bytes(file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let kb: u64 = text
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A deterministic synthetic NB201 archive for benchmarks.
pub fn synthetic_nb201(cfg: &BenchConfig) -> Result<Archive, ArchiveError> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut b = ArchiveBuilder::new(Space::Nb201);
    let prov = b.add_provenance(Provenance::new(
        "synthetic",
        format!("{{\"bench\":\"native\",\"seed\":{}}}", cfg.seed),
    ));
    let tasks: Vec<_> = (0..cfg.tasks)
        .map(|i| b.task(&format!("task{i}"), Some(prov)))
        .collect();
    let cols: Vec<_> = (0..cfg.proxies)
        .map(|i| b.shared_column(&format!("proxy{i}"), prov, false))
        .collect();
    for arch in Nb201Arch::all().take(cfg.records.min(NUM_ARCHS)) {
        let row = b.row(&arch.to_string());
        for &t in &tasks {
            b.set_truth(t, row, rng.random_range(10.0..95.0));
        }
        for &c in &cols {
            // ~1% failures, as in real proxy tables.
            let v = if rng.random_bool(0.01) {
                f64::NAN
            } else {
                rng.random::<f64>() * 100.0
            };
            b.set(c, row, v);
        }
        let depth = (cfg.layers + rng.random_range(0..=8)).saturating_sub(4).max(1);
        let mut lambda_bin = [0.0; PERC_BINS];
        let mut psi_bin = [0u64; PERC_BINS];
        let layers: Vec<LayerStat> = (1..=depth)
            .map(|l| {
                let bin = depth_bin(l, depth) as u8;
                let lambda = rng.random_range(5.0f32..15.0);
                let psi = rng.random_range(100..8192u32);
                lambda_bin[bin as usize - 1] += lambda as f64;
                psi_bin[bin as usize - 1] += psi as u64;
                LayerStat {
                    bin,
                    lambda: Some(lambda),
                    mean_log_sigma: Some(-lambda),
                    psi,
                }
            })
            .collect();
        let mut psi_upto = [0u64; PERC_BINS];
        let mut acc = 0;
        for (upto, bin) in psi_upto.iter_mut().zip(psi_bin) {
            acc += bin;
            *upto = acc;
        }
        b.set_profile(
            row,
            LayerProfile {
                lambda_bin,
                psi_upto,
                psi_bin,
                layers,
                params: rng.random_range(70_000..1_600_000),
                flops: rng.random_range(7_000_000..220_000_000),
            },
        );
    }
    b.build()
}

/// Open-time and memory of one file, measured in this process.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenMeasurement {
    pub open_seconds_median: f64,
    pub open_seconds_min: f64,
    pub heap_bytes: usize,
    pub rss_growth_bytes: Option<u64>,
    pub records: usize,
}

/// Opens `path` `repeats` times (at least once); the first open also
/// measures RSS growth, which is clean in a fresh process.
pub fn measure_open(path: &Path, repeats: usize) -> Result<OpenMeasurement, ArchiveError> {
    let rss0 = rss_bytes();
    let start = Instant::now();
    let first = read_native(path)?;
    let mut times = vec![start.elapsed().as_secs_f64()];
    let rss_growth_bytes = match (rss0, rss_bytes()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    for _ in 1..repeats.max(1) {
        let start = Instant::now();
        let a = read_native(path)?;
        times.push(start.elapsed().as_secs_f64());
        drop(a);
    }
    times.sort_by(f64::total_cmp);
    Ok(OpenMeasurement {
        open_seconds_median: times[times.len() / 2],
        open_seconds_min: times[0],
        heap_bytes: first.heap_bytes(),
        rss_growth_bytes,
        records: first.len(),
    })
}

/// Builds the synthetic archive, writes it into `dir`, and measures opening
/// it. For `lswag-studio bench` (run it on a release build).
pub fn bench_native(dir: &Path, cfg: &BenchConfig) -> Result<BenchReport, ArchiveError> {
    // Unique per call, so concurrent benches (parallel tests) do not collide.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("bench-{}-{call}.{NATIVE_EXTENSION}", std::process::id()));
    let archive = synthetic_nb201(cfg)?;
    let start = Instant::now();
    let file_bytes = write_native(&archive, &path)?;
    let write_seconds = start.elapsed().as_secs_f64();
    drop(archive);
    let m = measure_open(&path, cfg.repeats);
    let _ = std::fs::remove_file(&path);
    let m = m?;
    Ok(BenchReport {
        config: BenchConfig {
            records: m.records,
            ..cfg.clone()
        },
        file_bytes,
        write_seconds,
        open_seconds_median: m.open_seconds_median,
        open_seconds_min: m.open_seconds_min,
        heap_bytes: m.heap_bytes,
        rss_growth_bytes: m.rss_growth_bytes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::archive::model::tests::profile;
    use crate::archive::suite_zero::parse_suite_zero;
    use crate::archive::suite_zero::tests::NB201_FIXTURE;

    pub(crate) fn sample() -> Archive {
        let mut a = parse_suite_zero(NB201_FIXTURE.as_bytes(), "zc_nasbench201.json", None).unwrap();
        let scores = format!(
            "{{\"arch\": \"(0, 2, 3, 2, 3, 1)\", \"proxies\": {{\"lswag\": 3.0}}, \"profile\": {}}}\n",
            serde_json::to_string(&profile(17, 1234)).unwrap()
        );
        // Tuples are not arch strings, but the archive's space canonicalises them.
        crate::archive::scores::attach_scores_bytes(&mut a, scores.as_bytes(), "s.jsonl", &Default::default()).unwrap();
        a
    }

    #[test]
    fn leftovers_of_killed_writes_are_removed_and_a_live_writers_kept() {
        let dir = std::env::temp_dir().join(format!("lswag-temps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("a.lswag");
        // pid_max is at most 2^22 on Linux: this pid cannot be alive.
        let dead = dir.join(temp_name("a.lswag", 4_999_999, 7));
        let live = dir.join(temp_name("a.lswag", std::process::id(), 8));
        let other = dir.join(temp_name("b.lswag", 4_999_999, 9));
        for f in [&dead, &live, &other] {
            std::fs::write(f, b"partial").unwrap();
        }
        // One archive: two calls of sample() can straddle a second and
        // differ in their provenance's read_at.
        let archive = sample();
        write_native(&archive, &out).unwrap();
        assert!(!dead.exists(), "a dead writer's temp file is removed");
        assert!(
            live.exists() && other.exists(),
            "a live writer's and another file's are kept"
        );
        assert_eq!(read_native(&out).unwrap(), archive);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn round_trip_is_identical_including_nan_and_sharing() {
        let a = sample();
        let bytes = encode_native(&a).unwrap();
        let b = decode_native(&bytes, "a.lswag").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            b.profile(b.index_of("(0, 2, 3, 2, 3, 1)").unwrap()).unwrap(),
            &profile(17, 1234)
        );
        assert!(std::ptr::eq(
            b.tasks()[0].proxy("lswag").unwrap(),
            b.tasks()[1].proxy("lswag").unwrap()
        ));
        assert_eq!(encode_native(&b).unwrap(), bytes, "encoding is deterministic");
    }

    #[test]
    fn versions_and_damage_are_explained() {
        let bytes = encode_native(&sample()).unwrap();
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&7u32.to_le_bytes());
        let msg = decode_native(&newer, "n.lswag").unwrap_err().to_string();
        assert!(
            msg.contains("n.lswag") && msg.contains("version 7") && msg.contains("newer"),
            "{msg}"
        );
        let mut older = bytes.clone();
        older[8..12].copy_from_slice(&0u32.to_le_bytes());
        let msg = decode_native(&older, "o.lswag").unwrap_err().to_string();
        assert!(msg.contains("version 0") && msg.contains("older"), "{msg}");
        let msg = decode_native(&bytes[..bytes.len() - 3], "t.lswag")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("truncated"), "{msg}");
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let msg = decode_native(&flipped, "f.lswag").unwrap_err().to_string();
        assert!(msg.contains("checksum"), "{msg}");
        let msg = decode_native(b"{\"cifar10\": {}}", "j.lswag").unwrap_err().to_string();
        assert!(msg.contains("magic"), "{msg}");
    }

    /// Re-seals a payload so that decoding gets past the checksum.
    pub(crate) fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
        if bytes.len() >= HEADER_LEN {
            let len = (bytes.len() - HEADER_LEN) as u64;
            bytes[16..24].copy_from_slice(&len.to_le_bytes());
            let sum = checksum(&bytes[HEADER_LEN..]);
            bytes[24..32].copy_from_slice(&sum.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("lswag-native-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.lswag");
        std::fs::write(&path, b"old").unwrap();
        write_native(&sample(), &path).unwrap();
        assert_eq!(
            read_native(&path).unwrap(),
            sample_without_times(&read_native(&path).unwrap())
        );
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.lswag"]);
        // A directory that does not exist: an error naming the file, nothing left behind.
        let bad = dir.join("missing/b.lswag");
        let msg = write_native(&sample(), &bad).unwrap_err().to_string();
        assert!(msg.contains("b.lswag"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `sample()` stamps the current time; compare structure only.
    fn sample_without_times(read: &Archive) -> Archive {
        let mut s = sample();
        for (p, q) in s.provenance.iter_mut().zip(&read.provenance) {
            p.read_at = q.read_at.clone();
        }
        s
    }

    #[test]
    fn small_bench_runs_and_reports() {
        let cfg = BenchConfig {
            records: 300,
            proxies: 4,
            tasks: 2,
            layers: 20,
            repeats: 2,
            seed: 1,
        };
        let r = bench_native(&std::env::temp_dir(), &cfg).unwrap();
        assert_eq!(r.config.records, 300);
        assert!(r.file_bytes > 300 * 20 * 10);
        assert!(r.heap_bytes > 300 * 20 * std::mem::size_of::<LayerStat>());
        assert!(r.to_string().contains("open"));
        let a = synthetic_nb201(&cfg).unwrap();
        assert_eq!(a.tasks()[0].proxies().len(), 4);
        assert_eq!(a, synthetic_nb201_fixed_time(&cfg, &a));
    }

    /// Same config, same data (up to the provenance timestamp).
    fn synthetic_nb201_fixed_time(cfg: &BenchConfig, like: &Archive) -> Archive {
        let mut s = synthetic_nb201(cfg).unwrap();
        s.provenance[0].read_at = like.provenance[0].read_at.clone();
        s
    }

    /// The issue's targets: full NB201 with 15 proxies and profiles opens
    /// in < 0.3 s and takes < 50 MB. Timing is only meaningful in release
    /// builds: `cargo test --release -- --ignored bench_full_nb201`.
    #[test]
    #[ignore]
    fn bench_full_nb201() {
        let r = bench_native(&std::env::temp_dir(), &BenchConfig::default()).unwrap();
        println!("{r}");
        assert!(r.heap_bytes < 50_000_000, "{r}");
        assert!(r.open_seconds_median < 0.3, "{r}");
    }
}
