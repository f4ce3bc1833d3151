//! `warmstart local up` (the stack behind `make run`) as the end-to-end tests start it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where `warmstart` and the function binaries are: cargo's, or `$WARMSTART_BIN_DIR` (e.g. a
/// release build, or binaries copied out of a target directory that other trees build into).
pub fn bin_dir() -> PathBuf {
    match std::env::var_os("WARMSTART_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_BIN_EXE_warmstart"))
            .parent()
            .unwrap()
            .to_path_buf(),
    }
}

/// The `warmstart` binary the stack runs.
pub fn warmstart_bin() -> PathBuf {
    bin_dir().join("warmstart")
}

/// A running `warmstart local up`.
pub struct Stack {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub api: String,
    pub s3: String,
    pub dynamodb: String,
    /// The Lambda Invoke API.
    pub lambda: String,
}

impl Stack {
    /// Starts `warmstart local up` on free ports with `args` (sizes, bundles, `--no-train`…) and
    /// the data directory `data`; waits (60 s at most) for the API and S3 addresses it prints.
    pub fn start(data: &Path, args: &[impl AsRef<OsStr>]) -> Stack {
        let mut child = Command::new(warmstart_bin())
            .args([
                "local",
                "up",
                "--port",
                "0",
                "--s3-port",
                "0",
                "--dynamodb-port",
                "0",
                "--lambda-port",
                "0",
            ])
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .arg("--bin-dir")
            .arg(bin_dir())
            .env_remove("WARMSTART_PORT")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts warmstart local up");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut api, mut s3, mut dynamodb, mut lambda) = (None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.is_none() || s3.is_none() || dynamodb.is_none() || lambda.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let url = line.split_whitespace().find(|w| w.starts_with("http://"));
                    if line.trim_start().starts_with("API") {
                        api = url.map(str::to_string);
                    } else if line.trim_start().starts_with("S3") {
                        s3 = url.map(str::to_string);
                    } else if line.trim_start().starts_with("DynamoDB") {
                        dynamodb = url.map(str::to_string);
                    } else if line.trim_start().starts_with("Lambda Invoke API") {
                        lambda = url.map(str::to_string);
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the stack did not come up within 60 s:\n{}",
                        stderr.lock().unwrap()
                    );
                }
            }
        }
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Stack {
            child,
            stderr,
            api: api.unwrap(),
            s3: s3.unwrap(),
            dynamodb: dynamodb.unwrap(),
            lambda: lambda.unwrap(),
        }
    }

    /// `warmstart publish <dir>` to the stack's bucket, as a user publishes (the watcher then
    /// sends reload the S3 event); panics with its stderr when it fails.
    pub fn publish(&self, dir: &Path) {
        let out = Command::new(warmstart_bin())
            .args([
                "publish",
                dir.to_str().unwrap(),
                "--bucket",
                "warmstart-models-local",
            ])
            .args(["--endpoint-url", &self.s3])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "warmstart publish {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Sends `signal` and waits for a clean exit.
    pub fn stop(mut self, signal: &str) -> String {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit {status}:\n{}", self.logs());
                break;
            }
            assert!(Instant::now() < deadline, "did not stop:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        self.logs()
    }
}

/// Whether the function binaries are built next to `warmstart`. Without them an end-to-end
/// test skips, unless `CI` is set (then it fails: CI builds them first).
pub fn functions_built() -> bool {
    let built = ["warmstart", "recommend", "valuation", "predict", "reload"]
        .iter()
        .all(|b| bin_dir().join(b).is_file());
    if !built {
        assert!(
            std::env::var_os("CI").is_none(),
            "function binaries missing in {}: cargo build --workspace --bins",
            bin_dir().display()
        );
        eprintln!("skipped: build the function binaries first (cargo build --workspace --bins)");
    }
    built
}

impl Drop for Stack {
    /// A test that fails midway still stops the stack (SIGTERM stops the functions too).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
