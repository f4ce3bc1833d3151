//! Finds lib_lightgbm of LightGBM 4.7.0 and links it dynamically.
//!
//! Where from, in order: `LIGHTGBM_LIB_DIR`, else where infra/scripts/bootstrap.sh unpacks the
//! wheel (`~/.cache/warmstart/lightgbm-4.7.0`), else the `lightgbm` package of `python3` if it
//! is 4.7.0. The library is copied into OUT_DIR because cargo puts build-script search paths
//! inside the target dir on the loader path of `cargo test` and `cargo run`; `warmstart`'s own
//! build script adds an rpath for the binary run directly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const VERSION: &str = "4.7.0";

fn lib_name() -> &'static str {
    match env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos") => "lib_lightgbm.dylib",
        Ok("windows") => "lib_lightgbm.dll",
        _ => "lib_lightgbm.so",
    }
}

/// The directory of the `lightgbm` package `python3` imports, if it is `VERSION`.
fn from_python() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import lightgbm, os; print(lightgbm.__version__); print(os.path.dirname(lightgbm.__file__))",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut lines = text.lines();
    if !out.status.success() || lines.next()? != VERSION {
        return None;
    }
    Some(Path::new(lines.next()?).join("lib"))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIGHTGBM_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let name = lib_name();
    println!("cargo:rerun-if-env-changed=HOME");
    let cached = env::var_os("HOME")
        .map(|home| Path::new(&home).join(format!(".cache/warmstart/lightgbm-{VERSION}")));
    let dir = match env::var_os("LIGHTGBM_LIB_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match cached {
            Some(dir) if dir.join(name).is_file() => dir,
            _ => from_python().unwrap_or_default(),
        },
    };
    let src = dir.join(name);
    if !src.is_file() {
        panic!(
            "no {name} of LightGBM {VERSION} in {:?}: run infra/scripts/bootstrap.sh (it unpacks \
             the lightgbm=={VERSION} wheel into ~/.cache/warmstart and infra/scripts/env.sh points \
             LIGHTGBM_LIB_DIR at it), or set LIGHTGBM_LIB_DIR to a directory holding {name} of \
             LightGBM {VERSION}",
            dir
        );
    }
    println!("cargo:rerun-if-changed={}", src.display());
    let lib = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("lib");
    fs::create_dir_all(&lib).expect("create OUT_DIR/lib");
    // A copy inside the target dir: cargo puts only search paths inside it on the loader path.
    let dst = lib.join(name);
    let tmp = lib.join(format!("{name}.tmp"));
    fs::copy(&src, &tmp)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), tmp.display()));
    fs::rename(&tmp, &dst).expect("rename the copied library");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=_lightgbm");
    println!("cargo:lib_dir={}", lib.display());
}
