//! Routing decisions per second and their latency, in process: the sans-io
//! `Router` with 1,000 agents (all on calls) and 5,000 waiting callers.
//! Each round one agent's call ends (the decision: who rings next), the
//! agent answers, and a new caller arrives, so the queue stays at 5,000;
//! simulated time moves 10 ms per round, so the callers' 30 s ticks
//! (announcement, SLA risk) and overflow timers fire as they would.
//! Run: `cargo bench --bench routing`.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use hotline::agents::{AgentId, Tier};
use hotline::config::{Config, ConfigDuration, RoutingStrategy};
use hotline::routing::{Input, NewEntry, Output, QueueEntryId, Router, Settings};
use hotline::tickets::TicketNumber;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const AGENTS: i64 = 1000;
const WAITING: u64 = 5000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Sim {
    r: Router,
    now: Instant,
    wall: DateTime<Utc>,
    next: u64,
    rng: StdRng,
    on_call: Vec<AgentId>,
    offers: Vec<(QueueEntryId, AgentId)>,
}

impl Sim {
    fn drain(&mut self) {
        while let Some(o) = self.r.poll_output() {
            match o {
                Output::Offer { entry, agents, .. } => self.offers.push((entry, agents[0])),
                Output::Assigned { agent, .. } => self.on_call.push(agent),
                _ => {}
            }
        }
    }

    fn enqueue(&mut self) -> Duration {
        self.next += 1;
        // The mix of the agents' tiers, so no tier's agents sit idle.
        let (severity, tier, minutes) = match self.rng.gen_range(0..10) {
            0..=1 => ("critical", Tier::L3, 30),
            2..=4 => ("major", Tier::L2, 60),
            _ => ("minor", Tier::L1, 120),
        };
        // Callers arrive with some of their SLA already used (IVR time,
        // re-queued tickets): deadlines are spread, not in arrival order.
        let left = TimeDelta::seconds(self.rng.gen_range(60..minutes * 60));
        let e = NewEntry {
            id: QueueEntryId(self.next),
            ticket: TicketNumber(self.next as i64),
            severity: severity.into(),
            tier,
            sla_start: self.wall,
            response_due: self.wall + left,
            wall_now: self.wall,
            language: "en".into(),
            callback_requested: false,
        };
        let t0 = Instant::now();
        self.r.handle(self.now, Input::Enqueue(e));
        let took = t0.elapsed();
        self.drain();
        took
    }
}

fn run(strategy: RoutingStrategy, rounds: usize) {
    let mut c = Config::default();
    c.routing.strategy = strategy;
    c.agents.wrap_up = ConfigDuration(Duration::ZERO); // freed at once: the decision is in the measured call
    let mut sim = Sim {
        r: Router::new(Settings::from_config(&c)),
        now: Instant::now(),
        wall: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        next: 0,
        rng: StdRng::seed_from_u64(7),
        on_call: Vec::new(),
        offers: Vec::new(),
    };
    // 1,000 agents: 50 % L1, 30 % L2, 20 % L3, one in ten also L2.
    for n in 0..AGENTS {
        let mut tiers = vec![match n % 10 {
            0..=4 => Tier::L1,
            5..=7 => Tier::L2,
            _ => Tier::L3,
        }];
        if n % 10 == 0 {
            tiers.push(Tier::L2);
        }
        sim.r.handle(
            sim.now,
            Input::Login {
                agent: AgentId(n),
                tiers,
                reachable: true,
            },
        );
    }
    sim.drain();
    // Everyone busy, then 5,000 waiting.
    while sim.on_call.len() < AGENTS as usize || sim.r.waiting() < WAITING as usize {
        sim.enqueue();
        while let Some((entry, agent)) = sim.offers.pop() {
            sim.r.handle(sim.now, Input::OfferAnswered { entry, agent });
            sim.drain();
        }
    }
    let (mut decide, mut answer, mut arrive, mut timers) = (vec![], vec![], vec![], vec![]);
    let mut offers = 0usize;
    let busy = Instant::now();
    for _ in 0..rounds {
        sim.now += Duration::from_millis(10);
        sim.wall += TimeDelta::milliseconds(10);
        // Timers due (ticks, overflow, SLA) as a shell would fire them.
        if sim.r.poll_timeout().is_some_and(|t| t <= sim.now) {
            let t0 = Instant::now();
            sim.r.handle_timeout(sim.now);
            timers.push(t0.elapsed());
            sim.drain();
        }
        // One call ends: the agent is free, the router picks a caller.
        if sim.on_call.is_empty() {
            break;
        }
        let i = sim.rng.gen_range(0..sim.on_call.len());
        let agent = sim.on_call.swap_remove(i);
        let t0 = Instant::now();
        sim.r.handle(sim.now, Input::CallEnded { agent });
        decide.push(t0.elapsed());
        sim.drain();
        // Offers come from the freed agent, and from arrivals that find an
        // idle agent of their tier: every one is a decision.
        while sim.r.waiting() < WAITING as usize || !sim.offers.is_empty() {
            while let Some((entry, agent)) = sim.offers.pop() {
                offers += 1;
                let t0 = Instant::now();
                sim.r.handle(sim.now, Input::OfferAnswered { entry, agent });
                answer.push(t0.elapsed());
                sim.drain();
            }
            if sim.r.waiting() < WAITING as usize {
                arrive.push(sim.enqueue());
            }
        }
    }
    let wall = busy.elapsed();
    let in_core: Duration = decide
        .iter()
        .chain(&answer)
        .chain(&arrive)
        .chain(&timers)
        .sum();
    assert!(
        offers >= rounds / 2,
        "decisions were made: {offers} offers in {rounds} rounds"
    );
    let show = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        if v.is_empty() {
            return;
        }
        println!(
            "  {name:<28} n={:<7} p50 {:>6.2} µs  p99 {:>7.2} µs  max {:>8.2} µs",
            v.len(),
            percentile(v, 0.50).as_secs_f64() * 1e6,
            percentile(v, 0.99).as_secs_f64() * 1e6,
            v.last().unwrap().as_secs_f64() * 1e6,
        );
    };
    println!(
        "routing/{strategy:?} agents={AGENTS} waiting={} rounds={rounds}: {offers} decisions, {:.0} decisions/s \
         (all core work: call ended, answer, arrival, timers; {:.1} ms in the core of {:.1} ms)",
        sim.r.waiting(),
        offers as f64 / in_core.as_secs_f64(),
        in_core.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3,
    );
    show("call ended (→ next offer)", &mut decide);
    show("answer (offer→assigned)", &mut answer);
    show("arrival (enqueue)", &mut arrive);
    show("timers due (10 ms of ticks)", &mut timers);
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: stay quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 2_000 } else { 50_000 };
    for strategy in [
        RoutingStrategy::LongestIdle,
        RoutingStrategy::FewestCalls,
        RoutingStrategy::RoundRobin,
    ] {
        run(strategy, rounds);
    }
}
