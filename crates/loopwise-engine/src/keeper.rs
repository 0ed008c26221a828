//! Writing derived facts back to the store ([`crate::persist`]), at once or from a thread of its
//! own. Keeping is never what a report waits for: a blob that cannot be written costs the next
//! start a derivation, nothing else.

use crate::persist;
use crate::{Analysed, ChainShipped};
use loopwise_store::{Derived, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// Facts to keep, encoded only when they are written.
#[derive(Debug)]
pub(crate) enum Kept {
    Chain {
        service: String,
        environment: String,
        key: String,
        analysed: Arc<Analysed>,
    },
    Environments {
        service: String,
        key: String,
        environments: Arc<BTreeSet<String>>,
    },
    Shipped {
        service: String,
        environment: String,
        key: String,
        shipped: Arc<ChainShipped>,
    },
}

impl Kept {
    /// (kind, scope, name): where it is kept, and what a later blob for the same place replaces.
    fn place(&self) -> (&'static str, &str, &str) {
        match self {
            Kept::Chain {
                service,
                environment,
                ..
            } => (persist::CHAIN, service, environment),
            Kept::Environments { service, .. } => (persist::ENVIRONMENTS, service, ""),
            Kept::Shipped {
                service,
                environment,
                ..
            } => (persist::SHIPPED, service, environment),
        }
    }

    /// Encodes and writes it; a failure is logged, never returned.
    pub(crate) fn write(&self, store: &dyn Store) {
        let (kind, scope, name) = self.place();
        let (key, data) = match self {
            Kept::Chain { key, analysed, .. } => (
                key,
                persist::encode_chain(&analysed.analysis, &analysed.provenance),
            ),
            Kept::Environments {
                key, environments, ..
            } => (key, persist::encode_environments(environments)),
            Kept::Shipped { key, shipped, .. } => (key, persist::encode_shipped(shipped)),
        };
        let result = data.map_err(|error| error.to_string()).and_then(|data| {
            let derived = Derived {
                key: key.clone(),
                data,
            };
            store
                .put_derived(kind, scope, name, &derived)
                .map_err(|error| error.to_string())
        });
        if let Err(error) = result {
            tracing::warn!(kind, scope, name, %error, "cannot keep derived facts in the store");
        }
    }
}

enum Job {
    Keep(Kept),
    /// Answered once every job sent before it is done.
    Flush(Sender<()>),
}

/// A thread that writes what it is handed, in order, only the latest blob for each place.
#[derive(Debug)]
pub(crate) struct Keeper {
    jobs: Mutex<Sender<Job>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Keep(kept) => formatter.debug_tuple("Keep").field(&kept.place()).finish(),
            Job::Flush(_) => formatter.write_str("Flush"),
        }
    }
}

impl Keeper {
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (jobs, receiver) = channel();
        // Ends when the engine (the only sender) is dropped, after what was sent.
        let spawned = std::thread::Builder::new()
            .name("loopwise-keeper".into())
            .spawn(move || run(store.as_ref(), &receiver));
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the keeper thread; derived facts are not kept");
        }
        Self {
            jobs: Mutex::new(jobs),
        }
    }

    fn send(&self, job: Job) -> bool {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .send(job)
            .is_ok()
    }

    pub(crate) fn keep(&self, kept: Kept) {
        if !self.send(Job::Keep(kept)) {
            tracing::warn!("the keeper thread is gone; derived facts are not kept");
        }
    }

    /// Waits until everything handed over before is written (or the thread is gone).
    pub(crate) fn flush(&self) {
        let (done, wait) = channel();
        if self.send(Job::Flush(done)) {
            // An error means the thread is gone: nothing more will be written either way.
            let _ = wait.recv();
        }
    }
}

fn run(store: &dyn Store, receiver: &Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        // What arrived meanwhile is written together, only the latest for each place.
        let mut latest: BTreeMap<(&'static str, String, String), Kept> = BTreeMap::new();
        let mut flushes = Vec::new();
        for job in std::iter::once(first).chain(receiver.try_iter()) {
            match job {
                Job::Keep(kept) => {
                    let (kind, scope, name) = kept.place();
                    latest.insert((kind, scope.to_string(), name.to_string()), kept);
                }
                Job::Flush(done) => flushes.push(done),
            }
        }
        for kept in latest.values() {
            kept.write(store);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_blob_of_a_place_is_written_and_a_flush_waits_for_it() {
        let store: Arc<dyn Store> =
            Arc::new(loopwise_store_sqlite::SqliteStore::open_in_memory().unwrap());
        let keeper = Keeper::start(Arc::clone(&store));
        for version in 1..=50 {
            keeper.keep(Kept::Environments {
                service: "api".into(),
                key: format!("v{version}"),
                environments: Arc::new(BTreeSet::from([format!("env-{version}")])),
            });
        }
        keeper.keep(Kept::Environments {
            service: "web".into(),
            key: "w".into(),
            environments: Arc::new(BTreeSet::new()),
        });
        keeper.flush();
        let api = store
            .derived(persist::ENVIRONMENTS, "api", "")
            .unwrap()
            .unwrap();
        assert_eq!(api.key, "v50");
        assert_eq!(
            persist::decode_environments(&api.data),
            Some(BTreeSet::from(["env-50".to_string()]))
        );
        assert_eq!(
            store
                .derived(persist::ENVIRONMENTS, "web", "")
                .unwrap()
                .map(|kept| kept.key),
            Some("w".to_string())
        );
    }
}
