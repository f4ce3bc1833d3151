//! What a warm container serves, and how it follows the registry (recommend and valuation use
//! the same code with their own model type `T`).
//!
//! - [`ServingSet`]: the active model, an optional candidate with its canary weight and an
//!   optional shadow, each an `Arc` so that a swap (an `ArcSwap` store in the service) never
//!   disturbs requests in flight: they finish on the set they loaded.
//! - [`ServingSet::route`]: the candidate serves an entity when
//!   [`super::bucket::in_canary`] says so (sticky across calls and containers), the active
//!   model everyone else.
//! - [`RefreshGate`]: Lambda freezes a container between invocations, so there is no
//!   background refresh: the first invocation after the TTL claims the check (one atomic
//!   compare-and-swap; every other invocation pays nothing) and runs [`refresh`] inline.
//! - [`refresh`]: given the registry item, reuses what is already loaded (matching version and
//!   manifest sha256), loads only what changed, and builds the next set. A failed active load
//!   keeps the current set; a failed candidate or shadow load drops that slot and leaves the
//!   set marked for a retry at the next TTL.
//! - [`mean_abs_diff`] and [`top_k_overlap`]: the shadow comparison metrics.

use super::bucket::in_canary;
use super::item::{RegistryItem, ServingSpec, VersionRef};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which model answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Active,
    Candidate,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Active => "active",
            Variant::Candidate => "candidate",
        }
    }
}

/// A loaded model with the registry reference it was loaded from.
#[derive(Debug)]
pub struct Slot<T> {
    pub reference: VersionRef,
    pub model: Arc<T>,
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot {
            reference: self.reference.clone(),
            model: Arc::clone(&self.model),
        }
    }
}

impl<T> Slot<T> {
    pub fn new(reference: VersionRef, model: T) -> Self {
        Slot {
            reference,
            model: Arc::new(model),
        }
    }

    pub fn version(&self) -> &str {
        &self.reference.version
    }
}

/// The models one container serves for one model name.
#[derive(Debug)]
pub struct ServingSet<T> {
    pub model_name: String,
    pub active: Slot<T>,
    /// With its weight, 0..=100.
    pub candidate: Option<(Slot<T>, u8)>,
    pub shadow: Option<Slot<T>>,
    /// The registry revision fully applied; `None` when the set does not come from the
    /// registry (`MODEL_VERSION`) or a slot failed to load (retry at the next check).
    pub revision: Option<u64>,
}

impl<T> Clone for ServingSet<T> {
    fn clone(&self) -> Self {
        ServingSet {
            model_name: self.model_name.clone(),
            active: self.active.clone(),
            candidate: self.candidate.clone(),
            shadow: self.shadow.clone(),
            revision: self.revision,
        }
    }
}

impl<T> ServingSet<T> {
    /// Only an active model.
    pub fn single(model_name: impl Into<String>, reference: VersionRef, model: T) -> Self {
        ServingSet {
            model_name: model_name.into(),
            active: Slot::new(reference, model),
            candidate: None,
            shadow: None,
            revision: None,
        }
    }

    /// The model serving `entity_id` and which variant it is.
    pub fn route(&self, entity_id: &str) -> (Variant, &Slot<T>) {
        match &self.candidate {
            Some((slot, weight)) if in_canary(&self.model_name, entity_id, *weight) => {
                (Variant::Candidate, slot)
            }
            _ => (Variant::Active, &self.active),
        }
    }

    pub fn shadow(&self) -> Option<&Slot<T>> {
        self.shadow.as_ref()
    }

    /// What this set serves, comparable with [`RegistryItem::serving`].
    pub fn spec(&self) -> ServingSpec {
        ServingSpec {
            active: Some(self.active.reference.clone()),
            candidate: self
                .candidate
                .as_ref()
                .map(|(s, w)| (s.reference.clone(), *w)),
            shadow: self.shadow.as_ref().map(|s| s.reference.clone()),
        }
    }

    fn find(&self, r: &VersionRef) -> Option<Slot<T>> {
        std::iter::once(&self.active)
            .chain(self.candidate.as_ref().map(|(s, _)| s))
            .chain(self.shadow.as_ref())
            .find(|s| same_bundle(&s.reference, r))
            .cloned()
    }
}

