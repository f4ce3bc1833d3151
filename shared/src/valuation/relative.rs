//! Relative valuation: the company's P/E, P/B and EV/EBITDA against the medians of its
//! industry peers, and the prices those medians imply.
//!
//! Peers are the `company#…` items of the same industry (the endpoint queries them); the
//! company itself is excluded by `ts_code`. Only positive, finite multiples enter a median
//! (a negative P/E or EV/EBITDA says nothing about value).

use super::company::Company;
use super::response::RelativeValuation;

/// Median of the values; `None` when empty. Even counts average the two middle values.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

fn usable(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite() && *v > 0.0)
}

fn peer_median(peers: &[&Company], f: impl Fn(&Company) -> Option<f64>) -> (Option<f64>, usize) {
    let xs: Vec<f64> = peers.iter().filter_map(|p| usable(f(p))).collect();
    (median(&xs), xs.len())
}

/// Relative valuation of `company` against `peers` (any order, may include the company).
pub fn relative(company: &Company, peers: &[Company]) -> RelativeValuation {
    let peers: Vec<&Company> = peers
        .iter()
        .filter(|p| p.ts_code != company.ts_code)
        .collect();
    let (peer_median_pe, peers_used_pe) = peer_median(&peers, Company::current_pe);
    let (peer_median_pb, peers_used_pb) = peer_median(&peers, Company::current_pb);
    let (peer_median_ev_ebitda, peers_used_ev_ebitda) = peer_median(&peers, Company::ev_ebitda);

    let implied_price_pe = match (peer_median_pe, usable(company.eps())) {
        (Some(m), Some(eps)) => Some(m * eps),
        _ => None,
    };
    let implied_price_pb = match (peer_median_pb, usable(company.bvps())) {
        (Some(m), Some(bvps)) => Some(m * bvps),
        _ => None,
    };
    let implied_price_ev_ebitda = match (
        peer_median_ev_ebitda,
        usable(company.ebitda()),
        company.shares(),
    ) {
        (Some(m), Some(ebitda), Some(shares)) => {
            Some((m * ebitda - company.net_debt().unwrap_or(0.0)) / shares)
        }
        _ => None,
    };
    let prices: Vec<f64> = [implied_price_pe, implied_price_pb, implied_price_ev_ebitda]
        .into_iter()
        .filter_map(usable)
        .collect();
    let implied_price =
        (!prices.is_empty()).then(|| prices.iter().sum::<f64>() / prices.len() as f64);

    RelativeValuation {
        pe: company.current_pe(),
        pb: company.current_pb(),
        ev_ebitda: company.ev_ebitda(),
        peer_count: peers.len(),
        peer_median_pe,
        peer_median_pb,
        peer_median_ev_ebitda,
        peers_used_pe,
        peers_used_pb,
        peers_used_ev_ebitda,
        implied_price_pe,
        implied_price_pb,
        implied_price_ev_ebitda,
        implied_price,
    }
}

#[cfg(test)]
mod tests {
    use super::super::company::AnnualStatement;
    use super::*;

    fn peer(code: &str, pe: f64, pb: f64) -> Company {
        Company {
            ts_code: code.into(),
            close: Some(10.0),
            total_share: Some(10_000.0), // 1e8 shares
            pe: Some(pe),
            pb: Some(pb),
            statements: vec![AnnualStatement {
                end_date: "20231231".into(),
                ebit: Some(1e8),
                d_and_a: Some(2.5e7),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn implied_prices_from_peer_medians() {
        let mut me = peer("A", 10.0, 1.0);
        me.statements[0].st_borr = Some(2e8);
        me.statements[0].money_cap = Some(1e8);
        let peers = vec![
            me.clone(),
            peer("B", 20.0, 2.0),
            peer("C", 30.0, 3.0),
            peer("D", -5.0, 4.0), // negative P/E is left out of the P/E median
        ];
        let r = relative(&me, &peers);
        assert_eq!(r.peer_count, 3);
        assert_eq!((r.peers_used_pe, r.peers_used_pb), (2, 3));
        assert_eq!(r.peer_median_pe, Some(25.0));
        assert_eq!(r.peer_median_pb, Some(3.0));
        // EPS = 10/10 = 1 → 25; BVPS = 10/1 = 10 → 30.
        assert_eq!(r.implied_price_pe, Some(25.0));
        assert_eq!(r.implied_price_pb, Some(30.0));
        // Peers: EV = 1e9 (no debt), EBITDA 1.25e8 → 8×. Company: 8 × 1.25e8 − 1e8 net debt
        // over 1e8 shares = 9.
        assert_eq!(r.peer_median_ev_ebitda, Some(8.0));
        assert!((r.implied_price_ev_ebitda.unwrap() - 9.0).abs() < 1e-12);
        assert!((r.implied_price.unwrap() - (25.0 + 30.0 + 9.0) / 3.0).abs() < 1e-12);
        // The company's own EV/EBITDA includes its net debt: (1e9 + 1e8)/1.25e8.
        assert!((r.ev_ebitda.unwrap() - 8.8).abs() < 1e-12);
    }

    #[test]
    fn no_peers_no_medians() {
        let me = peer("A", 10.0, 1.0);
        let r = relative(&me, &[]);
        assert_eq!(r.peer_count, 0);
        assert_eq!(r.implied_price, None);
        assert_eq!(r.pe, Some(10.0));
    }
}
