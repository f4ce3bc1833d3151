//! The customer panel: one record per customer per month, as parsed from the Santander
//! `train_ver2.csv` ([`super::santander`]) or generated ([`super::synthetic`]). Everything
//! after parsing (examples, training, seeding) starts from a [`Panel`], so real and synthetic
//! data go through the same code.

use std::collections::HashMap;
use std::fmt;
use warmstart_core::recommend::{Customer, NUM_PRODUCTS, PRODUCTS};

/// A month in the data: `fecha_dato` (always the 28th in the Santander files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonthDate {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl MonthDate {
    pub fn new(year: u16, month: u8, day: u8) -> Self {
        MonthDate { year, month, day }
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year: u16 = s[0..4].parse().ok()?;
        let month: u8 = s[5..7].parse().ok()?;
        let day: u8 = s[8..10].parse().ok()?;
        ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(MonthDate {
            year,
            month,
            day,
        })
    }

    /// Months since year 0: consecutive months have consecutive keys.
    pub fn key(self) -> i32 {
        i32::from(self.year) * 12 + i32::from(self.month) - 1
    }

    /// The same day `n` months later (`n` may be negative).
    pub fn add_months(self, n: i32) -> Self {
        let k = self.key() + n;
        MonthDate {
            year: (k.div_euclid(12)) as u16,
            month: (k.rem_euclid(12) + 1) as u8,
            day: self.day,
        }
    }
}

impl fmt::Display for MonthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The string columns kept from the CSV, in this order in [`MonthlyRecord::text`]: the
/// recommender's string profile fields (the [`text`] indices follow their order).
pub const TEXT_COLUMNS: [&str; 9] = warmstart_core::recommend::CATEGORICAL;

/// Index of a column in [`MonthlyRecord::text`].
pub mod text {
    pub const SEXO: usize = 0;
    pub const SEGMENTO: usize = 1;
    pub const IND_EMPLEADO: usize = 2;
    pub const PAIS_RESIDENCIA: usize = 3;
    pub const CANAL_ENTRADA: usize = 4;
    pub const TIPREL_1MES: usize = 5;
    pub const INDRESI: usize = 6;
    pub const INDEXT: usize = 7;
    pub const INDFALL: usize = 8;
}

/// Products owned in one month: bit `i` is `PRODUCTS[i]`.
pub type ProductSet = u32;

pub fn owns(set: ProductSet, product: usize) -> bool {
    set >> product & 1 == 1
}

/// Product codes of a set, in dataset order.
pub fn product_codes(set: ProductSet) -> Vec<String> {
    (0..NUM_PRODUCTS)
        .filter(|&p| owns(set, p))
        .map(|p| PRODUCTS[p].0.to_string())
        .collect()
}

/// Product indices of a set, in dataset order.
pub fn product_indices(set: ProductSet) -> impl Iterator<Item = usize> {
    (0..NUM_PRODUCTS).filter(move |&p| owns(set, p))
}

/// One customer in one month. Numbers use NaN for missing (keeps the record small: the full
/// Santander file has 13.6 million of them); strings are interned in the [`Panel`].
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyRecord {
    /// `ncodpers`.
    pub customer: u64,
    /// `fecha_dato`.
    pub date: MonthDate,
    pub age: f64,
    /// Seniority in months (`-999999` in the CSV is missing).
    pub antiguedad: f64,
    pub renta: f64,
    pub cod_prov: f64,
    pub ind_actividad_cliente: f64,
    pub ind_nuevo: f64,
    pub indrel: f64,
    /// [`TEXT_COLUMNS`] values as [`Panel`] string ids; `None` is missing.
    pub text: [Option<u16>; 9],
    pub owned: ProductSet,
}

impl MonthlyRecord {
    pub fn new(customer: u64, date: MonthDate) -> Self {
        MonthlyRecord {
            customer,
            date,
            age: f64::NAN,
            antiguedad: f64::NAN,
            renta: f64::NAN,
            cod_prov: f64::NAN,
            ind_actividad_cliente: f64::NAN,
            ind_nuevo: f64::NAN,
            indrel: f64::NAN,
            text: [None; 9],
            owned: 0,
        }
    }
}

