//! Hand-written models pin each decision rule; parity with LightGBM itself is proven in
//! `shared/tests/parity.rs` against lightgbm3.
use super::*;

/// One tree, one numerical split on f0 at 1.5 (NaN missing, default left) whose right child
/// splits categorically on f1 with categories {1, 3, 33}.
pub(super) const MODEL: &str = "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=regression
feature_names=a b
feature_infos=[0:10] 1:3:33
tree_sizes=1

Tree=0
num_leaves=3
num_cat=1
split_feature=0 1
split_gain=1 1
threshold=1.5 0
decision_type=10 1
left_child=-1 -2
right_child=1 -3
leaf_value=10 20 30
leaf_weight=1 1 1
leaf_count=1 1 1
internal_value=0 0
internal_weight=0 0
internal_count=3 2
cat_boundaries=0 2
cat_threshold=10 2
is_linear=0
shrinkage=1


end of trees

feature_importances:
a=1

parameters:
[boosting: gbdt]
end of parameters
";

fn model() -> Model {
    Model::parse(MODEL).expect("hand-written model parses")
}

fn score(row: [f64; 2]) -> f64 {
    model().predict(&row).unwrap()[0]
}

#[test]
fn numerical_split_sends_values_at_threshold_left() {
    assert_eq!(score([1.5, 0.0]), 10.0);
    assert_eq!(score([1.6, 1.0]), 20.0);
}

#[test]
fn nan_follows_default_direction_when_missing_type_is_nan() {
    assert_eq!(score([f64::NAN, 0.0]), 10.0);
}

#[test]
fn categorical_bitset_spans_words() {
    // bitset word 0 = 10 = {1, 3}; word 1 = 2 = {33}
    assert_eq!(score([5.0, 1.0]), 20.0);
    assert_eq!(score([5.0, 3.0]), 20.0);
    assert_eq!(score([5.0, 33.0]), 20.0);
    assert_eq!(score([5.0, 2.0]), 30.0);
}

#[test]
fn categorical_edge_values_go_right_as_in_lightgbm() {
    for v in [
        f64::NAN,
        -1.0,
        64.0,
        1e12,
        f64::INFINITY,
        f64::NEG_INFINITY,
        3e9,
    ] {
        assert_eq!(score([5.0, v]), 30.0, "category {v}");
    }
    // Truncation toward zero: 1.9 is category 1, -0.5 is category 0.
    assert_eq!(score([5.0, 1.9]), 20.0);
    assert_eq!(score([5.0, -0.5]), 30.0);
}

#[test]
fn tiny_inputs_are_zero_like_the_c_api() {
    // 1e-40 is below kZeroThreshold: it reads as 0.0 (left of 1.5 either way, but on the
    // categorical node it is category 0, not "missing").
    assert_eq!(score([5.0, 1e-40]), 30.0);
}

#[test]
fn feature_count_mismatch_is_an_error() {
    let m = model();
    assert_eq!(
        m.predict(&[1.0]),
        Err(ModelError::FeatureCount {
            expected: 2,
            got: 1
        })
    );
}

#[test]
fn batch_equals_single_rows() {
    let m = model();
    let rows = [1.0, 0.0, 5.0, 3.0, f64::NAN, 2.0, 7.0, 2.0];
    let mut out = [0.0; 4];
    m.predict_batch_into(&rows, &mut out).unwrap();
    assert_eq!(out, [10.0, 20.0, 10.0, 30.0]);
}

#[test]
fn model_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
}

fn mutate(from: &str, to: &str) -> Result<Model, ModelError> {
    assert!(MODEL.contains(from), "fixture lacks {from}");
    Model::parse(&MODEL.replacen(from, to, 1))
}

#[test]
fn hostile_models_are_errors_not_panics() {
    let cases = [
        ("left_child=-1 -2", "left_child=-1 1"),      // cycle
        ("left_child=-1 -2", "left_child=-1 7"),      // child out of range
        ("right_child=1 -3", "right_child=1 -9"),     // leaf out of range
        ("right_child=1 -3", "right_child=-2 -3"),    // leaf reached twice
        ("leaf_value=10 20 30", "leaf_value=10 20"),  // wrong count
        ("split_feature=0 1", "split_feature=0 5"),   // feature out of range
        ("num_leaves=3", "num_leaves=999999999999"),  // huge
        ("num_leaves=3", "num_leaves=-3"),            // negative
        ("threshold=1.5 0", "threshold=1.5 4"),       // category set out of range
        ("cat_boundaries=0 2", "cat_boundaries=0 9"), // bitset words missing
        ("max_feature_idx=1", "max_feature_idx=18446744073709551615"),
        ("num_class=1", "num_class=0"),
        ("objective=regression", "objective=mystery"),
        ("is_linear=0", "is_linear=1"),
        ("Tree=0", "Tree=5"),
        ("tree_sizes=1", "tree_sizes=1 1"),
        ("decision_type=10 1", "decision_type=10 1000"),
    ];
    for (from, to) in cases {
        assert!(mutate(from, to).is_err(), "{to} should be rejected");
    }
}

