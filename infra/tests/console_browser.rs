//! The web console (`GET /`, shared/console/index.html) in a real browser: `warmstart local up`
//! on free ports (small models trained as `make run` trains them), Debian's headless Chromium
//! driven through chromedriver, each of the three views used as a person would (typing, clicking
//! the buttons), and what the page shows checked against what the API answers for the same
//! request. Full-page screenshots of the views are kept in `$CARGO_TARGET_DIR/console/`.
//!
//! Needs the function binaries (`cargo build --workspace --bins`) and `chromium` +
//! `chromium-driver` (infra/scripts/bootstrap.sh); without them it is skipped, unless `CI` is set.

mod common;

use common::browser::{self, Browser};
use common::http::{call_json, exchange};
use common::stack::{functions_built, warmstart_bin, Stack};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WIDTH: u32 = 1360;
const WAIT: Duration = Duration::from_secs(40);

/// A JSON call to the stack's API: status and body.
fn api(stack: &Stack, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string);
    let (status, _, v) = call_json(&stack.api, method, path, body.as_deref());
    (status, v)
}

/// Where the screenshots go: `$CARGO_TARGET_DIR/console/`.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_warmstart"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("console")
}

/// Waits until the view's result `target` has finished loading; `done` or `error`.
fn settled(b: &Browser, target: &str) -> String {
    let script = format!(
        "const s = document.querySelector('{target}').dataset.state; \
         return s === 'done' || s === 'error' ? s : null;"
    );
    b.wait_for(target, &script, WAIT)
        .as_str()
        .unwrap()
        .to_string()
}

fn error_text(b: &Browser, target: &str) -> String {
    b.js(
        &format!(
            "const e = document.querySelector('{target} .error'); return e ? e.textContent : '';"
        ),
        &[],
    )
    .as_str()
    .unwrap_or("")
    .to_string()
}

/// Trains a recommender with `rollout` and publishes it to the stack's bucket; returns its
/// version. Trained as the stack trained its own (300 customers, 50 trees, seed 42), so that it passes
/// reload's quality gate (no worse than the active version). `version` overrides the default
/// (`<second>-<hash of the models>`), which two trainings of the same models within one
/// second share although their manifests (rollouts) differ: publish refuses the second.
fn publish_recommender(
    stack: &Stack,
    dir: &Path,
    seed: &str,
    rollout: &str,
    version: Option<&str>,
) -> String {
    let d = dir.to_str().unwrap();
    let version = version.map(|v| ["--version", v]);
    let train = [
        "train",
        "recommender",
        "--synthetic",
        "300",
        "--trees",
        "50",
        "--seed",
        seed,
        "--rollout",
        rollout,
        "--out",
        d,
    ];
    let out = Command::new(warmstart_bin())
        .args(train)
        .args(version.iter().flatten())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "warmstart {}: {}",
        train.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    stack.publish(dir);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["version"].as_str().unwrap().to_string()
}

