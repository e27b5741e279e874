//! The roster against a real PostgreSQL cluster: the store itself, the
//! `hotline agents` CLI run as a binary, and the admin API's agent routes
//! over real HTTP. One binary, so one throwaway cluster for all three.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod http;
mod store;

use hotline::agents::{AgentStore, NewAgent, Tier};

/// A store on a fresh, migrated database, and that database's URL.
pub async fn fresh() -> (AgentStore, String) {
    let (pool, url) = common::shared().fresh_db().await;
    (AgentStore::new(pool), url)
}

pub fn new_agent(user: &str, tiers: &[Tier], password: &str) -> NewAgent {
    NewAgent {
        user: user.parse().unwrap(),
        display_name: format!("Agent {user}"),
        tiers: tiers.to_vec(),
        language: "en".into(),
        password: hotline::agents::Password::new(password).unwrap(),
        realm: "hotline".into(),
    }
}
