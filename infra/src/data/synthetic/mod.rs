//! Synthetic Santander-like customers: the same [`Panel`] the CSV parser produces, with enough
//! structure that a model can beat "recommend the most popular products".
//!
//! Each customer belongs to a segment (juniors, students, professionals, affluent/TOP,
//! retirees) with its own product affinities, age and income. Every month each product not
//! owned is added with a probability from a logistic model of: the segment, age and (true,
//! sometimes unreported) income, the calendar month (tax campaign in April–June, extra pay in
//! June/July and December, year-end pension-plan contributions…), the products already owned
//! (a credit card after a payroll, a payroll after a payroll account, a home account after a
//! mortgage…), a product dropped the month before (payroll, pensions and direct debits flicker
//! on and off) and activity. Owned products churn at product-specific rates. The simulation
//! runs a few unrecorded burn-in months first, so the first recorded months already show these
//! dynamics. A few customers join during the window (they own nothing the month before).
//!
//! Deterministic: customer `i` draws from ChaCha8 stream `i` of `seed`, so the same seed gives
//! the same records, and a customer's history does not depend on how many were generated.

use crate::data::panel::{text, MonthDate, MonthlyRecord, Panel, ProductSet};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use warmstart_core::recommend::{Customer, NUM_PRODUCTS};

mod model;
use model::*;

/// Month of the last record (the last month of the Kaggle training file).
pub const LAST_MONTH: MonthDate = MonthDate {
    year: 2016,
    month: 5,
    day: 28,
};
/// Unrecorded months simulated before the first recorded one.
const BURN_IN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticConfig {
    pub customers: usize,
    /// Recorded months, ending at [`LAST_MONTH`].
    pub months: usize,
    pub seed: u64,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut u = rng.gen::<f64>() * total;
    for (item, w) in items {
        if u < *w {
            return *item;
        }
        u -= w;
    }
    items[items.len() - 1].0
}

/// A customer's fixed traits.
struct Person {
    segment: Segment,
    age: f64,
    /// True household income; reported as `renta` unless missing.
    income: f64,
    report_income: bool,
    sexo: Option<&'static str>,
    segmento: Option<&'static str>,
    canal: Option<&'static str>,
    pais: &'static str,
    empleado: &'static str,
    indext: &'static str,
    indfall: &'static str,
    indrel: f64,
    cod_prov: f64,
    seniority_known: bool,
    /// Months of seniority when the simulation starts (negative: joins later).
    seniority: i32,
    propensity: f64,
}

