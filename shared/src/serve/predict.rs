//! The predict function: every model in the registry, loaded on first use from S3 and kept
//! warm within a memory budget (least recently used evicted first), each following the
//! registry per TTL like the single-model functions ([`super::served::follow`]); plus the
//! request log line and metrics around [`crate::api::predict`].

use super::served::{follow, Serves};
use super::ModelConfig;
use crate::api::predict::{ModelSource, Stats};
use crate::aws::{self, sdk, ModelStore, Refresher, RegistryError, RegistryTable, S3Loader};
use crate::bundle::{BundleSource, Manifest, MANIFEST_FILE};
use crate::http::{ApiError, Body, Request, Response};
use crate::lambda::env::var;
use crate::predict::{ModelDetail, ModelSummary, Predictor};
use crate::registry::{metric, refresh, RefreshGate, RegistryItem, ServingSet, VersionRef};
use crate::telemetry::capture::CaptureConfig;
use crate::telemetry::{InvocationMetrics, Metrics, RequestFigures, ShadowFigures, VARIANTS};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The `Function` dimension of predict's metrics.
pub const FUNCTION: &str = "predict";
/// Models a container evicted to stay within its memory budget.
pub const MODEL_EVICTED: &str = "ModelEvicted";
/// Manifests remembered for listings; versions are immutable, so they never go stale.
const MANIFEST_CACHE: usize = 1024;

#[derive(Debug, Clone)]
pub struct PredictConfig {
    pub model: ModelConfig,
    /// `MODEL_MEMORY_MB` (64): model data a container keeps warm before evicting.
    pub memory_budget: usize,
    /// `CAPTURE_SAMPLE_RATE` (0): the share of prediction requests logged as `capture`
    /// records.
    pub capture: CaptureConfig,
}

impl PredictConfig {
    pub fn from_env() -> Result<Self, String> {
        let model = ModelConfig::from_env("-")?;
        if model.bucket.is_none() || model.registry_table.is_none() {
            return Err("the predict function needs MODEL_BUCKET and REGISTRY_TABLE".into());
        }
        let mb = match var("MODEL_MEMORY_MB") {
            None => 64,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|&m| m > 0)
                .ok_or_else(|| format!("MODEL_MEMORY_MB `{v}` must be a positive integer"))?,
        };
        Ok(PredictConfig {
            model,
            memory_budget: mb << 20,
            capture: CaptureConfig::from_env()?,
        })
    }
}

/// One model kept warm: what it serves and how it follows the registry.
struct Warm {
    set: ArcSwap<ServingSet<Predictor>>,
    follower: Arc<Refresher<Predictor>>,
    last_used: AtomicU64,
}

impl Serves<Predictor> for Warm {
    fn current(&self) -> Option<Arc<ServingSet<Predictor>>> {
        Some(self.set.load_full())
    }

    fn serve(&self, set: ServingSet<Predictor>) -> Result<(), String> {
        self.set.store(Arc::new(set));
        Ok(())
    }
}

/// Bytes a set keeps warm, each loaded version once.
fn set_bytes(set: &ServingSet<Predictor>) -> usize {
    let mut seen: Vec<*const Predictor> = Vec::new();
    let slots = std::iter::once(&set.active)
        .chain(set.candidate.as_ref().map(|(s, _)| s))
        .chain(set.shadow.as_ref());
    let mut total = 0;
    for s in slots {
        let p = Arc::as_ptr(&s.model);
        if !seen.contains(&p) {
            seen.push(p);
            total += s.model.heap_bytes();
        }
    }
    total
}

/// The registry's models, loaded from S3 on first use (see the module docs).
pub struct RegistryModels {
    table: RegistryTable,
    store: ModelStore,
    config: PredictConfig,
    warm: Mutex<HashMap<String, Arc<Warm>>>,
    clock: AtomicU64,
    manifests: Mutex<HashMap<(String, String), Arc<Manifest>>>,
}

impl RegistryModels {
    pub fn new(
        config: PredictConfig,
        s3: &sdk::s3::Client,
        dynamo: &sdk::dynamodb::Client,
    ) -> Self {
        let m = &config.model;
        let bucket = m.bucket.as_deref().unwrap_or_default();
        let table = m.registry_table.as_deref().unwrap_or_default();
        RegistryModels {
            table: RegistryTable::new(dynamo.clone(), table),
            store: ModelStore::new(s3.clone(), bucket, &m.models_prefix),
            config,
            warm: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            manifests: Mutex::new(HashMap::new()),
        }
    }

