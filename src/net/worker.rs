//! The node's own connection to the journal, on a thread of its own. The driver and the
//! sessions hand it work as closures and await the answer, so no async task ever waits on
//! SQLite, and no transaction stays open across a network wait: each closure runs to its
//! end before the next starts.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
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

/// Why a job on the worker gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// The worker's thread is gone (the node is stopping).
    #[error("the journal's worker has stopped")]
    Gone,
    /// The job hit a fault part way (a bug, or input that found one). Nothing of it was
    /// kept: its transaction rolled back and the journal was read again from the file.
    /// The worker goes on with the next job.
    #[error("Steady hit a fault while working on the journal ({0}); nothing of that step was kept")]
    Fault(String),
}

impl StoreWorker {
    /// Moves `store` onto a new thread. A job that panics ends with
    /// [`WorkerError::Fault`]; the thread reads the journal again from the file, so that
    /// memory holds nothing the file does not, and takes the next job.
    pub fn start(mut store: Store) -> std::io::Result<StoreWorker> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("steady-store".into()).spawn(move || {
            for job in queue {
                if catch_unwind(AssertUnwindSafe(|| job(&mut store))).is_err()
                    && let Err(e) = store.recover()
                {
                    tracing::error!("after a fault, the journal could not be read again: {e}");
                }
            }
        })?;
        Ok(StoreWorker { jobs })
    }

    /// Runs `work` on the store after what is queued, without waiting for it.
    pub fn submit(&self, work: impl FnOnce(&mut Store) + Send + 'static) -> Result<(), WorkerError> {
        self.jobs.send(Box::new(work)).map_err(|_| WorkerError::Gone)
    }

    /// Runs `work` on the store, and gives back what it returns.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<R, WorkerError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |store| match catch_unwind(AssertUnwindSafe(|| work(store))) {
            Ok(out) => drop(tx.send(Ok(out))),
            Err(fault) => {
                let _ = tx.send(Err(WorkerError::Fault(fault_words(fault.as_ref()))));
                // The thread's own boundary reads the journal again.
                resume_unwind(fault)
            }
        });
        self.jobs.send(job).map_err(|_| WorkerError::Gone)?;
        rx.await.unwrap_or(Err(WorkerError::Gone))
    }
}

/// What a panic said, if it said it in words.
fn fault_words(fault: &(dyn std::any::Any + Send)) -> String {
    fault
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| fault.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no reason given".into())
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

    /// A fault in one job (here a panic, as a bug in a dependency would raise on hostile
    /// input) ends that job with an error; the worker, and the journal, go on.
    #[tokio::test(flavor = "current_thread")]
    async fn a_fault_in_one_job_ends_that_job_with_an_error_and_the_worker_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_dir_without_passcode(dir.path()).unwrap();
        store.init("Alex").unwrap();
        let worker = StoreWorker::start(store).unwrap();
        let before = worker.run(|s| s.add(crate::model::Draft::CheckIn { text: "Before-8e1a".into() })).await;
        assert!(before.unwrap().is_ok());
        let fault = worker.run(|_| -> () { panic!("divide by zero") }).await;
        assert_eq!(fault, Err(WorkerError::Fault("divide by zero".into())));
        assert!(fault.unwrap_err().to_string().contains("nothing of that step was kept"));
        let _ = worker.submit(|_| panic!("a fault with no one waiting"));
        let after = worker.run(|s| s.entries().map(|e| e.len()).ok()).await;
        assert_eq!(after, Ok(Some(1)), "the worker still answers, with the journal as it was");
    }
}
