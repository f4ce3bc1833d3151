use super::*;
use crate::model::tests::MODEL;

fn model() -> Model {
    Model::parse(MODEL).expect("hand-written model parses")
}

fn file_of(m: &Model) -> Vec<u8> {
    write(&[Entry {
        path: "models/m.txt",
        source_sha256: [7; 32],
        model: m,
    }])
}

fn payload(file: &[u8]) -> Vec<u8> {
    file[HEADER_LEN..].to_vec()
}

fn inconsistent(m: Model) -> String {
    match load(&file_of(&m)) {
        Err(CompiledError::Inconsistent { reason, .. }) => reason,
        other => panic!("expected an inconsistency, got {other:?}"),
    }
}

#[test]
fn round_trip_gives_back_the_same_model_path_and_source_hash() {
    let m = model();
    let back = load(&file_of(&m)).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].path, "models/m.txt");
    assert_eq!(back[0].source_sha256, [7; 32]);
    assert_eq!(back[0].model, m);
    for row in [[1.5, 0.0], [5.0, 33.0], [f64::NAN, 2.0], [1e-40, -1.0]] {
        assert_eq!(
            back[0].model.predict(&row).unwrap()[0].to_bits(),
            m.predict(&row).unwrap()[0].to_bits()
        );
    }
}

#[test]
fn layout_version_is_readable_without_loading() {
    assert_eq!(layout_version(&file_of(&model())), Some(LAYOUT_VERSION));
    assert_eq!(layout_version(b"tree\nversion=v4"), None);
}

#[test]
fn wrong_magic_is_refused() {
    let mut f = file_of(&model());
    f[0] = b'X';
    assert_eq!(load(&f).unwrap_err(), CompiledError::BadMagic);
    assert_eq!(load(MODEL.as_bytes()).unwrap_err(), CompiledError::BadMagic);
}

#[test]
fn unknown_layout_version_is_refused_before_anything_else() {
    // 1 (before explanation data) and 2 (before categorical nodes pointed at their words) are
    // earlier layouts: their files fall back to the text models.
    for found in [1, 2, LAYOUT_VERSION + 1] {
        let mut f = file_of(&model());
        f[8..12].copy_from_slice(&found.to_le_bytes());
        f.truncate(20);
        assert_eq!(
            load(&f).unwrap_err(),
            CompiledError::UnsupportedLayout { found }
        );
    }
}

#[test]
fn explanation_data_round_trips_and_is_checked() {
    let m = model();
    assert!(m.can_explain());
    let mut bare = m.clone();
    bare.shap = None;
    let back = load(&file_of(&bare)).unwrap().remove(0).model;
    assert!(!back.can_explain());

    let mut short = m.clone();
    short.shap.as_mut().unwrap().cover.pop();
    assert!(inconsistent(short).contains("explanation data"));
    let mut short = m.clone();
    short.shap.as_mut().unwrap().expected.push(0.0);
    assert!(inconsistent(short).contains("explanation data"));

    // The flag byte sits before the counts and expected values, which end the payload.
    let shap = m.shap.as_ref().unwrap();
    let mut p = payload(&file_of(&m));
    let flag = p.len() - (1 + 4 + 4 * shap.cover.len() + 4 + 8 * shap.expected.len());
    assert_eq!(p[flag], 1);
    p[flag] = 2;
    match load(&frame(&p)) {
        Err(CompiledError::Inconsistent { reason, .. }) => {
            assert!(reason.contains("explanation flag"), "{reason}")
        }
        other => panic!("expected an inconsistency, got {other:?}"),
    }
    p[flag] = 0;
    assert!(matches!(
        load(&frame(&p)),
        Err(CompiledError::TrailingBytes(_))
    ));
}

#[test]
fn changed_payload_fails_the_checksum() {
    let mut f = file_of(&model());
    let last = f.len() - 1;
    f[last] ^= 1;
    assert_eq!(load(&f).unwrap_err(), CompiledError::ChecksumMismatch);
}

#[test]
fn verified_loads_skip_only_the_payload_checksum() {
    let good = file_of(&model());
    let mut f = good.clone();
    f[24] ^= 1; // the stored checksum, not the payload
    assert_eq!(load(&f).unwrap_err(), CompiledError::ChecksumMismatch);
    assert_eq!(load_verified(&f).unwrap(), load(&good).unwrap());
    // Everything else is still checked.
    assert_eq!(
        load_verified(&good[..good.len() - 1]).unwrap_err(),
        CompiledError::LengthMismatch {
            declared: (good.len() - HEADER_LEN) as u64,
            actual: (good.len() - HEADER_LEN - 1) as u64
        }
    );
    let mut m = model();
    m.tree_starts[1] += 1;
    let mut bad = file_of(&m);
    bad[24] ^= 1;
    assert!(matches!(
        load_verified(&bad).unwrap_err(),
        CompiledError::Inconsistent { .. }
    ));
}

