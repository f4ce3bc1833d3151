//! Model bundles: a folder (local or `s3://bucket/models/<name>/<version>/`) holding model files
//! and, written last, `manifest.json`. Loading verifies every listed file's size and sha256,
//! parses every model with the native scorer and checks each model agrees with the manifest.

mod compiled;
mod explain;
mod manifest;
mod source;

pub use compiled::{compile_bundle, COMPILED_FALLBACK_METRIC};
pub use manifest::{
    is_key_segment, sha256_hex, CompiledMarker, Feature, FileEntry, GoldenRow, Manifest, Metrics,
    ModelKind, Output, Rollout, MANIFEST_FILE, MANIFEST_FORMAT, MIN_GOLDEN_ROWS,
};
pub use source::{write_bundle, BundleSource, DirSource, SourceError};

use crate::model::{Model, ModelError};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("manifest.json is not valid: {0}")]
    Manifest(String),
    #[error("bundle is invalid: {0}")]
    Invalid(String),
    #[error("file `{path}` is {got} bytes, manifest says {expected}")]
    SizeMismatch {
        path: String,
        expected: u64,
        got: u64,
    },
    #[error("file `{path}` has sha256 {got}, manifest says {expected}")]
    ChecksumMismatch {
        path: String,
        expected: String,
        got: String,
    },
    #[error("model `{path}`: {source}")]
    Model {
        path: String,
        #[source]
        source: ModelError,
    },
    #[error("model `{path}` does not match the manifest: {reason}")]
    Incompatible { path: String, reason: String },
    #[error("golden row {row}, output `{output}`: expected {expected:?}, scored {got:?}")]
    GoldenMismatch {
        row: usize,
        output: String,
        expected: f64,
        got: f64,
    },
    #[error("compiled models disagree with the text on {what}, output `{output}`: text {text:?}, compiled {compiled:?}")]
    CompiledMismatch {
        what: String,
        output: String,
        text: f64,
        compiled: f64,
    },
}

impl BundleError {
    /// Short machine-readable reason, used in registry `rejected` entries and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Source(SourceError::NotFound(_)) => "file_missing",
            BundleError::Source(_) => "source_error",
            BundleError::Manifest(_) => "manifest_unreadable",
            BundleError::Invalid(_) => "manifest_invalid",
            BundleError::SizeMismatch { .. } => "size_mismatch",
            BundleError::ChecksumMismatch { .. } => "checksum_mismatch",
            BundleError::Model { .. } => "model_unparseable",
            BundleError::Incompatible { .. } => "model_incompatible",
            BundleError::GoldenMismatch { .. } => "golden_mismatch",
            BundleError::CompiledMismatch { .. } => "compiled_mismatch",
        }
    }
}

/// Where each output comes from: which model, which class of it.
#[derive(Debug, Clone, Copy)]
struct OutputSlot {
    model: usize,
    class: usize,
}

/// One row's scoring by a model: [`Model::predict_into`] or [`Model::predict_raw_into`].
type ScoreFn = fn(&Model, &[f64], &mut [f64]) -> Result<(), ModelError>;

/// A loaded, verified bundle: the manifest plus one parsed [`Model`] per model file.
#[derive(Debug, Clone)]
pub struct Bundle {
    manifest: Manifest,
    models: Vec<Arc<Model>>,
    model_paths: Vec<String>,
    slots: Vec<OutputSlot>,
    /// True when every model yields one output and outputs map 1:1, in order, onto models,
    /// the recommender's shape: scoring writes straight into the caller's buffer.
    direct: bool,
    compiled: bool,
}

impl Bundle {
    /// Reads `manifest.json` and every file it lists from `source`, concurrently, verifying
    /// sizes and checksums, then loads and cross-checks the models: from the compiled file
    /// when the manifest lists one this scorer reads, else (or when that file is missing or
    /// refused, which is logged and counted in `CompiledFallback`) by parsing the text models.
    pub async fn load<S: BundleSource>(source: &S) -> Result<Self, BundleError> {
        let manifest = Manifest::from_json(&source.read(MANIFEST_FILE).await?)?;
        manifest.validate()?;
        let reads = read_verified(
            source,
            manifest.files.iter().filter(|f| f.compiled.is_none()),
        );
        // The compiled file is an optimisation: failing to read it is a fallback, not an error.
        let compiled = async {
            match manifest.compiled_file() {
                Some(f) => Some((
                    f.path.clone(),
                    source.read_large(&f.path, Some(f.bytes)).await,
                )),
                None => None,
            }
        };
        let (files, compiled) = futures::join!(reads, compiled);
        let mut files = files?;
        match compiled {
            Some((path, Ok(bytes))) => files.push((path, bytes)),
            Some((path, Err(e))) => compiled::fall_back(&path, &e.to_string()),
            None => {}
        }
        Self::from_parts(manifest, files)
    }

