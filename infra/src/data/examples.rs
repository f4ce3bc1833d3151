//! Training examples for the recommender: one per customer and target month `t`.
//!
//! The features describe the customer as the recommend function will see them at serving time:
//! the [`Customer`](warmstart_core::recommend::Customer) profile of month `t-1` (demographics
//! of `t-1`, products owned at `t-1` and at `t-2`, `as_of` = `fecha_dato` of `t-1`), encoded by
//! the same [`Customer::write_row`](warmstart_core::recommend::Customer::write_row) the function
//! calls. The label for product `p` is "owned at `t`, not owned at `t-1`" (added).
//!
//! A customer needs records for `t` and `t-1`, and a known `t-2`: either a record, or `t-1` is
//! the customer's first month while the data covers `t-2` (a new customer owned nothing; lag-2
//! flags of 0 say exactly that). For the data's second month, or after a gap, `t-2` is unknown
//! and no example is built.

use crate::data::panel::{previous_owned, MonthDate, Panel, ProductSet};
use warmstart_core::recommend::NUM_FEATURES;

/// What an example row is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExampleMeta {
    pub customer: u64,
    /// The month being predicted (`t`).
    pub target: MonthDate,
    /// Products owned at `t-1` (never recommended, not counted as additions).
    pub owned: ProductSet,
    /// Products added at `t`: owned at `t`, not at `t-1`.
    pub added: ProductSet,
}

/// Row-major feature rows ([`NUM_FEATURES`] wide) with their metadata.
#[derive(Debug, Clone, Default)]
pub struct Examples {
    pub rows: Vec<f64>,
    pub meta: Vec<ExampleMeta>,
}

impl Examples {
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * NUM_FEATURES..(i + 1) * NUM_FEATURES]
    }

    /// The examples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Examples {
        let mut out = Examples {
            rows: Vec::with_capacity(indices.len() * NUM_FEATURES),
            meta: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            out.rows.extend_from_slice(self.row(i));
            out.meta.push(self.meta[i]);
        }
        out
    }
}

/// Builds every example of a sorted panel; `progress` gets the number of customers done.
pub fn build(panel: &Panel, mut progress: impl FnMut(u64)) -> Examples {
    let first_key = panel.months().first().map_or(0, |m| m.key());
    let mut ex = Examples::default();
    let mut done = 0u64;
    for g in panel.customer_groups() {
        for j in 1..g.len() {
            let (prev, cur) = (&g[j - 1], &g[j]);
            if prev.date.key() != cur.date.key() - 1 {
                continue;
            }
            let Some(owned_prev) = previous_owned(g, j - 1, first_key) else {
                continue;
            };
            let start = ex.rows.len();
            ex.rows.resize(start + NUM_FEATURES, 0.0);
            panel
                .customer(prev, owned_prev)
                .write_row(&mut ex.rows[start..]);
            ex.meta.push(ExampleMeta {
                customer: cur.customer,
                target: cur.date,
                owned: prev.owned,
                added: cur.owned & !prev.owned,
            });
        }
        done += 1;
        if done.is_multiple_of(4096) {
            progress(done);
        }
    }
    progress(done);
    ex
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::panel::MonthlyRecord;
    use warmstart_core::recommend::{feature_names, product_index};

    fn rec(customer: u64, month: u8, owned: &[&str]) -> MonthlyRecord {
        let mut r = MonthlyRecord::new(customer, MonthDate::new(2015, month, 28));
        r.age = 30.0 + f64::from(month);
        for code in owned {
            r.owned |= 1 << product_index(code).unwrap();
        }
        r
    }

    fn col(name: &str) -> usize {
        feature_names().iter().position(|n| n == name).unwrap()
    }

    const CCO: &str = "ind_cco_fin_ult1";
    const TJCR: &str = "ind_tjcr_fin_ult1";
    const RECIBO: &str = "ind_recibo_ult1";

    #[test]
    fn labels_are_products_owned_at_t_and_not_at_t_minus_1() {
        let mut p = Panel::new();
        p.records = vec![
            rec(1, 1, &[CCO]),
            rec(1, 2, &[CCO, RECIBO]),
            rec(1, 3, &[TJCR, RECIBO]),
            rec(1, 4, &[CCO, TJCR, RECIBO]),
        ];
        p.sort_and_dedup();
        let ex = build(&p, |_| {});
        // Target months 3 and 4 (month 2 has no t-2 inside the data).
        assert_eq!(ex.len(), 2);
        let bit = |c: &str| 1u32 << product_index(c).unwrap();
        assert_eq!(ex.meta[0].target.month, 3);
        assert_eq!(ex.meta[0].added, bit(TJCR), "CCO was dropped, not added");
        assert_eq!(ex.meta[0].owned, bit(CCO) | bit(RECIBO));
        assert_eq!(
            ex.meta[1].added,
            bit(CCO),
            "re-adding a dropped product counts"
        );
        // Features come from t-1: age of month 2, lag1 = month 2, lag2 = month 1, the
        // predicted month is 3.
        let row = ex.row(0);
        assert_eq!(row[col("age")], 32.0);
        assert_eq!(row[col("month")], 3.0);
        assert_eq!(row[col("ind_recibo_ult1_lag1")], 1.0);
        assert_eq!(row[col("ind_recibo_ult1_lag2")], 0.0);
        assert_eq!(row[col("ind_cco_fin_ult1_lag2")], 1.0);
        assert_eq!(row[col("n_owned_lag1")], 2.0);
        assert!(row[col("renta")].is_nan());
    }

    #[test]
    fn gaps_break_the_chain_and_new_customers_owned_nothing_before() {
        let mut p = Panel::new();
        p.records = vec![
            rec(1, 1, &[CCO]),
            rec(1, 2, &[CCO]),
            // Month 3 missing: no t-1 for target 4, unknown t-2 for target 5.
            rec(1, 4, &[CCO]),
            rec(1, 5, &[CCO, TJCR]),
            // Customer 2 joins in month 3: it owned nothing in month 2.
            rec(2, 3, &[CCO]),
            rec(2, 4, &[CCO, RECIBO]),
        ];
        p.sort_and_dedup();
        let ex = build(&p, |_| {});
        let got: Vec<(u64, u8)> = ex
            .meta
            .iter()
            .map(|m| (m.customer, m.target.month))
            .collect();
        assert_eq!(got, vec![(2, 4)]);
        let new_customer = ex.row(0);
        assert_eq!(new_customer[col("n_owned_lag2")], 0.0);
        assert_eq!(new_customer[col("n_owned_lag1")], 1.0);
    }
}
