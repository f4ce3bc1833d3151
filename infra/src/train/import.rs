//! `warmstart import`: a LightGBM text model saved elsewhere (Python `save_model`, the CLI,
//! lightgbm3; LightGBM 3.x or 4.x) wrapped into a verified `generic` bundle.
//!
//! The model text says nearly everything: features and their order, which are categorical,
//! the objective and the classes. Python appends `pandas_categorical:` — the categories of each
//! pandas `category` column, in the order of the categorical features — which gives requests
//! the strings. Golden rows come from `--rows` (a headed CSV) or are drawn from the value
//! ranges of the `feature_infos` header line, plus edge values; LightGBM scores them.

use crate::data::csv_table::Table;
use crate::train::bundle_out::{self, OutArgs};
use crate::train::generic_bundle::{self, header, GenericBundle};
use anyhow::{anyhow, bail, Context, Result};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use warmstart_core::bundle::{sha256_hex, Manifest, Metrics};
use warmstart_core::Model;

/// Golden rows drawn from `feature_infos` (edge rows come on top).
const SAMPLED_ROWS: usize = 40;
/// Rows of `--rows` used as golden rows at most (edge rows come on top).
const MAX_CSV_ROWS: usize = 64;

#[derive(Debug, Clone)]
pub struct Options {
    pub model: PathBuf,
    pub name: String,
    pub rows: Option<PathBuf>,
    pub metrics: Option<PathBuf>,
    pub bundle: OutArgs,
}

/// What a `feature_infos` entry says about a feature's training values.
#[derive(Debug, Clone, PartialEq)]
pub enum Info {
    /// `[min:max]`.
    Range(f64, f64),
    /// `a:b:c`: the category codes seen in training.
    Codes(Vec<i64>),
    /// `none`: the feature was never used (constant or empty in training).
    Unused,
}

/// Parses the `feature_infos` header value.
pub fn feature_infos(text: &str) -> Result<Vec<Info>> {
    let line = header(text, "feature_infos").ok_or_else(|| anyhow!("no feature_infos line"))?;
    line.split_whitespace()
        .map(|tok| {
            if tok == "none" {
                return Ok(Info::Unused);
            }
            if let Some(inner) = tok.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                let (a, b) = inner
                    .split_once(':')
                    .ok_or_else(|| anyhow!("feature_infos `{tok}`"))?;
                return Ok(Info::Range(a.parse()?, b.parse()?));
            }
            tok.split(':')
                .map(|c| {
                    c.parse::<i64>()
                        .map_err(|_| anyhow!("feature_infos `{tok}`"))
                })
                .collect::<Result<_>>()
                .map(Info::Codes)
        })
        .collect()
}

/// The category strings of each categorical feature from the `pandas_categorical:` line
/// (`None` when absent or `null`). Numbers are spelled as JSON spells them (`3`, `2.5`), the
/// way a client sends them.
pub fn pandas_categorical(text: &str) -> Result<Option<Vec<Vec<String>>>> {
    let Some(json) = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("pandas_categorical:"))
    else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(json.trim())
        .with_context(|| format!("pandas_categorical is not JSON: {json}"))?;
    let lists = match value {
        Value::Null => return Ok(None),
        Value::Array(lists) => lists,
        _ => bail!("pandas_categorical must be null or a list of lists"),
    };
    lists
        .into_iter()
        .map(|list| match list {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    other => bail!("pandas_categorical holds {other}, not a category"),
                })
                .collect(),
            _ => bail!("pandas_categorical must be a list of lists"),
        })
        .collect::<Result<_>>()
        .map(Some)
}

/// The `[key: value]` lines of the `parameters:` section that have a value.
pub fn parameters(text: &str) -> BTreeMap<String, Value> {
    text.lines()
        .skip_while(|l| *l != "parameters:")
        .take_while(|l| *l != "end of parameters")
        .filter_map(|l| l.strip_prefix('[')?.strip_suffix(']')?.split_once(": "))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

/// `--metrics`: a JSON object of finite numbers, plus an optional `auc` object of finite
/// numbers per output code.
pub fn read_metrics(path: &Path) -> Result<Metrics> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let bad = |m: String| anyhow!("{}: {m}", path.display());
    let Value::Object(map) = &value else {
        return Err(bad("metrics must be a JSON object of numbers".into()));
    };
    for (k, v) in map {
        let numbers: Vec<&Value> = match (k.as_str(), v) {
            ("auc", Value::Object(per_output)) => per_output.values().collect(),
            _ => vec![v],
        };
        for n in numbers {
            if !n.as_f64().is_some_and(f64::is_finite) {
                return Err(bad(format!("metric `{k}` is {n}, not a finite number")));
            }
        }
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// `n` rows drawn from the training value ranges, deterministic for `seed`.
pub fn sampled_rows(infos: &[Info], seed: u64, n: usize) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            infos
                .iter()
                .map(|info| match info {
                    Info::Range(a, b) if a < b && a.is_finite() && b.is_finite() => {
                        rng.gen_range(*a..=*b)
                    }
                    Info::Range(a, _) => *a,
                    Info::Codes(c) => {
                        let valid: Vec<i64> = c.iter().copied().filter(|&x| x >= 0).collect();
                        if valid.is_empty() {
                            f64::NAN
                        } else {
                            valid[rng.gen_range(0..valid.len())] as f64
                        }
                    }
                    Info::Unused => 0.0,
                })
                .collect()
        })
        .collect()
}

