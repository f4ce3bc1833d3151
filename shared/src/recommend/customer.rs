//! A customer's profile (the `customer#<id>` item in the Features table) and its encoding into
//! the recommender's feature row. Training (CLI) and serving (recommend function) both go
//! through [`Customer::write_row`], so the two cannot drift apart.

use super::products::{product_index, NUM_PRODUCTS, PRODUCTS};
use serde::{Deserialize, Serialize};

/// The latest known month of a customer: demographics from that month, ownership in that month
/// (`owned`, lag 1 from the month being predicted) and the month before (`owned_prev`, lag 2).
/// Field names are the Santander `train_ver2.csv` column names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub customer_id: String,
    /// `fecha_dato` of the latest month, `YYYY-MM-DD`.
    pub as_of: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<f64>,
    /// Seniority in months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub antiguedad: Option<f64>,
    /// Gross household income.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cod_prov: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ind_actividad_cliente: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ind_nuevo: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indrel: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sexo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmento: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ind_empleado: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pais_residencia: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canal_entrada: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiprel_1mes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indresi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indfall: Option<String>,
    /// Product codes owned in the latest month.
    #[serde(default)]
    pub owned: Vec<String>,
    /// Product codes owned the month before.
    #[serde(default)]
    pub owned_prev: Vec<String>,
}

/// Integer codes for the string columns. Unknown values get the next code ("other"); a
/// missing value is NaN, which the trees route as missing.
const SEXO: &[&str] = &["V", "H"];
const SEGMENTO: &[&str] = &["01 - TOP", "02 - PARTICULARES", "03 - UNIVERSITARIO"];
const IND_EMPLEADO: &[&str] = &["N", "A", "B", "F", "S"];
const PAIS: &[&str] = &[
    "ES", "FR", "AR", "DE", "GB", "US", "CO", "IT", "RO", "MX", "EC", "VE", "CH", "BR", "PT", "BE",
];
const CANAL: &[&str] = &[
    "KHE", "KAT", "KFC", "KHQ", "KFA", "KHK", "KHM", "KHD", "KHN", "KAS", "RED", "KAG", "KAY",
    "KAA", "KAB", "KAE", "KCC", "KBZ", "KHL", "KFD", "KAI", "KEY", "KAW", "KAR", "KAZ", "KAF",
    "007", "013", "KCI", "KAH", "KAJ", "KCH", "KHF", "KAQ", "KHO", "KAL", "KFP", "KBO", "KAD",
];
const TIPREL: &[&str] = &["A", "I", "P", "R", "N"];
const YES_NO: &[&str] = &["N", "S"];

/// Numeric profile fields, in feature order.
pub const NUMERIC: [&str; 7] = [
    "age",
    "antiguedad",
    "renta",
    "cod_prov",
    "ind_actividad_cliente",
    "ind_nuevo",
    "indrel",
];
/// String profile fields, in feature order.
pub const CATEGORICAL: [&str; 9] = [
    "sexo",
    "segmento",
    "ind_empleado",
    "pais_residencia",
    "canal_entrada",
    "tiprel_1mes",
    "indresi",
    "indext",
    "indfall",
];

/// Features before the ownership block: numeric fields, encoded string fields, target month.
const PROFILE_FEATURES: usize = NUMERIC.len() + CATEGORICAL.len() + 1;
/// Total recommender features: profile + 24 lag-1 flags + 24 lag-2 flags + 2 counts.
pub const NUM_FEATURES: usize = PROFILE_FEATURES + 2 * NUM_PRODUCTS + 2;

/// The recommender's model feature names, in row order.
pub fn feature_names() -> Vec<String> {
    let mut names: Vec<String> = NUMERIC.iter().map(|s| s.to_string()).collect();
    names.extend(CATEGORICAL.iter().map(|s| s.to_string()));
    names.push("month".into());
    names.extend(PRODUCTS.iter().map(|(c, _)| format!("{c}_lag1")));
    names.extend(PRODUCTS.iter().map(|(c, _)| format!("{c}_lag2")));
    names.push("n_owned_lag1".into());
    names.push("n_owned_lag2".into());
    names
}

/// Why a what-if override was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverrideError {
    #[error("unknown feature `{name}`; overridable features are: {allowed}")]
    Unknown { name: String, allowed: String },
    #[error("feature `{name}` must be a finite number or null")]
    NotNumber { name: String },
    #[error("feature `{name}` must be a string or null")]
    NotString { name: String },
    #[error("unknown product code `{0}`")]
    UnknownProduct(String),
}