#[test]
fn truncated_model_text_is_rejected_at_every_cut() {
    let end = MODEL.find("end of trees").unwrap();
    for cut in 0..end {
        if MODEL.is_char_boundary(cut) {
            assert!(Model::parse(&MODEL[..cut]).is_err(), "cut at {cut} parsed");
        }
    }
}

#[test]
fn linear_tree_parameter_is_rejected() {
    let text = MODEL.replace("[boosting: gbdt]", "[linear_tree: 1]");
    assert_eq!(Model::parse(&text).unwrap_err(), ModelError::LinearTree);
}

/// `trees` chain-shaped trees of depths 1 to 13 over four features (every node's left child a
/// leaf), `classes` trees per iteration, leaf values that do not add exactly in f64, some zero-as-missing splits and, when
/// `categorical`, a categorical root in every fifth tree.
fn chain_model(trees: usize, classes: usize, categorical: bool) -> String {
    let mut text =
        format!(
        "tree\nversion=v4\nnum_class={classes}\nnum_tree_per_iteration={classes}\nlabel_index=0\n\
         max_feature_idx=3\nobjective={}\nfeature_names=a b c d\n\
         feature_infos=[-1:1] [-1:1] 0:1:2 [-1:1]\n\n",
        if classes > 1 { format!("multiclass num_class:{classes}") } else { "regression".into() },
    );
    for t in 0..trees {
        let depth = 1 + (t * 7) % 13;
        let cat = categorical && t % 5 == 0;
        let feature: Vec<String> = (0..depth)
            .map(|i| {
                if cat && i == 0 {
                    2
                } else {
                    [0, 1, 3][(t + i) % 3]
                }
                .to_string()
            })
            .collect();
        let threshold: Vec<String> = (0..depth)
            .map(|i| {
                if cat && i == 0 {
                    "0".into()
                } else {
                    format!("{}", ((t * 31 + i * 17) % 19) as f64 / 9.5 - 1.0)
                }
            })
            .collect();
        let decision: Vec<String> = (0..depth)
            .map(|i| {
                if cat && i == 0 {
                    "1"
                } else {
                    ["2", "10", "0", "6"][(t + i) % 4]
                }
                .to_string()
            })
            .collect();
        let left: Vec<String> = (0..depth).map(|i| format!("-{}", i + 1)).collect();
        let right: Vec<String> = (0..depth)
            .map(|i| {
                if i + 1 < depth {
                    (i + 1).to_string()
                } else {
                    format!("-{}", depth + 1)
                }
            })
            .collect();
        let leaves: Vec<String> = (0..=depth)
            .map(|l| format!("{:e}", 0.1 + (t * 13 + l) as f64 / 3.0 * 1e-3))
            .collect();
        let cat_lines = if cat {
            "cat_boundaries=0 1\ncat_threshold=5\n"
        } else {
            ""
        };
        text += &format!(
            "Tree={t}\nnum_leaves={}\nnum_cat={}\nsplit_feature={}\nthreshold={}\n\
             decision_type={}\nleft_child={}\nright_child={}\nleaf_value={}\n{cat_lines}\
             is_linear=0\nshrinkage=1\n\n",
            depth + 1,
            cat as u8,
            feature.join(" "),
            threshold.join(" "),
            decision.join(" "),
            left.join(" "),
            right.join(" "),
            leaves.join(" "),
        );
    }
    text + "end of trees\n"
}

#[test]
fn walk_order_sorts_each_window_by_kind_then_depth() {
    let m = Model::parse(&chain_model(150, 1, true)).unwrap();
    assert!(m.num_trees() > 2 * walk::WINDOW);
    for (w, order) in m.walk_order.chunks(walk::WINDOW).enumerate() {
        let mut trees: Vec<u32> = order.to_vec();
        trees.sort();
        let first = (w * walk::WINDOW) as u32;
        assert_eq!(
            trees,
            (first..first + order.len() as u32).collect::<Vec<_>>()
        );
        let keys: Vec<(bool, u32)> = order
            .iter()
            .map(|&t| (m.special[t as usize], m.depths[t as usize]))
            .collect();
        assert!(
            keys.windows(2).all(|k| k[0] <= k[1]),
            "window {w}: {keys:?}"
        );
    }
}

#[test]
fn single_rows_sum_in_file_order_across_windows() {
    use rand::{Rng, SeedableRng};
    // Batch prediction walks tree by tree in file order: single rows, walked in walk order,
    // must give the same bits.
    for (trees, classes) in [(150, 1), (201, 3)] {
        let m = Model::parse(&chain_model(trees, classes, true)).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let rows: Vec<f64> = (0..4 * 200)
            .map(|i| match rng.gen_range(0..8) {
                0 => f64::NAN,
                1 => 0.0,
                _ if i % 4 == 2 => rng.gen_range(-1..4) as f64,
                _ => rng.gen_range(-1.2..1.2),
            })
            .collect();
        let mut batch = vec![0.0; 200 * classes];
        m.predict_batch_into(&rows, &mut batch).unwrap();
        for (row, want) in rows.chunks_exact(4).zip(batch.chunks_exact(classes)) {
            let got = m.predict(row).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(want), "row {row:?}");
        }
    }
}