    /// What a serving container loads: `manifest.json`, then only the compiled file when the
    /// manifest lists one this scorer reads and it is sound (its sha256 is in the manifest,
    /// which the registry pins, and it names the sha256 of every text model it was compiled
    /// from), so init fetches two objects and parses nothing; otherwise everything, as
    /// [`Self::load`] does. Reload validates uploads with [`Self::load`], which reads and
    /// verifies the text models too: they stay the source of truth.
    ///
    /// The models' scans are then built on a thread of their own ([`Self::prepare_scans`]).
    pub async fn load_for_serving<S: BundleSource>(source: &S) -> Result<Self, BundleError> {
        let bundle = Self::load_serving_models(source).await?;
        bundle.prepare_scans();
        Ok(bundle)
    }

    async fn load_serving_models<S: BundleSource>(source: &S) -> Result<Self, BundleError> {
        let manifest = Manifest::from_json(&source.read(MANIFEST_FILE).await?)?;
        manifest.validate()?;
        let Some(entry) = manifest.compiled_file() else {
            return Self::load_files(source, manifest).await;
        };
        let models = match source.read_large(&entry.path, Some(entry.bytes)).await {
            Ok(bytes) => compiled::models(&manifest, entry, &bytes),
            Err(e) => Err(e.to_string()),
        };
        match models {
            Ok(models) => Self::assemble(manifest, &[], Some(models)),
            Err(reason) => {
                compiled::fall_back(&entry.path, &reason);
                let mut text = manifest;
                text.files.retain(|f| f.compiled.is_none());
                Self::load_files(source, text).await
            }
        }
    }

    async fn load_files<S: BundleSource>(
        source: &S,
        manifest: Manifest,
    ) -> Result<Self, BundleError> {
        let files = read_verified(source, manifest.files.iter()).await?;
        Self::from_parts(manifest, files)
    }

