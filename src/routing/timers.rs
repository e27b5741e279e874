//! The core's timers: one ordered set, so the next deadline is its first
//! element, and a map to cancel or move a timer by name.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::agents::AgentId;

use super::queue::QueueEntryId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// The offer of the entry rang out.
    Ring(QueueEntryId),
    /// Announcement and SLA-risk check, every `announce_every`.
    Tick(QueueEntryId),
    /// The next overflow stage of the entry.
    Overflow(QueueEntryId),
    MaxWait(QueueEntryId),
    /// `sla_risk_margin` before the deadline.
    Risk(QueueEntryId),
    Breach(QueueEntryId),
    WrapUp(AgentId),
}

impl Timer {
    /// Every timer an entry can have, to cancel them when it leaves.
    pub fn of_entry(id: QueueEntryId) -> [Timer; 6] {
        [
            Timer::Ring(id),
            Timer::Tick(id),
            Timer::Overflow(id),
            Timer::MaxWait(id),
            Timer::Risk(id),
            Timer::Breach(id),
        ]
    }
}

#[derive(Debug, Default)]
pub struct Timers {
    by_time: BTreeSet<(Instant, Timer)>,
    by_name: HashMap<Timer, Instant>,
}

impl Timers {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.cancel(timer);
        self.by_time.insert((at, timer));
        self.by_name.insert(timer, at);
    }

    pub fn cancel(&mut self, timer: Timer) {
        if let Some(at) = self.by_name.remove(&timer) {
            self.by_time.remove(&(at, timer));
        }
    }

    pub fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// The earliest timer due at `now`, removed.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        let (at, timer) = *self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.pop_first();
        self.by_name.remove(&timer);
        Some((at, timer))
    }

    #[cfg(test)]
    pub fn is_set(&self, timer: Timer) -> bool {
        self.by_name.contains_key(&timer)
    }

    pub fn len(&self) -> usize {
        self.by_time.len()
    }
}