/// Same version, and the same manifest when both know its sha256.
fn same_bundle(a: &VersionRef, b: &VersionRef) -> bool {
    a.version == b.version
        && match (&a.sha256, &b.sha256) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            _ => true,
        }
}

/// Lets one invocation per TTL through to check the registry, and none while a check it let
/// through is still running (a check loads models in the background and may outlast the TTL).
#[derive(Debug)]
pub struct RefreshGate {
    ttl: Duration,
    origin: Instant,
    /// Milliseconds since `origin` when the next check is due.
    next_due_ms: AtomicU64,
    /// A claimed check has not [`Self::release`]d yet.
    busy: AtomicBool,
    /// The registry versions whose load last failed, when to try them again, and the wait.
    failed_load: std::sync::Mutex<Option<(String, Instant, Duration)>>,
}

/// First wait before loading versions that failed to load again (then doubled up to
/// [`LOAD_RETRY_MAX`]): while S3 fails, a container would otherwise fetch the same failing
/// versions at every TTL crossing (SDK retries included), competing with the requests for
/// its CPU and connections; `make chaos` measured the cost (docs/RELIABILITY.md).
pub const LOAD_RETRY_FIRST: Duration = Duration::from_secs(5);
pub const LOAD_RETRY_MAX: Duration = Duration::from_secs(300);

/// The versions of `item` a container would load: active, candidate and shadow (a canary
/// weight change loads nothing).
pub fn load_key(item: Option<&RegistryItem>) -> String {
    match item {
        None => String::new(),
        Some(i) => format!(
            "{}|{}|{}",
            i.active.as_ref().map_or("", |a| a.version.as_str()),
            i.candidate.as_ref().map_or("", |c| c.version.as_str()),
            i.shadow.as_ref().map_or("", |s| s.version.as_str()),
        ),
    }
}

impl RefreshGate {
    /// The first check is due one `ttl` from now (init has just read the registry).
    pub fn new(ttl: Duration) -> Self {
        RefreshGate {
            ttl,
            origin: Instant::now(),
            next_due_ms: AtomicU64::new(ttl.as_millis() as u64),
            failed_load: std::sync::Mutex::new(None),
            busy: AtomicBool::new(false),
        }
    }

    /// Whether the versions `key` ([`load_key`]) may be loaded now: not the ones that failed
    /// last, or their wait is over.
    pub fn may_load(&self, key: &str) -> bool {
        match &*self.failed_load.lock().expect("gate lock") {
            Some((k, retry_at, _)) if k == key => Instant::now() >= *retry_at,
            _ => true,
        }
    }

    /// Loading `key` failed: wait [`LOAD_RETRY_FIRST`], doubling per failure of the same key.
    pub fn load_failed(&self, key: &str) {
        let mut f = self.failed_load.lock().expect("gate lock");
        let wait = match &*f {
            Some((k, _, w)) if k == key => (*w * 2).min(LOAD_RETRY_MAX),
            _ => LOAD_RETRY_FIRST,
        };
        *f = Some((key.to_string(), Instant::now() + wait, wait));
    }

