//! The bundle's compiled models file (`models.wsc`, see [`crate::model::compiled`]): using it
//! when it is sound, falling back to the text models when it is not, and building it.

use super::{Bundle, BundleError, FileEntry, Manifest};
use crate::model::compiled::{self, Entry, FILE_NAME};
use crate::model::Model;
use std::collections::HashMap;

/// Counted each time a bundle lists a compiled file this scorer reads but it cannot be used.
pub const COMPILED_FALLBACK_METRIC: &str = "CompiledFallback";
/// Random rows [`compile_bundle`] compares on, besides the golden rows.
const RANDOM_ROWS: usize = 1_000;

/// Logs and counts a compiled file that could not be used; the text models serve instead.
pub(super) fn fall_back(path: &str, reason: &str) {
    tracing::warn!(
        file = path,
        reason,
        "compiled models unusable; parsing the text models"
    );
    metrics::counter!(COMPILED_FALLBACK_METRIC).increment(1);
}

/// The models of a verified compiled file, by text path, or why it cannot stand in for the
/// text: size or sha256 against the manifest, a refused file, or models that are not exactly
/// the manifest's (each must come from a text file whose sha256 the manifest lists).
pub(super) fn models(
    manifest: &Manifest,
    entry: &FileEntry,
    bytes: &[u8],
) -> Result<HashMap<String, Model>, String> {
    super::verify_file(entry, bytes).map_err(|e| e.to_string())?;
    let loaded = compiled::load_verified(bytes).map_err(|e| e.to_string())?;
    let mut models = HashMap::with_capacity(loaded.len());
    for m in loaded {
        let listed = manifest
            .file(&m.path)
            .filter(|f| f.compiled.is_none())
            .ok_or_else(|| format!("holds `{}`, which the manifest does not list", m.path))?;
        if !hex::encode(m.source_sha256).eq_ignore_ascii_case(&listed.sha256) {
            return Err(format!(
                "was compiled from another version of `{}` (sha256 differs)",
                m.path
            ));
        }
        if models.insert(m.path.clone(), m.model).is_some() {
            return Err(format!("holds `{}` twice", m.path));
        }
    }
    for o in &manifest.outputs {
        if !models.contains_key(&o.model) {
            return Err(format!("lacks `{}`", o.model));
        }
    }
    Ok(models)
}

/// Builds the compiled file of a bundle from its text models and proves it scores exactly as
/// they do: bit for bit on the golden rows and on [`RANDOM_ROWS`] random rows (NaN, zeros,
/// ±inf, split thresholds ± 1 ulp, categories). `files` holds the text models (any compiled
/// file already among them is ignored). Returns the manifest entry and the file's bytes; the
/// caller adds both to the bundle.
pub fn compile_bundle(
    manifest: &Manifest,
    files: &[(String, Vec<u8>)],
) -> Result<(FileEntry, Vec<u8>), BundleError> {
    if manifest
        .file(FILE_NAME)
        .is_some_and(|f| f.compiled.is_none())
    {
        return Err(BundleError::Invalid(format!(
            "`{FILE_NAME}` is a text model; the compiled file needs that name"
        )));
    }
    let mut text_manifest = manifest.clone();
    text_manifest.files.retain(|f| f.compiled.is_none());
    let text_files: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| text_manifest.file(p).is_some())
        .cloned()
        .collect();
    let text = Bundle::from_parts(text_manifest.clone(), text_files.clone())?;

    let mut hashes = Vec::new();
    for (path, _) in text.models() {
        let sha = &text_manifest.file(path).expect("listed").sha256;
        let mut raw = [0u8; 32];
        hex::decode_to_slice(sha, &mut raw)
            .map_err(|_| BundleError::Invalid(format!("file `{path}` has a malformed sha256")))?;
        hashes.push(raw);
    }
    let entries: Vec<Entry> = text
        .models()
        .zip(&hashes)
        .map(|((path, model), sha)| Entry {
            path,
            source_sha256: *sha,
            model,
        })
        .collect();
    let bytes = compiled::write(&entries);
    let entry = FileEntry::describe_compiled(FILE_NAME, &bytes);

    // Load it back the way serving will, refusing to fall back.
    let mut with = text_manifest;
    with.files.push(entry.clone());
    let reloaded = models(&with, &entry, &bytes)
        .map_err(|reason| BundleError::Invalid(format!("compiled file refused: {reason}")))?;
    let mut files_with = text_files;
    files_with.push((FILE_NAME.to_string(), bytes.clone()));
    let served = Bundle::from_parts(with, files_with)?;
    if !served.is_compiled() || reloaded.len() != text.models().count() {
        return Err(BundleError::Invalid(
            "the compiled file was not used on reload".into(),
        ));
    }
    for (i, g) in manifest.golden.iter().enumerate() {
        compare(&text, &served, &g.row(), &format!("golden row {i}"))?;
    }
    let mut rows = RowGen::new(&text);
    for i in 0..RANDOM_ROWS {
        compare(&text, &served, &rows.next(), &format!("random row {i}"))?;
    }
    Ok((entry, bytes))
}

fn compare(text: &Bundle, served: &Bundle, row: &[f64], what: &str) -> Result<(), BundleError> {
    let n = text.num_outputs();
    let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
    let scored = |bundle: &Bundle, out: &mut [f64]| {
        bundle
            .score_into(row, out)
            .map_err(|source| BundleError::Model {
                path: what.to_string(),
                source,
            })
    };
    scored(text, &mut a)?;
    scored(served, &mut b)?;
    for (o, (x, y)) in a.iter().zip(&b).enumerate() {
        if x.to_bits() != y.to_bits() && !(x.is_nan() && y.is_nan()) {
            return Err(BundleError::CompiledMismatch {
                what: what.to_string(),
                output: text.manifest().outputs[o].code.clone(),
                text: *x,
                compiled: *y,
            });
        }
    }
    Ok(())
}

/// Deterministic rows that exercise every rule: per cell a special value, a split value of
/// that feature ± 1 ulp, a small category, or a wide random number.
struct RowGen {
    state: u64,
    splits: Vec<Vec<f64>>,
}

impl RowGen {
    fn new(bundle: &Bundle) -> Self {
        let mut splits = vec![Vec::new(); bundle.num_features()];
        for (_, model) in bundle.models() {
            for (feature, t) in model.split_values() {
                splits[feature].extend([t, t.next_up(), t.next_down()]);
            }
        }
        RowGen {
            state: 0x5741_524d_5354_4152,
            splits,
        }
    }

    /// splitmix64
    fn draw(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next(&mut self) -> Vec<f64> {
        const SPECIAL: [f64; 10] = [
            f64::NAN,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-40,
            -1e-40,
            -1.0,
            3e9,
            1e300,
        ];
        (0..self.splits.len())
            .map(|f| {
                let r = self.draw();
                let pick = (r >> 8) as usize;
                match r % 8 {
                    0 => SPECIAL[pick % SPECIAL.len()],
                    1 => (pick % 64) as f64,
                    2 => ((pick % 2_000_000) as f64 - 1_000_000.0) / 997.0,
                    _ if self.splits[f].is_empty() => (pick % 8) as f64,
                    _ => self.splits[f][pick % self.splits[f].len()],
                }
            })
            .collect()
    }
}
