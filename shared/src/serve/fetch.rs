//! How a serving init fetches its bundle: the compiled file read together with the manifest
//! ([`ReadAhead`]) and the time the load waited for its reads ([`TimedSource`], init's
//! `fetch_ms`).

use crate::bundle::{BundleSource, SourceError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A source that fetches a second file together with a first one: a serving init reads
/// `manifest.json` and then the compiled file it lists, two round trips one after the other;
/// reading the compiled file by its usual name at the same time as the manifest makes them
/// one. Nothing is trusted because it came early: the caller verifies the bytes against the
/// manifest as before. The early bytes are handed out once; a failed early read is forgotten
/// (the later read asks the inner source and reports its own error).
pub struct ReadAhead<'a, S> {
    inner: &'a S,
    first: &'a str,
    with: &'a str,
    started: AtomicBool,
    held: Mutex<Option<Vec<u8>>>,
}

impl<'a, S: BundleSource> ReadAhead<'a, S> {
    /// Reading `first` from `inner` also reads `with`.
    pub fn new(inner: &'a S, first: &'a str, with: &'a str) -> Self {
        ReadAhead {
            inner,
            first,
            with,
            started: AtomicBool::new(false),
            held: Mutex::new(None),
        }
    }
}

impl<S> ReadAhead<'_, S> {
    /// The early bytes of `path`, once.
    fn take_held(&self, path: &str) -> Option<Vec<u8>> {
        if path != self.with {
            return None;
        }
        self.held.lock().expect("held lock").take()
    }
}

impl<S: BundleSource> BundleSource for ReadAhead<'_, S> {
    async fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        if path == self.first && !self.started.swap(true, Ordering::Relaxed) {
            let (first, with) = futures::join!(
                self.inner.read(self.first),
                self.inner.read_large(self.with, None)
            );
            *self.held.lock().expect("held lock") = with.ok();
            return first;
        }
        match self.take_held(path) {
            Some(bytes) => Ok(bytes),
            None => self.inner.read(path).await,
        }
    }

    async fn read_large(&self, path: &str, bytes: Option<u64>) -> Result<Vec<u8>, SourceError> {
        match self.take_held(path) {
            Some(held) => Ok(held),
            None => self.inner.read_large(path, bytes).await,
        }
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}

/// A bundle source that measures how long the load waited for it: the time at least one read
/// was in flight (concurrent reads count once), for init's breakdown (`fetch_ms` is part of
/// `load_ms`; the rest of it is verifying and building the models).
pub struct TimedSource<'a, S> {
    inner: &'a S,
    busy: Mutex<Busy>,
}

#[derive(Default)]
struct Busy {
    in_flight: usize,
    since: Option<Instant>,
    waited: Duration,
}

impl<'a, S: BundleSource> TimedSource<'a, S> {
    pub fn new(inner: &'a S) -> Self {
        TimedSource {
            inner,
            busy: Mutex::new(Busy::default()),
        }
    }

    pub fn waited(&self) -> Duration {
        self.busy.lock().expect("busy lock").waited
    }
}

/// One read in flight; counted out when dropped, so a cancelled read stops the clock too.
struct InFlight<'a>(&'a Mutex<Busy>);

impl<'a> InFlight<'a> {
    fn enter(busy: &'a Mutex<Busy>) -> Self {
        let mut b = busy.lock().expect("busy lock");
        if b.in_flight == 0 {
            b.since = Some(Instant::now());
        }
        b.in_flight += 1;
        InFlight(busy)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut b = self.0.lock().expect("busy lock");
        b.in_flight -= 1;
        if b.in_flight == 0 {
            if let Some(since) = b.since.take() {
                b.waited += since.elapsed();
            }
        }
    }
}