    /// What the registry names is served (or nothing needed loading).
    pub fn load_succeeded(&self) {
        *self.failed_load.lock().expect("gate lock") = None;
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// True for exactly one caller once the TTL has passed and the previous check has been
    /// released; that caller then checks and calls [`Self::release`] when done.
    pub fn claim(&self) -> bool {
        let now = self.origin.elapsed().as_millis() as u64;
        let due = self.next_due_ms.load(Ordering::Acquire);
        if now < due || self.busy.load(Ordering::Acquire) {
            return false;
        }
        let won = self
            .next_due_ms
            .compare_exchange(
                due,
                now + self.ttl.as_millis() as u64,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if won {
            self.busy.store(true, Ordering::Release);
        }
        won
    }

    /// The claimed check is over: the next one may be claimed when due.
    pub fn release(&self) {
        self.busy.store(false, Ordering::Release);
    }
}

/// Loads (fetches, verifies, builds) the model of a registry reference.
pub trait Loader<T>: Sync {
    fn load(&self, reference: &VersionRef) -> impl Future<Output = Result<T, String>> + Send;
}

/// What [`refresh`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefreshReport {
    /// A new set was built (`ModelSwap`).
    pub swapped: bool,
    /// Versions fetched and loaded.
    pub loaded: Vec<String>,
    /// `(version, error)` of failed loads (`ModelLoadFailed`).
    pub failed: Vec<(String, String)>,
    /// Why nothing changed, when nothing did.
    pub unchanged: Option<&'static str>,
}

/// The next set for `item`, or `None` to keep `current` (see the module docs). Without a
/// current set (a container that started without a model), everything is loaded.
pub async fn refresh<T: Send + Sync, L: Loader<T>>(
    model_name: &str,
    current: Option<&ServingSet<T>>,
    item: Option<&RegistryItem>,
    loader: &L,
) -> (Option<ServingSet<T>>, RefreshReport) {
    let mut report = RefreshReport::default();
    let Some(item) = item.filter(|i| i.active.is_some()) else {
        report.unchanged = Some("the registry names no active version");
        return (None, report);
    };
    if current.is_some_and(|c| c.revision == Some(item.revision)) {
        report.unchanged = Some("same revision");
        return (None, report);
    }
    let spec = item.serving();
    if let Some(c) = current.filter(|c| c.spec() == spec) {
        report.unchanged = Some("same models");
        let mut next = c.clone();
        next.revision = Some(item.revision);
        return (Some(next), report);
    }

    let get = |r: Option<VersionRef>| async {
        let r = r?;
        if let Some(slot) = current.and_then(|c| c.find(&r)) {
            return Some((r, Ok(slot), false));
        }
        let loaded = loader.load(&r).await.map(|m| Slot::new(r.clone(), m));
        Some((r, loaded, true))
    };
    let (active, candidate, shadow) = futures::join!(
        get(spec.active.clone()),
        get(spec.candidate.as_ref().map(|(r, _)| r.clone())),
        get(spec.shadow.clone())
    );
    let mut complete = true;
    let mut take = |got: Option<(VersionRef, Result<Slot<T>, String>, bool)>| match got {
        None => None,
        Some((r, Ok(slot), fetched)) => {
            if fetched {
                report.loaded.push(r.version.clone());
            }
            Some(slot)
        }
        Some((r, Err(e), _)) => {
            report.failed.push((r.version.clone(), e));
            complete = false;
            None
        }
    };
    let Some(active) = take(active) else {
        // Keep serving what we have; the next check retries.
        return (None, report);
    };
    let candidate = take(candidate).map(|s| (s, spec.candidate.as_ref().expect("spec").1));
    let shadow = take(shadow);
    report.swapped = true;
    let next = ServingSet {
        model_name: model_name.to_string(),
        active,
        candidate,
        shadow,
        revision: complete.then_some(item.revision),
    };
    (Some(next), report)
}

/// Mean absolute difference of two score vectors (the shadow's `ShadowScoreDelta`).
pub fn mean_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / n as f64
}

/// |top-k(a) ∩ top-k(b)| / k over the indices `eligible` allows (the shadow's
/// `ShadowTopKOverlap`); 1 when k is 0 or nothing is eligible.
pub fn top_k_overlap(a: &[f64], b: &[f64], eligible: impl Fn(usize) -> bool, k: usize) -> f64 {
    let top = |s: &[f64]| {
        let mut idx: Vec<usize> = (0..s.len()).filter(|&i| eligible(i)).collect();
        idx.sort_by(|&x, &y| s[y].total_cmp(&s[x]).then(x.cmp(&y)));
        idx.truncate(k);
        idx
    };
    let (ta, tb) = (top(a), top(b));
    if ta.is_empty() {
        return 1.0;
    }
    let common = ta.iter().filter(|i| tb.contains(i)).count();
    common as f64 / ta.len() as f64
}

