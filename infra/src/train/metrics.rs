//! Holdout metrics: ROC AUC, average precision at k (the Kaggle Santander metric), regression
//! errors.

/// ROC AUC by ranks (the Mann–Whitney U statistic): tied scores share their average rank, so a
/// tie between a positive and a negative counts one half. `None` without both classes.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len());
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]].total_cmp(&scores[order[i]]).is_eq() {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum_pos += mean_rank * order[i..j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j;
    }
    let (pos, neg) = (pos as f64, neg as f64);
    Some((rank_sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Average precision at `k` of a ranked list against the set of relevant items, as in the
/// Kaggle Santander evaluation: `sum_{i<=k, predicted[i] relevant} precision@i / min(|actual|, k)`.
/// 0 when nothing is relevant (callers exclude such customers from the mean).
pub fn apk(predicted: &[usize], actual: &[usize], k: usize) -> f64 {
    if actual.is_empty() || k == 0 {
        return 0.0;
    }
    let mut hits = 0.0;
    let mut score = 0.0;
    for (i, p) in predicted.iter().take(k).enumerate() {
        // A repeated prediction does not count twice.
        if actual.contains(p) && !predicted[..i].contains(p) {
            hits += 1.0;
            score += hits / (i as f64 + 1.0);
        }
    }
    score / actual.len().min(k) as f64
}

/// Running mean of per-query average precision.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeanAp {
    sum: f64,
    n: u64,
}

impl MeanAp {
    pub fn add(&mut self, ap: f64) {
        self.sum += ap;
        self.n += 1;
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// `None` before any query.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// Root mean squared error, mean absolute error and R² of `pred` against `truth`.
pub fn regression(pred: &[f64], truth: &[f64]) -> (f64, f64, f64) {
    assert_eq!(pred.len(), truth.len());
    let n = truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let sse: f64 = pred.iter().zip(truth).map(|(p, t)| (p - t) * (p - t)).sum();
    let sae: f64 = pred.iter().zip(truth).map(|(p, t)| (p - t).abs()).sum();
    let sst: f64 = truth.iter().map(|t| (t - mean) * (t - mean)).sum();
    ((sse / n).sqrt(), sae / n, 1.0 - sse / sst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_a_perfect_and_a_reversed_ranking() {
        assert_eq!(
            auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
    }

    #[test]
    fn auc_by_hand_with_ties() {
        // Positives at 0.8 and 0.4; negatives at 0.4, 0.3, 0.9.
        // Pairs (pos, neg): 0.8 beats 0.4 and 0.3, loses to 0.9 → 2; 0.4 ties 0.4 (½),
        // beats 0.3, loses to 0.9 → 1.5. AUC = 3.5 / 6.
        let got = auc(
            &[0.8, 0.4, 0.4, 0.3, 0.9],
            &[true, true, false, false, false],
        )
        .unwrap();
        assert!((got - 3.5 / 6.0).abs() < 1e-15, "{got}");
        // All tied: 0.5.
        assert_eq!(auc(&[1.0; 4], &[true, false, true, false]), Some(0.5));
    }

    #[test]
    fn auc_needs_both_classes() {
        assert_eq!(auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn apk_by_hand() {
        // Relevant {3, 7}; predicted 3 at rank 1 and 7 at rank 3: (1/1 + 2/3) / 2.
        let got = apk(&[3, 5, 7, 1], &[3, 7], 7);
        assert!((got - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-15);
        // Only ranks within k count.
        assert_eq!(apk(&[1, 2, 3], &[3], 2), 0.0);
        // More relevant than k: divide by k.
        let many: Vec<usize> = (0..10).collect();
        assert_eq!(apk(&[0, 1], &many, 2), 1.0);
        assert_eq!(apk(&[1, 2], &[], 7), 0.0);
        // A duplicate prediction does not score twice.
        assert_eq!(apk(&[4, 4], &[4, 9], 7), 0.5);
    }

    #[test]
    fn map_averages_queries() {
        let mut m = MeanAp::default();
        assert_eq!(m.mean(), None);
        m.add(1.0);
        m.add(0.5);
        assert_eq!(m.mean(), Some(0.75));
        assert_eq!(m.count(), 2);
    }

    #[test]
    fn regression_errors_by_hand() {
        let (rmse, mae, r2) = regression(&[1.0, 2.0, 4.0], &[1.0, 3.0, 5.0]);
        assert!((rmse - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((mae - 2.0 / 3.0).abs() < 1e-15);
        // mean 3, SST = 4 + 0 + 4 = 8, SSE = 2.
        assert!((r2 - 0.75).abs() < 1e-15);
    }
}
