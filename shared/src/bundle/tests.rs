use super::*;
use crate::model::Model;

/// A one-tree, two-feature regression model: f0 <= 0.5 → 1.0 else 2.0.
const TINY: &str = "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=regression
feature_names=x y
feature_infos=[0:1] [0:1]
tree_sizes=1

Tree=0
num_leaves=2
num_cat=0
split_feature=0
threshold=0.5
decision_type=2
left_child=-1
right_child=-2
leaf_value=1 2
shrinkage=1


end of trees
";

fn manifest(expected_first: f64) -> Manifest {
    let golden = (0..MIN_GOLDEN_ROWS)
        .map(|i| {
            let x = i as f64 / 10.0;
            let want = if i == 0 {
                expected_first
            } else if x <= 0.5 {
                1.0
            } else {
                2.0
            };
            GoldenRow {
                features: vec![Some(x), None],
                expected: vec![want],
            }
        })
        .collect();
    Manifest {
        format: MANIFEST_FORMAT,
        name: "tiny".into(),
        version: "2026-11-22T10-00-00Z-abc1234".into(),
        kind: ModelKind::Generic,
        created_at: "2026-11-22T10:00:00Z".into(),
        features: vec![
            Feature {
                name: "x".into(),
                categorical: false,
            },
            Feature {
                name: "y".into(),
                categorical: false,
            },
        ],
        outputs: vec![Output {
            code: "y".into(),
            name: "Y".into(),
            model: "models/tiny.txt".into(),
            class: 0,
        }],
        files: vec![],
        metrics: Metrics::default(),
        base_rates: vec![],
        golden,
        rollout: Some(Rollout::Immediate),
        training: Default::default(),
    }
}

fn write(dir: &std::path::Path, m: Manifest) -> Manifest {
    write_bundle(
        dir,
        m,
        &[("models/tiny.txt".into(), TINY.as_bytes().to_vec())],
    )
    .unwrap()
}

#[tokio::test]
async fn written_bundle_loads_and_reproduces_its_golden_rows() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), manifest(1.0));
    let bundle = Bundle::load(&DirSource::new(dir.path())).await.unwrap();
    assert_eq!(bundle.verify_golden().unwrap(), MIN_GOLDEN_ROWS);
    let mut out = [0.0];
    bundle.score_into(&[0.9, 0.0], &mut out).unwrap();
    assert_eq!(out, [2.0]);
}

#[tokio::test]
async fn golden_mismatch_is_reported_with_row_and_output() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), manifest(1.5));
    let bundle = Bundle::load(&DirSource::new(dir.path())).await.unwrap();
    let err = bundle.verify_golden().unwrap_err();
    assert_eq!(err.code(), "golden_mismatch");
    assert!(err.to_string().contains("golden row 0"), "{err}");
}

#[tokio::test]
async fn tampered_model_file_fails_the_checksum() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), manifest(1.0));
    let path = dir.path().join("models/tiny.txt");
    let tampered = TINY.replace("leaf_value=1 2", "leaf_value=1 3");
    std::fs::write(&path, tampered).unwrap();
    let err = Bundle::load(&DirSource::new(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), "checksum_mismatch", "{err}");
}

#[tokio::test]
async fn truncated_model_file_fails_the_size_check() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), manifest(1.0));
    std::fs::write(dir.path().join("models/tiny.txt"), &TINY[..100]).unwrap();
    let err = Bundle::load(&DirSource::new(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), "size_mismatch", "{err}");
}

#[tokio::test]
async fn missing_model_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), manifest(1.0));
    std::fs::remove_file(dir.path().join("models/tiny.txt")).unwrap();
    let err = Bundle::load(&DirSource::new(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), "file_missing");
    assert!(err.to_string().contains("models/tiny.txt"));
}

#[test]
fn feature_names_must_match_the_model() {
    let mut m = manifest(1.0);
    m.features[1].name = "z".into();
    let files = vec![("models/tiny.txt".to_string(), TINY.as_bytes().to_vec())];
    m.files = vec![FileEntry::describe("models/tiny.txt", TINY.as_bytes())];
    let err = Bundle::from_parts(m, files).unwrap_err();
    assert_eq!(err.code(), "model_incompatible", "{err}");
}

#[test]
fn too_few_golden_rows_are_rejected() {
    let mut m = manifest(1.0);
    m.golden.truncate(3);
    m.files = vec![FileEntry::describe("models/tiny.txt", TINY.as_bytes())];
    assert_eq!(m.validate().unwrap_err().code(), "manifest_invalid");
}

#[test]
fn non_finite_metrics_are_rejected() {
    let mut m = manifest(1.0);
    m.files = vec![FileEntry::describe("models/tiny.txt", TINY.as_bytes())];
    m.metrics.map_at_7 = Some(f64::NAN);
    assert!(m.validate().is_err());
}

#[test]
fn manifest_json_round_trips_exact_floats() {
    let mut m = manifest(1.0);
    m.golden[0].expected[0] = 0.123_456_789_012_345_67;
    m.golden[1].expected[0] = 5e-324;
    let back = Manifest::from_json(m.to_json().as_bytes()).unwrap();
    assert_eq!(back, m);
    assert!(Model::parse(TINY).is_ok());
}