/// Customer-month records plus the strings they refer to.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub records: Vec<MonthlyRecord>,
    strings: Vec<String>,
    lookup: HashMap<String, u16>,
}

/// Why records were dropped when the panel was put in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Duplicates {
    pub count: u64,
    pub examples: Vec<String>,
}

impl Panel {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of a string value, adding it if new. `None` when the panel already holds 65,535
    /// distinct strings (a sign the input is not the file we think it is).
    pub fn intern(&mut self, s: &str) -> Option<u16> {
        if let Some(&id) = self.lookup.get(s) {
            return Some(id);
        }
        let id = u16::try_from(self.strings.len())
            .ok()
            .filter(|&i| i < u16::MAX)?;
        self.strings.push(s.to_string());
        self.lookup.insert(s.to_string(), id);
        Some(id)
    }

    pub fn text(&self, id: u16) -> &str {
        &self.strings[id as usize]
    }

    fn text_opt(&self, id: Option<u16>) -> Option<String> {
        id.map(|i| self.text(i).to_string())
    }

    /// Sorts records by customer then month and drops repeated customer-months (keeping the
    /// first), which it reports.
    pub fn sort_and_dedup(&mut self) -> Duplicates {
        self.records.sort_by_key(|r| (r.customer, r.date.key()));
        let mut dups = Duplicates::default();
        let mut kept: Vec<MonthlyRecord> = Vec::with_capacity(self.records.len());
        for r in self.records.drain(..) {
            if let Some(last) = kept.last() {
                if last.customer == r.customer && last.date.key() == r.date.key() {
                    dups.count += 1;
                    if dups.examples.len() < 5 {
                        dups.examples.push(format!(
                            "customer {} appears more than once in {}-{:02}",
                            r.customer, r.date.year, r.date.month
                        ));
                    }
                    continue;
                }
            }
            kept.push(r);
        }
        self.records = kept;
        dups
    }

    /// Distinct months, sorted.
    pub fn months(&self) -> Vec<MonthDate> {
        let mut by_key: HashMap<i32, MonthDate> = HashMap::new();
        for r in &self.records {
            by_key.entry(r.date.key()).or_insert(r.date);
        }
        let mut months: Vec<MonthDate> = by_key.into_values().collect();
        months.sort();
        months
    }

    /// Number of distinct customers (records must be sorted).
    pub fn num_customers(&self) -> usize {
        self.customer_groups().count()
    }

    /// Each customer's records, month order (records must be sorted).
    pub fn customer_groups(&self) -> impl Iterator<Item = &[MonthlyRecord]> {
        self.records.chunk_by(|a, b| a.customer == b.customer)
    }

    /// Keeps only the last `n` months of data.
    pub fn keep_last_months(&mut self, n: usize) {
        let months = self.months();
        if months.len() > n {
            let first = months[months.len() - n].key();
            self.records.retain(|r| r.date.key() >= first);
        }
    }

    /// The serving profile built from `rec` (the latest month), with `owned_prev` the products
    /// owned the month before. This is the one place panel records become [`Customer`]s, for
    /// training rows and for seeding the Features table alike.
    pub fn customer(&self, rec: &MonthlyRecord, owned_prev: ProductSet) -> Customer {
        let num = |x: f64| (!x.is_nan()).then_some(x);
        let t = |i: usize| self.text_opt(rec.text[i]);
        Customer {
            customer_id: rec.customer.to_string(),
            as_of: rec.date.to_string(),
            age: num(rec.age),
            antiguedad: num(rec.antiguedad),
            renta: num(rec.renta),
            cod_prov: num(rec.cod_prov),
            ind_actividad_cliente: num(rec.ind_actividad_cliente),
            ind_nuevo: num(rec.ind_nuevo),
            indrel: num(rec.indrel),
            sexo: t(text::SEXO),
            segmento: t(text::SEGMENTO),
            ind_empleado: t(text::IND_EMPLEADO),
            pais_residencia: t(text::PAIS_RESIDENCIA),
            canal_entrada: t(text::CANAL_ENTRADA),
            tiprel_1mes: t(text::TIPREL_1MES),
            indresi: t(text::INDRESI),
            indext: t(text::INDEXT),
            indfall: t(text::INDFALL),
            owned: product_codes(rec.owned),
            owned_prev: product_codes(owned_prev),
        }
    }