    /// Builds a bundle from a manifest and file contents already in memory (verified here).
    /// A compiled file among `files` is used as [`Self::load`] uses it.
    pub fn from_parts(
        manifest: Manifest,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<Self, BundleError> {
        manifest.validate()?;
        if manifest.compiled_file().is_none() {
            // Written by a newer CLI for a newer scorer: the text models still serve.
            if let Some(f) = manifest.files.iter().find(|f| f.compiled.is_some()) {
                let version = f.compiled.map_or(0, |c| c.layout_version);
                compiled::fall_back(&f.path, &format!("unknown layout version {version}"));
            }
        }
        let from_compiled = manifest.compiled_file().and_then(|entry| {
            let bytes = files.iter().find(|(p, _)| *p == entry.path).map(|(_, b)| b);
            let Some(bytes) = bytes else {
                compiled::fall_back(&entry.path, "not read");
                return None;
            };
            compiled::models(&manifest, entry, bytes)
                .map_err(|reason| compiled::fall_back(&entry.path, &reason))
                .ok()
        });
        Self::assemble(manifest, &files, from_compiled)
    }

    /// The bundle from its models: those of the compiled file, the rest parsed from `files`.
    fn assemble(
        manifest: Manifest,
        files: &[(String, Vec<u8>)],
        mut from_compiled: Option<HashMap<String, Model>>,
    ) -> Result<Self, BundleError> {
        let compiled = from_compiled.is_some();
        let mut models: Vec<Arc<Model>> = Vec::new();
        let mut model_paths: Vec<String> = Vec::new();
        let mut slots = Vec::with_capacity(manifest.outputs.len());
        for output in &manifest.outputs {
            let index = match model_paths.iter().position(|p| *p == output.model) {
                Some(i) => i,
                None => {
                    let model = match from_compiled.as_mut().and_then(|m| m.remove(&output.model)) {
                        Some(model) => model,
                        None => parse_text(&manifest, files, &output.model)?,
                    };
                    check_compatible(&manifest, &output.model, &model)?;
                    models.push(Arc::new(model));
                    model_paths.push(output.model.clone());
                    models.len() - 1
                }
            };
            if output.class >= models[index].num_outputs() {
                return Err(BundleError::Incompatible {
                    path: output.model.clone(),
                    reason: format!(
                        "output `{}` reads class {} of a model with {} outputs",
                        output.code,
                        output.class,
                        models[index].num_outputs()
                    ),
                });
            }
            slots.push(OutputSlot {
                model: index,
                class: output.class,
            });
        }
        let direct = models.len() == slots.len()
            && models.iter().all(|m| m.num_outputs() == 1)
            && slots.iter().enumerate().all(|(i, s)| s.model == i);
        Ok(Bundle {
            manifest,
            models,
            model_paths,
            slots,
            direct,
            compiled,
        })
    }

    /// Builds every model's scan ([`Model::prepare_scan`]) on a thread of its own, so neither
    /// a cold start nor a swap waits for it: until it is done, predictions walk the trees,
    /// bit-identical and slower. On Lambda the thread runs while the sandbox initialises or
    /// serves; frozen between invocations, it resumes with the next one. Returns the thread,
    /// for callers that want to wait; `None` (logged) when the OS refused one, and the models
    /// keep walking.
    pub fn prepare_scans(&self) -> Option<std::thread::JoinHandle<()>> {
        let models = self.models.clone();
        let spawned = std::thread::Builder::new()
            .name("warmstart-scan".into())
            .spawn(move || {
                for m in &models {
                    m.prepare_scan();
                }
            });
        spawned
            .map_err(|e| tracing::warn!(error = %e, "no thread for the scans: models keep walking"))
            .ok()
    }

    /// Whether the models were loaded from the compiled file rather than parsed from text.
    pub fn is_compiled(&self) -> bool {
        self.compiled
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    pub fn num_features(&self) -> usize {
        self.manifest.features.len()
    }

    pub fn num_outputs(&self) -> usize {
        self.slots.len()
    }

    /// The parsed models with their file paths, in first-use order.
    pub fn models(&self) -> impl Iterator<Item = (&str, &Model)> {
        self.model_paths
            .iter()
            .map(String::as_str)
            .zip(self.models.iter().map(|m| m.as_ref()))
    }

    /// Scores one row (manifest feature order) into `out` (one value per manifest output).
    /// Allocation-free for bundles of single-output models (recommender, fair-multiple) and
    /// for bundles of one multiclass model whose outputs are its classes in order.
    pub fn score_into(&self, row: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        self.score_with(row, out, Model::predict_into)
    }

    /// [`Self::score_into`] without the objective's output transform: LightGBM's raw score.
    pub fn score_raw_into(&self, row: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        self.score_with(row, out, Model::predict_raw_into)
    }

    fn score_with(&self, row: &[f64], out: &mut [f64], predict: ScoreFn) -> Result<(), ModelError> {
        if out.len() != self.slots.len() {
            return Err(ModelError::OutputCount {
                expected: self.slots.len(),
                got: out.len(),
            });
        }
        if self.direct {
            for (model, slot) in self.models.iter().zip(out.chunks_exact_mut(1)) {
                predict(model, row, slot)?;
            }
            return Ok(());
        }
        if let [model] = self.models.as_slice() {
            if self.slots.iter().enumerate().all(|(i, s)| s.class == i)
                && model.num_outputs() == out.len()
            {
                return predict(model, row, out);
            }
        }
        let per_model: Vec<Vec<f64>> = self
            .models
            .iter()
            .map(|m| {
                let mut v = vec![0.0; m.num_outputs()];
                predict(m, row, &mut v).map(|()| v)
            })
            .collect::<Result<_, _>>()?;
        for (o, slot) in out.iter_mut().zip(&self.slots) {
            *o = per_model[slot.model][slot.class];
        }
        Ok(())
    }

    /// Bytes the parsed models hold (see [`Model::heap_bytes`]) plus the manifest's golden
    /// rows, the bulk of what a loaded bundle keeps.
    pub fn heap_bytes(&self) -> usize {
        let golden: usize = (self.manifest.golden.iter())
            .map(|g| (g.features.len() * 2 + g.expected.len()) * 8)
            .sum();
        self.models.iter().map(|m| m.heap_bytes()).sum::<usize>() + golden
    }

    /// Scores many rows (row-major) into `out` (row-major, `num_outputs` per row).
    pub fn score_batch_into(&self, rows: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        let nf = self.num_features();
        let no = self.num_outputs();
        if !rows.len().is_multiple_of(nf) || out.len() != rows.len() / nf * no {
            return Err(ModelError::OutputCount {
                expected: rows.len() / nf * no,
                got: out.len(),
            });
        }
        let n = rows.len() / nf;
        for (m, model) in self.models.iter().enumerate() {
            let k = model.num_outputs();
            let mut tmp = vec![0.0; n * k];
            model.predict_batch_into(rows, &mut tmp)?;
            for (o, slot) in self.slots.iter().enumerate().filter(|(_, s)| s.model == m) {
                for r in 0..n {
                    out[r * no + o] = tmp[r * k + slot.class];
                }
            }
        }
        Ok(())
    }

    /// Scores every golden row and demands bit-identical outputs.
    pub fn verify_golden(&self) -> Result<usize, BundleError> {
        let mut out = vec![0.0; self.num_outputs()];
        for (i, g) in self.manifest.golden.iter().enumerate() {
            self.score_into(&g.row(), &mut out)
                .map_err(|source| BundleError::Model {
                    path: "golden".into(),
                    source,
                })?;
            for (o, (&want, &got)) in g.expected.iter().zip(&out).enumerate() {
                let same = want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan());
                if !same {
                    return Err(BundleError::GoldenMismatch {
                        row: i,
                        output: self.manifest.outputs[o].code.clone(),
                        expected: want,
                        got,
                    });
                }
            }
        }
        Ok(self.manifest.golden.len())
    }
}

/// Reads `entries` from `source` concurrently, each checked against its size and sha256.
async fn read_verified<'a, S: BundleSource>(
    source: &S,
    entries: impl Iterator<Item = &'a FileEntry>,
) -> Result<Vec<(String, Vec<u8>)>, BundleError> {
    futures::future::try_join_all(entries.map(|f| async move {
        let bytes = source.read_large(&f.path, Some(f.bytes)).await?;
        verify_file(f, &bytes)?;
        Ok::<_, BundleError>((f.path.clone(), bytes))
    }))
    .await
}

