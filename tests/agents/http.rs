//! The admin API's agent routes on a real server over real HTTP.

use std::net::SocketAddr;

use chrono::Utc;
use hotline::admin::{self, AdminState, AdminStatus, AgentSettings};
use hotline::agents::{AgentState, AgentStore};
use hotline::sip::auth::{ha1, Algorithm};
use hotline::tickets::TicketStore;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::common::http::{get, request};
use super::fresh;

struct Server {
    addr: SocketAddr,
    agents: AgentStore,
    stop: CancellationToken,
    _status: watch::Sender<AdminStatus>,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start() -> Server {
    let (agents, _) = fresh().await;
    let data = tempfile::tempdir().unwrap();
    let (store, _replayer) = TicketStore::open(agents.pool().clone(), data.path(), 20)
        .await
        .unwrap();
    let (status, rx) = watch::channel(AdminStatus {
        started_at: Utc::now(),
        ..AdminStatus::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let state = AdminState::new(store, rx).with_agents(
        agents.clone(),
        AgentSettings {
            realm: "desk.example".into(),
            language: "zh".into(),
        },
    );
    tokio::spawn(admin::serve(listener, state, stop.clone()));
    Server {
        addr,
        agents,
        stop,
        _status: status,
        _data: data,
    }
}

#[tokio::test]
async fn the_roster_over_http() {
    let s = start().await;
    let r = request(
        s.addr,
        "POST",
        "/api/agents",
        Some(json!({"user": "agent3", "name": "Li Wei", "tiers": ["L3", "l2"], "password": "pass-word-3"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = r.json();
    assert_eq!(a["user"], "agent3");
    assert_eq!(a["tiers"], json!(["L2", "L3"]));
    assert_eq!(a["language"], "zh", "desk.language by default");
    assert_eq!(a["realm"], "desk.example", "agents.realm");
    assert!(!r.body.contains("pass-word-3"));
    let c = s.agents.credentials("agent3").await.unwrap().unwrap();
    assert_eq!(
        c.ha1_sha256,
        ha1(Algorithm::Sha256, "agent3", "desk.example", "pass-word-3")
    );

    let list = get(s.addr, "/api/agents").await;
    assert_eq!(list.status, 200);
    let list = list.json();
    assert_eq!(list[0]["user"], "agent3");
    assert_eq!(list[0]["state"], "offline");
    assert_eq!(list[0]["bindings"], json!([]));
    assert!(list[0].get("ha1_md5").is_none());

    let r = request(
        s.addr,
        "PUT",
        "/api/agents/agent3/tiers",
        Some(json!({"tiers": ["L1"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tiers"], json!(["L1"]));

    let r = request(
        s.addr,
        "PUT",
        "/api/agents/agent3/password",
        Some(json!({"password": "new-pass-word"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["password_set"], true);
    assert!(!r.body.contains("new-pass-word"));
    let after = s.agents.credentials("agent3").await.unwrap().unwrap();
    assert_eq!(
        after.ha1_md5,
        ha1(Algorithm::Md5, "agent3", "desk.example", "new-pass-word")
    );
    assert_ne!(after.ha1_sha256, c.ha1_sha256);

    let r = request(
        s.addr,
        "POST",
        "/api/agents/agent3/pause",
        Some(json!({"reason": "coaching"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        (v["from"].as_str(), v["to"].as_str()),
        (Some("offline"), Some("paused"))
    );
    assert_eq!(v["changed"], true);
    let r = request(s.addr, "POST", "/api/agents/agent3/resume", Some(json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["to"], "available");
    let again = request(s.addr, "POST", "/api/agents/agent3/resume", Some(json!({}))).await;
    assert_eq!(again.json()["changed"], false);

    let show = get(s.addr, "/api/agents/agent3").await;
    assert_eq!(show.status, 200);
    let show = show.json();
    assert_eq!(show["agent"]["state"], "available");
    assert_eq!(show["events"][0]["to_state"], "available");
    assert_eq!(show["events"][0]["actor"], "api");
    assert_eq!(show["events"][1]["reason"], "coaching");

    // In a call: a log-out is refused (409), and the state stays.
    let id = s.agents.id_of(&"agent3".parse().unwrap()).await.unwrap();
    assert!(s.agents.claim(id, Some("call-1")).await.unwrap());
    let r = request(s.addr, "POST", "/api/agents/agent3/logout", Some(json!({}))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["code"], "HL-AGENT-BUSY");
    s.agents
        .set_state(
            id,
            AgentState::WrapUp,
            None,
            hotline::agents::Actor::System,
            None,
        )
        .await
        .unwrap();
    let r = request(s.addr, "POST", "/api/agents/agent3/logout", Some(json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["to"], "offline");

    let r = request(s.addr, "DELETE", "/api/agents/agent3", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["removed"], true);
    assert_eq!(get(s.addr, "/api/agents/agent3").await.status, 404);
    assert_eq!(get(s.addr, "/api/agents").await.json(), json!([]));
}

#[tokio::test]
async fn errors_are_json_with_the_roster_codes_and_fitting_statuses() {
    let s = start().await;
    let add = |user: &str, tiers: serde_json::Value, password: &str| json!({"user": user, "name": "Ada", "tiers": tiers, "password": password});
    let r = request(
        s.addr,
        "POST",
        "/api/agents",
        Some(add("agent1", json!(["L1"]), "pass-word-1")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for (method, path, body, status, code) in [
        (
            "POST",
            "/api/agents",
            Some(add("agent1", json!(["L2"]), "pass-word-2")),
            409,
            "HL-AGENT-DUPLICATE",
        ),
        (
            "POST",
            "/api/agents",
            Some(add("agent2", json!(["L7"]), "pass-word-2")),
            422,
            "HL-AGENT-TIER",
        ),
        (
            "POST",
            "/api/agents",
            Some(add("agent2", json!([]), "pass-word-2")),
            422,
            "HL-AGENT-TIER",
        ),
        (
            "POST",
            "/api/agents",
            Some(add("no body", json!(["L1"]), "pass-word-2")),
            422,
            "HL-AGENT-USER",
        ),
        (
            "POST",
            "/api/agents",
            Some(add("agent2", json!(["L1"]), "short")),
            422,
            "HL-AGENT-PASSWORD",
        ),
        (
            "POST",
            "/api/agents",
            Some(json!({"user": "agent2"})),
            422,
            "HL-ADMIN-BODY",
        ),
        ("GET", "/api/agents/ghost", None, 404, "HL-AGENT-UNKNOWN"),
        (
            "GET",
            "/api/agents/bad%20name",
            None,
            404,
            "HL-AGENT-UNKNOWN",
        ),
        (
            "PUT",
            "/api/agents/ghost/tiers",
            Some(json!({"tiers": ["L1"]})),
            404,
            "HL-AGENT-UNKNOWN",
        ),
        (
            "PUT",
            "/api/agents/agent1/tiers",
            Some(json!({"tiers": ["L1", "x"]})),
            422,
            "HL-AGENT-TIER",
        ),
        (
            "PUT",
            "/api/agents/ghost/password",
            Some(json!({"password": "pass-word-9"})),
            404,
            "HL-AGENT-UNKNOWN",
        ),
        (
            "PUT",
            "/api/agents/agent1/password",
            Some(json!({"password": ""})),
            422,
            "HL-AGENT-PASSWORD",
        ),
        (
            "POST",
            "/api/agents/ghost/pause",
            Some(json!({})),
            404,
            "HL-AGENT-UNKNOWN",
        ),
        (
            "POST",
            "/api/agents/agent1/resume",
            Some(json!({"reason": "x"})),
            400,
            "HL-ADMIN-PARAM",
        ),
        // A POST without a JSON body (what a cross-site form sends) is refused.
        (
            "POST",
            "/api/agents/agent1/pause",
            None,
            415,
            "HL-ADMIN-BODY",
        ),
        ("DELETE", "/api/agents/ghost", None, 404, "HL-AGENT-UNKNOWN"),
    ] {
        let r = request(s.addr, method, path, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        let v = r.json();
        assert_eq!(v["code"], code, "{method} {path}: {}", r.body);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(!r.body.contains("pass-word"), "{}", r.body);
    }
    // The refused requests changed nothing.
    let list = s.agents.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].agent.state, AgentState::Offline);
    assert_eq!(
        s.agents
            .credentials("agent1")
            .await
            .unwrap()
            .unwrap()
            .ha1_md5,
        ha1(Algorithm::Md5, "agent1", "desk.example", "pass-word-1")
    );
}
