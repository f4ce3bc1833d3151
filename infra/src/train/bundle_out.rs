//! Writing a trained bundle: version and timestamps, the write itself, and the reload check.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use time::macros::format_description;
use time::OffsetDateTime;
use warmstart_core::bundle::{
    compile_bundle, sha256_hex, write_bundle, FileEntry, Manifest, Rollout, MANIFEST_FILE,
};
use warmstart_core::{Bundle, DirSource};

/// Where a command writes its bundle and how the bundle is versioned and promoted: the same
/// options on every command that writes one.
#[derive(clap::Args, Debug, Clone)]
pub struct OutArgs {
    /// Output directory for the bundle (models/ and manifest.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Bundle version, also the S3 key segment: letters, digits, `.`, `_`, `-` [default:
    /// <UTC time>-<8 hex digits of the models' sha256>, e.g. 2026-11-22T10-00-00Z-1a2b3c4d].
    #[arg(long, value_parser = parse_version)]
    pub version: Option<String>,
    /// How the reload function promotes this version: immediate, canary:<percent>, shadow, or
    /// a staged rollout that advances itself while its alarms stay quiet:
    /// canary:<percent>,bake:<minutes> or linear:<step>%/<minutes> [default: not set, which
    /// reload treats as immediate].
    #[arg(long, value_parser = parse_rollout)]
    pub rollout: Option<Rollout>,
    /// Overwrite a bundle already in --out.
    #[arg(long)]
    pub force: bool,
}

impl OutArgs {
    /// A fresh bundle in `out`, overwriting what is there (the local stack's cache).
    pub fn overwrite(out: &Path) -> Self {
        OutArgs {
            out: out.to_path_buf(),
            version: None,
            rollout: None,
            force: true,
        }
    }
}

pub fn parse_rollout(s: &str) -> Result<Rollout, String> {
    s.parse()
}

/// The manifest's rule for versions (and names), checked before training rather than after.
pub fn parse_version(s: &str) -> Result<String, String> {
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && s != "."
        && s != "..";
    if ok {
        Ok(s.to_string())
    } else {
        Err("use 1 to 128 letters, digits, `.`, `_` or `-`".into())
    }
}

/// `created_at` (RFC 3339, seconds) and the version timestamp `YYYY-MM-DDTHH-MM-SSZ`.
pub fn now() -> (String, String) {
    let t = OffsetDateTime::now_utc();
    let created = t
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("formats");
    let stamp = t
        .format(format_description!(
            "[year]-[month]-[day]T[hour]-[minute]-[second]Z"
        ))
        .expect("formats");
    (created, stamp)
}

/// `<stamp>-<first 8 hex of the sha256 of the model files, in order>`.
pub fn default_version(stamp: &str, files: &[(String, Vec<u8>)]) -> String {
    let all: Vec<u8> = files.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    format!("{stamp}-{}", &sha256_hex(&all)[..8])
}

/// Refuses to write into a directory that already holds a bundle unless `force`.
pub fn prepare_out_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.join(MANIFEST_FILE).exists() && !force {
        bail!(
            "{} already holds a bundle (manifest.json); choose another --out or pass --force",
            dir.display()
        );
    }
    if dir.exists() && !dir.is_dir() {
        bail!("{} exists and is not a directory", dir.display());
    }
    Ok(())
}

/// Validates the manifest, compiles the models into `models.wsc` (proven to score exactly as
/// the text), writes the bundle (files first, manifest last), reloads it from disk like the
/// reload function would (sizes, checksums, the compiled models, feature names) and replays
/// its golden rows. Returns the loaded bundle.
pub fn write_and_verify(
    dir: &Path,
    mut manifest: Manifest,
    files: &[(String, Vec<u8>)],
) -> Result<Bundle> {
    manifest.files = files
        .iter()
        .map(|(p, b)| FileEntry::describe(p, b))
        .collect();
    manifest.validate().context("the manifest is invalid")?;
    let (entry, compiled) =
        compile_bundle(&manifest, files).context("compiling the models into models.wsc")?;
    let mut files = files.to_vec();
    files.push((entry.path.clone(), compiled));
    manifest.files.push(entry);
    if dir.join(MANIFEST_FILE).exists() {
        // Overwriting (--force): remove the old manifest first so a reader never pairs it with
        // new model files.
        std::fs::remove_file(dir.join(MANIFEST_FILE))?;
    }
    write_bundle(dir, manifest, &files).with_context(|| format!("writing {}", dir.display()))?;
    let bundle = block_on(Bundle::load(&DirSource::new(dir)))
        .with_context(|| format!("reloading the bundle from {}", dir.display()))?;
    if !bundle.is_compiled() {
        bail!("the reloaded bundle did not use its compiled models (see the warning above)");
    }
    let n = bundle
        .verify_golden()
        .context("the reloaded bundle does not reproduce its golden rows")?;
    if n != bundle.manifest().golden.len() {
        bail!(
            "verified {n} golden rows of {}",
            bundle.manifest().golden.len()
        );
    }
    Ok(bundle)
}

/// The manifest of the bundle in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Manifest::from_json(&bytes)?)
}

/// Rewrites the bundle in `dir` (whose manifest is `manifest`) with a compiled file of the
/// current layout, built from its text models and verified as [`write_and_verify`] does; the
/// text files and the rest of the manifest are kept. For a bundle whose
/// [`Manifest::compiled_file`] is `None`: none, or one of an older layout, which serving would
/// answer by parsing the text.
pub fn recompile(dir: &Path, manifest: Manifest) -> Result<Bundle> {
    let files = manifest
        .files
        .iter()
        .filter(|f| f.compiled.is_none())
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f.path))
                .with_context(|| format!("reading {}", dir.join(&f.path).display()))?;
            Ok((f.path.clone(), bytes))
        })
        .collect::<Result<Vec<_>>>()?;
    // Already gone is fine: a recompile interrupted after this point is simply run again.
    for old in manifest.files.iter().filter(|f| f.compiled.is_some()) {
        match std::fs::remove_file(dir.join(&old.path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e)
                    .with_context(|| format!("removing {}", dir.join(&old.path).display()))
            }
            _ => {}
        }
    }
    write_and_verify(dir, manifest, &files)
}

/// Runs a future to completion (bundle loading is async, shared with the Lambda functions).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}