/// Verifies and parses one text model.
fn parse_text(
    manifest: &Manifest,
    files: &[(String, Vec<u8>)],
    path: &str,
) -> Result<Model, BundleError> {
    let entry = manifest.file(path).expect("validated");
    let bytes = files
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, b)| b)
        .ok_or_else(|| SourceError::NotFound(path.to_string()))?;
    verify_file(entry, bytes)?;
    Model::parse_bytes(bytes).map_err(|source| BundleError::Model {
        path: path.to_string(),
        source,
    })
}

fn verify_file(entry: &FileEntry, bytes: &[u8]) -> Result<(), BundleError> {
    if bytes.len() as u64 != entry.bytes {
        return Err(BundleError::SizeMismatch {
            path: entry.path.clone(),
            expected: entry.bytes,
            got: bytes.len() as u64,
        });
    }
    let got = sha256_hex(bytes);
    if !got.eq_ignore_ascii_case(&entry.sha256) {
        return Err(BundleError::ChecksumMismatch {
            path: entry.path.clone(),
            expected: entry.sha256.clone(),
            got,
        });
    }
    Ok(())
}

/// A model must take exactly the manifest's features, by name and order and kind.
fn check_compatible(manifest: &Manifest, path: &str, model: &Model) -> Result<(), BundleError> {
    let incompatible = |reason: String| BundleError::Incompatible {
        path: path.to_string(),
        reason,
    };
    if model.num_features() != manifest.features.len() {
        return Err(incompatible(format!(
            "model has {} features, manifest lists {}",
            model.num_features(),
            manifest.features.len()
        )));
    }
    let names = model.feature_names().iter();
    let cats = model.categorical_features().iter();
    for ((f, name), &cat) in manifest.features.iter().zip(names).zip(cats) {
        if f.name != *name {
            return Err(incompatible(format!(
                "feature `{name}` where the manifest has `{}`",
                f.name
            )));
        }
        // LightGBM marks a categorical feature it never split on as `none`; only a declared
        // categorical that the manifest calls numerical is a real disagreement.
        if cat && !f.categorical {
            return Err(incompatible(format!(
                "feature `{name}` is categorical in the model but not in the manifest"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