impl<S: BundleSource> BundleSource for TimedSource<'_, S> {
    async fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let _in_flight = InFlight::enter(&self.busy);
        self.inner.read(path).await
    }

    async fn read_large(&self, path: &str, bytes: Option<u64>) -> Result<Vec<u8>, SourceError> {
        let _in_flight = InFlight::enter(&self.busy);
        self.inner.read_large(path, bytes).await
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::DirSource;

    /// A directory source that records every path it was asked for.
    struct Counting {
        dir: DirSource,
        asked: Mutex<Vec<String>>,
    }

    impl BundleSource for Counting {
        async fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
            self.asked.lock().unwrap().push(path.to_string());
            self.dir.read(path).await
        }

        fn location(&self) -> String {
            self.dir.location()
        }
    }

    fn counting(files: &[(&str, &str)]) -> (tempfile::TempDir, Counting) {
        let tmp = tempfile::tempdir().unwrap();
        for (path, text) in files {
            std::fs::write(tmp.path().join(path), text).unwrap();
        }
        let dir = DirSource::new(tmp.path());
        let source = Counting {
            dir,
            asked: Mutex::new(Vec::new()),
        };
        (tmp, source)
    }

    #[tokio::test]
    async fn the_second_file_comes_with_the_first_and_only_once() {
        let (_tmp, inner) = counting(&[("manifest.json", "m"), ("models.wsc", "w")]);
        let source = ReadAhead::new(&inner, "manifest.json", "models.wsc");
        assert_eq!(source.read("manifest.json").await.unwrap(), b"m");
        assert_eq!(
            *inner.asked.lock().unwrap(),
            ["manifest.json", "models.wsc"]
        );
        assert_eq!(source.read("models.wsc").await.unwrap(), b"w");
        assert_eq!(inner.asked.lock().unwrap().len(), 2, "served from memory");
        // Handed out once: a second read (and any other file) goes to the source.
        assert_eq!(source.read("models.wsc").await.unwrap(), b"w");
        assert_eq!(source.read("manifest.json").await.unwrap(), b"m");
        assert_eq!(inner.asked.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn a_missing_second_file_is_read_again_and_reported_by_that_read() {
        let (tmp, inner) = counting(&[("manifest.json", "m")]);
        let source = ReadAhead::new(&inner, "manifest.json", "models.wsc");
        assert_eq!(source.read("manifest.json").await.unwrap(), b"m");
        std::fs::write(tmp.path().join("models.wsc"), "late").unwrap();
        assert_eq!(source.read("models.wsc").await.unwrap(), b"late");
        std::fs::remove_file(tmp.path().join("models.wsc")).unwrap();
        assert!(matches!(
            source.read("models.wsc").await,
            Err(SourceError::NotFound(p)) if p == "models.wsc"
        ));
    }

    /// Every read waits until `release` fires, so reads started together overlap fully.
    struct Gated {
        release: tokio::sync::watch::Receiver<bool>,
    }

    impl BundleSource for Gated {
        async fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
            let mut release = self.release.clone();
            release.wait_for(|open| *open).await.expect("gate");
            Ok(path.as_bytes().to_vec())
        }

        fn location(&self) -> String {
            "gated".into()
        }
    }

    #[tokio::test]
    async fn concurrent_reads_count_once_in_the_fetch_time() {
        let (open, release) = tokio::sync::watch::channel(false);
        let gated = Gated { release };
        let timed = TimedSource::new(&gated);
        let started = Instant::now();
        let opener = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            // Nothing is counted while reads are still in flight.
            assert_eq!(timed.waited(), Duration::ZERO);
            open.send(true).expect("open");
        };
        let (a, b, ()) = tokio::join!(timed.read("a"), timed.read("b"), opener);
        let span = started.elapsed();
        assert_eq!((a.unwrap(), b.unwrap()), (b"a".to_vec(), b"b".to_vec()));
        // Each read lasted at least 20 ms; their sum would exceed the span they shared.
        let waited = timed.waited();
        assert!(waited >= Duration::from_millis(20), "{waited:?}");
        assert!(waited <= span, "{waited:?} > {span:?}");
    }
}