#[cfg(test)]
mod tests {
    use super::super::item::{Active, Candidate, Shadow};
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn versions_that_failed_to_load_wait_before_the_next_try() {
        let gate = RefreshGate::new(Duration::from_secs(1));
        let mut item = RegistryItem::new("m");
        item.active = Some(Active::new(VersionRef::new("v2")));
        let key = load_key(Some(&item));
        assert_eq!(key, "v2||");
        assert!(gate.may_load(&key));
        gate.load_failed(&key);
        assert!(!gate.may_load(&key));
        // Other versions are not held back.
        assert!(gate.may_load("v3||"));
        gate.load_failed(&key);
        let wait = gate.failed_load.lock().unwrap().as_ref().unwrap().2;
        assert_eq!(wait, LOAD_RETRY_FIRST * 2);
        for _ in 0..20 {
            gate.load_failed(&key);
        }
        assert_eq!(
            gate.failed_load.lock().unwrap().as_ref().unwrap().2,
            LOAD_RETRY_MAX
        );
        gate.load_succeeded();
        assert!(gate.may_load(&key));
        // A new failing key starts over.
        gate.load_failed("v3||");
        assert_eq!(
            gate.failed_load.lock().unwrap().as_ref().unwrap().2,
            LOAD_RETRY_FIRST
        );
    }

    fn r(v: &str) -> VersionRef {
        VersionRef {
            version: v.into(),
            prefix: None,
            sha256: Some(format!("sha-{v}")),
        }
    }

