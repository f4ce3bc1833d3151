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

use crate::panel::{text, MonthDate, MonthlyRecord, Panel, ProductSet};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use warmstart_core::recommend::{Customer, NUM_PRODUCTS};

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

// Product indices (dataset order, see `PRODUCTS`).
const AHOR: usize = 0;
const CCO: usize = 2;
const CNO: usize = 4;
const CTJU: usize = 5;
const CTMA: usize = 6;
const CTOP: usize = 7;
const CTPP: usize = 8;
const DECO: usize = 9;
const DEME: usize = 10;
const DELA: usize = 11;
const ECUE: usize = 12;
const FOND: usize = 13;
const HIP: usize = 14;
const PLAN: usize = 15;
const PRES: usize = 16;
const RECA: usize = 17;
const TJCR: usize = 18;
const VALO: usize = 19;
const VIV: usize = 20;
const NOMINA: usize = 21;
const NOM_PENS: usize = 22;
const RECIBO: usize = 23;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Junior,
    Student,
    Professional,
    Affluent,
    Retiree,
}

impl Segment {
    fn index(self) -> usize {
        self as usize
    }
}

/// Add logit of a neutral (active, median-income) customer, per product.
const BASE_LOGIT: [f64; NUM_PRODUCTS] = [
    -10.0, -11.5, -5.0, -10.0, -5.6, -9.0, -6.6, -7.0, -7.6, -8.3, -9.0, -6.8, -6.0, -7.3, -9.0,
    -8.3, -8.5, -5.9, -5.0, -7.3, -9.2, -5.3, -5.4, -4.2,
];

/// Segment effects on the add logit, [segment][product].
const SEGMENT_LOGIT: [[f64; NUM_PRODUCTS]; 5] = {
    let mut m = [[0.0; NUM_PRODUCTS]; 5];
    // Junior: junior account and savings, little else.
    let mut p = 0;
    while p < NUM_PRODUCTS {
        m[0][p] = -3.0;
        p += 1;
    }
    m[0][CTJU] = 4.0;
    m[0][AHOR] = 2.0;
    m[0][CCO] = -1.0;
    // Student: current and e-accounts, a first card; no pensions, mortgages or investments.
    m[1][CCO] = 0.9;
    m[1][ECUE] = 1.3;
    m[1][TJCR] = 0.2;
    m[1][NOMINA] = -1.2;
    m[1][CNO] = -0.8;
    m[1][NOM_PENS] = -2.5;
    m[1][PLAN] = -3.0;
    m[1][HIP] = -3.0;
    m[1][FOND] = -2.0;
    m[1][VALO] = -2.0;
    m[1][RECA] = -1.5;
    m[1][DELA] = -2.0;
    m[1][CTPP] = -2.0;
    m[1][CTJU] = -4.0;
    // Professional: payroll, cards, direct debits, mortgages and loans.
    m[2][NOMINA] = 1.0;
    m[2][CNO] = 1.0;
    m[2][NOM_PENS] = 0.6;
    m[2][TJCR] = 0.6;
    m[2][RECIBO] = 0.5;
    m[2][HIP] = 1.2;
    m[2][PRES] = 0.8;
    m[2][PLAN] = 0.3;
    m[2][RECA] = 0.3;
    m[2][CTMA] = 0.6;
    m[2][CTJU] = -4.0;
    // Affluent (TOP): investments, deposits, premium accounts, taxes.
    m[3][FOND] = 2.2;
    m[3][VALO] = 2.2;
    m[3][DELA] = 1.7;
    m[3][DECO] = 1.2;
    m[3][DEME] = 1.2;
    m[3][PLAN] = 1.8;
    m[3][CTPP] = 2.0;
    m[3][RECA] = 1.4;
    m[3][TJCR] = 0.9;
    m[3][ECUE] = 0.8;
    m[3][NOMINA] = -0.4;
    m[3][CTJU] = -4.0;
    // Retirees: pensions, deposits, direct debits, the classic particular account.
    m[4][NOM_PENS] = 1.6;
    m[4][NOMINA] = -1.8;
    m[4][CNO] = -0.3;
    m[4][DELA] = 1.2;
    m[4][DECO] = 0.7;
    m[4][RECIBO] = 0.6;
    m[4][CTOP] = 0.8;
    m[4][PLAN] = -1.5;
    m[4][HIP] = -2.5;
    m[4][PRES] = -1.0;
    m[4][TJCR] = -0.9;
    m[4][ECUE] = -1.6;
    m[4][CTJU] = -5.0;
    m
};

