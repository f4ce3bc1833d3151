//! The behaviour the generator simulates: per-segment product affinities, the add logit's
//! base, calendar, ownership, age and income effects, churn and the province mix.

use crate::data::panel::ProductSet;
use warmstart_core::recommend::NUM_PRODUCTS;

// Product indices (dataset order, see `PRODUCTS`).
pub(super) const AHOR: usize = 0;
pub(super) const CCO: usize = 2;
pub(super) const CNO: usize = 4;
pub(super) const CTJU: usize = 5;
pub(super) const CTMA: usize = 6;
pub(super) const CTOP: usize = 7;
pub(super) const CTPP: usize = 8;
pub(super) const DECO: usize = 9;
pub(super) const DEME: usize = 10;
pub(super) const DELA: usize = 11;
pub(super) const ECUE: usize = 12;
pub(super) const FOND: usize = 13;
pub(super) const HIP: usize = 14;
pub(super) const PLAN: usize = 15;
pub(super) const PRES: usize = 16;
pub(super) const RECA: usize = 17;
pub(super) const TJCR: usize = 18;
pub(super) const VALO: usize = 19;
pub(super) const VIV: usize = 20;
pub(super) const NOMINA: usize = 21;
pub(super) const NOM_PENS: usize = 22;
pub(super) const RECIBO: usize = 23;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    Junior,
    Student,
    Professional,
    Affluent,
    Retiree,
}

impl Segment {
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Add logit of a neutral (active, median-income) customer, per product.
pub(super) const BASE_LOGIT: [f64; NUM_PRODUCTS] = [
    -10.0, -11.5, -5.0, -10.0, -5.6, -9.0, -6.6, -7.0, -7.6, -8.3, -9.0, -6.8, -6.0, -7.3, -9.0,
    -8.3, -8.5, -5.9, -5.0, -7.3, -9.2, -5.3, -5.4, -4.2,
];

/// Segment effects on the add logit, [segment][product].
pub(super) const SEGMENT_LOGIT: [[f64; NUM_PRODUCTS]; 5] = {
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
pub(super) const INITIAL_OWNERSHIP: [[f64; NUM_PRODUCTS]; 5] = [
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
pub(super) const CHURN: [f64; NUM_PRODUCTS] = [
    0.01, 0.01, 0.012, 0.02, 0.015, 0.004, 0.02, 0.008, 0.01, 0.05, 0.03, 0.02, 0.01, 0.015, 0.003,
    0.006, 0.02, 0.2, 0.02, 0.015, 0.01, 0.06, 0.06, 0.05,
];

/// Seasonal effect on the add logit for the month a product is added (1–12).
pub(super) fn seasonality(product: usize, month: u8) -> f64 {
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
pub(super) fn dependency(product: usize, owned: ProductSet) -> f64 {
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
pub(super) fn age_effect(product: usize, age: f64) -> f64 {
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
pub(super) fn income_effect(product: usize, z: f64) -> f64 {
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

pub(super) const PROVINCES: [(f64, f64); 12] = [
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

pub(super) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