fn person(
    rng: &mut ChaCha8Rng,
    first_sim_key: i32,
    window_start_key: i32,
    months: usize,
) -> Person {
    let segment = pick(
        rng,
        &[
            (Segment::Junior, 0.04),
            (Segment::Student, 0.22),
            (Segment::Professional, 0.42),
            (Segment::Affluent, 0.09),
            (Segment::Retiree, 0.23),
        ],
    );
    let normal = |rng: &mut ChaCha8Rng, mean: f64, sd: f64| {
        Normal::new(mean, sd).expect("valid normal").sample(rng)
    };
    let age = match segment {
        Segment::Junior => rng.gen_range(2..18),
        Segment::Student => rng.gen_range(18..27),
        Segment::Professional => rng.gen_range(25..66),
        Segment::Affluent => rng.gen_range(32..80),
        Segment::Retiree => rng.gen_range(62..96),
    } as f64;
    let cod_prov = pick(
        rng,
        &PROVINCES
            .iter()
            .copied()
            .chain((1..=52).map(|p| (p as f64, 0.004)))
            .collect::<Vec<_>>(),
    );
    let (income_mean, income_sd) = match segment {
        Segment::Junior => (11.3, 0.5),
        Segment::Student => (11.1, 0.5),
        Segment::Professional => (11.6, 0.5),
        Segment::Affluent => (12.4, 0.6),
        Segment::Retiree => (11.3, 0.5),
    };
    let madrid = if cod_prov == 28.0 { 0.2 } else { 0.0 };
    let income = normal(rng, income_mean + madrid, income_sd).exp();
    let segmento = match segment {
        Segment::Junior | Segment::Professional | Segment::Retiree => "02 - PARTICULARES",
        Segment::Student => "03 - UNIVERSITARIO",
        Segment::Affluent => "01 - TOP",
    };
    let canal = match segment {
        Segment::Student | Segment::Junior => pick(
            rng,
            &[
                ("KHE", 0.55),
                ("KFC", 0.15),
                ("KHD", 0.15),
                ("KHQ", 0.1),
                ("RED", 0.05),
            ],
        ),
        Segment::Professional => pick(
            rng,
            &[
                ("KAT", 0.35),
                ("KFC", 0.25),
                ("KHE", 0.15),
                ("KHK", 0.1),
                ("KFA", 0.1),
                ("RED", 0.05),
            ],
        ),
        Segment::Affluent => pick(
            rng,
            &[("KAT", 0.6), ("KFC", 0.2), ("KAG", 0.1), ("KAY", 0.1)],
        ),
        Segment::Retiree => pick(
            rng,
            &[("KAT", 0.45), ("KFA", 0.25), ("KFC", 0.2), ("KAS", 0.1)],
        ),
    };
    // Most customers are long-standing; some join during the recorded window.
    let joins_in_window = rng.gen_bool(0.03);
    let seniority = if joins_in_window {
        let join_key = window_start_key + rng.gen_range(1..months.max(2) as i32);
        first_sim_key - join_key
    } else {
        match segment {
            Segment::Junior => rng.gen_range(1..150),
            Segment::Student => rng.gen_range(1..60),
            _ => rng.gen_range(1..250),
        }
    };
    Person {
        segment,
        age,
        income,
        report_income: rng.gen_bool(0.8),
        sexo: if rng.gen_bool(0.005) {
            None
        } else if rng.gen_bool(if segment == Segment::Affluent {
            0.6
        } else {
            0.47
        }) {
            Some("V")
        } else {
            Some("H")
        },
        segmento: (!rng.gen_bool(0.01)).then_some(segmento),
        canal: (!rng.gen_bool(0.01)).then_some(canal),
        pais: pick(
            rng,
            &[
                ("ES", 0.995),
                ("FR", 0.001),
                ("AR", 0.001),
                ("DE", 0.001),
                ("GB", 0.001),
                ("CO", 0.001),
            ],
        ),
        empleado: pick(
            rng,
            &[
                ("N", 0.999),
                ("A", 0.0003),
                ("B", 0.0003),
                ("F", 0.0002),
                ("S", 0.0002),
            ],
        ),
        indext: if rng.gen_bool(0.05) { "S" } else { "N" },
        indfall: if rng.gen_bool(0.002) { "S" } else { "N" },
        indrel: if rng.gen_bool(0.01) { 99.0 } else { 1.0 },
        cod_prov,
        seniority_known: !rng.gen_bool(0.002),
        seniority,
        propensity: normal(rng, 0.0, 0.5),
    }
}

/// Generates the panel (sorted, one record per customer per month).
pub fn generate(config: &SyntheticConfig) -> Panel {
    generate_with_progress(config, |_| {})
}

