//! LightGBM's C API (`c_api.h` of 4.7.0), as lightgbm3-sys 1.0.11 exposes it.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code)]
#![allow(rustdoc::all, clippy::all)]

include!("bindings.rs");