/// Probability of owning each product when the simulation starts, [segment][product].
const INITIAL_OWNERSHIP: [[f64; NUM_PRODUCTS]; 5] = [
    // ahor aval cco cder cno ctju ctma ctop ctpp deco deme dela ecue fond hip plan pres reca tjcr valo viv nomina nom_pens recibo
    [
        0.02, 0.0, 0.15, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ],
    [
        0.0, 0.0, 0.75, 0.0, 0.03, 0.0, 0.01, 0.03, 0.0, 0.0, 0.0, 0.005, 0.12, 0.003, 0.0, 0.0,
        0.0, 0.01, 0.04, 0.003, 0.0, 0.03, 0.03, 0.08,
    ],
    [
        0.0002, 0.0002, 0.75, 0.0003, 0.22, 0.0, 0.02, 0.1, 0.03, 0.002, 0.002, 0.04, 0.09, 0.02,
        0.02, 0.02, 0.006, 0.06, 0.1, 0.02, 0.003, 0.16, 0.17, 0.3,
    ],
    [
        0.0005, 0.001, 0.7, 0.001, 0.15, 0.0, 0.02, 0.15, 0.2, 0.01, 0.01, 0.2, 0.2, 0.2, 0.03,
        0.1, 0.005, 0.2, 0.25, 0.2, 0.005, 0.1, 0.12, 0.35,
    ],
    [
        0.0002, 0.0, 0.65, 0.0002, 0.12, 0.0, 0.01, 0.25, 0.05, 0.005, 0.005, 0.1, 0.03, 0.03,
        0.002, 0.01, 0.002, 0.04, 0.04, 0.03, 0.0, 0.02, 0.22, 0.25,
    ],
];

/// Monthly probability of dropping an owned product.
const CHURN: [f64; NUM_PRODUCTS] = [
    0.01, 0.01, 0.012, 0.02, 0.015, 0.004, 0.02, 0.008, 0.01, 0.05, 0.03, 0.02, 0.01, 0.015, 0.003,
    0.006, 0.02, 0.2, 0.02, 0.015, 0.01, 0.06, 0.06, 0.05,
];

/// Seasonal effect on the add logit for the month a product is added (1–12).
fn seasonality(product: usize, month: u8) -> f64 {
    match (product, month) {
        // Income-tax campaign.
        (RECA, 4) => 1.0,
        (RECA, 5 | 6) => 1.9,
        // Extra pay in June/July and December: payroll and pension direct deposits.
        (NOMINA | NOM_PENS, 6 | 7 | 12) => 0.7,
        (NOMINA | NOM_PENS, 1) => -0.3,
        (CNO, 6 | 7 | 12) => 0.3,
        // Year-end pension-plan contributions (tax deductible).
        (PLAN, 11) => 0.8,
        (PLAN, 12) => 1.8,
        // New-year deposits, holiday cards, back-to-school accounts.
        (DECO | DELA | DEME, 1) => 0.6,
        (TJCR, 11 | 12) => 0.5,
        (CCO | ECUE, 9 | 10) => 0.5,
        // Spring loans and mortgages.
        (HIP | PRES, 3 | 4) => 0.5,
        _ => 0.0,
    }
}

/// Effects of already owned products on adding `product`.
fn dependency(product: usize, owned: ProductSet) -> f64 {
    let has = |p: usize| owned >> p & 1 == 1;
    // (product added, condition on what is owned, logit effect)
    let rules = [
        (TJCR, has(NOMINA) || has(CNO), 1.3),
        (TJCR, has(CCO), 0.4),
        (NOMINA, has(CNO), 2.2),
        (NOM_PENS, has(NOMINA), 1.8),
        (NOM_PENS, has(CNO), 1.0),
        (CNO, has(CCO), 0.8),
        (RECIBO, has(CCO) || has(CNO), 1.0),
        (RECIBO, has(TJCR), 0.5),
        (VIV, has(HIP), 2.0),
        (HIP, has(CNO), 0.8),
        (FOND, has(VALO), 1.2),
        (FOND, has(DELA), 0.5),
        (VALO, has(FOND), 1.2),
        (ECUE, has(CCO), 0.5),
        (CCO, owned == 0, 2.0),
        (RECA, has(VALO) || has(FOND), 0.8),
    ];
    let mut x: f64 = rules
        .iter()
        .filter(|(p, applies, _)| *p == product && *applies)
        .map(|(_, _, effect)| effect)
        .sum();
    // Customers with many products are already served: fewer new accounts.
    if matches!(product, CCO | CTMA | CTOP | CTPP | ECUE) {
        x -= 0.15 * f64::from(owned.count_ones());
    }
    x
}

