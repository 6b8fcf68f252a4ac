//! The node's own connection to the journal, on a thread of its own. The driver and the
//! sessions hand it work as closures and await the answer, so no async task ever waits on
//! SQLite, and no transaction stays open across a network wait: each closure runs to its
//! end before the next starts.

use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::store::Store;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A handle to the thread that owns the node's `Store`. Cloning it shares the thread; the
/// thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct StoreWorker {
    jobs: mpsc::Sender<Job>,
}

/// The worker's thread is gone (the node is stopping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the journal's worker has stopped")]
pub struct WorkerGone;

impl StoreWorker {
    /// Moves `store` onto a new thread.
    pub fn start(mut store: Store) -> std::io::Result<StoreWorker> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("steady-store".into()).spawn(move || {
            for job in queue {
                job(&mut store);
            }
        })?;
        Ok(StoreWorker { jobs })
    }

    /// Runs `work` on the store after what is queued, without waiting for it.
    pub fn submit(&self, work: impl FnOnce(&mut Store) + Send + 'static) -> Result<(), WorkerGone> {
        self.jobs.send(Box::new(work)).map_err(|_| WorkerGone)
    }

    /// Runs `work` on the store, and gives back what it returns.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<R, WorkerGone> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = tx.send(work(store));
        });
        self.jobs.send(job).map_err(|_| WorkerGone)?;
        rx.await.map_err(|_| WorkerGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_on_the_workers_thread_one_job_at_a_time() {
        let worker = StoreWorker::start(Store::open_in_memory().unwrap()).unwrap();
        let here = std::thread::current().id();
        let there = worker.run(|_| std::thread::current().id()).await.unwrap();
        assert_ne!(here, there, "the store is used on its own thread");
        let named = worker.run(|s| s.init("Alex").map(|p| p.name)).await.unwrap().unwrap();
        assert_eq!(named, "Alex");
        let (a, b) =
            tokio::join!(worker.run(|s| s.me().map(|p| p.name.clone())), worker.run(|s| s.data_version().ok()));
        assert_eq!(a.unwrap().as_deref(), Some("Alex"));
        assert!(b.unwrap().is_some());
    }
}
