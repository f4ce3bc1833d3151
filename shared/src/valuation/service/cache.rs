//! Keeping computed answers (the container's memory, the cache table's exact-key item and the
//! request's latest) and, when company data cannot be read, the answer of last resort: the
//! latest unexpired answer to the same inputs.

use super::model::FairMultipleModel;
use super::{now_epoch, within, ValuationService, ValuationStats};
use crate::http::ApiError;
use crate::valuation::request::ValuationRequest;
use crate::valuation::response::ValuationResponse;
use crate::valuation::store::{CacheEntry, Cached, CompanyStore, ResultCache};

impl<S: CompanyStore, C: ResultCache> ValuationService<S, C> {
    /// Keeps a computed answer: in this container's memory, then the exact-key item and the
    /// request's latest in the cache table, both in parallel under one deadline (best effort:
    /// a failed write is only recorded in `stats`).
    pub(super) async fn keep(
        &self,
        request: &ValuationRequest,
        entry: CacheEntry,
        store_ms: &mut f64,
        stats: &mut ValuationStats,
    ) -> Result<(), ApiError> {
        let request_key = request.request_key()?;
        self.remember(
            request,
            Cached {
                body: entry.body.clone(),
                expires_at: entry.expires_at,
            },
        );
        let both = async {
            let (exact, latest) = tokio::join!(
                self.cache.put(&entry),
                self.cache.put_latest(&request_key, &entry)
            );
            exact.and(latest)
        };
        if let Err((kind, detail)) = within(self.config.store_deadline, both, store_ms).await {
            stats.cache_failure = Some(kind);
            tracing::warn!(error = %detail, "cache write failed");
        }
        stats.store_ms = Some(*store_ms);
        Ok(())
    }

    /// Keeps `answer` as this container's latest for the request's inputs.
    pub(super) fn remember(&self, request: &ValuationRequest, answer: Cached) {
        if let Ok(k) = request.request_key() {
            self.recent.lock().expect("recent lock").put(k, answer);
        }
    }

    /// When the company cannot be read: the latest unexpired answer to the same inputs, from
    /// this container's memory or else the cache table, marked `cached` and `degraded` with a
    /// warning naming the failure and the data date it was computed from. `None` without one
    /// (or with the cache off): the caller answers 503.
    pub(super) async fn latest_answer(
        &self,
        request: &ValuationRequest,
        failure: &'static str,
        model: Option<&FairMultipleModel>,
        variant: Option<&'static str>,
        store_ms: &mut f64,
        stats: &mut ValuationStats,
    ) -> Option<ValuationResponse> {
        if self.config.cache_ttl_secs == 0 {
            return None;
        }
        let request_key = request.request_key().ok()?;
        let now = now_epoch();
        let remembered = self
            .recent
            .lock()
            .expect("recent lock")
            .get(&request_key)
            .filter(|c| c.expires_at > now)
            .cloned();
        let found = match remembered {
            Some(c) => c,
            None => match within(
                self.config.store_deadline,
                self.cache.get_latest(&request_key, now),
                store_ms,
            )
            .await
            {
                Ok(Some(c)) => c,
                Ok(None) => return None,
                Err((kind, detail)) => {
                    stats.cache_failure = Some(kind);
                    tracing::warn!(error = %detail, "latest-answer read failed too");
                    return None;
                }
            },
        };
        let mut r = match serde_json::from_str::<ValuationResponse>(&found.body) {
            Ok(r) => r,
            Err(e) => {
                stats.cache_failure = Some("decode");
                tracing::warn!(error = %e, "latest answer undecodable");
                return None;
            }
        };
        let as_of = r
            .stock_info
            .as_ref()
            .map_or("unknown", |i| i.as_of.as_str())
            .to_string();
        r.valuation_results.data_warnings.push(format!(
            "company data could not be read ({failure}): this is the latest cached valuation \
             of these inputs (company data as of {as_of})"
        ));
        r.cached = true;
        r.degraded = true;
        // The variant is only known when the model that computed it is the one routed now.
        let same_model = match (&r.model, model) {
            (Some(a), Some(b)) => a.version == b.version(),
            (None, None) => true,
            _ => false,
        };
        r.variant = variant.filter(|_| same_model).map(str::to_string);
        stats.cache_hit = true;
        stats.degraded = true;
        Some(r)
    }
}
