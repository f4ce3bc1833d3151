//! The functions as Lambda runs them: each binary under its own Runtime API emulator, its
//! output echoed with a `[name]` prefix. A process that exits (crash, failed init, killed) is
//! replaced as Lambda replaces an execution environment: the invocation it was running fails
//! with Lambda's `Runtime.ExitError` (the router answers it 502, API Gateway's answer to a
//! failed integration), and the invocations still queued are handed to the new process.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use warmstart_devkit::{FunctionProcess, Outcome, RuntimeApi, SpawnOptions};

/// What to run.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// `recommend`, `valuation` or `reload`.
    pub name: &'static str,
    pub bin: PathBuf,
    pub env: Vec<(String, String)>,
    /// The template's timeout: how long an invocation may take.
    pub timeout: Duration,
    pub memory_mb: u32,
}

/// A function with its emulator and (at most) one running process.
pub struct LocalFunction {
    spec: FunctionSpec,
    api: RuntimeApi,
    process: Mutex<Option<FunctionProcess>>,
    options: SpawnOptions,
    restarts: std::sync::atomic::AtomicU64,
}

/// The error Lambda reports for an invocation whose runtime process exited.
pub const EXIT_ERROR_TYPE: &str = "Runtime.ExitError";

fn exit_error(status: &str) -> Vec<u8> {
    serde_json::json!({
        "errorType": EXIT_ERROR_TYPE,
        "errorMessage": format!("Runtime exited with error: {status}"),
    })
    .to_string()
    .into_bytes()
}

/// EMF metric documents are for CloudWatch; locally they only hide the logs.
fn not_a_metric(line: &str) -> bool {
    !line.contains("\"_aws\"")
}

fn prefix(name: &str) -> String {
    let color = match name {
        "recommend" => "36",
        "valuation" => "35",
        _ => "33",
    };
    if std::io::stderr().is_terminal() {
        format!("\x1b[{color}m[{name}]\x1b[0m ")
    } else {
        format!("[{name}] ")
    }
}

impl LocalFunction {
    /// Starts the emulator (not the process). `show_metrics`: echo EMF lines too.
    pub async fn new(spec: FunctionSpec, show_metrics: bool) -> std::io::Result<LocalFunction> {
        let api = RuntimeApi::start_for(&format!("warmstart-{}", spec.name)).await?;
        let options = SpawnOptions {
            function_name: format!("warmstart-{}", spec.name),
            memory_mb: spec.memory_mb,
            echo_prefix: Some(prefix(spec.name)),
            echo_filter: (!show_metrics).then_some(not_a_metric as fn(&str) -> bool),
            collect: false,
            own_process_group: true,
        };
        Ok(LocalFunction {
            spec,
            api,
            process: Mutex::new(None),
            options,
            restarts: Default::default(),
        })
    }

    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// Spawns a process unless one is running; returns the `/next` poll count to wait past
    /// when it spawned one. The invocation a dead process had taken fails here, once.
    async fn ensure_process(&self) -> Result<Option<usize>, String> {
        let mut guard = self.process.lock().await;
        if let Some(p) = guard.as_mut() {
            match p.try_exit_status() {
                None => return Ok(None),
                Some(status) => {
                    let failed = self.api.fail_in_flight(&exit_error(&status.to_string()));
                    self.restarts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    eprintln!(
                        "{}process exited ({status}); {failed} invocation(s) in flight failed \
                         (Runtime.ExitError); starting a new one",
                        prefix(self.spec.name)
                    );
                }
            }
        }
        self.api.clear_init_error();
        let polls = self.api.next_calls();
        let p =
            FunctionProcess::spawn_with(&self.spec.bin, &self.api, &self.spec.env, &self.options)
                .map_err(|e| format!("starting {}: {e}", self.spec.bin.display()))?;
        *guard = Some(p);
        Ok(Some(polls))
    }

    /// Resolves with the exit status once the current process has exited.
    async fn exited(&self) -> String {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut guard = self.process.lock().await;
            match guard.as_mut().map(|p| p.try_exit_status()) {
                Some(Some(status)) => return status.to_string(),
                None => return "no process".into(),
                Some(None) => {}
            }
        }
    }

    fn with_init_error(&self, what: String) -> String {
        match self.api.init_error() {
            Some(e) => format!("{what}; init error: {e}"),
            None => what,
        }
    }

    /// Starts a process (if none runs) and waits until its init is done (first `/next`).
    /// Returns how long init took.
    pub async fn start(&self, timeout: Duration) -> Result<Duration, String> {
        let t = Instant::now();
        let Some(polls) = self.ensure_process().await? else {
            return Ok(Duration::ZERO);
        };
        tokio::select! {
            r = self.api.wait_polls(polls + 1, timeout) => r.map(|()| t.elapsed()),
            status = self.exited() => Err(self.with_init_error(format!(
                "{} exited during init ({status})",
                self.spec.name
            ))),
        }
    }

    /// One invocation, as the Lambda service makes it. When the process dies meanwhile, a
    /// new one starts: the invocation fails (`Runtime.ExitError`) if the dead process had
    /// taken it, else the new process gets it.
    pub async fn invoke(&self, event: &[u8]) -> Result<Outcome, String> {
        self.ensure_process().await?;
        let invocation = self.api.invoke(event, self.spec.timeout);
        tokio::pin!(invocation);
        loop {
            tokio::select! {
                r = &mut invocation => return r,
                _ = self.exited() => {
                    if let Some(e) = self.api.init_error() {
                        return Err(format!("{} failed its init: {e}", self.spec.name));
                    }
                    self.ensure_process().await?;
                }
            }
        }
    }

    /// SIGKILL to the process while it runs an invocation (waits up to `within` for one to be
    /// in flight); false when none was. The next invocation (or one queued) restarts it.
    pub async fn kill_mid_invocation(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.api.in_flight() == 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let guard = self.process.lock().await;
        match guard.as_ref() {
            Some(p) => {
                p.kill();
                true
            }
            None => false,
        }
    }

    /// Processes started to replace one that exited.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the process (SIGTERM to its process group, SIGKILL after a grace period).
    pub async fn stop(&self) {
        if let Some(mut p) = self.process.lock().await.take() {
            p.stop(Duration::from_secs(2)).await;
        }
    }
}