impl Customer {
    /// Writes the model row for predicting the month after `as_of`. `out.len()` must be
    /// [`NUM_FEATURES`].
    pub fn write_row(&self, out: &mut [f64]) {
        assert_eq!(out.len(), NUM_FEATURES, "recommender row width");
        let numeric = [
            self.age,
            self.antiguedad,
            self.renta,
            self.cod_prov,
            self.ind_actividad_cliente,
            self.ind_nuevo,
            self.indrel,
        ];
        for (o, v) in out.iter_mut().zip(numeric) {
            *o = v.unwrap_or(f64::NAN);
        }
        let dicts = [
            SEXO,
            SEGMENTO,
            IND_EMPLEADO,
            PAIS,
            CANAL,
            TIPREL,
            YES_NO,
            YES_NO,
            YES_NO,
        ];
        for ((o, v), dict) in out[NUMERIC.len()..].iter_mut().zip(self.texts()).zip(dicts) {
            *o = encode(v, dict);
        }
        out[PROFILE_FEATURES - 1] = target_month(&self.as_of).map_or(f64::NAN, f64::from);
        let lags = &mut out[PROFILE_FEATURES..];
        lags.fill(0.0);
        let (lag1, rest) = lags.split_at_mut(NUM_PRODUCTS);
        let (lag2, counts) = rest.split_at_mut(NUM_PRODUCTS);
        counts[0] = mark(&self.owned, lag1);
        counts[1] = mark(&self.owned_prev, lag2);
    }

    /// The row as a fresh vector (CLI and tests; serving uses [`Self::write_row`]).
    pub fn row(&self) -> Vec<f64> {
        let mut row = vec![0.0; NUM_FEATURES];
        self.write_row(&mut row);
        row
    }

    /// The profile's string for a string feature (`sexo`, `segmento`, …); `None` for any other
    /// name.
    pub fn text_field(&self, name: &str) -> Option<Option<&str>> {
        let i = CATEGORICAL.iter().position(|c| *c == name)?;
        Some(self.texts()[i])
    }

    /// The string fields in [`CATEGORICAL`] order.
    fn texts(&self) -> [Option<&str>; CATEGORICAL.len()] {
        [
            self.sexo.as_deref(),
            self.segmento.as_deref(),
            self.ind_empleado.as_deref(),
            self.pais_residencia.as_deref(),
            self.canal_entrada.as_deref(),
            self.tiprel_1mes.as_deref(),
            self.indresi.as_deref(),
            self.indext.as_deref(),
            self.indfall.as_deref(),
        ]
    }

    /// Indices of the products owned in the latest month.
    pub fn owned_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.owned.iter().filter_map(|c| product_index(c))
    }

    /// Applies one what-if override by profile field name. `null` clears the field.
    pub fn apply_override(
        &mut self,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<(), OverrideError> {
        if let Some(slot) = self.numeric_mut(name) {
            *slot = match value {
                serde_json::Value::Null => None,
                v => match v.as_f64() {
                    Some(x) if x.is_finite() => Some(x),
                    _ => return Err(OverrideError::NotNumber { name: name.into() }),
                },
            };
            return Ok(());
        }
        if let Some(slot) = self.string_mut(name) {
            *slot = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                _ => return Err(OverrideError::NotString { name: name.into() }),
            };
            return Ok(());
        }
        Err(OverrideError::Unknown {
            name: name.into(),
            allowed: NUMERIC
                .iter()
                .chain(CATEGORICAL.iter())
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Replaces the latest month's ownership, validating the product codes.
    pub fn set_owned(&mut self, codes: &[String]) -> Result<(), OverrideError> {
        if let Some(bad) = codes.iter().find(|c| product_index(c).is_none()) {
            return Err(OverrideError::UnknownProduct(bad.clone()));
        }
        self.owned = codes.to_vec();
        Ok(())
    }

    fn numeric_mut(&mut self, name: &str) -> Option<&mut Option<f64>> {
        Some(match name {
            "age" => &mut self.age,
            "antiguedad" => &mut self.antiguedad,
            "renta" => &mut self.renta,
            "cod_prov" => &mut self.cod_prov,
            "ind_actividad_cliente" => &mut self.ind_actividad_cliente,
            "ind_nuevo" => &mut self.ind_nuevo,
            "indrel" => &mut self.indrel,
            _ => return None,
        })
    }

    fn string_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "sexo" => &mut self.sexo,
            "segmento" => &mut self.segmento,
            "ind_empleado" => &mut self.ind_empleado,
            "pais_residencia" => &mut self.pais_residencia,
            "canal_entrada" => &mut self.canal_entrada,
            "tiprel_1mes" => &mut self.tiprel_1mes,
            "indresi" => &mut self.indresi,
            "indext" => &mut self.indext,
            "indfall" => &mut self.indfall,
            _ => return None,
        })
    }
}

