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
