//! Headless Chromium (Debian's `chromium`) driven through `chromedriver` over the W3C WebDriver
//! protocol, for the end-to-end tests of the web console.
//!
//! WebDriver is a handful of JSON-over-HTTP calls to a server on loopback; they are written
//! here on std's `TcpStream` (as the other end-to-end tests talk to the stack) rather than with
//! a WebDriver crate (fantoccini, thirtyfour), which would add an async HTTP client stack to
//! the workspace for seven calls.

use super::http::exchange;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether Chromium and its driver are installed (`infra/scripts/bootstrap.sh` installs both).
/// Without them a browser test skips, unless `CI` is set (then it fails).
pub fn installed() -> bool {
    let ok = Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMIUM} or {CHROMEDRIVER} missing: apt-get install chromium chromium-driver \
             (infra/scripts/bootstrap.sh)"
        );
        eprintln!("skipped: apt-get install chromium chromium-driver (infra/scripts/bootstrap.sh)");
    }
    ok
}

/// A chromedriver process and one browser session.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session `width` pixels wide.
    pub fn start(width: u32) -> Browser {
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts chromedriver");
        let out = driver.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let port = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("chromedriver said which port it listens on");
            if let Some(p) = line.split("successfully on port ").nth(1) {
                break p.trim().trim_end_matches('.').to_string();
            }
        };
        std::thread::spawn(move || while rx.recv().is_ok() {});
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            addr: format!("127.0.0.1:{port}"),
            session: String::new(),
            _profile: profile,
        };
        // As root and on a machine without internet: no sandbox, no background connections.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--window-size={width},1000"),
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let session = browser.call("POST", "/session", Some(caps));
        browser.session = session["sessionId"].as_str().unwrap().to_string();
        browser
    }

    /// One WebDriver command; its `value`. A WebDriver error fails the test with its message.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let (status, _, payload) = exchange(&self.addr, method, path, body.as_deref());
        let v: Value = serde_json::from_slice(&payload)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}: {payload:?}"));
        assert!(
            status == 200,
            "WebDriver {method} {path} -> {status}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page; its result.
    pub fn js(&self, script: &str, args: &[Value]) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    fn element(&self, css: &str) -> String {
        let found = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        // The W3C element reference key.
        found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    /// A real click (through the browser's input pipeline) on the element `css` selects.
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Clears the input `css` selects and types `text` into it as a user would.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Polls `script` until it returns something other than `null`/`false` (`timeout` at most).
    pub fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script, &[]);
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; browser console: {:?}",
                self.console_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The browser console's messages since the last call (level, message).
    pub fn console_log(&self) -> Vec<(String, String)> {
        let entries = self.session_call("POST", "/se/log", Some(json!({"type": "browser"})));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["level"].as_str().unwrap_or("").to_string(),
                    e["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// A PNG of the whole page (the window grown to the page's height) written to `path`.
    pub fn screenshot(&self, path: &Path, width: u32) {
        let height = self
            .js("return document.documentElement.scrollHeight;", &[])
            .as_u64()
            .unwrap_or(1000);
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": (height + 120).clamp(600, 8000)})),
        );
        let png = self.session_call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": 1000})),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort (the test may be failing already): close the browser, then the driver.
        if let Ok(mut conn) = TcpStream::connect(&self.addr) {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                conn,
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                self.session, self.addr
            );
            let _ = conn.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
