//! The local AWS data plane, in-process: DynamoDB (dynoxide, SQLite) and S3 (s3s-fs, one
//! directory), each on its own 127.0.0.1 port; both accept the credentials `test` / `test`.
//!
//! [`Stores::start`] keeps its data under a directory, so `warmstart local up` finds it again
//! after a restart; expired items of TTL-enabled tables are deleted every minute, as DynamoDB
//! does (later). [`Stores::ephemeral`] is for a test: free ports, an in-memory database and a
//! temporary directory, gone when the value is dropped.

use crate::aws::{ACCESS_KEY, SECRET_KEY};
use anyhow::{Context, Result};
use std::path::Path;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often expired items (TTL) are deleted from the local DynamoDB.
const TTL_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The running emulators; [`Stores::stop`] ends them.
pub struct Stores {
    pub s3_endpoint: String,
    pub dynamodb_endpoint: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The S3 directory of an ephemeral instance, removed on drop.
    _scratch: Option<tempfile::TempDir>,
}

async fn bind(port: u16, what: &str, flag: &str) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{port} for {what}: is another `warmstart local up` \
             (or another program) using it? Choose another port with {flag}"
            )
        })
}

impl Stores {
    /// Starts both emulators with their data under `data_dir` (`s3/`, `dynamodb.sqlite`);
    /// ports of 0 pick free ones.
    pub async fn start(data_dir: &Path, s3_port: u16, dynamodb_port: u16) -> Result<Stores> {
        let db_path = data_dir.join("dynamodb.sqlite");
        let db = dynoxide::Database::new(&db_path.to_string_lossy())
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", db_path.display()))?;
        Self::serve(&data_dir.join("s3"), s3_port, db, dynamodb_port, None).await
    }

    /// Both emulators on free ports with throw-away data (a test's).
    pub async fn ephemeral() -> Result<Stores> {
        let scratch = tempfile::tempdir().context("creating a directory for S3")?;
        let db = dynoxide::Database::memory()
            .map_err(|e| anyhow::anyhow!("opening an in-memory DynamoDB: {e}"))?;
        let root = scratch.path().join("s3");
        Self::serve(&root, 0, db, 0, Some(scratch)).await
    }

    async fn serve(
        s3_root: &Path,
        s3_port: u16,
        db: dynoxide::Database,
        dynamodb_port: u16,
        scratch: Option<tempfile::TempDir>,
    ) -> Result<Stores> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        // S3: a directory per bucket.
        std::fs::create_dir_all(s3_root)
            .with_context(|| format!("creating {}", s3_root.display()))?;
        let fs = s3s_fs::FileSystem::new(s3_root).map_err(|e| {
            anyhow::anyhow!("opening the S3 directory {}: {e:?}", s3_root.display())
        })?;
        let service = {
            let mut b = s3s::service::S3ServiceBuilder::new(fs);
            b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = bind(s3_port, "S3", "--s3-port").await?;
        let s3_endpoint = format!("http://{}", listener.local_addr()?);
        tasks.push(tokio::spawn(crate::http::serve_http1(
            listener,
            stopped.clone(),
            move |_| service.clone(),
        )));

        let listener = bind(dynamodb_port, "DynamoDB", "--dynamodb-port").await?;
        let dynamodb_endpoint = format!("http://{}", listener.local_addr()?);
        // DynamoDB deletes expired items (TTL) in the background; so does this, every minute.
        let sweeper = db.clone();
        let mut sweep_stop = stopped.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(TTL_SWEEP_EVERY) => {}
                    _ = sweep_stop.changed() => return,
                }
                let db = sweeper.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || db.sweep_ttl()).await {
                    eprintln!("local DynamoDB: TTL sweep failed: {e}");
                }
            }
        }));
        let mut db_stop = stopped;
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = db_stop.changed().await;
            };
            if let Err(e) = dynoxide::server::serve_with_shutdown(listener, db, shutdown).await {
                eprintln!("local DynamoDB stopped: {e}");
            }
        }));

        Ok(Stores {
            s3_endpoint,
            dynamodb_endpoint,
            stop,
            tasks,
            _scratch: scratch,
        })
    }

    /// SDK clients for both emulators.
    pub async fn clients(&self) -> crate::aws::Clients {
        crate::aws::Clients::new(&self.s3_endpoint, &self.dynamodb_endpoint).await
    }

    /// Stops accepting connections, closes the open ones once their request is answered, and
    /// waits (briefly) for the servers to end: afterwards the endpoints refuse connections,
    /// as a store that went away does.
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), t).await;
        }
    }
}
