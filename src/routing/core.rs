//! The [`Router`]: the queue, the agents and the strategy as one sans-io
//! state machine. The shell feeds it [`Input`]s with the time, performs
//! its [`Output`]s and calls [`Router::handle_timeout`] at
//! [`Router::poll_timeout`]; nothing here reads a clock or touches a
//! socket, so tests drive whole days with `Instant`s.
//!
//! After every input and every timer the core *dispatches*: while some
//! tier has both a free agent and an idle entry it may take, the best such
//! entry (the smallest order key among the heads of those tiers' idle
//! sets) is offered to the strategy's choice. Each round costs a few
//! ordered-set lookups, not a scan of the queue or of the roster.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::agents::{AgentId, AgentState, Tier};
use crate::config::{QueueOrder, RecordingMode, WhenNoAgents};

use super::agent::{Agent, AgentView, Agents};
use super::io::{Input, LeaveReason, Output, StateReason};
use super::queue::{Entry, NewEntry, OfferState, OrderKey, Primary, Queue, QueueEntryId, TierMask};
use super::settings::Settings;
use super::strategy;
use super::timers::{Timer, Timers};

/// Weight of the newest call in the moving average of handle time: about
/// the last ten calls shape the estimate.
const HANDLE_TIME_WEIGHT: f64 = 0.2;

#[derive(Debug)]
pub struct Router {
    s: Settings,
    queue: Queue,
    agents: Agents,
    timers: Timers,
    out: VecDeque<Output>,
    /// Arrival counter: the last tie-break of the order.
    arrivals: u64,
    /// Offers made: round robin's clock.
    offers: u64,
    /// Calls assigned: the recording share's counter.
    assigned: u64,
    /// Moving average of talk time plus wrap-up.
    handle_time: Duration,
    /// Inputs that named an unknown entry or agent or an offer already
    /// over (a 200 OK that crossed a CANCEL): normal races, counted.
    stale: u64,
}

