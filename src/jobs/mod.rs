//! Background work shared by the GUI and the CLI. A job runs on a worker
//! thread, sends events over a channel, honours a cancel token and writes
//! its results as it goes, so a crash or a cancel loses at most the item in
//! flight.

pub mod bench;
pub mod build_bench;
pub mod jsonl;
pub mod output;
pub mod score;
pub mod search;

use std::sync::mpsc::{Receiver, channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// The shared cancel flag lives with the searches, the lowest layer that
/// honours it; jobs hand it on.
pub use crate::search::CancelToken;

/// Progress of a job, with an ETA from the mean time per item so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub elapsed: Duration,
}

impl Progress {
    pub fn eta(&self) -> Option<Duration> {
        (self.done > 0 && self.done <= self.total)
            .then(|| self.elapsed.mul_f64((self.total - self.done) as f64 / self.done as f64))
    }

    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            1.0
        } else {
            self.done as f32 / self.total as f32
        }
    }
}

/// A job running on a worker thread.
pub struct JobHandle<E> {
    pub events: Receiver<E>,
    pub cancel: CancelToken,
    thread: Option<JoinHandle<()>>,
}

impl<E: Send + 'static> JobHandle<E> {
    /// Runs `work` on a new thread; it reports through the sender it gets.
    pub fn spawn(name: &str, work: impl FnOnce(&dyn Fn(E), CancelToken) + Send + 'static) -> JobHandle<E> {
        let (tx, rx) = channel();
        let cancel = CancelToken::default();
        let token = cancel.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let send = move |e: E| {
                    // The receiver may be gone (window closed): results are on disk.
                    let _ = tx.send(e);
                };
                work(&send, token);
            })
            .ok();
        JobHandle {
            events: rx,
            cancel,
            thread,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the worker to end.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Formats a duration as `1h02m`, `3m05s` or `12.3s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 3600.0 {
        format!("{}h{:02}m", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    } else if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_extrapolates_the_mean_time_per_item() {
        let p = Progress {
            done: 10,
            total: 40,
            elapsed: Duration::from_secs(20),
        };
        assert_eq!(p.eta(), Some(Duration::from_secs(60)));
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h02m");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
    }
}
