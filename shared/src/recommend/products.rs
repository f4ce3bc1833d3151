//! The 24 Santander products, in the column order of `train_ver2.csv`.

/// `(code, English name)` for each product, in dataset column order.
pub const PRODUCTS: [(&str, &str); 24] = [
    ("ind_ahor_fin_ult1", "Saving Account"),
    ("ind_aval_fin_ult1", "Guarantees"),
    ("ind_cco_fin_ult1", "Current Accounts"),
    ("ind_cder_fin_ult1", "Derivada Account"),
    ("ind_cno_fin_ult1", "Payroll Account"),
    ("ind_ctju_fin_ult1", "Junior Account"),
    ("ind_ctma_fin_ult1", "Más Particular Account"),
    ("ind_ctop_fin_ult1", "Particular Account"),
    ("ind_ctpp_fin_ult1", "Particular Plus Account"),
    ("ind_deco_fin_ult1", "Short-term Deposits"),
    ("ind_deme_fin_ult1", "Medium-term Deposits"),
    ("ind_dela_fin_ult1", "Long-term Deposits"),
    ("ind_ecue_fin_ult1", "e-Account"),
    ("ind_fond_fin_ult1", "Funds"),
    ("ind_hip_fin_ult1", "Mortgage"),
    ("ind_plan_fin_ult1", "Pension Plan"),
    ("ind_pres_fin_ult1", "Loans"),
    ("ind_reca_fin_ult1", "Taxes"),
    ("ind_tjcr_fin_ult1", "Credit Card"),
    ("ind_valo_fin_ult1", "Securities"),
    ("ind_viv_fin_ult1", "Home Account"),
    ("ind_nomina_ult1", "Payroll"),
    ("ind_nom_pens_ult1", "Pensions"),
    ("ind_recibo_ult1", "Direct Debit"),
];

pub const NUM_PRODUCTS: usize = PRODUCTS.len();

/// Index of a product code, e.g. `ind_cco_fin_ult1` → 2.
pub fn product_index(code: &str) -> Option<usize> {
    PRODUCTS.iter().position(|(c, _)| *c == code)
}
