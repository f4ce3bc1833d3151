//! The local AWS data plane, embedded in the `warmstart` process: DynamoDB (dynoxide, one
//! SQLite file) and S3 (s3s-fs, one directory), each on its own 127.0.0.1 port, data under the
//! data directory so it survives restarts. Both accept the credentials `test` / `test`.
//! Expired items of TTL-enabled tables are deleted every minute, as DynamoDB does (later).

use anyhow::{Context, Result};
use std::path::Path;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use warmstart_core::local::aws::{ACCESS_KEY, SECRET_KEY};

/// How often expired items (TTL) are deleted from the local DynamoDB.
const TTL_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The running emulators; [`Stores::stop`] ends them.
pub struct Stores {
    pub s3_endpoint: String,
    pub dynamodb_endpoint: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
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

/// Starts both emulators; ports of 0 pick free ones.
pub async fn start(data_dir: &Path, s3_port: u16, dynamodb_port: u16) -> Result<Stores> {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    // S3: a directory per bucket under <data>/s3.
    let root = data_dir.join("s3");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let fs = s3s_fs::FileSystem::new(&root)
        .map_err(|e| anyhow::anyhow!("opening the S3 directory {}: {e:?}", root.display()))?;
    let service = {
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        b.build()
    };
    let listener = bind(s3_port, "S3", "--s3-port").await?;
    let s3_endpoint = format!("http://{}", listener.local_addr()?);
    tasks.push(tokio::spawn(super::router::serve_http1(
        listener,
        stopped.clone(),
        move |_| service.clone(),
    )));

    // DynamoDB: one SQLite file.
    let db_path = data_dir.join("dynamodb.sqlite");
    let db = dynoxide::Database::new(&db_path.to_string_lossy())
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", db_path.display()))?;
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
    let mut db_stop = stopped.clone();
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
    })
}

impl Stores {
    /// Stops accepting connections and waits (briefly) for the servers to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), t).await;
        }
    }
}
