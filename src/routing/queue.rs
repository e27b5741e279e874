//! Waiting callers and their order.
//!
//! The order is one `BTreeMap` keyed by [`OrderKey`] (all waiting entries,
//! for positions), plus one per tier holding only the entries that tier may
//! take and that are not being offered right now (the *idle* sets). An
//! agent who becomes free looks at the head of the sets of their tiers, so
//! no event scans the whole queue; only a position (an announcement) walks
//! the entries ahead of the caller.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::agents::{AgentId, Tier};
use crate::tickets::TicketNumber;

/// A queued call, named by the shell (one per call, or per callback
/// request); the core never makes one up, so the shell can map it to its
/// call before the first output arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueEntryId(pub u64);

impl fmt::Display for QueueEntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "q{}", self.0)
    }
}

/// A set of tiers, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TierMask(u8);

impl TierMask {
    pub fn of(tiers: &[Tier]) -> Self {
        Self(tiers.iter().fold(0, |m, t| m | Self::bit(*t)))
    }

    fn bit(t: Tier) -> u8 {
        1 << Self::index(t)
    }

    /// 0, 1, 2 for L1, L2, L3: the index of per-tier arrays.
    pub fn index(t: Tier) -> usize {
        match t {
            Tier::L1 => 0,
            Tier::L2 => 1,
            Tier::L3 => 2,
        }
    }

    pub fn intersects(self, other: TierMask) -> bool {
        self.0 & other.0 != 0
    }

    pub fn bits(self) -> usize {
        self.0 as usize
    }

    pub fn from_bits(bits: usize) -> Self {
        Self((bits & 0b111) as u8)
    }
}

/// What the shell knows of a call when it queues it (the ticket's fields).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub id: QueueEntryId,
    pub ticket: TicketNumber,
    /// The ticket's severity name, a row of the SLA table.
    pub severity: String,
    /// The ticket's assigned tier (the SLA table's tier for the severity).
    pub tier: Tier,
    /// When the INVITE arrived: the SLA start.
    pub sla_start: DateTime<Utc>,
    /// The ticket's `response_due_at`.
    pub response_due: DateTime<Utc>,
    /// The wall clock read together with the `now` passed to `handle`, to
    /// turn `response_due` into an `Instant` once (see [`Entry::due`]).
    pub wall_now: DateTime<Utc>,
    /// The caller's prompt language, echoed for announcements.
    pub language: String,
    /// Already asked to be called back (e.g. a request re-queued after a
    /// restart): no announcements, no callback offer.
    pub callback_requested: bool,
}

/// Sorts entries: lane (escalated first), then the configured order.
/// `seq` is unique, so keys never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    pub lane: u8,
    pub primary: Primary,
    pub rank: usize,
    pub seq: u64,
}

/// The first criterion after the lane: all entries of one router use the
/// same variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Primary {
    /// `order = "sla"`: the response deadline.
    Due(Instant),
    /// `order = "fifo_per_severity"`: the severity rank.
    Rank(usize),
}

/// The offer in progress for an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferState {
    pub agents: Vec<AgentId>,
    pub tier: Tier,
}

/// A waiting entry as the core keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub new: NewEntry,
    pub rank: usize,
    /// Allowed tiers in the order they are tried: the ticket's tier, then
    /// overflow tiers as they come due.
    pub tiers: Vec<Tier>,
    pub mask: TierMask,
    /// Every tier this entry can ever get (overflow included): "no agent
    /// of any allowed tier logged in" looks at these.
    pub reach: TierMask,
    /// The response deadline on the monotonic clock, converted once at
    /// enqueue as `now + (response_due - wall_now)`. Timers and the order
    /// use it, so a wall-clock step (NTP) cannot reorder the queue or fire
    /// a breach early; `new.response_due` stays what outputs report.
    pub due: Instant,
    pub enqueued: Instant,
    pub escalated: bool,
    pub key: OrderKey,
    /// Next overflow stage (index in the severity's rules).
    pub stage: usize,
    pub offer: Option<OfferState>,
    /// Agents that missed, refused or could not be reached for this entry,
    /// passed over until its next tick (see `Router::tick`).
    pub skip: Vec<AgentId>,
    pub callback_offered: bool,
    pub at_risk: bool,
    pub breached: bool,
}

impl Entry {
    pub fn waited(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.enqueued)
    }
}

