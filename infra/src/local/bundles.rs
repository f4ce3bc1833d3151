//! The bundles the stack serves: given on the command line, cached under
//! `<data>/bundles/`, or trained once now on the synthetic data.

use super::{merchant_models, say, UpArgs};
use crate::data::synthetic;
use crate::train::{bundle_out, fair_multiple, recommender};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use warmstart_core::bundle::{Manifest, MANIFEST_FILE};

/// The bundle to serve: given, cached, or trained now into the cache.
pub(crate) fn bundle(
    given: Option<&Path>,
    cache: &Path,
    what: &str,
    no_train: bool,
    train: impl FnOnce(&Path) -> Result<Manifest>,
) -> Result<PathBuf> {
    if let Some(dir) = given {
        if !dir.join(MANIFEST_FILE).is_file() {
            bail!("{} holds no {MANIFEST_FILE}", dir.display());
        }
        return Ok(dir.to_path_buf());
    }
    if cache.join(MANIFEST_FILE).is_file() {
        say(format!("{what}: cached bundle {}", cache.display()));
        // A cache from an older build holds a compiled file this scorer does not read; serving
        // it would parse the text at every cold start.
        let manifest = bundle_out::read_manifest(cache)?;
        if manifest.compiled_file().is_none() {
            bundle_out::recompile(cache, manifest)
                .with_context(|| format!("recompiling the cached {what} bundle"))?;
            say(format!("{what}: recompiled its models.wsc for this build"));
        }
        return Ok(cache.to_path_buf());
    }
    if no_train {
        bail!(
            "no {what} bundle in {} and --no-train was given",
            cache.display()
        );
    }
    say(format!(
        "{what}: training a small model (once; cached in {})",
        cache.display()
    ));
    let t = Instant::now();
    train(cache).with_context(|| format!("training the {what} model"))?;
    say(format!(
        "{what}: trained in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    Ok(cache.to_path_buf())
}

/// A recommender on the stack's synthetic customers (`--customers`, `--seed`, 6 months) with
/// `trees` × `leaves` and training `seed`: the stack's own model, and chaos's other versions.
pub(crate) fn train_recommender(
    args: &UpArgs,
    out: &Path,
    trees: u32,
    leaves: u32,
    seed: u64,
) -> Result<warmstart_core::Manifest> {
    recommender::run(&recommender::Options {
        source: recommender::DataSource::Synthetic(synthetic::SyntheticConfig {
            customers: args.customers,
            months: 6,
            seed: args.seed,
        }),
        out: out.to_path_buf(),
        trees,
        leaves,
        learning_rate: 0.1,
        seed,
        version: None,
        rollout: None,
        force: true,
    })
}

/// The bundles to serve (given, cached under `<data>/bundles/`, or trained now): the
/// recommender, the fair multiple and the generic merchant models.
pub fn prepare_bundles(args: &UpArgs) -> Result<(PathBuf, PathBuf, Vec<PathBuf>)> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let bundles = args.data_dir.join("bundles");
    let reco = bundle(
        args.recommender_bundle.as_deref(),
        &bundles.join("product-recommender"),
        "recommender",
        args.no_train,
        |out| train_recommender(args, out, 50, 31, args.seed),
    )?;
    let fm = bundle(
        args.fair_multiple_bundle.as_deref(),
        &bundles.join("fair-multiple"),
        "fair-multiple",
        args.no_train,
        |out| {
            fair_multiple::run(&fair_multiple::Options {
                companies: args.companies,
                out: out.to_path_buf(),
                seed: args.seed,
                trees: 200,
                leaves: 15,
                learning_rate: 0.05,
                version: None,
                rollout: None,
                force: true,
            })
        },
    )?;
    let generic = merchant_models::bundles(args, &bundles)?;
    Ok((reco, fm, generic))
}
