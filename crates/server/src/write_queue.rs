//! One thread that runs the SCIM writes of a store that batches writes
//! (SQLite): the writes queued while a batch runs join it and share its
//! COMMIT, and every caller is answered once that COMMIT is durable.
//!
//! Handing each write to a blocking thread of its own, which then queues for
//! the single writer connection and waits for someone's COMMIT, costs several
//! thread switches per write; this costs two per batch.
//!
//! A write that finds the store busy (another process holds SQLite's write
//! lock) is answered at once, and one that waited in the queue as long as
//! the store's lock timeout is refused as busy: one lock held for minutes
//! must not make every queued write wait for all the timeouts before it.

use directory::{Directory, DirectoryError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The most writes in one batch: bounds how long their answers wait.
const MAX_JOBS: usize = 64;

/// A write that waited this long in the queue is refused as busy instead of
/// run: the writer is stuck behind a lock (another process's long write),
/// and its caller should hear so as soon as a write of its own would have
/// (the store's lock timeout), not once every write queued before it has
/// timed out in turn.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// What a job hands back after running, if it still has to answer: called
/// with the batch's COMMIT outcome, it answers the job's caller.
type Answer = Box<dyn FnOnce(Option<&DirectoryError>) + Send>;

/// A job's turn: run on the directory, or refused with an error.
enum Turn<'a> {
    Run(&'a Directory),
    Refuse(DirectoryError),
}

struct Job {
    queued_at: Instant,
    take_turn: Box<dyn FnOnce(Turn<'_>) -> Option<Answer> + Send>,
}

/// The sending side; the thread ends when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct WriteQueue {
    jobs: mpsc::Sender<Job>,
}

impl WriteQueue {
    /// Starts the thread for `directory`.
    pub(crate) fn start(directory: Directory) -> std::io::Result<WriteQueue> {
        let (jobs, queued) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("roster-writes".into()).spawn(move || run(&directory, &queued))?;
        Ok(WriteQueue { jobs })
    }

    /// Runs `work` in the next batch and returns its value once the batch is
    /// committed. `None` when the work panicked or the queue has stopped.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Directory) -> Result<T, DirectoryError> + Send + 'static,
    ) -> Option<Result<T, DirectoryError>> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let take_turn = move |turn: Turn<'_>| -> Option<Answer> {
            let result = match turn {
                Turn::Run(dir) => work(dir),
                Turn::Refuse(e) => Err(e),
            };
            // A busy store wrote nothing, so no COMMIT can change this answer.
            if let Err(DirectoryError::Busy(_)) = result {
                let _ = answer.send(result);
                return None;
            }
            Some(Box::new(move |commit: Option<&DirectoryError>| {
                let result = match (result, commit) {
                    (Ok(_), Some(failed)) => Err(DirectoryError::Store(failed.to_string())),
                    (result, _) => result,
                };
                let _ = answer.send(result);
            }))
        };
        self.jobs.send(Job { queued_at: Instant::now(), take_turn: Box::new(take_turn) }).ok()?;
        answered.await.ok()
    }
}

fn run(directory: &Directory, queued: &mpsc::Receiver<Job>) {
    while let Ok(first) = queued.recv() {
        let mut first = Some(first);
        let mut answers: Vec<Answer> = Vec::new();
        let committed = directory.store.write_batch(&mut || {
            // Jobs that arrive while the batch runs join it.
            let (mut next, mut ran) = (first.take(), 0);
            while let Some(job) = next {
                let waited = job.queued_at.elapsed();
                let turn = if waited > MAX_QUEUE_WAIT {
                    Turn::Refuse(DirectoryError::Busy(format!("waited {waited:?} for the write queue")))
                } else {
                    Turn::Run(directory)
                };
                // A panicking job drops its answer: its caller gets an error.
                if let Ok(Some(answer)) = catch_unwind(AssertUnwindSafe(|| (job.take_turn)(turn))) {
                    answers.push(answer);
                }
                ran += 1;
                next = if ran < MAX_JOBS { queued.try_recv().ok() } else { None };
            }
        });
        if let Err(e) = &committed {
            tracing::error!(error = %e, jobs = answers.len(), "a write batch failed to commit");
        }
        for answer in answers {
            answer(committed.as_ref().err());
        }
    }
}
