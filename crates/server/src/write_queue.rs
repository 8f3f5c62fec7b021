//! One thread that runs the SCIM writes of a store that batches writes
//! (SQLite): the writes queued while a batch runs join it and share its
//! COMMIT, and every caller is answered once that COMMIT is durable.
//!
//! A second thread waits for the disk: it answers a committed batch once
//! [`Store::sync`](directory::Store::sync) says it is durable, while the
//! first thread already runs the next batch. One fsync then covers every
//! batch committed before it began.
//!
//! Handing each write to a blocking thread of its own, which then queues for
//! the single writer connection and waits for someone's COMMIT, costs several
//! thread switches per write; this costs a few per batch.
//!
//! A write that finds the store busy (another process holds SQLite's write
//! lock) is answered at once, and one that waited in the queue as long as
//! the store's lock timeout is refused as busy: one lock held for minutes
//! must not make every queued write wait for all the timeouts before it.

use directory::{Directory, DirectoryError, SyncPoint};
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
    /// Starts the threads for `directory`.
    pub(crate) fn start(directory: Directory) -> std::io::Result<WriteQueue> {
        let (jobs, queued) = mpsc::channel::<Job>();
        let (committed, to_sync) = mpsc::channel::<Committed>();
        let syncing = directory.clone();
        std::thread::Builder::new()
            .name("roster-sync".into())
            .spawn(move || answer_when_durable(&syncing, &to_sync))?;
        std::thread::Builder::new().name("roster-writes".into()).spawn(move || run(&directory, &queued, &committed))?;
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

/// A committed batch whose answers wait for the disk.
struct Committed {
    upto: SyncPoint,
    answers: Vec<Answer>,
}

fn run(directory: &Directory, queued: &mpsc::Receiver<Job>, to_sync: &mpsc::Sender<Committed>) {
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
        match committed {
            Ok(upto) => {
                if let Err(unsent) = to_sync.send(Committed { upto, answers }) {
                    // The sync thread is gone (it panicked): wait for the disk here.
                    answer_all(directory, unsent.0.upto, unsent.0.answers);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = answers.len(), "a write batch failed to commit");
                for answer in answers {
                    answer(Some(&e));
                }
            }
        }
    }
}

/// Answers committed batches, in order, once they are durable; the batches
/// that queued up during one fsync share the next.
fn answer_when_durable(directory: &Directory, committed: &mpsc::Receiver<Committed>) {
    while let Ok(first) = committed.recv() {
        let (mut upto, mut answers) = (first.upto, first.answers);
        while let Ok(more) = committed.try_recv() {
            upto = upto.max(more.upto);
            answers.extend(more.answers);
        }
        answer_all(directory, upto, answers);
    }
}

fn answer_all(directory: &Directory, upto: SyncPoint, answers: Vec<Answer>) {
    let synced = directory.store.sync(upto);
    if let Err(e) = &synced {
        tracing::error!(error = %e, jobs = answers.len(), "committed writes could not be made durable");
    }
    for answer in answers {
        answer(synced.as_ref().err());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use directory::{Store, Tx};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex};

    /// A store whose batches commit at once and whose disk answers only when
    /// the test says so (or fails, if told to).
    #[derive(Default)]
    struct GatedDisk {
        points: AtomicU64,
        disk: Mutex<Option<Result<(), String>>>,
        answered: Condvar,
    }

    impl GatedDisk {
        fn answer(&self, outcome: Result<(), String>) {
            *self.disk.lock().unwrap() = Some(outcome);
            self.answered.notify_all();
        }
    }

    impl Store for GatedDisk {
        fn write(&self, _: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError> {
            Err(DirectoryError::Store("this test store has no data".into()))
        }
        fn read(&self, _: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError> {
            Err(DirectoryError::Store("this test store has no data".into()))
        }
        fn batches_writes(&self) -> bool {
            true
        }
        fn write_batch(&self, jobs: &mut dyn FnMut()) -> Result<SyncPoint, DirectoryError> {
            jobs();
            Ok(SyncPoint(self.points.fetch_add(1, Ordering::SeqCst) + 1))
        }
        fn sync(&self, _: SyncPoint) -> Result<(), DirectoryError> {
            let mut disk = self.disk.lock().unwrap();
            loop {
                if let Some(outcome) = disk.as_ref() {
                    return outcome.clone().map_err(DirectoryError::Store);
                }
                disk = self.answered.wait(disk).unwrap();
            }
        }
    }

    fn queue() -> (Arc<GatedDisk>, WriteQueue) {
        let store = Arc::new(GatedDisk::default());
        let queue = WriteQueue::start(Directory::new(store.clone())).unwrap();
        (store, queue)
    }

    #[tokio::test]
    async fn a_write_is_answered_once_durable_while_the_next_batch_already_runs() {
        let (disk, queue) = queue();
        let first = tokio::spawn({
            let queue = queue.clone();
            async move { queue.run(|_| Ok(1)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!first.is_finished(), "answered before its batch was durable");

        // The writer is not held up by the disk: a second write runs now.
        let ran = Arc::new(AtomicBool::new(false));
        let second = tokio::spawn({
            let (queue, ran) = (queue.clone(), ran.clone());
            async move {
                queue
                    .run(move |_| {
                        ran.store(true, Ordering::SeqCst);
                        Ok(2)
                    })
                    .await
            }
        });
        for _ in 0..100 {
            if ran.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(ran.load(Ordering::SeqCst), "the next batch waited for the previous one's fsync");
        assert!(!second.is_finished() && !first.is_finished());

        disk.answer(Ok(()));
        assert_eq!(first.await.unwrap().unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap().unwrap(), 2);
    }

    #[tokio::test]
    async fn a_write_the_disk_could_not_keep_is_answered_with_an_error() {
        let (disk, queue) = queue();
        disk.answer(Err("fsync: I/O error".into()));
        let answer = queue.run(|_| Ok(1)).await.unwrap();
        match answer {
            Err(DirectoryError::Store(detail)) => assert!(detail.contains("I/O error"), "{detail}"),
            other => panic!("{other:?}"),
        }
        // A write that failed on its own keeps its own error.
        let refused = queue.run(|_| Err::<i32, _>(DirectoryError::Conflict("taken".into()))).await.unwrap();
        assert!(matches!(refused, Err(DirectoryError::Conflict(_))), "{refused:?}");
    }
}
