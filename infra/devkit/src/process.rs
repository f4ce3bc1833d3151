//! A function binary running against a [`RuntimeApi`], as Lambda runs a container: the Lambda
//! environment variables, a clean environment otherwise, output lines collected and/or echoed.

use crate::runtime_api::{RuntimeApi, DEFAULT_FUNCTION};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How [`FunctionProcess::spawn_with`] runs a function.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// `AWS_LAMBDA_FUNCTION_NAME`; the log group is `/aws/lambda/<name>`.
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub memory_mb: u32,
    /// Echo every output line to stderr after this prefix.
    pub echo_prefix: Option<String>,
    /// Echo only the lines this accepts (e.g. to hide metric documents); `None` echoes all.
    pub echo_filter: Option<fn(&str) -> bool>,
    /// Keep every output line for [`FunctionProcess::lines`] (tests; a long-running local
    /// stack turns this off).
    pub collect: bool,
    /// Run in its own process group (a terminal's Ctrl-C then reaches only the parent, which
    /// stops the function itself) and, on Linux, die with the parent even if the parent is
    /// killed with SIGKILL.
    pub own_process_group: bool,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        SpawnOptions {
            function_name: DEFAULT_FUNCTION.into(),
            memory_mb: 128,
            echo_prefix: None,
            echo_filter: None,
            collect: true,
            own_process_group: false,
        }
    }
}

/// A function binary running against a [`RuntimeApi`]; killed on drop.
pub struct FunctionProcess {
    child: Child,
    /// When the process was spawned (cold start is measured from here).
    pub started: Instant,
    lines: Arc<Mutex<Vec<String>>>,
    group: bool,
}

impl FunctionProcess {
    /// Spawns `bin` with the default [`SpawnOptions`], echoing its output to stderr when
    /// `WARMSTART_TEST_ECHO` is set. Panics if the binary is missing or cannot start.
    pub fn spawn(bin: &Path, api: &RuntimeApi, env: &[(String, String)]) -> FunctionProcess {
        assert!(
            bin.is_file(),
            "function binary {} does not exist: build it first (cargo build -p recommend)",
            bin.display()
        );
        let options = SpawnOptions {
            echo_prefix: std::env::var_os("WARMSTART_TEST_ECHO").map(|_| "[function] ".into()),
            ..SpawnOptions::default()
        };
        Self::spawn_with(bin, api, env, &options)
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()))
    }

    /// Spawns `bin` with a clean environment: `PATH`, the Lambda variables for `api`
    /// (`AWS_LAMBDA_RUNTIME_API`, function name, memory, log format JSON, `RUST_LOG=info`),
    /// then `env`, which may override any of them.
    pub fn spawn_with(
        bin: &Path,
        api: &RuntimeApi,
        env: &[(String, String)],
        options: &SpawnOptions,
    ) -> std::io::Result<FunctionProcess> {
        let name = &options.function_name;
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                options.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if options.own_process_group {
            cmd.process_group(0);
            #[cfg(target_os = "linux")]
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            let echo = options.echo_prefix.clone();
            let filter = options.echo_filter;
            let collect = options.collect;
            tokio::spawn(async move {
                let mut r = BufReader::new(stream).lines();
                while let Ok(Some(l)) = r.next_line().await {
                    if let Some(prefix) = &echo {
                        if filter.is_none_or(|keep| keep(&l)) {
                            eprintln!("{prefix}{l}");
                        }
                    }
                    if collect {
                        lines.lock().expect("lines").push(l);
                    }
                }
            });
        }
        Ok(FunctionProcess {
            child,
            started,
            lines,
            group: options.own_process_group,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Every output line so far (none when spawned with `collect: false`).
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// Output lines that are JSON objects (logs and EMF documents).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.is_object())
            .collect()
    }

    /// Peak resident set size (`VmHWM`) in KiB, from `/proc`.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Waits for the process to exit (e.g. after a failed init).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The exit status if the process has ended, without waiting.
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the process (its whole process group when it has one): SIGTERM, then SIGKILL
    /// after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if self.try_exit_status().is_some() {
            return;
        }
        self.signal(libc::SIGTERM);
        if self.wait_exit(grace).await.is_none() {
            self.signal(libc::SIGKILL);
            let _ = self.child.start_kill();
            let _ = self.wait_exit(Duration::from_secs(2)).await;
        }
    }

    /// SIGKILL to the process (its group when it has one), without waiting: a crash.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, sig: libc::c_int) {
        let Some(pid) = self.pid().and_then(|p| libc::pid_t::try_from(p).ok()) else {
            return;
        };
        // SAFETY: plain kill(2) on a process (group) we started and have not reaped.
        unsafe {
            libc::kill(if self.group { -pid } else { pid }, sig);
        }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        if self.group && self.try_exit_status().is_none() {
            self.signal(libc::SIGKILL);
        }
    }
}
