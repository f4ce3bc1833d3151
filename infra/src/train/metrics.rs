//! Holdout metrics: ROC AUC, average precision at k (the Kaggle Santander metric), regression
//! errors, log losses and accuracy.

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

/// LightGBM's clamp of probabilities in its log-loss metrics (`kEpsilon`).
const EPSILON: f64 = 1e-15;

/// Mean binary log loss of probabilities `p` for labels `y` (LightGBM's `binary_logloss`).
pub fn logloss(p: &[f64], y: &[bool]) -> f64 {
    assert_eq!(p.len(), y.len());
    let sum: f64 = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| {
            let q = if y { p } else { 1.0 - p };
            -q.clamp(EPSILON, 1.0).ln()
        })
        .sum();
    sum / p.len() as f64
}

/// Mean multiclass log loss of row-major class probabilities `p` (`k` per row) for class
/// indices `y` (LightGBM's `multi_logloss`).
pub fn multi_logloss(p: &[f64], k: usize, y: &[usize]) -> f64 {
    assert_eq!(p.len(), y.len() * k);
    let sum: f64 = p
        .chunks_exact(k)
        .zip(y)
        .map(|(row, &c)| -row[c].clamp(EPSILON, 1.0).ln())
        .sum();
    sum / y.len() as f64
}

/// Share of rows whose most probable class (first on ties) is the true one.
pub fn accuracy(p: &[f64], k: usize, y: &[usize]) -> f64 {
    assert_eq!(p.len(), y.len() * k);
    let hits = p
        .chunks_exact(k)
        .zip(y)
        .filter(|(row, &c)| argmax(row) == c)
        .count();
    hits as f64 / y.len() as f64
}

/// The index of the largest value, the first one on ties.
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
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

    #[test]
    fn log_losses_and_accuracy_by_hand() {
        let got = logloss(&[0.8, 0.4], &[true, false]);
        assert!((got - (-(0.8f64.ln()) - 0.6f64.ln()) / 2.0).abs() < 1e-15);
        // A confident wrong answer is clamped, not infinite.
        assert!((logloss(&[0.0], &[true]) - 1e-15f64.ln().abs()).abs() < 1e-9);
        let p = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6];
        let got = multi_logloss(&p, 3, &[0, 1]);
        assert!((got - (-(0.7f64.ln()) - 0.3f64.ln()) / 2.0).abs() < 1e-15);
        assert_eq!(accuracy(&p, 3, &[0, 1]), 0.5);
        assert_eq!(argmax(&[0.5, 0.5, 0.1]), 0);
    }
}
