//! Heavy UI computations (the 55-window grid, correlation tables, LIBRA,
//! ablations) run on a worker thread through `crate::jobs`, so the UI never
//! freezes; tests run them inline for determinism.

use crate::jobs::{CancelToken, JobHandle};

/// Where background computations run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    /// A worker thread per computation (the app).
    Threads,
    /// On the calling thread, finished before `start` returns (tests).
    Inline,
}

enum Slot<T> {
    Idle,
    Running(JobHandle<T>),
    Ready(T),
    /// The worker ended without an answer (it panicked).
    Lost,
}

/// One cached computation keyed by its inputs: starting it again with the
/// same key is a no-op, a new key replaces (and cancels) the old one.
pub struct Background<K, T> {
    key: Option<K>,
    slot: Slot<T>,
}

impl<K: PartialEq, T: Send + 'static> Default for Background<K, T> {
    fn default() -> Self {
        Background {
            key: None,
            slot: Slot::Idle,
        }
    }
}

impl<K: PartialEq, T: Send + 'static> Background<K, T> {
    /// Whether `key` differs from what is computed or being computed.
    pub fn needs(&self, key: &K) -> bool {
        self.key.as_ref() != Some(key)
    }

    /// Starts computing for `key`.
    pub fn start(&mut self, exec: Exec, key: K, work: impl FnOnce(&CancelToken) -> T + Send + 'static) {
        self.cancel();
        self.key = Some(key);
        self.slot = match exec {
            Exec::Inline => Slot::Ready(work(&CancelToken::default())),
            Exec::Threads => Slot::Running(JobHandle::spawn("lswag-ui", move |send, cancel| send(work(&cancel)))),
        };
    }

    /// Picks up a finished result.
    pub fn poll(&mut self) {
        if let Slot::Running(h) = &self.slot {
            if let Ok(value) = h.events.try_recv() {
                self.slot = Slot::Ready(value);
            } else if h.is_finished() {
                // Finished: the value may have landed between the two checks.
                self.slot = match h.events.try_recv() {
                    Ok(value) => Slot::Ready(value),
                    Err(_) => Slot::Lost,
                };
            }
        }
    }

    pub fn get(&self) -> Option<&T> {
        match &self.slot {
            Slot::Ready(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.slot, Slot::Running(_))
    }

    /// The worker died without an answer.
    pub fn is_lost(&self) -> bool {
        matches!(self.slot, Slot::Lost)
    }

    pub fn key(&self) -> Option<&K> {
        self.key.as_ref()
    }

    /// Cancels a running computation and forgets the key.
    pub fn clear(&mut self) {
        self.cancel();
        self.key = None;
        self.slot = Slot::Idle;
    }

    fn cancel(&mut self) {
        if let Slot::Running(h) = &self.slot {
            h.cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_computed_once_and_replaced_by_a_new_one() {
        let mut b: Background<u32, u32> = Background::default();
        assert!(b.needs(&1));
        b.start(Exec::Inline, 1, |_| 10);
        assert!(!b.needs(&1));
        assert_eq!(b.get(), Some(&10));
        b.start(Exec::Threads, 2, |_| 20);
        for _ in 0..500 {
            b.poll();
            if b.get().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(b.get(), Some(&20));
        assert_eq!(b.key(), Some(&2));
    }
}
