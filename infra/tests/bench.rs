//! `warmstart bench` runs end to end on tiny sizes and prints its table; the figures themselves
//! are never asserted (they depend on the machine and its load).

use std::process::Command;

fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const TINY: &[&str] = &[
    "--models",
    "3",
    "--trees",
    "4",
    "--leaves",
    "5",
    "--features",
    "6",
    "--train-rows",
    "300",
    "--rows",
    "40",
    "--customers",
    "20",
    "--rounds",
    "1",
];

#[test]
fn bench_prints_its_table_and_ends_with_the_single_row_ratio() {
    let stdout = bench(TINY);
    assert!(stdout.contains("| one row x 3 models (us) |"), "{stdout}");
    assert!(stdout.contains("| 40 rows x 3 models (ms) |"), "{stdout}");
    assert!(stdout.contains("compiled load"), "{stdout}");
    assert!(
        stdout.contains("bit-identical to LightGBM on the batch: yes"),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap();
    let ratio = last
        .strip_prefix("single-row ratio vs SingleRowFast: ")
        .unwrap_or_else(|| panic!("last line: {last}"));
    assert!(ratio.parse::<f64>().is_ok(), "{last}");
}

#[test]
fn bench_reads_a_directory_of_model_texts() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/fixtures/models/categorical_binary.txt");
    std::fs::copy(&fixture, dir.path().join("a_model.txt")).unwrap();
    std::fs::copy(&fixture, dir.path().join("b_model.txt")).unwrap();
    let stdout = bench(&[
        "--models-dir",
        dir.path().to_str().unwrap(),
        "--rows",
        "30",
        "--customers",
        "10",
        "--rounds",
        "1",
    ]);
    assert!(stdout.contains("(2 models,"), "{stdout}");
    assert!(
        stdout.contains("bit-identical to LightGBM on the batch: yes"),
        "{stdout}"
    );
}

#[test]
fn bench_scores_the_rows_of_a_raw_f64_file() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/fixtures/models/categorical_binary.txt");
    let text = std::fs::read_to_string(&fixture).unwrap();
    let nf = text
        .lines()
        .find_map(|l| l.strip_prefix("max_feature_idx="))
        .unwrap()
        .parse::<usize>()
        .unwrap()
        + 1;
    std::fs::write(dir.path().join("a_model.txt"), &text).unwrap();
    // 25 rows: categories, NaN, zeros and plain values in turn.
    let values: Vec<f64> = (0..25 * nf)
        .map(|i| match i % 4 {
            0 => f64::NAN,
            1 => 0.0,
            2 => (i % 7) as f64,
            _ => i as f64 / 10.0 - 3.0,
        })
        .collect();
    let rows = dir.path().join("rows.f64");
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&rows, &bytes).unwrap();
    let args = |rows: &std::path::Path| {
        vec![
            "--models-dir".to_string(),
            dir.path().to_str().unwrap().to_string(),
            "--rows-file".to_string(),
            rows.to_str().unwrap().to_string(),
            "--customers".to_string(),
            "10".to_string(),
            "--rounds".to_string(),
            "1".to_string(),
        ]
    };
    let a = args(&rows);
    let stdout = bench(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(stdout.contains("rows from"), "{stdout}");
    assert!(stdout.contains("| 25 rows x 1 models (ms) |"), "{stdout}");
    assert!(
        stdout.contains("bit-identical to LightGBM on the batch: yes"),
        "{stdout}"
    );

    // A file that is not whole rows is refused.
    std::fs::write(&rows, &bytes[..bytes.len() - 8]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .arg("bench")
        .args(args(&rows))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not whole rows"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