impl Router {
    pub fn new(settings: Settings) -> Self {
        Self {
            agents: Agents::new(settings.strategy),
            handle_time: settings.expected_handle_time,
            s: settings,
            queue: Queue::default(),
            timers: Timers::default(),
            out: VecDeque::new(),
            arrivals: 0,
            offers: 0,
            assigned: 0,
            stale: 0,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.s
    }

    /// Take new rules (a configuration reload) without losing anyone.
    /// Waiting entries are re-sorted under the new order and severity
    /// ranks; a changed strategy re-sorts the free agents. Timers already
    /// set keep their time (an offer rings out on the old timeout, the
    /// next overflow stage and maximum wait come from the rules they were
    /// set by), so a reload never fires or skips anything retroactively.
    pub fn reconfigure(&mut self, now: Instant, settings: Settings) {
        self.run_timers(now);
        self.agents.set_strategy(settings.strategy);
        self.s = settings;
        let ids: Vec<QueueEntryId> = self.queue.ids_in_order().collect();
        for id in ids {
            let Some(mut e) = self.queue.remove(id) else {
                continue;
            };
            e.rank = self.s.rank(&e.new.severity);
            e.key = OrderKey {
                primary: self.primary(e.due, e.rank),
                rank: e.rank,
                ..e.key
            };
            self.queue.insert(e);
        }
        self.dispatch(now);
    }

    fn primary(&self, due: Instant, rank: usize) -> Primary {
        match self.s.order {
            QueueOrder::Sla => Primary::Due(due),
            QueueOrder::FifoPerSeverity => Primary::Rank(rank),
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Fire every timer due at `now`, in time order.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.run_timers(now);
    }

    /// Apply one input at `now`. Timers due by `now` fire first, so a shell
    /// that is late calling `handle_timeout` still sees events in order.
    pub fn handle(&mut self, now: Instant, input: Input) {
        self.run_timers(now);
        match input {
            Input::Enqueue(new) => self.enqueue(now, new, None),
            Input::Escalate { entry, to } => self.enqueue(now, entry, Some(to)),
            Input::Transfer { entry, agent, to } => self.transfer(now, entry, agent, to),
            Input::CallbackAccepted { entry } => self.callback_accepted(entry),
            Input::EntryLeft { entry, why } => self.entry_left(now, entry, why),
            Input::Login {
                agent,
                tiers,
                reachable,
            } => self.login(now, agent, tiers, reachable),
            Input::Logout { agent } => self.logout(agent),
            Input::Pause { agent, reason } => self.pause(agent, reason),
            Input::Resume { agent } => self.resume(now, agent),
            Input::Reachability { agent, reachable } => self.reachability(agent, reachable),
            Input::OfferAnswered { entry, agent } => self.answered(now, entry, agent),
            Input::OfferFailed { entry, agent, why } => self.failed(entry, agent, why),
            Input::CallEnded { agent } => self.call_ended(now, agent),
        }
        // The input may have set timers already due (a deadline in the past).
        self.run_timers(now);
        self.dispatch(now);
    }

    // ---- queries -------------------------------------------------------

    /// Waiting entries (callback requests included).
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    pub fn queue_order(&self) -> Vec<QueueEntryId> {
        self.queue.ids_in_order().collect()
    }

    pub fn position(&self, entry: QueueEntryId) -> Option<usize> {
        self.queue.position(entry)
    }

    /// The entry's allowed tiers, in the order they are tried.
    pub fn tiers_of(&self, entry: QueueEntryId) -> Option<Vec<Tier>> {
        self.queue.entries.get(&entry).map(|e| e.tiers.clone())
    }

    pub fn agent(&self, agent: AgentId) -> Option<AgentView> {
        self.agents.get(agent).map(Agent::view)
    }

    pub fn agents(&self) -> impl Iterator<Item = AgentView> + '_ {
        self.agents.views()
    }

    /// The moving average of handle time (talk plus wrap-up).
    pub fn handle_time(&self) -> Duration {
        self.handle_time
    }

    /// Timers pending (a leak check for tests and the bench).
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    pub fn stale_inputs(&self) -> u64 {
        self.stale
    }

    /// Expected wait of a caller at `position` whose tiers are `mask`.
    ///
    /// `k` agents serve those tiers (logged in and not paused, each counted
    /// once however many tiers they have), each finishing a call every
    /// `H` on average (the moving average of talk plus wrap-up). Together
    /// they free up about `k / H` times per unit of time, so the caller at
    /// position `p` is reached after about `p * H / k`. It ignores that
    /// busy agents are partway through their calls (lowering the true
    /// wait) and that overflow tiers also serve other severities (raising
    /// it); the announcement rounds to minutes. `None` when `k` is 0.
    fn expected_wait(&self, position: usize, mask: TierMask) -> Option<Duration> {
        let k = self.agents.staffed_for(mask);
        (k > 0).then(|| self.handle_time.mul_f64(position as f64 / k as f64))
    }

    // ---- timers --------------------------------------------------------

    /// Timers due at one instant all fire before dispatching, so two
    /// agents freed together are both candidates (the entry's own tier
    /// wins, not whichever timer sorted first).
    fn run_timers(&mut self, now: Instant) {
        while let Some((at, timer)) = self.timers.pop_due(now) {
            self.fire(at, timer);
            while let Some((_, timer)) = self.timers.pop_due(at) {
                self.fire(at, timer);
            }
            self.dispatch(at);
        }
    }

    fn fire(&mut self, at: Instant, timer: Timer) {
        match timer {
            Timer::Ring(id) => self.rang_out(id),
            Timer::Tick(id) => self.tick(at, id),
            Timer::Overflow(id) => self.overflow(id),
            Timer::MaxWait(id) => self.offer_callback(id),
            Timer::Risk(id) => {
                let Some(e) = self.queue.entries.get(&id).filter(|e| !e.at_risk) else {
                    return;
                };
                let mask = e.mask;
                let wait = self
                    .queue
                    .position(id)
                    .and_then(|p| self.expected_wait(p, mask));
                self.at_risk(id, wait);
            }
            Timer::Breach(id) => {
                if let Some(e) = self.queue.entries.get_mut(&id) {
                    if !e.breached {
                        e.breached = true;
                        self.out.push_back(Output::SlaBreached {
                            entry: id,
                            ticket: e.new.ticket,
                            due: e.new.response_due,
                        });
                    }
                }
            }
            Timer::WrapUp(agent) => {
                if self.state(agent) == Some(AgentState::WrapUp) {
                    self.transition(agent, AgentState::Available, StateReason::WrapUpDone, |a| {
                        a.idle_since = at
                    });
                }
            }
        }
    }

    /// The periodic look at a waiting entry: callback when nobody can ever
    /// take it, the announcement, and the "agent not free in time" risk.
    fn tick(&mut self, at: Instant, id: QueueEntryId) {
        let Some(e) = self.queue.entries.get(&id) else {
            return;
        };
        self.timers.set(Timer::Tick(id), at + self.s.announce_every);
        if e.offer.is_none() && !e.skip.is_empty() {
            // A new round: agents who missed or refused this caller may be
            // rung again, at most once per tick (a desk of one agent would
            // otherwise never reach them again, and a busy phone is not
            // rung back at network speed).
            if let Some(e) = self.queue.entries.get_mut(&id) {
                e.skip.clear();
            }
        }
        let Some(e) = self.queue.entries.get(&id) else {
            return;
        };
        let (reach, mask, due) = (e.reach, e.mask, e.due);
        let on_line = !e.new.callback_requested;
        let announce = on_line && e.offer.is_none();
        let check_risk = !e.at_risk;
        let language = e.new.language.clone();
        if self.s.when_no_agents == WhenNoAgents::OfferCallback
            && self.agents.staffed_for(reach) == 0
        {
            self.offer_callback(id);
        }
        if !announce && !check_risk {
            return;
        }
        let position = self.queue.position(id).unwrap_or(1);
        let wait = self.expected_wait(position, mask);
        if announce {
            self.out.push_back(Output::Announce {
                entry: id,
                position,
                expected_wait: wait,
                language,
            });
        }
        if check_risk && wait.is_none_or(|w| at + w > due) {
            self.at_risk(id, wait);
        }
    }

    fn at_risk(&mut self, id: QueueEntryId, expected_wait: Option<Duration>) {
        if let Some(e) = self.queue.entries.get_mut(&id) {
            if !e.at_risk {
                e.at_risk = true;
                self.out.push_back(Output::SlaAtRisk {
                    entry: id,
                    ticket: e.new.ticket,
                    due: e.new.response_due,
                    expected_wait,
                });
            }
        }
    }

    fn offer_callback(&mut self, id: QueueEntryId) {
        if let Some(e) = self.queue.entries.get_mut(&id) {
            if !e.callback_offered && !e.new.callback_requested {
                e.callback_offered = true;
                self.out.push_back(Output::OfferCallback {
                    entry: id,
                    ticket: e.new.ticket,
                });
            }
        }
    }

    fn overflow(&mut self, id: QueueEntryId) {
        let Some(e) = self.queue.entries.get_mut(&id) else {
            return;
        };
        let Some(route) = self.s.severities.get(e.rank) else {
            return;
        };
        let Some((_, tiers)) = route.overflow.get(e.stage) else {
            return;
        };
        e.stage += 1;
        if let Some((after, _)) = route.overflow.get(e.stage) {
            self.timers.set(Timer::Overflow(id), e.enqueued + *after);
        }
        let ticket = e.new.ticket;
        let tiers = tiers.clone();
        if !self.queue.add_tiers(id, &tiers).is_empty() {
            let tiers = self.queue.entries[&id].tiers.clone();
            self.out.push_back(Output::Overflowed {
                entry: id,
                ticket,
                tiers,
            });
        }
    }

    /// The ring timeout: every agent still ringing missed the call.
    fn rang_out(&mut self, id: QueueEntryId) {
        let Some(offer) = self.queue.entries.get(&id).and_then(|e| e.offer.clone()) else {
            return;
        };
        for agent in offer.agents {
            self.out.push_back(Output::CancelOffer { entry: id, agent });
            self.missed(agent);
            self.skip(id, agent);
        }
        self.queue.set_offer(id, None);
    }

    // ---- entries -------------------------------------------------------

    pub(super) fn enqueue(&mut self, now: Instant, new: NewEntry, escalate_to: Option<Tier>) {
        if self.queue.entries.contains_key(&new.id) {
            self.stale += 1;
            return;
        }
        let rank = self.s.rank(&new.severity);
        let route = self.s.severities.get(rank);
        let due = match (new.response_due - new.wall_now).to_std() {
            Ok(left) => now + left,
            Err(_) => {
                let late = (new.wall_now - new.response_due)
                    .to_std()
                    .unwrap_or_default();
                now.checked_sub(late).unwrap_or(now)
            }
        };
        let tiers = vec![escalate_to.unwrap_or(new.tier)];
        let mut reach = tiers.clone();
        if escalate_to.is_none() {
            for (_, more) in route.map(|r| r.overflow.as_slice()).unwrap_or_default() {
                reach.extend(more);
            }
        }
        self.arrivals += 1;
        let key = OrderKey {
            lane: if escalate_to.is_some() { 0 } else { 1 },
            primary: self.primary(due, rank),
            rank,
            seq: self.arrivals,
        };
        let id = new.id;
        let callback = new.callback_requested;
        let entry = Entry {
            rank,
            mask: TierMask::of(&tiers),
            reach: TierMask::of(&reach),
            tiers,
            due,
            enqueued: now,
            escalated: escalate_to.is_some(),
            key,
            stage: 0,
            offer: None,
            skip: Vec::new(),
            callback_offered: false,
            at_risk: false,
            breached: false,
            new,
        };
        let reach = entry.reach;
        self.queue.insert(entry);
        self.timers
            .set(Timer::Tick(id), now + self.s.announce_every);
        self.timers.set(Timer::Breach(id), due);
        let risk_at = due
            .checked_sub(self.s.sla_risk_margin)
            .unwrap_or(now)
            .max(now);
        self.timers.set(Timer::Risk(id), risk_at.min(due));
        if let Some(route) = route {
            if let (None, Some((after, _))) = (escalate_to, route.overflow.first()) {
                self.timers.set(Timer::Overflow(id), now + *after);
            }
            if let (false, Some(max)) = (callback, route.max_wait) {
                self.timers.set(Timer::MaxWait(id), now + max);
            }
        }
        if self.s.when_no_agents == WhenNoAgents::OfferCallback
            && self.agents.staffed_for(reach) == 0
        {
            self.offer_callback(id);
        }
    }

    fn callback_accepted(&mut self, id: QueueEntryId) {
        match self.queue.entries.get_mut(&id) {
            Some(e) => {
                e.new.callback_requested = true;
                self.timers.cancel(Timer::MaxWait(id));
            }
            None => self.stale += 1,
        }
    }

    fn entry_left(&mut self, now: Instant, id: QueueEntryId, why: LeaveReason) {
        let Some(e) = self.queue.remove(id) else {
            self.stale += 1;
            return;
        };
        for t in Timer::of_entry(id) {
            self.timers.cancel(t);
        }
        for agent in e.offer.iter().flat_map(|o| o.agents.clone()) {
            self.out.push_back(Output::CancelOffer { entry: id, agent });
            self.transition(
                agent,
                AgentState::Available,
                StateReason::OfferWithdrawn,
                |a| a.offer = None,
            );
        }
        self.out.push_back(Output::Left {
            entry: id,
            ticket: e.new.ticket,
            why,
            waited: e.waited(now),
        });
    }

    fn skip(&mut self, id: QueueEntryId, agent: AgentId) {
        if let Some(e) = self.queue.entries.get_mut(&id) {
            if !e.skip.contains(&agent) {
                e.skip.push(agent);
            }
        }
    }

    /// Take one agent out of the entry's offer; the entry is idle again
    /// (and its ring timer cancelled) once nobody rings for it.
    fn release(&mut self, id: QueueEntryId, agent: AgentId) {
        let Some(e) = self.queue.entries.get(&id) else {
            return;
        };
        let Some(mut offer) = e.offer.clone() else {
            return;
        };
        offer.agents.retain(|a| *a != agent);
        if offer.agents.is_empty() {
            self.timers.cancel(Timer::Ring(id));
            self.queue.set_offer(id, None);
        } else if let Some(e) = self.queue.entries.get_mut(&id) {
            e.offer = Some(offer);
        }
    }

    // ---- dispatch ------------------------------------------------------

    fn dispatch(&mut self, now: Instant) {
        loop {
            let mut best: Option<(OrderKey, QueueEntryId)> = None;
            for t in Tier::ALL {
                if !self.agents.any_free(t) {
                    continue;
                }
                for (key, id) in self.queue.idle_of(t) {
                    if best.is_some_and(|(b, _)| *key >= b) {
                        break;
                    }
                    let e = &self.queue.entries[id];
                    if e.skip.is_empty() || strategy::has_eligible(&self.agents, t, e) {
                        best = Some((*key, *id));
                        break;
                    }
                }
            }
            let Some((_, id)) = best else {
                return;
            };
            let e = &self.queue.entries[&id];
            let Some((tier, agents)) = strategy::pick(self.s.strategy, &self.agents, e) else {
                return; // unreachable: `best` had an eligible agent
            };
            self.offer(now, id, tier, agents);
        }
    }

    pub(super) fn offer(
        &mut self,
        now: Instant,
        id: QueueEntryId,
        tier: Tier,
        agents: Vec<AgentId>,
    ) {
        self.offers += 1;
        let seq = self.offers;
        for agent in &agents {
            self.transition(*agent, AgentState::Ringing, StateReason::Offered, |a| {
                a.offer = Some(id);
                a.last_offer = seq;
            });
        }
        let e = &self.queue.entries[&id];
        self.out.push_back(Output::Offer {
            entry: id,
            ticket: e.new.ticket,
            agents: agents.clone(),
            tier,
            callback: e.new.callback_requested,
        });
        self.queue.set_offer(id, Some(OfferState { agents, tier }));
        self.timers.set(Timer::Ring(id), now + self.s.ring_timeout);
    }

    fn record_next(&mut self) -> bool {
        let n = self.assigned as f64;
        self.assigned += 1;
        match self.s.recording {
            RecordingMode::All => true,
            RecordingMode::None => false,
            RecordingMode::Share => {
                let share = self.s.recording_share;
                ((n + 1.0) * share + 1e-9).floor() > (n * share + 1e-9).floor()
            }
        }
    }

    /// Internal consistency, for the randomized test: offers and ringing
    /// agents agree, every entry has its tick, and dispatch left no free
    /// agent beside an idle entry it may take.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        self.queue.check();
        for (id, e) in &self.queue.entries {
            assert!(self.timers.is_set(Timer::Tick(*id)), "{id} has no tick");
            assert_eq!(
                e.offer.is_some(),
                self.timers.is_set(Timer::Ring(*id)),
                "{id}"
            );
            for agent in e.offer.iter().flat_map(|o| &o.agents) {
                let a = self.agents.get(*agent).unwrap();
                assert_eq!((a.state, a.offer), (AgentState::Ringing, Some(*id)));
            }
        }
        for a in self.agents.views() {
            let agent = self.agents.get(a.id).unwrap();
            if a.state == AgentState::Ringing {
                let e = &self.queue.entries[&agent.offer.unwrap()];
                assert!(e.offer.as_ref().unwrap().agents.contains(&a.id));
            } else {
                assert_eq!(agent.offer, None, "{:?}", a);
            }
            assert_eq!(
                a.state == AgentState::WrapUp,
                self.timers.is_set(Timer::WrapUp(a.id))
            );
        }
        for t in Tier::ALL {
            for (_, id) in self.queue.idle_of(t) {
                let e = &self.queue.entries[id];
                assert!(
                    !strategy::has_eligible(&self.agents, t, e),
                    "{id} left beside a free {t} agent"
                );
            }
        }
    }
}

#[path = "core_agents.rs"]
mod agents;