fn encode(value: Option<&str>, dict: &[&str]) -> f64 {
    match value.map(str::trim) {
        None | Some("") => f64::NAN,
        Some(v) => dict.iter().position(|d| *d == v).unwrap_or(dict.len()) as f64,
    }
}

/// Sets a 1.0 flag per owned product and returns how many distinct products are owned.
fn mark(codes: &[String], flags: &mut [f64]) -> f64 {
    for i in codes.iter().filter_map(|c| product_index(c)) {
        flags[i] = 1.0;
    }
    flags.iter().sum()
}

/// Month (1–12) after the `YYYY-MM-DD` date `as_of`: the month being predicted (seasonality).
pub fn target_month(as_of: &str) -> Option<u8> {
    let month: u8 = as_of.get(5..7)?.parse().ok()?;
    (1..=12).contains(&month).then_some(month % 12 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> Customer {
        Customer {
            customer_id: "15889".into(),
            as_of: "2016-05-28".into(),
            age: Some(56.0),
            renta: None,
            sexo: Some("V".into()),
            segmento: Some("01 - TOP".into()),
            canal_entrada: Some("ZZZ".into()),
            owned: vec!["ind_cco_fin_ult1".into(), "ind_recibo_ult1".into()],
            owned_prev: vec!["ind_cco_fin_ult1".into()],
            ..Customer::default()
        }
    }

    #[test]
    fn row_has_one_value_per_feature_name() {
        assert_eq!(feature_names().len(), NUM_FEATURES);
        assert_eq!(customer().row().len(), NUM_FEATURES);
    }

    #[test]
    fn missing_values_are_nan_and_unknown_categories_are_other() {
        let names = feature_names();
        let row = customer().row();
        let at = |n: &str| row[names.iter().position(|x| x == n).unwrap()];
        assert!(at("renta").is_nan());
        assert_eq!(at("sexo"), 0.0);
        assert_eq!(at("canal_entrada"), CANAL.len() as f64);
        assert!(at("tiprel_1mes").is_nan());
        assert_eq!(at("month"), 6.0);
    }

    #[test]
    fn ownership_lags_and_counts_are_encoded() {
        let names = feature_names();
        let row = customer().row();
        let at = |n: &str| row[names.iter().position(|x| x == n).unwrap()];
        assert_eq!(at("ind_cco_fin_ult1_lag1"), 1.0);
        assert_eq!(at("ind_recibo_ult1_lag1"), 1.0);
        assert_eq!(at("ind_recibo_ult1_lag2"), 0.0);
        assert_eq!(at("n_owned_lag1"), 2.0);
        assert_eq!(at("n_owned_lag2"), 1.0);
    }

    #[test]
    fn december_is_followed_by_january() {
        assert_eq!(target_month("2015-12-28"), Some(1));
        assert_eq!(target_month("garbage"), None);
    }

    #[test]
    fn overrides_are_typed_and_named() {
        let mut c = customer();
        c.apply_override("age", &serde_json::json!(35)).unwrap();
        assert_eq!(c.age, Some(35.0));
        c.apply_override("sexo", &serde_json::json!("H")).unwrap();
        assert_eq!(c.sexo.as_deref(), Some("H"));
        c.apply_override("renta", &serde_json::Value::Null).unwrap();
        assert_eq!(c.renta, None);
        assert!(matches!(
            c.apply_override("age", &serde_json::json!("old")),
            Err(OverrideError::NotNumber { .. })
        ));
        let err = c
            .apply_override("no_such_feature", &serde_json::json!(1))
            .unwrap_err();
        assert!(err.to_string().contains("no_such_feature"));
        assert!(c.set_owned(&["ind_nope".into()]).is_err());
    }
}