/// Rows LightGBM's missing-value and out-of-range rules decide: all missing, all zero, every
/// value below / above its training range (categorical: a negative and an unseen code), and
/// each feature missing in turn from `base`.
pub fn edge_rows(infos: &[Info], base: &[f64], unseen: &[f64]) -> Vec<Vec<f64>> {
    let nf = infos.len();
    let outside = |below: bool| -> Vec<f64> {
        infos
            .iter()
            .zip(unseen)
            .map(|(info, &u)| match (info, below) {
                (Info::Range(a, b), true) => a - (b - a).abs().max(1.0),
                (Info::Range(a, b), false) => b + (b - a).abs().max(1.0),
                (Info::Codes(_), true) => -1.0,
                (Info::Codes(_), false) => u,
                (Info::Unused, _) => 1.0,
            })
            .collect()
    };
    let mut rows = vec![
        vec![f64::NAN; nf],
        vec![0.0; nf],
        outside(true),
        outside(false),
    ];
    for f in 0..nf.min(8) {
        let mut row = base.to_vec();
        row[f] = f64::NAN;
        rows.push(row);
    }
    rows
}

/// Golden rows from a headed CSV whose columns name the model's features.
fn csv_rows(path: &Path, model: &Model, categories: &[Vec<String>]) -> Result<Vec<Vec<f64>>> {
    let table = Table::read(path)?;
    let cols: Vec<usize> = model
        .feature_names()
        .iter()
        .map(|f| table.column(f, "feature"))
        .collect::<Result<_>>()?;
    if table.rows.is_empty() {
        bail!("{}: no rows", table.source);
    }
    generic_bundle::spread(table.rows.len(), MAX_CSV_ROWS.min(table.rows.len()))
        .map(|r| {
            cols.iter()
                .zip(categories)
                .map(|(&c, cats)| table.value(r, c, cats))
                .collect()
        })
        .collect()
}

/// The category lists of the model's features: pandas' lists on the categorical features in
/// order, nothing elsewhere.
fn feature_categories(text: &str, model: &Model) -> Result<Vec<Vec<String>>> {
    let nf = model.num_features();
    let Some(lists) = pandas_categorical(text)? else {
        return Ok(vec![Vec::new(); nf]);
    };
    let cat: Vec<usize> = (0..nf)
        .filter(|&f| model.categorical_features()[f])
        .collect();
    if lists.len() != cat.len() {
        bail!(
            "pandas_categorical lists {} category lists but the model has {} categorical \
             features; which list belongs to which feature is unknown",
            lists.len(),
            cat.len()
        );
    }
    let mut out = vec![Vec::new(); nf];
    for (f, list) in cat.into_iter().zip(lists) {
        out[f] = list;
    }
    Ok(out)
}

