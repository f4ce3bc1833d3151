//! `warmstart` links LightGBM dynamically (infra/lightgbm3-sys): the rpath lets the binary find
//! the library when run directly, as `make run` and the chaos and bench scripts do.
fn main() {
    if let Ok(dir) = std::env::var("DEP_LIGHTGBM_LIB_DIR") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{dir}");
    }
}
