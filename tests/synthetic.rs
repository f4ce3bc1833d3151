//! Synthetic recommender bundles and customers, written without lightgbm: hand-made LightGBM
//! text models grown leaf-wise, golden rows scored by the native scorer.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use warmstart_core::bundle::{write_bundle, FileEntry, GoldenRow, Manifest, Metrics};
use warmstart_core::model::Model;
use warmstart_core::recommend::{
    feature_names, Customer, DEFAULT_POPULARITY, NUM_FEATURES, NUM_PRODUCTS, PRODUCTS,
};
use warmstart_devkit::bundles::{recommender_manifest, recommender_model_path};

/// Tree shape of generated models.
#[derive(Debug, Clone, Copy)]
pub struct TreeShape {
    pub trees: usize,
    pub leaves: usize,
}

impl TreeShape {
    /// Small and fast: 3 trees of 4 leaves per model.
    pub const SMALL: TreeShape = TreeShape {
        trees: 3,
        leaves: 4,
    };
    /// The size of a trained recommender: 100 trees of 31 leaves per model.
    pub const REALISTIC: TreeShape = TreeShape {
        trees: 100,
        leaves: 31,
    };
}

/// Plausible split thresholds per recommender feature.
fn threshold(rng: &mut ChaCha8Rng, name: &str) -> f64 {
    let (lo, hi) = match name {
        "age" => (18.0, 90.0),
        "antiguedad" => (0.0, 250.0),
        "renta" => (10_000.0, 500_000.0),
        "cod_prov" => (1.0, 52.0),
        "indrel" => (1.0, 99.0),
        "month" => (1.0, 12.0),
        "n_owned_lag1" | "n_owned_lag2" => (0.0, 8.0),
        "ind_actividad_cliente" | "ind_nuevo" => return 0.5,
        n if n.ends_with("_lag1") || n.ends_with("_lag2") => return 0.5,
        _ => (0.0, 6.0), // encoded categories
    };
    let t: f64 = rng.gen_range(lo..hi);
    (t * 100.0).round() / 100.0 + 0.005
}

/// LightGBM text of one binary model for product `p`, grown leaf-wise like LightGBM does.
pub fn recommender_model_text(p: usize, variant: u64, shape: TreeShape) -> String {
    let names = feature_names();
    let mut rng = ChaCha8Rng::seed_from_u64(variant.wrapping_mul(1_000_003) ^ (p as u64 + 1));
    let rate = DEFAULT_POPULARITY[p].clamp(1e-6, 0.5);
    let bias = (rate / (1.0 - rate)).ln();
    let mut text = format!(
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n\
         max_feature_idx={}\nobjective=binary sigmoid:1\nfeature_names={}\nfeature_infos={}\n\n",
        NUM_FEATURES - 1,
        names.join(" "),
        vec!["[0:1]"; NUM_FEATURES].join(" ")
    );
    let fmt = |v: &[String]| v.join(" ");
    for t in 0..shape.trees {
        let leaves = shape.leaves.max(1);
        let (mut left, mut right) = (Vec::<i32>::new(), Vec::<i32>::new());
        let (mut feat, mut thr, mut dec) = (Vec::new(), Vec::new(), Vec::new());
        let mut parent: Vec<Option<(usize, bool)>> = vec![None];
        for new_leaf in 1..leaves {
            let l = rng.gen_range(0..new_leaf);
            let node = left.len();
            left.push(!(l as i32));
            right.push(!(new_leaf as i32));
            if let Some((pn, is_left)) = parent[l] {
                if is_left {
                    left[pn] = node as i32;
                } else {
                    right[pn] = node as i32;
                }
            }
            parent[l] = Some((node, true));
            parent.push(Some((node, false)));
            // Product models look at their own ownership flags more often.
            let f = if rng.gen_bool(0.15) {
                17 + p
            } else {
                rng.gen_range(0..NUM_FEATURES)
            };
            feat.push(f.to_string());
            thr.push(format!("{:?}", threshold(&mut rng, &names[f])));
            dec.push(if rng.gen_bool(0.5) { "10" } else { "2" }.to_string());
        }
        let scale = if t == 0 { 0.5 } else { 0.08 };
        let leaf_values: Vec<String> = (0..leaves)
            .map(|_| {
                let v: f64 = rng.gen_range(-scale..scale) + if t == 0 { bias } else { 0.0 };
                format!("{v:?}")
            })
            .collect();
        text.push_str(&format!("Tree={t}\nnum_leaves={leaves}\nnum_cat=0\n"));
        if leaves > 1 {
            let ints = |v: &[i32]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
            text.push_str(&format!(
                "split_feature={}\nthreshold={}\ndecision_type={}\nleft_child={}\nright_child={}\n",
                fmt(&feat),
                fmt(&thr),
                fmt(&dec),
                fmt(&ints(&left)),
                fmt(&ints(&right)),
            ));
        }
        text.push_str(&format!(
            "leaf_value={}\nshrinkage={}\n\n",
            fmt(&leaf_values),
            if t == 0 { "1" } else { "0.1" }
        ));
    }
    text.push_str("end of trees\n");
    text
}