/// Polls `GET /models/{name}` until `role` holds `version` (reload validated the upload).
fn wait_for_role(stack: &Stack, name: &str, role: &str, version: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, d) = api(stack, "GET", &format!("/models/{name}"), None);
        if d[role]["version"] == version {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{version} never became the {role}: {d}\n{}",
            stack.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_console_recommends_values_and_shows_the_registry_in_chromium() {
    if !functions_built() || !browser::installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "--customers",
        "300",
        "--companies",
        "120",
        "--poll-secs",
        "0.2",
    ];
    let stack = Stack::start(&tmp.path().join("data"), &args);
    let shots = screenshot_dir();

    // The page: HTML, with a policy that only lets its own inline script and style run.
    let addr = stack.api.trim_start_matches("http://").to_string();
    let (status, headers, body) = exchange(&addr, "GET", "/", None);
    assert_eq!(status, 200);
    let header = |name: &str| {
        (headers.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert!(header("content-security-policy").contains("script-src 'sha256-"));
    assert!(String::from_utf8_lossy(&body).contains("<title>Warmstart console</title>"));

    let b = Browser::start(WIDTH);
    let page = format!("{}/", stack.api);

    // (a) Recommend: customer 15889, four products, with their top features.
    b.goto(&format!("{page}#recommend"));
    b.type_into("#recommend-form input[name=customer_id]", "15889");
    b.type_into("#recommend-form input[name=k]", "4");
    b.click("#recommend-form button[type=submit]");
    let state = settled(&b, "#recommend-result");
    assert_eq!(state, "done", "{}", error_text(&b, "#recommend-result"));
    let shown = b.js(
        r#"return [...document.querySelectorAll('#recommend-result .product')].map((p) => ({
             product: p.dataset.product,
             name: p.querySelector('.product-name').textContent,
             score: Number(p.querySelector('.score').dataset.score),
             score_text: p.querySelector('.score').textContent,
             bar: p.querySelector('.scorebar .fill').style.width,
             features: [...p.querySelectorAll('.feature')].map((f) => ({
               feature: f.dataset.feature,
               contribution: Number(f.dataset.contribution),
               text: f.textContent,
             })),
           }));"#,
        &[],
    );
    let request = json!({"customer_id": "15889", "k": 4, "explain": true, "return_scores": true});
    let (status, want) = api(&stack, "POST", "/recommend", Some(&request));
    assert_eq!(status, 200, "{want}");
    assert_eq!(want["source"], "model", "{want}");
    let (shown, want_recs) = (
        shown.as_array().unwrap(),
        want["recommendations"].as_array().unwrap(),
    );
    assert_eq!(shown.len(), 4, "{shown:?}");
    assert_eq!(shown.len(), want_recs.len());
    for (i, (s, w)) in shown.iter().zip(want_recs).enumerate() {
        assert_eq!(s["product"], w["product"], "rank {i}");
        assert_eq!(s["name"], w["name"], "rank {i}");
        assert_eq!(s["score"].as_f64(), w["score"].as_f64(), "rank {i}");
        assert!(s["score_text"].as_str().unwrap().ends_with(" %"), "{s}");
        let features = s["features"].as_array().unwrap();
        let want_features = w["explanation"].as_array().unwrap();
        assert!(!want_features.is_empty(), "{w}");
        assert_eq!(features.len(), want_features.len(), "rank {i}");
        for (f, wf) in features.iter().zip(want_features) {
            assert_eq!(f["feature"], wf["feature"]);
            assert_eq!(f["contribution"].as_f64(), wf["contribution"].as_f64());
            assert!(
                f["text"]
                    .as_str()
                    .unwrap()
                    .starts_with(wf["feature"].as_str().unwrap()),
                "{f}"
            );
        }
    }
    // The best product's bar is full; the others are shorter in proportion.
    assert_eq!(shown[0]["bar"], "100%");
    let page_text = b.js("return document.body.innerText;", &[]);
    let version = want["model"]["version"].as_str().unwrap();
    assert!(page_text.as_str().unwrap().contains(version));
    b.screenshot(&shots.join("console-recommend.png"), WIDTH);

    // (b) Valuation of 600519.SH with the form's defaults (5 years, a 5 × 5 grid around the
    // base case).
    b.goto(&format!("{page}#valuation"));
    b.click("#valuation-form button[type=submit]");
    let state = settled(&b, "#valuation-result");
    assert_eq!(state, "done", "{}", error_text(&b, "#valuation-result"));
    // What the page sent, without the grid: the base case.
    let request = json!({
        "ts_code": "600519.SH", "forecast_years": 5, "terminal_value_method": "perpetual_growth",
        "risk_free_rate": 0.03, "market_risk_premium": 0.06, "cost_of_debt": 0.045,
        "target_debt_ratio": 0.2, "mid_year_convention": false, "terminal_growth_rate": 0.025,
    });
    let (status, want) = api(&stack, "POST", "/valuation", Some(&request));
    assert_eq!(status, 200, "{want}");
    let dcf = &want["valuation_results"]["dcf_forecast_details"];
    let grid = b.js(
        r#"const t = document.querySelector('#sensitivity-grid');
           return {
             rows: Number(t.dataset.rows), columns: Number(t.dataset.columns),
             cells: t.querySelectorAll('td.heat-cell').length,
             coloured: [...t.querySelectorAll('td.heat-cell')].filter((c) => c.style.background).length,
             base: [...t.querySelectorAll('td.heat-cell.base')].map((c) => Number(c.dataset.value)),
             kpi: document.querySelector('#kpi-value-per-share .value').textContent,
             ufcf: [...document.querySelectorAll('#forecast-chart rect.bar-ufcf')].map((r) => Number(r.dataset.value)),
             pv: [...document.querySelectorAll('#forecast-chart rect.bar-pv')].length,
             table_rows: document.querySelectorAll('#forecast-table tbody tr').length,
           };"#,
        &[],
    );
    assert_eq!(
        (grid["rows"].as_u64(), grid["columns"].as_u64()),
        (Some(5), Some(5)),
        "{grid}"
    );
    assert_eq!(grid["cells"], 25, "{grid}");
    assert_eq!(grid["coloured"], 25, "every cell has a value here: {grid}");
    // The outlined cell is the base case: the DCF value per share itself.
    let base = grid["base"].as_array().unwrap();
    assert_eq!(base.len(), 1, "{grid}");
    let (cell, value) = (
        base[0].as_f64().unwrap(),
        dcf["value_per_share"].as_f64().unwrap(),
    );
    assert!(
        (cell - value).abs() <= 1e-9 * value.abs(),
        "{cell} vs {value}"
    );
    let kpi: f64 = grid["kpi"]
        .as_str()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert!((kpi - value).abs() <= 0.005, "{kpi} vs {value}");
    let want_ufcf: Vec<f64> = (want["valuation_results"]["detailed_forecast_table"].as_array())
        .unwrap()
        .iter()
        .map(|r| r["ufcf"].as_f64().unwrap())
        .collect();
    let shown_ufcf: Vec<f64> = (grid["ufcf"].as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(shown_ufcf, want_ufcf);
    assert_eq!(
        (grid["pv"].as_u64(), grid["table_rows"].as_u64()),
        (Some(5), Some(5))
    );
    b.screenshot(&shots.join("console-valuation.png"), WIDTH);

    // An unknown company: the problem JSON's message is what the page shows.
    b.type_into("#valuation-form input[name=ts_code]", "000000.XX");
    b.click("#valuation-form button[type=submit]");
    assert_eq!(settled(&b, "#valuation-result"), "error");
    let mut bad = request.clone();
    bad["ts_code"] = json!("000000.XX");
    let (status, problem) = api(&stack, "POST", "/valuation", Some(&bad));
    assert_eq!(status, 404, "{problem}");
    let shown = b.js(
        "return document.querySelector('#valuation-result .error-message').textContent;",
        &[],
    );
    assert_eq!(shown, problem["message"]);
    assert!(error_text(&b, "#valuation-result").contains("HTTP 404"));

    // (c) Models: a canary and a shadow of the recommender, published as a user would (reload
    // validates them), then the registry as the page shows it.
    let candidate =
        publish_recommender(&stack, &tmp.path().join("canary"), "42", "canary:25", None);
    wait_for_role(&stack, "product-recommender", "candidate", &candidate);
    // Later than the candidate's, so not stale.
    let shadow_version = format!("{candidate}-shadow");
    let shadow = publish_recommender(
        &stack,
        &tmp.path().join("shadow"),
        "42",
        "shadow",
        Some(&shadow_version),
    );
    assert_eq!(shadow, shadow_version);
    wait_for_role(&stack, "product-recommender", "shadow", &shadow);
    b.goto(&format!("{page}#models"));
    assert_eq!(settled(&b, "#models-result"), "done");
    let (status, listing) = api(&stack, "GET", "/models", None);
    assert_eq!(status, 200, "{listing}");
    let models = listing["models"].as_array().unwrap();
    assert!(models.len() >= 4, "{listing}");
    let rows = b.js(
        r#"return Object.fromEntries([...document.querySelectorAll('#models-table tbody tr')].map((tr) => [
             tr.dataset.model, {
               active: tr.querySelector('.active-version').textContent,
               candidate: tr.querySelector('.candidate-version').textContent,
               shadow: tr.querySelector('.shadow-version').textContent,
             }]));"#,
        &[],
    );
    assert_eq!(rows.as_object().unwrap().len(), models.len(), "{rows}");
    for m in models {
        let row = &rows[m["name"].as_str().unwrap()];
        assert_eq!(row["active"], m["active"]["version"], "{m}");
    }
    let reco = &rows["product-recommender"];
    assert_eq!(reco["candidate"], format!("{candidate} 25 %"));
    assert_eq!(reco["shadow"], shadow.as_str());

    b.click("#models-table tr[data-model=\"product-recommender\"]");
    b.wait_for(
        "the recommender's detail",
        "const d = document.querySelector('#model-detail'); \
         return d.dataset.state === 'done' && d.dataset.model === 'product-recommender';",
        WAIT,
    );
    let (_, detail) = api(&stack, "GET", "/models/product-recommender", None);
    let panel = b.js(
        r#"const d = document.querySelector('#model-panel');
           const text = (sel) => { const e = d.querySelector(sel); return e ? e.textContent : null; };
           return {
             active: text('.role.active .version'), candidate: text('.role.candidate .version'),
             shadow: text('.role.shadow .version'), weight: text('.role.candidate .weight'),
             versions: [...d.querySelectorAll('#version-metrics thead th')].slice(1).map((th) => th.textContent),
             history: d.querySelectorAll('#model-history li').length,
           };"#,
        &[],
    );
    assert_eq!(panel["active"], detail["active"]["version"], "{panel}");
    assert_eq!(panel["candidate"], candidate.as_str());
    assert_eq!(panel["shadow"], shadow.as_str());
    assert_eq!(panel["weight"], "25 % of traffic");
    let versions: Vec<String> = (detail["versions"].as_array().unwrap().iter())
        .map(|v| {
            format!(
                "{}{}",
                v["role"].as_str().unwrap(),
                v["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(versions.len(), 3, "{detail}");
    assert_eq!(panel["versions"], json!(versions));
    assert_eq!(
        panel["history"].as_u64(),
        Some(detail["history"].as_array().unwrap().len() as u64)
    );
    assert!(
        panel["history"].as_u64().unwrap() >= 2,
        "canary and shadow: {detail}"
    );
    b.screenshot(&shots.join("console-models.png"), WIDTH);

    // Nothing failed in the page: no script error, no blocked inline code. (The 404 above is
    // the one failed load, on purpose.)
    let problems: Vec<(String, String)> = b
        .console_log()
        .into_iter()
        .filter(|(level, msg)| {
            level == "SEVERE" && !(msg.contains("/valuation") && msg.contains("404"))
        })
        .collect();
    assert!(problems.is_empty(), "browser console: {problems:?}");
    drop(b);
    let logs = stack.stop("TERM");
    assert!(logs.contains("==> stopped"), "{logs}");
    eprintln!("screenshots in {}", shots.display());
}
