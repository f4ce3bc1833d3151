//! LightGBM's own feature contributions (`predict_contrib`) through its C API: the oracle of
//! the TreeSHAP parity tests and of `warmstart bench`. Self-contained (std + lightgbm3_sys)
//! because warmstart-core's parity test includes this file by path: the core cannot depend on
//! the CLI crate, and one copy of unsafe FFI is easier to keep right than two.
//!
//! Called through `lightgbm3_sys` directly: `lightgbm3::Booster::predict_contrib` sizes its
//! output for one class (rows × (features + 1)) and overflows on multiclass models.

use std::ffi::{c_void, CString};

/// A LightGBM booster loaded from model text.
pub struct ContribOracle(lightgbm3_sys::BoosterHandle);

impl ContribOracle {
    /// Loads `text`; `None` when LightGBM refuses it.
    pub fn load(text: &str) -> Option<Self> {
        let text = CString::new(text).ok()?;
        let mut handle = std::ptr::null_mut();
        let mut iterations = 0;
        // SAFETY: a NUL-terminated string and out-pointers that live across the call.
        let rc = unsafe {
            lightgbm3_sys::LGBM_BoosterLoadModelFromString(
                text.as_ptr(),
                &mut iterations,
                &mut handle,
            )
        };
        (rc == 0).then_some(ContribOracle(handle))
    }

    /// Contributions of `rows` (row-major, `nf` wide), one thread: per row, per class, one
    /// value per feature and the bias, in raw-score space.
    pub fn contrib(&self, rows: &[f64], nf: usize, classes: usize) -> Vec<f64> {
        let n = rows.len() / nf;
        let mut out = vec![0.0; n * classes * (nf + 1)];
        let mut len: i64 = 0;
        let params = CString::new("num_threads=1").expect("no NUL");
        // SAFETY: `rows` holds n × nf doubles; `out` is sized for every class, which is what
        // LightGBM writes (`len` is checked against it below).
        let rc = unsafe {
            lightgbm3_sys::LGBM_BoosterPredictForMat(
                self.0,
                rows.as_ptr() as *const c_void,
                lightgbm3_sys::C_API_DTYPE_FLOAT64 as i32,
                n as i32,
                nf as i32,
                1,
                lightgbm3_sys::C_API_PREDICT_CONTRIB as i32,
                0,
                -1,
                params.as_ptr(),
                &mut len,
                out.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "LightGBM predict_contrib failed");
        assert_eq!(len as usize, out.len(), "LightGBM wrote another width");
        out
    }
}

impl Drop for ContribOracle {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_BoosterLoadModelFromString and is freed once.
        unsafe { lightgbm3_sys::LGBM_BoosterFree(self.0) };
    }
}