/// [`generate`], calling `progress` with the number of customers done.
pub fn generate_with_progress(config: &SyntheticConfig, mut progress: impl FnMut(u64)) -> Panel {
    let months = config.months.max(1);
    let first = LAST_MONTH.add_months(-(months as i32 - 1));
    let sim_start = first.add_months(-(BURN_IN as i32));
    let mut panel = Panel::new();
    let mut intern = |s: &str| panel.intern(s).expect("few distinct strings");
    let a = intern("A");
    let i_ = intern("I");
    let mut records = Vec::with_capacity(config.customers * months);
    for c in 0..config.customers {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(c as u64);
        let p = person(&mut rng, sim_start.key(), first.key(), months);
        let seg = p.segment.index();
        let mut texts = [None; 9];
        texts[text::SEXO] = p.sexo.map(&mut intern);
        texts[text::SEGMENTO] = p.segmento.map(&mut intern);
        texts[text::IND_EMPLEADO] = Some(intern(p.empleado));
        texts[text::PAIS_RESIDENCIA] = Some(intern(p.pais));
        texts[text::CANAL_ENTRADA] = p.canal.map(&mut intern);
        texts[text::INDRESI] = Some(intern(if p.pais == "ES" { "S" } else { "N" }));
        texts[text::INDEXT] = Some(intern(p.indext));
        texts[text::INDFALL] = Some(intern(p.indfall));
        let z = (p.income / 100_000.0).ln();
        let mut active = rng.gen_bool(match p.segment {
            Segment::Junior => 0.3,
            Segment::Student => 0.45,
            Segment::Professional => 0.6,
            Segment::Affluent => 0.75,
            Segment::Retiree => 0.5,
        });
        let mut owned: ProductSet = 0;
        let mut owned_prev: ProductSet = 0;
        let mut joined = false;
        for m in 0..BURN_IN + months {
            let date = sim_start.add_months(m as i32);
            let seniority = p.seniority + m as i32;
            if seniority < 0 {
                continue;
            }
            if !joined {
                joined = true;
                // A new customer opens with a current account (or a junior account).
                for (prod, &prob) in INITIAL_OWNERSHIP[seg].iter().enumerate() {
                    let prob = if seniority == 0 { prob * 0.3 } else { prob };
                    if rng.gen_bool(prob) {
                        owned |= 1 << prod;
                    }
                }
                if seniority == 0 {
                    owned |= 1
                        << if p.segment == Segment::Junior {
                            CTJU
                        } else {
                            CCO
                        };
                    active = true;
                }
                owned_prev = owned;
            } else {
                // Month `date` is a target month: add and drop products.
                if rng.gen_bool(0.02) {
                    active = !active;
                }
                let mut next = owned;
                for prod in 0..NUM_PRODUCTS {
                    if owned >> prod & 1 == 1 {
                        let churn = CHURN[prod] * if active { 1.0 } else { 1.5 };
                        if rng.gen_bool(churn.min(1.0)) {
                            next &= !(1 << prod);
                        }
                    } else {
                        let mut logit = BASE_LOGIT[prod]
                            + SEGMENT_LOGIT[seg][prod]
                            + age_effect(prod, p.age)
                            + income_effect(prod, z)
                            + seasonality(prod, date.month)
                            + dependency(prod, owned)
                            + p.propensity;
                        if owned_prev >> prod & 1 == 1 {
                            // Dropped last month: flickering payments come back.
                            logit += if matches!(prod, NOMINA | NOM_PENS | RECIBO) {
                                3.2
                            } else {
                                1.2
                            };
                        }
                        if !active {
                            logit -= 1.3;
                        }
                        if seniority < 6 {
                            logit += 0.6;
                        }
                        if rng.gen_bool(sigmoid(logit)) {
                            next |= 1 << prod;
                        }
                    }
                }
                // Payroll and pension deposits need the payroll account in practice.
                if next >> NOMINA & 1 == 1 && rng.gen_bool(0.5) {
                    next |= 1 << CNO;
                }
                owned_prev = owned;
                owned = next;
            }
            if m < BURN_IN {
                continue;
            }
            let mut rec = MonthlyRecord::new(1_000_000 + c as u64, date);
            rec.age = p.age;
            rec.antiguedad = if p.seniority_known {
                seniority as f64
            } else {
                f64::NAN
            };
            rec.renta = if p.report_income {
                (p.income * 100.0).round() / 100.0
            } else {
                f64::NAN
            };
            rec.cod_prov = p.cod_prov;
            rec.ind_actividad_cliente = if active { 1.0 } else { 0.0 };
            rec.ind_nuevo = if seniority < 6 { 1.0 } else { 0.0 };
            rec.indrel = p.indrel;
            rec.text = texts;
            rec.text[text::TIPREL_1MES] = Some(if active { a } else { i_ });
            rec.owned = owned;
            records.push(rec);
        }
        if c % 4096 == 4095 {
            progress(c as u64 + 1);
        }
    }
    progress(config.customers as u64);
    panel.records = records;
    panel.sort_and_dedup();
    panel
}

/// Each synthetic customer's latest month as a [`Customer`] (see
/// [`Panel::latest_profiles`]), e.g. to seed a demo Features table.
pub fn latest_profiles(config: &SyntheticConfig) -> Vec<Customer> {
    generate(config).latest_profiles()
}

#[cfg(test)]
mod tests;
