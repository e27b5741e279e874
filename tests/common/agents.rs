//! Agents in tests: a roster on the test cluster, a daemon that starts
//! with it, and bounded waits for what the registrar writes behind.

use std::time::Duration;

use hotline::agents::{
    Actor, AgentId, AgentState, AgentStore, BindingRecord, NewAgent, Password, Tier,
};

use super::daemon::Daemon;

pub const T: Duration = Duration::from_secs(10);

pub async fn roster(db_url: &str) -> AgentStore {
    let opts: sqlx::postgres::PgConnectOptions = db_url.parse().unwrap();
    AgentStore::new(super::pool(opts, 4).await)
}

pub async fn add_agent(store: &AgentStore, user: &str, password: &str) -> AgentId {
    add_agent_in(store, user, password, &[Tier::L1]).await
}

pub async fn add_agent_in(
    store: &AgentStore,
    user: &str,
    password: &str,
    tiers: &[Tier],
) -> AgentId {
    store
        .add(
            &NewAgent {
                user: user.parse().unwrap(),
                display_name: format!("Agent {user}"),
                tiers: tiers.to_vec(),
                language: "en".into(),
                password: Password::new(password).unwrap(),
                realm: "hotline".into(),
            },
            Actor::Cli,
        )
        .await
        .unwrap()
        .id
}

/// A daemon on a fresh database whose roster already holds `agents`
/// (user, password), so the daemon loads them at start.
pub async fn start_with(
    config: &str,
    agents: &[(&str, &str)],
) -> (Daemon, AgentStore, Vec<AgentId>) {
    let agents: Vec<(&str, &str, &[Tier])> = agents
        .iter()
        .map(|(u, p)| (*u, *p, &[Tier::L1][..]))
        .collect();
    start_with_tiers(config, &agents).await
}

/// [`start_with`] with each agent's tiers.
pub async fn start_with_tiers(
    config: &str,
    agents: &[(&str, &str, &[Tier])],
) -> (Daemon, AgentStore, Vec<AgentId>) {
    let (_, db_url) = super::shared().fresh_db().await;
    let store = roster(&db_url).await;
    let mut ids = Vec::new();
    for (user, password, tiers) in agents {
        ids.push(add_agent_in(&store, user, password, tiers).await);
    }
    let d = Daemon::start_with_db(config, db_url);
    d.wait_line(|l| l.contains("roster loaded"), T).await;
    (d, store, ids)
}

/// The agent's bindings once `pred` holds for them (bounded wait: the
/// registrar writes behind its answer).
pub async fn bindings_when(
    store: &AgentStore,
    agent: AgentId,
    pred: impl Fn(&[BindingRecord]) -> bool,
    limit: Duration,
) -> Vec<BindingRecord> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let b = store.bindings(agent).await.unwrap();
        if pred(&b) {
            return b;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bindings never matched; last: {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn state_when(store: &AgentStore, user: &str, want: AgentState) -> AgentState {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let s = store.get(&user.parse().unwrap()).await.unwrap().agent.state;
        if s == want || tokio::time::Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two daemons sharing one fresh database whose roster holds `agents`
/// (user, password, tiers), both with `config`, each having loaded the
/// roster.
pub async fn start_two(
    config: &str,
    agents: &[(&str, &str, &[Tier])],
) -> (Daemon, Daemon, AgentStore, Vec<AgentId>) {
    let (_, db_url) = super::shared().fresh_db().await;
    let store = roster(&db_url).await;
    let mut ids = Vec::new();
    for (user, password, tiers) in agents {
        ids.push(add_agent_in(&store, user, password, tiers).await);
    }
    let a = Daemon::start_with_db(config, db_url.clone());
    let b = Daemon::start_with_db(config, db_url);
    a.wait_line(|l| l.contains("roster loaded"), T).await;
    b.wait_line(|l| l.contains("roster loaded"), T).await;
    (a, b, store, ids)
}

/// The built-in caller dialling `d`, answered, pressing `key` at the
/// severity menu of the routing flows (1 critical, 2 major, 3 minor).
pub async fn caller_choosing(d: &Daemon, user: &str, key: &str) -> hotline::callgen::Caller {
    let who = hotline::callgen::CallerId {
        user: user.into(),
        display: None,
        anonymous: false,
    };
    let mut caller = hotline::callgen::Caller::dial(d.sip, &who, T)
        .await
        .unwrap();
    assert!(caller.wait_for_prompt_start(T).await);
    caller.press(key).await.unwrap();
    caller
}
