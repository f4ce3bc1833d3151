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

/// Where the first model's tree count lies in `file_of(m)`'s payload (the node count and the
/// shape follow it).
fn trees_at(m: &Model) -> usize {
    let names: usize = m.feature_names.iter().map(|n| 4 + n.len()).sum();
    4 + 4
        + "models/m.txt".len()
        + 32
        + 4
        + 4
        + 1
        + 8
        + 1
        + 4
        + names
        + m.num_features
        + 4
        + 4 * m.cat_words.len()
}

fn inconsistent(m: Model) -> String {
    reason(load(&file_of(&m)))
}

fn reason(loaded: Result<Vec<CompiledModel>, CompiledError>) -> String {
    match loaded {
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
    // 1 (before explanation data), 2 (before categorical nodes pointed at their words) and 3
    // (child offsets instead of the shape) are earlier layouts: their files fall back to the
    // text models.
    for found in [1, 2, 3, LAYOUT_VERSION + 1] {
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

    // The flag byte sits before the counts and expected values, which end the payload.
    let shap = m.shap.as_ref().unwrap();
    let mut counts = Vec::new();
    for &c in &shap.cover {
        put_varint(&mut counts, c);
    }
    let mut p = payload(&file_of(&m));
    let flag = p.len() - (1 + counts.len() + 8 * shap.expected.len());
    assert_eq!(p[flag], 1);
    p[flag] = 2;
    assert!(reason(load(&frame(&p))).contains("explanation flag"));
    p[flag] = 0;
    assert!(matches!(
        load(&frame(&p)),
        Err(CompiledError::TrailingBytes(_))
    ));
}

#[test]
fn node_counts_round_trip_through_varints_at_every_width() {
    for v in [
        0,
        1,
        -1,
        63,
        64,
        -65,
        127,
        128,
        300,
        1 << 20,
        i32::MAX,
        i32::MIN,
    ] {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        let mut r = Reader::new(&b);
        assert_eq!(r.varints(1).unwrap(), [v], "{b:?}");
        assert_eq!(r.remaining(), 0);
    }
}

#[test]
fn overlong_and_oversized_varints_are_refused() {
    for bad in [
        &[0x80, 0x00][..],                     // 0 written in two bytes
        &[0xff, 0xff, 0xff, 0xff, 0x1f],       // past 32 bits
        &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // six bytes
        &[0x80],                               // ends inside the varint
    ] {
        assert!(Reader::new(bad).varints(1).is_err(), "{bad:?}");
    }
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
    m.nodes[0].bits = (m.nodes[0].bits & !SLOT_MASK) | 4;
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
fn loading_rebuilds_child_offsets_tree_starts_and_depths_from_the_shape() {
    let m = model();
    let back = load(&file_of(&m)).unwrap().remove(0).model;
    assert_eq!(back.nodes, m.nodes);
    assert_eq!(back.tree_starts, m.tree_starts);
    assert_eq!(back.depths, m.depths);
}

#[test]
fn a_shape_that_does_not_make_the_declared_trees_is_refused() {
    let m = model();
    let at = trees_at(&m);
    let shape = at + 8;
    let p = payload(&file_of(&m));
    // One tree fewer or more than the shape holds.
    for trees in [m.depths.len() - 1, m.depths.len() + 1] {
        let mut q = p.clone();
        q[at..at + 4].copy_from_slice(&(trees as u32).to_le_bytes());
        assert!(load(&frame(&q)).is_err(), "{trees} trees loaded");
    }
    // The first tree's last leaf made internal: the shape ends inside a tree, or the bits
    // and values that follow no longer line up; either way the file is refused.
    let last_leaf = m.tree_starts[1] as usize - 1;
    let mut q = p.clone();
    q[shape + last_leaf / 8] |= 1 << (last_leaf % 8);
    assert!(load(&frame(&q)).is_err());
    // A root made a leaf: its tree ends at once and the rest makes more trees than declared.
    let mut q = p.clone();
    q[shape] &= !1;
    assert!(load(&frame(&q)).is_err());
}

#[test]
fn shape_bits_past_the_last_node_are_refused() {
    let m = model();
    let n = m.nodes.len();
    assert_ne!(n % 8, 0, "the fixture leaves padding bits");
    let mut p = payload(&file_of(&m));
    let shape = trees_at(&m) + 8;
    p[shape + n / 8] |= 0x80;
    assert!(reason(load(&frame(&p))).contains("past the last node"));
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
fn unknown_flags_are_refused() {
    let mut m = model();
    m.nodes[0].bits |= 1 << 31;
    assert!(inconsistent(m).contains("unknown flags"));
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

#[test]
fn split_indexes_widen_past_65536_distinct_values_and_round_trip() {
    // 65,537 stumps on f0, each with its own threshold.
    let trees = (1 << 16) + 1;
    let mut m = model();
    m.shap = None;
    m.num_iterations = trees;
    m.nodes = (0..trees)
        .flat_map(|t| {
            let split = Node {
                value: t as f64 + 0.5,
                right: 2,
                bits: 0,
            };
            [split, Node::leaf(-(t as f64)), Node::leaf(t as f64)]
        })
        .collect();
    m.tree_starts = (0..=trees as u32).map(|t| 3 * t).collect();
    m.depths = vec![1; trees];
    m.derive_walk_data();
    let f = file_of(&m);
    let back = load(&f).unwrap().remove(0).model;
    assert_eq!(back, m);
    // Shape, slots, split values, 4-byte indexes, leaves.
    let nodes = 3 * trees;
    let trees_bytes = nodes.div_ceil(8) + 4 * trees + 4 + 8 * trees + 4 * trees + 16 * trees;
    assert_eq!(payload(&f).len(), trees_at(&m) + 8 + trees_bytes + 1);
    assert_eq!(
        back.predict(&[1.0, 0.0]).unwrap(),
        m.predict(&[1.0, 0.0]).unwrap()
    );
}

#[test]
fn split_indexes_past_the_split_values_are_refused() {
    let m = model();
    let mut p = payload(&file_of(&m));
    // After the shape and the internal nodes' slots: the split value count.
    let internal = m.nodes.iter().filter(|n| !n.is_leaf()).count();
    let count = trees_at(&m) + 8 + m.nodes.len().div_ceil(8) + 4 * internal;
    let splits = u32::from_le_bytes(p[count..count + 4].try_into().unwrap()) as usize;
    assert_eq!(splits, internal, "the fixture's split values are distinct");
    let index = count + 4 + 8 * splits;
    p[index..index + 2].copy_from_slice(&(splits as u16).to_le_bytes());
    assert!(reason(load(&frame(&p))).contains("split value"));
}