/// The manifest and files of a synthetic recommender bundle (24 models, 24 golden rows scored
/// with the native scorer). `variant` changes every model, so two variants score differently.
pub fn synthetic_recommender_parts(
    version: &str,
    variant: u64,
    shape: TreeShape,
) -> (Manifest, Vec<(String, Vec<u8>)>) {
    let files: Vec<(String, Vec<u8>)> = (0..NUM_PRODUCTS)
        .map(|p| {
            (
                recommender_model_path(PRODUCTS[p].0),
                recommender_model_text(p, variant, shape).into_bytes(),
            )
        })
        .collect();
    let models: Vec<Model> = files
        .iter()
        .map(|(path, b)| Model::parse_bytes(b).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect();
    let golden: Vec<GoldenRow> = synthetic_customers(24, variant)
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = c.row();
            if i % 4 == 0 {
                row[i % NUM_FEATURES] = f64::NAN;
            }
            let expected = models
                .iter()
                .map(|m| m.predict(&row).expect("score")[0])
                .collect();
            GoldenRow {
                features: row.iter().map(|v| (!v.is_nan()).then_some(*v)).collect(),
                expected,
            }
        })
        .collect();
    let manifest = Manifest {
        files: files
            .iter()
            .map(|(p, b)| FileEntry::describe(p, b))
            .collect(),
        metrics: Metrics {
            auc: PRODUCTS
                .iter()
                .enumerate()
                .map(|(i, (c, _))| (c.to_string(), 0.7 + 0.01 * (i % 10) as f64))
                .collect(),
            map_at_7: Some(0.031),
            baseline_map_at_7: Some(0.021),
            holdout_rows: Some(10_000),
            other: Default::default(),
        },
        base_rates: DEFAULT_POPULARITY.to_vec(),
        golden,
        rollout: None,
        training: [(
            "generator".to_string(),
            serde_json::json!(format!(
                "warmstart-tests synthetic, variant {variant}, {} trees x {} leaves",
                shape.trees, shape.leaves
            )),
        )]
        .into_iter()
        .collect(),
        ..recommender_manifest(version, "2026-11-22T10:00:00Z")
    };
    (manifest, files)
}

/// Writes a small synthetic recommender bundle (see [`synthetic_recommender_parts`]) to `dir`.
pub fn synthetic_recommender_bundle(dir: &Path, version: &str, variant: u64) -> Manifest {
    synthetic_recommender_bundle_shaped(dir, version, variant, TreeShape::SMALL)
}

pub fn synthetic_recommender_bundle_shaped(
    dir: &Path,
    version: &str,
    variant: u64,
    shape: TreeShape,
) -> Manifest {
    let (manifest, files) = synthetic_recommender_parts(version, variant, shape);
    write_bundle(dir, manifest, &files).expect("write bundle")
}

/// Customer `15889` as the sample events expect: owns a current account, direct debit and a
/// credit card. Written in its JSON form (the fields of its Features item), one line per group
/// of fields.
pub fn customer_15889() -> Customer {
    let profile = serde_json::json!({
        "customer_id": "15889", "as_of": "2016-05-28",
        "age": 56.0, "antiguedad": 35.0, "renta": 326_124.9, "cod_prov": 29.0,
        "ind_actividad_cliente": 1.0, "ind_nuevo": 0.0, "indrel": 1.0,
        "sexo": "V", "segmento": "01 - TOP", "ind_empleado": "F", "pais_residencia": "ES",
        "canal_entrada": "KAT", "tiprel_1mes": "A", "indresi": "S", "indext": "N", "indfall": "N",
        "owned": ["ind_cco_fin_ult1", "ind_recibo_ult1", "ind_tjcr_fin_ult1"],
        "owned_prev": ["ind_cco_fin_ult1", "ind_recibo_ult1"],
    });
    serde_json::from_value(profile).expect("customer 15889")
}

/// `n` random customers with ids `1000000 + i` (some fields missing, 0-4 products owned).
pub fn synthetic_customers(n: usize, seed: u64) -> Vec<Customer> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let pick = |rng: &mut ChaCha8Rng, xs: &[&str]| Some(xs[rng.gen_range(0..xs.len())].to_string());
    (0..n)
        .map(|i| {
            let owned: Vec<String> = (0..rng.gen_range(0..5))
                .map(|_| PRODUCTS[rng.gen_range(0..NUM_PRODUCTS)].0.to_string())
                .collect();
            let mut owned_prev = owned.clone();
            if rng.gen_bool(0.3) {
                owned_prev.pop();
            }
            Customer {
                customer_id: (1_000_000 + i).to_string(),
                as_of: format!("2016-{:02}-28", rng.gen_range(1..=5)),
                age: rng.gen_bool(0.95).then(|| rng.gen_range(18..90) as f64),
                antiguedad: Some(rng.gen_range(0..250) as f64),
                renta: rng
                    .gen_bool(0.8)
                    .then(|| rng.gen_range(10_000.0..400_000.0)),
                cod_prov: Some(rng.gen_range(1..=52) as f64),
                ind_actividad_cliente: Some(rng.gen_range(0..=1) as f64),
                ind_nuevo: Some(0.0),
                indrel: Some(1.0),
                sexo: pick(&mut rng, &["V", "H"]),
                segmento: pick(
                    &mut rng,
                    &["01 - TOP", "02 - PARTICULARES", "03 - UNIVERSITARIO"],
                ),
                ind_empleado: Some("N".into()),
                pais_residencia: Some("ES".into()),
                canal_entrada: pick(&mut rng, &["KHE", "KAT", "KFC", "RED"]),
                tiprel_1mes: pick(&mut rng, &["A", "I"]),
                indresi: Some("S".into()),
                indext: Some("N".into()),
                indfall: Some("N".into()),
                owned,
                owned_prev,
            }
        })
        .collect()
}

/// The customers the sample events name (`15889`, `1050935`, `1050824`) plus `n` synthetic.
pub fn seed_customers(n: usize) -> Vec<Customer> {
    let mut all = vec![customer_15889()];
    for (id, age) in [("1050935", 23.0), ("1050824", 41.0)] {
        let mut c = customer_15889();
        c.customer_id = id.into();
        c.age = Some(age);
        c.owned = vec!["ind_cco_fin_ult1".into()];
        all.push(c);
    }
    all.extend(synthetic_customers(n, 1));
    all
}