    /// Each customer's latest month as a [`Customer`]: what `warmstart seed recommender` puts in
    /// the Features table so that the recommend function predicts the month after the data.
    /// `owned_prev` comes from the calendar month before; a customer first seen in the latest
    /// month owned nothing before. Where that month is unknown (it precedes the data, or the
    /// customer has a gap) the latest ownership is repeated: "no change" is the common case. Records must be sorted ([`Self::sort_and_dedup`]).
    pub fn latest_profiles(&self) -> Vec<Customer> {
        let first_key = self.months().first().map(|m| m.key()).unwrap_or(0);
        self.customer_groups()
            .map(|g| {
                let last = &g[g.len() - 1];
                let prev = previous_owned(g, g.len() - 1, first_key).unwrap_or(last.owned);
                self.customer(last, prev)
            })
            .collect()
    }
}

/// Products owned the calendar month before `g[j]` (one customer's sorted records). `Some(0)`
/// when `g[j]` is the customer's first record and the data covers the month before (a new
/// customer owned nothing); `None` when unknown: that month precedes the data, or the
/// customer has a gap there.
pub fn previous_owned(g: &[MonthlyRecord], j: usize, first_key: i32) -> Option<ProductSet> {
    let want = g[j].date.key() - 1;
    if j >= 1 && g[j - 1].date.key() == want {
        Some(g[j - 1].owned)
    } else if j == 0 && want >= first_key {
        Some(0)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_dates_parse_and_step() {
        let d = MonthDate::parse("2015-12-28").unwrap();
        assert_eq!(d.add_months(1).to_string(), "2016-01-28");
        assert_eq!(d.add_months(-12).to_string(), "2014-12-28");
        assert_eq!(d.add_months(1).key() - d.key(), 1);
        for bad in ["2015-13-28", "2015/01/28", "15-01-28", "", "2015-01-2x"] {
            assert!(MonthDate::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn duplicates_are_dropped_and_reported() {
        let mut p = Panel::new();
        let d = MonthDate::new(2015, 1, 28);
        p.records.push(MonthlyRecord::new(2, d));
        p.records.push(MonthlyRecord::new(1, d));
        p.records.push(MonthlyRecord::new(2, d));
        let dups = p.sort_and_dedup();
        assert_eq!(dups.count, 1);
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[0].customer, 1);
        assert!(dups.examples[0].contains("customer 2"));
    }

    #[test]
    fn latest_profiles_use_the_last_month_and_the_month_before() {
        let mut p = Panel::new();
        let jan = MonthDate::new(2016, 1, 28);
        let mut a1 = MonthlyRecord::new(7, jan);
        a1.owned = 0b100;
        let mut a2 = MonthlyRecord::new(7, jan.add_months(1));
        a2.owned = 0b101;
        a2.age = 40.0;
        a2.text[text::SEXO] = p.intern("H");
        // Customer 8 only appears in February: new that month, owned nothing before.
        let mut b2 = MonthlyRecord::new(8, jan.add_months(1));
        b2.owned = 0b1;
        p.records = vec![b2, a2, a1];
        p.sort_and_dedup();
        let profiles = p.latest_profiles();
        assert_eq!(profiles.len(), 2);
        let a = &profiles[0];
        assert_eq!(a.customer_id, "7");
        assert_eq!(a.as_of, "2016-02-28");
        assert_eq!(a.age, Some(40.0));
        assert_eq!(a.renta, None);
        assert_eq!(a.sexo.as_deref(), Some("H"));
        assert_eq!(a.owned, vec![PRODUCTS[0].0, PRODUCTS[2].0]);
        assert_eq!(a.owned_prev, vec![PRODUCTS[2].0]);
        assert!(profiles[1].owned_prev.is_empty());
    }
}
