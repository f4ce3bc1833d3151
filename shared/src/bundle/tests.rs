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
                categories: Vec::new(),
            },
            Feature {
                name: "y".into(),
                categorical: false,
                categories: Vec::new(),
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

/// A bundle directory with its compiled file, as the CLI writes it.
fn write_compiled(dir: &std::path::Path) -> Manifest {
    let m = write(dir, manifest(1.0));
    let files = vec![("models/tiny.txt".to_string(), TINY.as_bytes().to_vec())];
    let (entry, bytes) = compile_bundle(&m, &files).unwrap();
    let mut all = files;
    all.push((entry.path.clone(), bytes));
    let mut m = m;
    m.files.push(entry);
    write_bundle(dir, m, &all).unwrap()
}

#[tokio::test]
async fn compiled_file_is_used_and_reproduces_the_golden_rows() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_compiled(dir.path());
    let entry = m.compiled_file().expect("listed with its marker");
    assert_eq!(entry.path, "models.wsc");
    let bundle = Bundle::load(&DirSource::new(dir.path())).await.unwrap();
    assert!(bundle.is_compiled());
    assert_eq!(bundle.verify_golden().unwrap(), MIN_GOLDEN_ROWS);
}

#[tokio::test]
async fn missing_compiled_file_falls_back_to_the_text() {
    let dir = tempfile::tempdir().unwrap();
    write_compiled(dir.path());
    std::fs::remove_file(dir.path().join("models.wsc")).unwrap();
    let bundle = Bundle::load(&DirSource::new(dir.path())).await.unwrap();
    assert!(!bundle.is_compiled());
    assert_eq!(bundle.verify_golden().unwrap(), MIN_GOLDEN_ROWS);
}

#[tokio::test]
async fn tampered_compiled_file_falls_back_to_the_text() {
    let dir = tempfile::tempdir().unwrap();
    write_compiled(dir.path());
    let path = dir.path().join("models.wsc");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let bundle = Bundle::load(&DirSource::new(dir.path())).await.unwrap();
    assert!(!bundle.is_compiled());
    assert_eq!(bundle.verify_golden().unwrap(), MIN_GOLDEN_ROWS);
}

#[tokio::test]
async fn compiled_file_the_scorer_refuses_falls_back_even_with_a_matching_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = write_compiled(dir.path());
    // A file whose header claims another layout, listed with its true sha256.
    let mut bytes = std::fs::read(dir.path().join("models.wsc")).unwrap();
    bytes[8] = 9;
    let files = vec![
        ("models/tiny.txt".to_string(), TINY.as_bytes().to_vec()),
        ("models.wsc".to_string(), bytes),
    ];
    m.files.retain(|f| f.path != "models.wsc");
    m.files
        .push(FileEntry::describe_compiled("models.wsc", &files[1].1));
    write_bundle(dir.path(), m, &files).unwrap();
    let bundle = Bundle::load(&DirSource::new(dir.path())).await.unwrap();
    assert!(!bundle.is_compiled());
}

#[tokio::test]
async fn unknown_compiled_layout_in_the_manifest_is_not_even_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = write_compiled(dir.path());
    for f in m.files.iter_mut().filter(|f| f.compiled.is_some()) {
        f.compiled = Some(CompiledMarker { layout_version: 99 });
    }
    std::fs::write(dir.path().join(MANIFEST_FILE), m.to_json()).unwrap();
    std::fs::remove_file(dir.path().join("models.wsc")).unwrap();
    let bundle = Bundle::load(&DirSource::new(dir.path())).await.unwrap();
    assert!(!bundle.is_compiled());
    assert_eq!(bundle.verify_golden().unwrap(), MIN_GOLDEN_ROWS);
}

#[test]
fn compiled_file_of_another_text_version_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_compiled(dir.path());
    let wsc = std::fs::read(dir.path().join("models.wsc")).unwrap();
    // Same model, one more trailing newline: another sha256 than the one compiled.
    let text = format!("{TINY}\n");
    let mut m2 = m.clone();
    m2.files[0] = FileEntry::describe("models/tiny.txt", text.as_bytes());
    let files = vec![
        ("models/tiny.txt".to_string(), text.into_bytes()),
        ("models.wsc".to_string(), wsc),
    ];
    let bundle = Bundle::from_parts(m2, files).unwrap();
    assert!(!bundle.is_compiled());
}

#[test]
fn old_manifests_without_compiled_markers_still_read() {
    let m = write(tempfile::tempdir().unwrap().path(), manifest(1.0));
    let json = m.to_json();
    assert!(!json.contains("compiled"));
    let back = Manifest::from_json(json.as_bytes()).unwrap();
    assert!(back.compiled_file().is_none());
}

#[test]
fn compiled_marker_tolerates_fields_a_newer_cli_adds() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_compiled(dir.path());
    let v = crate::model::compiled::LAYOUT_VERSION;
    let json = m.to_json().replace(
        &format!("\"layout_version\": {v}"),
        &format!("\"layout_version\": {v}, \"endianness\": \"little\""),
    );
    assert_ne!(json, m.to_json());
    assert_eq!(Manifest::from_json(json.as_bytes()).unwrap(), m);
}

#[test]
fn outputs_cannot_name_the_compiled_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = write_compiled(dir.path());
    m.outputs[0].model = "models.wsc".into();
    assert_eq!(m.validate().unwrap_err().code(), "manifest_invalid");
}

#[test]
fn compile_bundle_refuses_a_text_model_named_like_the_compiled_file() {
    let mut m = manifest(1.0);
    m.outputs[0].model = "models.wsc".into();
    m.files = vec![FileEntry::describe("models.wsc", TINY.as_bytes())];
    let files = vec![("models.wsc".to_string(), TINY.as_bytes().to_vec())];
    assert!(compile_bundle(&m, &files).is_err());
}

/// TINY with a categorical split on y (category 0 → 5.0) under x's right branch: rows with y
/// missing, as the golden rows have it, score as TINY.
fn categorical() -> String {
    let tree = "num_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\n\
                left_child=-1\nright_child=-2\nleaf_value=1 2\n";
    assert!(TINY.contains(tree));
    TINY.replace(
        tree,
        "num_leaves=3\nnum_cat=1\nsplit_feature=0 1\nthreshold=0.5 0\ndecision_type=2 1\n\
         left_child=-1 -2\nright_child=1 -3\nleaf_value=1 5 2\ncat_boundaries=0 1\n\
         cat_threshold=1\n",
    )
}

#[tokio::test]
async fn serving_loads_build_the_scans_on_their_own_thread_and_score_alike() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(
        dir.path(),
        manifest(1.0),
        &[("models/tiny.txt".into(), categorical().into_bytes())],
    )
    .unwrap();
    let bundle = Bundle::load_for_serving(&DirSource::new(dir.path()))
        .await
        .unwrap();
    let (_, model) = bundle.models().next().unwrap();
    let walked_bytes = Model::parse(&categorical()).unwrap().heap_bytes();
    // The load's own thread builds the scan; wait for it without building it here.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while model.heap_bytes() == walked_bytes {
        assert!(std::time::Instant::now() < deadline, "no scan was built");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(bundle.verify_golden().unwrap(), MIN_GOLDEN_ROWS);
    let mut out = [0.0];
    for (row, want) in [([0.9, 0.0], 5.0), ([0.9, f64::NAN], 2.0), ([0.1, 0.0], 1.0)] {
        bundle.score_into(&row, &mut out).unwrap();
        assert_eq!(out, [want], "{row:?}");
    }
}