    /// Loads "models" that are their version string; versions starting with `bad` fail.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<String>>,
    }

    impl Loader<String> for Fake {
        async fn load(&self, reference: &VersionRef) -> Result<String, String> {
            self.calls.lock().unwrap().push(reference.version.clone());
            if reference.version.starts_with("bad") {
                Err(format!("{} is broken", reference.version))
            } else {
                Ok(reference.version.clone())
            }
        }
    }

    fn item(
        rev: u64,
        active: &str,
        candidate: Option<(&str, u8)>,
        shadow: Option<&str>,
    ) -> RegistryItem {
        let mut i = RegistryItem::new("m");
        i.revision = rev;
        i.active = Some(Active::new(r(active)));
        i.candidate = candidate.map(|(v, w)| Candidate::new(r(v), w));
        i.shadow = shadow.map(|v| Shadow::new(r(v)));
        i
    }

    fn start() -> ServingSet<String> {
        let mut s = ServingSet::single("m", r("v1"), "v1".to_string());
        s.revision = Some(1);
        s
    }

    #[tokio::test]
    async fn same_revision_or_no_item_keeps_the_set() {
        let fake = Fake::default();
        let s = start();
        let (next, rep) = refresh("m", Some(&s), Some(&item(1, "v2", None, None)), &fake).await;
        assert!(next.is_none());
        assert_eq!(rep.unchanged, Some("same revision"));
        let (next, _) = refresh("m", Some(&s), None, &fake).await;
        assert!(next.is_none());
        assert!(fake.calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_new_revision_with_the_same_models_loads_nothing() {
        let fake = Fake::default();
        let (next, rep) =
            refresh("m", Some(&start()), Some(&item(5, "v1", None, None)), &fake).await;
        let next = next.unwrap();
        assert_eq!(next.revision, Some(5));
        assert!(!rep.swapped);
        assert!(fake.calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn only_changed_slots_are_loaded_and_loaded_models_are_reused() {
        let fake = Fake::default();
        let s = start();
        let (next, rep) = refresh(
            "m",
            Some(&s),
            Some(&item(2, "v1", Some(("v2", 10)), Some("v3"))),
            &fake,
        )
        .await;
        let next = next.unwrap();
        assert!(rep.swapped);
        let mut loaded = rep.loaded.clone();
        loaded.sort();
        assert_eq!(loaded, ["v2", "v3"]);
        assert!(Arc::ptr_eq(&next.active.model, &s.active.model));
        assert_eq!(next.candidate.as_ref().unwrap().1, 10);
        assert_eq!(next.revision, Some(2));

        // Promote v2: nothing to fetch, the candidate's Arc becomes the active one.
        let (after, rep) = refresh(
            "m",
            Some(&next),
            Some(&item(3, "v2", None, Some("v3"))),
            &fake,
        )
        .await;
        let after = after.unwrap();
        assert!(rep.loaded.is_empty());
        assert!(Arc::ptr_eq(
            &after.active.model,
            &next.candidate.as_ref().unwrap().0.model
        ));
        assert_eq!(fake.calls.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn without_a_current_set_everything_is_loaded() {
        let fake = Fake::default();
        let (next, rep) = refresh::<String, _>(
            "m",
            None,
            Some(&item(4, "v1", Some(("v2", 30)), None)),
            &fake,
        )
        .await;
        let next = next.unwrap();
        assert_eq!(next.model_name, "m");
        assert_eq!(next.revision, Some(4));
        assert_eq!(rep.loaded.len(), 2);
    }

    #[tokio::test]
    async fn a_failed_active_load_keeps_the_current_set() {
        let fake = Fake::default();
        let (next, rep) = refresh(
            "m",
            Some(&start()),
            Some(&item(2, "bad2", None, None)),
            &fake,
        )
        .await;
        assert!(next.is_none());
        assert_eq!(rep.failed.len(), 1);
        assert!(!rep.swapped);
    }

    #[tokio::test]
    async fn a_failed_candidate_is_dropped_and_retried_later() {
        let fake = Fake::default();
        let (next, rep) = refresh(
            "m",
            Some(&start()),
            Some(&item(2, "v4", Some(("bad5", 10)), None)),
            &fake,
        )
        .await;
        let next = next.unwrap();
        assert_eq!(next.active.version(), "v4");
        assert!(next.candidate.is_none());
        assert_eq!(next.revision, None, "incomplete: retry at the next check");
        assert_eq!(rep.failed[0].0, "bad5");
    }

    #[tokio::test]
    async fn a_different_manifest_under_the_same_version_is_reloaded() {
        let fake = Fake::default();
        let mut i = item(2, "v1", None, None);
        i.active.as_mut().unwrap().sha256 = Some("other".into());
        let (next, rep) = refresh("m", Some(&start()), Some(&i), &fake).await;
        assert!(next.is_some());
        assert_eq!(rep.loaded, ["v1"]);
    }

    #[test]
    fn routing_follows_the_bucket() {
        let mut s = start();
        s.candidate = Some((Slot::new(r("v2"), "v2".to_string()), 10));
        let mut n = 0;
        for i in 0..10_000 {
            let id = (1_000_000 + i).to_string();
            let (v, slot) = s.route(&id);
            assert_eq!(v == Variant::Candidate, in_canary("m", &id, 10));
            assert_eq!(
                slot.version(),
                if v == Variant::Candidate { "v2" } else { "v1" }
            );
            n += usize::from(v == Variant::Candidate);
        }
        assert!((800..=1200).contains(&n), "{n}");
        s.candidate.as_mut().unwrap().1 = 0;
        assert!((0..1000).all(|i| s.route(&i.to_string()).0 == Variant::Active));
    }

    #[test]
    fn the_gate_lets_one_caller_through_per_ttl() {
        let g = RefreshGate::new(Duration::from_millis(30));
        assert!(!g.claim());
        std::thread::sleep(Duration::from_millis(40));
        let claims: usize = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8).map(|_| sc.spawn(|| g.claim())).collect();
            hs.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
        });
        assert_eq!(claims, 1);
        assert!(!g.claim());
    }

    #[test]
    fn no_check_is_claimed_while_the_last_one_runs() {
        let g = RefreshGate::new(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(15));
        assert!(g.claim());
        std::thread::sleep(Duration::from_millis(15));
        assert!(
            !g.claim(),
            "due again, but the first check has not finished"
        );
        g.release();
        assert!(
            g.claim(),
            "released and overdue: the next check starts at once"
        );
    }

    #[test]
    fn shadow_measures() {
        assert_eq!(mean_abs_diff(&[1.0, 2.0], &[1.5, 1.0]), 0.75);
        let a = [0.9, 0.8, 0.7, 0.1];
        let b = [0.1, 0.8, 0.7, 0.9];
        assert_eq!(top_k_overlap(&a, &b, |_| true, 2), 0.5);
        assert_eq!(top_k_overlap(&a, &b, |i| i != 0 && i != 3, 2), 1.0);
        assert_eq!(top_k_overlap(&a, &a, |_| true, 0), 1.0);
    }
}
