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