/// Imports the model into a bundle in `opts.bundle.out`. Nothing is written when the model
/// cannot be served or the inputs are invalid.
pub fn run(opts: &Options) -> Result<Manifest> {
    let bytes =
        std::fs::read(&opts.model).with_context(|| format!("reading {}", opts.model.display()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        anyhow!(
            "{} is not a LightGBM text model (not UTF-8)",
            opts.model.display()
        )
    })?;
    let model = Model::parse(text).with_context(|| {
        format!(
            "{} cannot be served by the native scorer",
            opts.model.display()
        )
    })?;
    let categories = feature_categories(text, &model)?;
    let metrics = match &opts.metrics {
        Some(p) => read_metrics(p)?,
        None => Metrics::default(),
    };
    bundle_out::prepare_out_dir(&opts.bundle.out, opts.bundle.force)?;
    let infos = feature_infos(text)?;
    if infos.len() != model.num_features() {
        bail!(
            "feature_infos has {} entries for {} features",
            infos.len(),
            model.num_features()
        );
    }
    let (mut rows, source) = match &opts.rows {
        Some(p) => (
            csv_rows(p, &model, &categories)?,
            format!("{}", p.display()),
        ),
        None => (
            sampled_rows(&infos, 0, SAMPLED_ROWS),
            "feature_infos ranges".to_string(),
        ),
    };
    let unseen: Vec<f64> = infos
        .iter()
        .zip(&categories)
        .map(|(info, cats)| match info {
            Info::Codes(c) => {
                (c.iter().copied().max().unwrap_or(0) + 1).max(cats.len() as i64) as f64
            }
            _ => 0.0,
        })
        .collect();
    let edges = edge_rows(&infos, &rows[0], &unseen);
    rows.extend(edges);
    if rows.len() < warmstart_core::bundle::MIN_GOLDEN_ROWS {
        rows.extend(sampled_rows(
            &infos,
            1,
            warmstart_core::bundle::MIN_GOLDEN_ROWS,
        ));
    }

    let file_name = opts.model.file_name().map_or_else(
        || opts.model.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let params = parameters(text);
    let mut training = BTreeMap::new();
    training.insert("source".into(), format!("import:{file_name}").into());
    training.insert("source_sha256".into(), sha256_hex(&bytes).into());
    training.insert(
        "objective".into(),
        header(text, "objective").unwrap_or("").into(),
    );
    if let Some(seed) = params.get("seed") {
        training.insert("seed".into(), seed.clone());
    }
    training.insert("params".into(), Value::Object(params.into_iter().collect()));
    training.insert(
        "lightgbm_version".into(),
        header(text, "version").unwrap_or("").into(),
    );
    training.insert("golden_rows_from".into(), source.into());

    let bundle = generic_bundle::write(
        &opts.bundle,
        GenericBundle {
            name: &opts.name,
            text,
            categories,
            class_names: Vec::new(),
            golden_rows: rows,
            metrics,
            training,
        },
    )?;
    let m = bundle.manifest();
    let cats = m.features.iter().filter(|f| f.categorical).count();
    println!(
        "imported {} ({}, {} features of which {cats} categorical, {} outputs, {} trees) into \
         {} (version {}); reloaded: checksums ok, golden rows {}/{} bit-identical (native \
         scorer = LightGBM)",
        opts.model.display(),
        generic_bundle::objective_name(text),
        m.features.len(),
        m.outputs.len(),
        model.num_trees(),
        opts.bundle.out.display(),
        m.version,
        m.golden.len(),
        m.golden.len()
    );
    Ok(m.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_infos_of_each_kind() {
        let text = "tree\nfeature_infos=[-1.5:2] 3:-1:0 none [0:0]\n";
        assert_eq!(
            feature_infos(text).unwrap(),
            vec![
                Info::Range(-1.5, 2.0),
                Info::Codes(vec![3, -1, 0]),
                Info::Unused,
                Info::Range(0.0, 0.0)
            ]
        );
    }

    #[test]
    fn pandas_categorical_lists_stringify_numbers() {
        let t = "end of parameters\n\npandas_categorical:[[\"a\",\"b\"],[1,2.5,true]]\n";
        assert_eq!(
            pandas_categorical(t).unwrap(),
            Some(vec![
                vec!["a".into(), "b".into()],
                vec!["1".into(), "2.5".into(), "true".into()]
            ])
        );
        assert_eq!(
            pandas_categorical("pandas_categorical:null\n").unwrap(),
            None
        );
        assert_eq!(pandas_categorical("no line\n").unwrap(), None);
        assert!(pandas_categorical("pandas_categorical:{}\n").is_err());
    }

    #[test]
    fn sampled_rows_stay_in_range_and_repeat_by_seed() {
        let infos = vec![
            Info::Range(1.0, 2.0),
            Info::Codes(vec![-1, 4, 7]),
            Info::Unused,
        ];
        let rows = sampled_rows(&infos, 3, 50);
        assert_eq!(rows, sampled_rows(&infos, 3, 50));
        for r in &rows {
            assert!((1.0..=2.0).contains(&r[0]));
            assert!(r[1] == 4.0 || r[1] == 7.0);
            assert_eq!(r[2], 0.0);
        }
        let edges = edge_rows(&infos, &rows[0], &[0.0, 8.0, 0.0]);
        assert!(edges[0].iter().all(|x| x.is_nan()));
        assert_eq!(edges[2][..2], [0.0, -1.0]);
        assert_eq!(edges[3][..2], [3.0, 8.0]);
        assert!(edges[4][0].is_nan() && edges[4][1] == rows[0][1]);
    }

    #[test]
    fn parameters_section_becomes_a_map() {
        let t = "x\nparameters:\n[boosting: gbdt]\n[seed: 7]\n[data: ]\nend of parameters\n[not: this]\n";
        let p = parameters(t);
        assert_eq!(p.len(), 2);
        assert_eq!(p["seed"], "7");
    }
}