/// All waiting entries.
#[derive(Debug, Default)]
pub struct Queue {
    pub entries: HashMap<QueueEntryId, Entry>,
    /// Every waiting entry (offered or not) with its tiers, for positions.
    order: BTreeMap<OrderKey, (QueueEntryId, TierMask)>,
    /// Per tier: entries that tier may take, not in an offer.
    idle: [BTreeMap<OrderKey, QueueEntryId>; 3],
}

impl Queue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn insert(&mut self, e: Entry) {
        self.order.insert(e.key, (e.new.id, e.mask));
        let id = e.new.id;
        let idle = e.offer.is_none();
        let (key, tiers) = (e.key, e.tiers.clone());
        self.entries.insert(id, e);
        if idle {
            for t in tiers {
                self.idle[TierMask::index(t)].insert(key, id);
            }
        }
    }

    pub fn remove(&mut self, id: QueueEntryId) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        self.order.remove(&e.key);
        self.unidle(&e);
        Some(e)
    }

    fn unidle(&mut self, e: &Entry) {
        for t in &e.tiers {
            self.idle[TierMask::index(*t)].remove(&e.key);
        }
    }

    /// Mark the entry offered (out of the idle sets) or idle again.
    pub fn set_offer(&mut self, id: QueueEntryId, offer: Option<OfferState>) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        let was_idle = e.offer.is_none();
        e.offer = offer;
        let now_idle = e.offer.is_none();
        let (key, tiers) = (e.key, e.tiers.clone());
        for t in tiers {
            let set = &mut self.idle[TierMask::index(t)];
            match (was_idle, now_idle) {
                (true, false) => {
                    set.remove(&key);
                }
                (false, true) => {
                    set.insert(key, id);
                }
                _ => {}
            }
        }
    }

    /// Allow more tiers (an overflow stage); returns those newly added.
    pub fn add_tiers(&mut self, id: QueueEntryId, more: &[Tier]) -> Vec<Tier> {
        let Some(e) = self.entries.get_mut(&id) else {
            return Vec::new();
        };
        let added: Vec<Tier> =
            more.iter()
                .copied()
                .filter(|t| !e.tiers.contains(t))
                .fold(Vec::new(), |mut v, t| {
                    if !v.contains(&t) {
                        v.push(t);
                    }
                    v
                });
        e.tiers.extend(&added);
        e.mask = TierMask::of(&e.tiers);
        if let Some(slot) = self.order.get_mut(&e.key) {
            slot.1 = e.mask;
        }
        if e.offer.is_none() {
            for t in &added {
                self.idle[TierMask::index(*t)].insert(e.key, id);
            }
        }
        added
    }

    /// Idle entries tier `t` may take, best first.
    pub fn idle_of(&self, t: Tier) -> impl Iterator<Item = (&OrderKey, &QueueEntryId)> {
        self.idle[TierMask::index(t)].iter()
    }

    /// 1 + the waiting entries ahead of `id` that compete for the same
    /// agents (their allowed tiers meet this entry's), offered or not,
    /// callback requests included: they keep their place. O(position).
    pub fn position(&self, id: QueueEntryId) -> Option<usize> {
        let e = self.entries.get(&id)?;
        let ahead = self
            .order
            .range(..e.key)
            .filter(|(_, (_, mask))| mask.intersects(e.mask))
            .count();
        Some(ahead + 1)
    }

    /// Entry ids in queue order (tests, admin views).
    pub fn ids_in_order(&self) -> impl Iterator<Item = QueueEntryId> + '_ {
        self.order.values().map(|(id, _)| *id)
    }

    #[cfg(test)]
    pub fn check(&self) {
        assert_eq!(self.order.len(), self.entries.len());
        for (id, e) in &self.entries {
            assert_eq!(self.order.get(&e.key), Some(&(*id, e.mask)));
            for t in Tier::ALL {
                let listed = self.idle[TierMask::index(t)].get(&e.key) == Some(id);
                assert_eq!(
                    listed,
                    e.offer.is_none() && e.tiers.contains(&t),
                    "{id} {t}"
                );
            }
        }
        let idle: usize = self.idle.iter().map(|s| s.len()).sum();
        let expected: usize = self
            .entries
            .values()
            .filter(|e| e.offer.is_none())
            .map(|e| e.tiers.len())
            .sum();
        assert_eq!(idle, expected);
    }
}
