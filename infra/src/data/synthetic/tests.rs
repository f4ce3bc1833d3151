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