/// Age effects on the add logit.
fn age_effect(product: usize, age: f64) -> f64 {
    let bump = |center: f64, width: f64| (-((age - center) / width).powi(2)).exp();
    match product {
        HIP | VIV => 1.5 * bump(36.0, 8.0) - 0.7,
        PRES => 0.8 * bump(40.0, 12.0) - 0.3,
        PLAN => (0.05 * (age - 35.0)).clamp(-1.0, 1.2) - if age > 66.0 { 2.0 } else { 0.0 },
        NOM_PENS if age > 64.0 => 1.0,
        NOM_PENS => -0.2,
        NOMINA | CNO if age > 66.0 => -1.5,
        ECUE => -0.025 * (age - 35.0),
        TJCR => 0.6 * bump(38.0, 15.0) - 0.2,
        DELA | DECO | DEME => 0.015 * (age - 45.0),
        _ => 0.0,
    }
}

/// Effects of log income (relative to the median) on the add logit.
fn income_effect(product: usize, z: f64) -> f64 {
    z * match product {
        FOND | VALO => 0.9,
        CTPP | DELA => 0.6,
        PLAN | RECA => 0.5,
        TJCR | HIP => 0.3,
        CTJU | AHOR => 0.2,
        NOMINA | NOM_PENS | RECIBO => 0.1,
        PRES => -0.2,
        _ => 0.0,
    }
}

const PROVINCES: [(f64, f64); 12] = [
    // (cod_prov, weight)
    (28.0, 0.33),
    (8.0, 0.10),
    (46.0, 0.05),
    (41.0, 0.04),
    (15.0, 0.03),
    (29.0, 0.03),
    (30.0, 0.03),
    (50.0, 0.03),
    (3.0, 0.03),
    (11.0, 0.03),
    (36.0, 0.03),
    (33.0, 0.03),
];

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
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
mod tests {
    use super::*;

    fn fingerprint(p: &Panel) -> String {
        p.records
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let cfg = SyntheticConfig {
            customers: 300,
            months: 5,
            seed: 7,
        };
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = generate(&SyntheticConfig { seed: 8, ..cfg });
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn a_customer_does_not_depend_on_how_many_were_generated() {
        let small = generate(&SyntheticConfig {
            customers: 10,
            months: 4,
            seed: 1,
        });
        let big = generate(&SyntheticConfig {
            customers: 50,
            months: 4,
            seed: 1,
        });
        let first = |p: &Panel| {
            p.records
                .iter()
                .filter(|r| r.customer == 1_000_003)
                .map(|r| format!("{r:?}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(first(&small), first(&big));
    }

    #[test]
    fn records_cover_the_window_and_look_like_santander() {
        let p = generate(&SyntheticConfig {
            customers: 2000,
            months: 6,
            seed: 3,
        });
        let months = p.months();
        assert_eq!(months.len(), 6);
        assert_eq!(months[5], LAST_MONTH);
        assert_eq!(months[0].to_string(), "2015-12-28");
        assert!(p.num_customers() > 1900);
        // Some customers join during the window.
        assert!(p.customer_groups().any(|g| g[0].date > months[0]));
        // Most own a current account; incomes are sometimes missing; products get added.
        let last: Vec<_> = p.records.iter().filter(|r| r.date == LAST_MONTH).collect();
        let share = |f: &dyn Fn(&MonthlyRecord) -> bool| {
            last.iter().filter(|r| f(r)).count() as f64 / last.len() as f64
        };
        assert!(share(&|r| r.owned >> CCO & 1 == 1) > 0.5);
        assert!((0.1..0.3).contains(&share(&|r| r.renta.is_nan())));
        let adds: u32 = p
            .customer_groups()
            .flat_map(|g| {
                g.windows(2)
                    .map(|w| (w[1].owned & !w[0].owned).count_ones())
            })
            .sum();
        assert!(adds > 100, "{adds} adds");
        let profiles = p.latest_profiles();
        assert_eq!(profiles.len(), p.num_customers());
        assert!(profiles.iter().all(|c| c.as_of == "2016-05-28"));
    }
}