    pub fn table(&self) -> &RegistryTable {
        &self.table
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn unavailable(e: RegistryError) -> ApiError {
        ApiError::ModelUnavailable(format!("the model registry cannot be read: {e}"))
    }

    /// First use of `name` in this container: the registry item, then its versions from S3.
    async fn load(&self, name: &str) -> Result<Arc<Warm>, ApiError> {
        let started = Instant::now();
        let budget = self.config.model.load_timeout;
        let loader = S3Loader {
            store: self.store.clone(),
            model_name: name.to_string(),
            build: Predictor::servable,
        };
        let set = tokio::time::timeout(budget, async {
            let item = self.table.get(name).await.map_err(Self::unavailable)?;
            let item = item
                .filter(|i| i.active.is_some())
                .ok_or_else(|| ApiError::UnknownModel(name.to_string()))?;
            let (set, report) = refresh(name, None, Some(&item), &loader).await;
            if !report.failed.is_empty() {
                metrics::counter!(metric::MODEL_LOAD_FAILED).increment(report.failed.len() as u64);
                for (v, e) in &report.failed {
                    tracing::error!(model = name, version = %v, error = %e, "model version failed to load");
                }
            }
            set.ok_or_else(|| {
                let why: Vec<String> = (report.failed.iter())
                    .map(|(v, e)| format!("version {v}: {e}"))
                    .collect();
                ApiError::ModelUnavailable(format!(
                    "model `{name}` cannot be loaded now ({})",
                    why.join("; ")
                ))
            })
        })
        .await
        .map_err(|_| {
            ApiError::ModelUnavailable(format!(
                "model `{name}` did not load within {} ms",
                budget.as_millis()
            ))
        })??;
        let bytes = set_bytes(&set);
        tracing::info!(
            model = name,
            version = %set.active.version(),
            candidate = set.candidate.as_ref().map(|(c, _)| c.version()),
            shadow = set.shadow.as_ref().map(|s| s.version()),
            model_bytes = bytes,
            load_ms = started.elapsed().as_secs_f64() * 1e3,
            "model loaded on first use"
        );
        let m = &self.config.model;
        Ok(Arc::new(Warm {
            set: ArcSwap::from_pointee(set),
            follower: Arc::new(Refresher {
                gate: RefreshGate::new(m.registry_ttl),
                table: self.table.clone(),
                loader,
                registry_timeout: m.registry_timeout,
                load_timeout: m.load_timeout,
            }),
            last_used: AtomicU64::new(self.tick()),
        }))
    }

    /// Evicts the least recently used models, never `keep`, until the warm set fits the budget.
    fn evict(&self, keep: &str) {
        let mut warm = self.warm.lock().expect("warm lock");
        loop {
            let total: usize = warm.values().map(|w| set_bytes(&w.set.load())).sum();
            if total <= self.config.memory_budget {
                return;
            }
            let oldest = (warm.iter())
                .filter(|(k, _)| k.as_str() != keep)
                .min_by_key(|(_, w)| w.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { return };
            warm.remove(&oldest);
            metrics::counter!(MODEL_EVICTED).increment(1);
            tracing::info!(
                model = %oldest,
                warm_bytes = total,
                budget_bytes = self.config.memory_budget,
                "model evicted (least recently used)"
            );
        }
    }

    /// The manifest of a registry reference: from the warm set when it is loaded, else from
    /// S3 (remembered: a version never changes). `None` when it cannot be read in time.
    async fn manifest(&self, name: &str, r: &VersionRef) -> Option<Arc<Manifest>> {
        let key = (name.to_string(), r.version.clone());
        if let Some(m) = self.manifests.lock().expect("manifest lock").get(&key) {
            return Some(Arc::clone(m));
        }
        let warm = self.warm.lock().expect("warm lock").get(name).cloned();
        let from_warm = warm.and_then(|w| {
            let set = w.set.load();
            (set.active.version() == r.version)
                .then(|| Arc::new(set.active.model.bundle().manifest().clone()))
        });
        let manifest = match from_warm {
            Some(m) => m,
            None => {
                let m = &self.config.model;
                let source = aws::source_for(
                    self.store.s3.clone(),
                    &self.store.bucket,
                    &m.models_prefix,
                    name,
                    r,
                );
                let read = tokio::time::timeout(m.load_timeout, source.read(MANIFEST_FILE)).await;
                let parsed = match read {
                    Ok(Ok(bytes)) => Manifest::from_json(&bytes).map_err(|e| e.to_string()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".into()),
                };
                match parsed {
                    Ok(m) => Arc::new(m),
                    Err(e) => {
                        tracing::warn!(model = name, version = %r.version, error = %e, "manifest unreadable; listing the model without it");
                        return None;
                    }
                }
            }
        };
        let mut cache = self.manifests.lock().expect("manifest lock");
        if cache.len() >= MANIFEST_CACHE {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&manifest));
        Some(manifest)
    }

    async fn item(&self, name: &str) -> Result<RegistryItem, ApiError> {
        let got = tokio::time::timeout(self.config.model.load_timeout, self.table.get(name))
            .await
            .map_err(|_| ApiError::ModelUnavailable("the model registry did not answer".into()))?
            .map_err(Self::unavailable)?;
        got.ok_or_else(|| ApiError::UnknownModel(name.to_string()))
    }
}

impl ModelSource for RegistryModels {
    fn capture(&self) -> CaptureConfig {
        self.config.capture
    }

    async fn serving(&self, name: &str) -> Result<Arc<ServingSet<Predictor>>, ApiError> {
        if !crate::bundle::is_key_segment(name) {
            return Err(ApiError::UnknownModel(crate::http::clip(name, 64)));
        }
        let warm = self.warm.lock().expect("warm lock").get(name).cloned();
        let warm = match warm {
            Some(w) => {
                w.last_used.store(self.tick(), Ordering::Relaxed);
                follow(Some(&w.follower), &w);
                w
            }
            None => {
                let w = self.load(name).await?;
                let mut all = self.warm.lock().expect("warm lock");
                all.insert(name.to_string(), Arc::clone(&w));
                w
            }
        };
        self.evict(name);
        Ok(warm.set.load_full())
    }

    async fn list(&self) -> Result<Vec<ModelSummary>, ApiError> {
        let items = tokio::time::timeout(self.config.model.load_timeout, self.table.list())
            .await
            .map_err(|_| ApiError::ModelUnavailable("the model registry did not answer".into()))?
            .map_err(Self::unavailable)?;
        let summaries = items.iter().map(|item| async move {
            let manifest = match item.active_ref() {
                Some(r) => self.manifest(&item.model, &r).await,
                None => None,
            };
            ModelSummary::new(item, manifest.as_deref())
        });
        Ok(futures::future::join_all(summaries).await)
    }

    async fn describe(&self, name: &str) -> Result<ModelDetail, ApiError> {
        if !crate::bundle::is_key_segment(name) {
            return Err(ApiError::UnknownModel(crate::http::clip(name, 64)));
        }
        let item = self.item(name).await?;
        let manifest = match item.active_ref() {
            Some(r) => self.manifest(name, &r).await,
            None => None,
        };
        Ok(ModelDetail::new(&item, manifest.as_deref()))
    }
}

/// Everything a predict container holds between invocations.
pub struct PredictApp {
    pub models: RegistryModels,
    metrics: Option<Metrics>,
    invoked: AtomicBool,
    init_ms: f64,
}

impl PredictApp {
    pub fn new(models: RegistryModels, process_start: Instant) -> Self {
        PredictApp {
            models,
            metrics: super::serving_metrics(
                FUNCTION,
                &[(
                    MODEL_EVICTED,
                    "models evicted to stay within MODEL_MEMORY_MB",
                )],
            ),
            invoked: AtomicBool::new(false),
            init_ms: process_start.elapsed().as_secs_f64() * 1e3,
        }
    }

    pub fn init_ms(&self) -> f64 {
        self.init_ms
    }
}

impl super::HttpApp for PredictApp {
    async fn serve(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let (resp, stats): (Response<Body>, Stats) =
            crate::api::predict::handle(&self.models, &req).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        let cold_start = !self.invoked.swap(true, Ordering::Relaxed);
        let request_id = crate::http::request_id(&req);
        let p = &stats.predict;
        tracing::info!(
            request_id = %request_id,
            route = stats.route,
            status = stats.status,
            latency_ms,
            error_code = stats.error_code,
            model = stats.model.as_deref(),
            model_version = stats.model_version.as_deref(),
            rows = p.rows,
            candidate_rows = p.candidate_rows,
            shadow_delta = p.shadow_delta,
            shadow_failed = p.shadow_failed,
            cold_start,
            "request"
        );
        // Only a model that answered names the Model dimension: a URL's name must not.
        let model = stats
            .model
            .as_deref()
            .filter(|_| stats.model_version.is_some());
        if let Some(name) = model {
            crate::telemetry::capture::log(FUNCTION, request_id, name, &p.capture);
        }
        if let Some(metrics) = &self.metrics {
            let variants = match (p.candidate_rows, p.rows) {
                (0, _) => vec![VARIANTS[0]],
                (c, n) if c == n => vec![VARIANTS[1]],
                _ => VARIANTS.to_vec(),
            };
            metrics.record(&InvocationMetrics {
                request: stats.counted.then(|| RequestFigures {
                    model,
                    variants,
                    status: stats.status,
                    error_code: stats.error_code,
                    latency_ms,
                    shadow: (p.shadow_delta.is_some() || p.shadow_failed > 0).then_some(
                        ShadowFigures {
                            score_delta: p.shadow_delta,
                            topk_overlap: None,
                            failed: Some(p.shadow_failed as u64),
                        },
                    ),
                    ..RequestFigures::default()
                }),
                cold_start,
                init_ms: cold_start.then_some(self.init_ms),
                model_version: stats.model_version.as_deref().unwrap_or("-"),
                request_id,
            });
            metrics.flush();
        }
        resp
    }
}