#[test]
fn reserved_header_bits_are_refused() {
    let mut f = file_of(&model());
    f[12] = 1;
    assert_eq!(load(&f).unwrap_err(), CompiledError::Reserved);
}

#[test]
fn payload_length_must_match_the_header() {
    let mut f = file_of(&model());
    f.push(0);
    assert!(matches!(
        load(&f).unwrap_err(),
        CompiledError::LengthMismatch { .. }
    ));
}

#[test]
fn every_truncation_is_refused() {
    let f = file_of(&model());
    for cut in 0..f.len() {
        assert!(load(&f[..cut]).is_err(), "cut at {cut} loaded");
    }
    // Truncating the payload and fixing the header leaves a payload that ends inside a model.
    let p = payload(&f);
    for cut in 0..p.len() {
        assert!(
            load(&frame(&p[..cut])).is_err(),
            "payload cut at {cut} loaded"
        );
    }
}

#[test]
fn trailing_bytes_after_the_last_model_are_refused() {
    let mut p = payload(&file_of(&model()));
    p.extend_from_slice(&[0; 3]);
    assert_eq!(
        load(&frame(&p)).unwrap_err(),
        CompiledError::TrailingBytes(3)
    );
}

#[test]
fn huge_counts_are_refused_without_allocating_for_them() {
    assert!(load(&frame(&u32::MAX.to_le_bytes())).is_err());
    let mut p = payload(&file_of(&model()));
    // The path length is the first field of the first model.
    p[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(load(&frame(&p)).is_err());
}

#[test]
fn feature_out_of_range_is_refused() {
    let mut m = model();
    m.nodes[0].bits = (m.nodes[0].bits & !SLOT_MASK) | 4;
    assert!(inconsistent(m).contains("feature out of range"));
}

#[test]
fn right_child_outside_its_tree_is_refused() {
    let mut m = model();
    m.nodes[0].right = 99;
    assert!(inconsistent(m).contains("outside the tree"));
}

#[test]
fn node_lists_that_are_not_a_pre_order_tree_are_refused() {
    let mut m = model();
    // Root's right child pointing past its left subtree's end, into the right subtree.
    m.nodes[0].right = 3;
    assert!(inconsistent(m).contains("pre-order"));
}

#[test]
fn wrong_recorded_depth_is_refused() {
    let mut m = model();
    m.depths[0] = 1;
    assert!(inconsistent(m).contains("depth"));
}

#[test]
fn category_set_outside_the_words_is_refused() {
    let mut m = model();
    let cat = m
        .nodes
        .iter()
        .position(|n| n.bits & CATEGORICAL != 0)
        .unwrap();
    let words = m.cat_words.len() as u32;
    m.nodes[cat].value = crate::model::layout::pack_cat_set(words, 1);
    assert!(inconsistent(m).contains("category set"));
    let mut m = model();
    m.nodes[cat].value = crate::model::layout::pack_cat_set(u32::MAX, u32::MAX);
    assert!(inconsistent(m).contains("category set"));
}

#[test]
fn unknown_flags_and_flagged_leaves_are_refused() {
    let mut m = model();
    m.nodes[0].bits |= 1 << 31;
    assert!(inconsistent(m).contains("unknown flags"));
    let mut m = model();
    let leaf = m.nodes.iter().position(|n| n.is_leaf()).unwrap();
    m.nodes[leaf].bits = 1;
    assert!(inconsistent(m).contains("leaf"));
}

#[test]
fn tree_starts_must_partition_the_nodes() {
    let mut m = model();
    m.tree_starts[1] += 1;
    assert!(inconsistent(m).contains("tree starts"));
}

#[test]
fn iteration_count_must_match_the_trees() {
    let mut m = model();
    m.num_iterations = 2;
    assert!(inconsistent(m).contains("iterations"));
}

#[test]
fn invalid_objective_codes_are_refused() {
    let mut p = payload(&file_of(&model()));
    // count, path, sha256, features, outputs, then the objective code.
    let at = 4 + 4 + "models/m.txt".len() + 32 + 4 + 4;
    p[at] = 200;
    assert!(matches!(
        load(&frame(&p)).unwrap_err(),
        CompiledError::Inconsistent { .. }
    ));
}

#[test]
fn any_single_corrupted_byte_is_refused_or_scores_without_panicking() {
    let p = payload(&file_of(&model()));
    for at in 0..p.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut q = p.clone();
            q[at] ^= flip;
            if let Ok(models) = load(&frame(&q)) {
                for m in models {
                    let nf = m.model.num_features();
                    let mut out = vec![0.0; m.model.num_outputs()];
                    for v in [f64::NAN, 0.0, -1.0, 1.5, 33.0, 1e300] {
                        m.model.predict_into(&vec![v; nf], &mut out).unwrap();
                    }
                }
            }
        }
    }
}
