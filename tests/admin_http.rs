//! The admin HTTP API and page over real HTTP on 127.0.0.1, against a real
//! PostgreSQL cluster, with the raw HTTP/1.1 client of `common::http`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::http::{get, request};
use hotline::admin::{self, AdminState, AdminStatus};
use hotline::config::Config;
use hotline::tickets::calls::{self, CallRecord};
use hotline::tickets::{NewTicket, SlaPolicy, TicketNumber, TicketStore};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    status: watch::Sender<AdminStatus>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    store: TicketStore,
    _data: tempfile::TempDir,
}

async fn start_on(pool: sqlx::PgPool) -> Server {
    let data = tempfile::tempdir().unwrap();
    let (store, _replayer) = TicketStore::open(pool, data.path(), 20).await.unwrap();
    let (status, rx) = watch::channel(AdminStatus {
        flow_version: "v7".into(),
        started_at: Utc::now(),
        ..AdminStatus::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(admin::serve(
        listener,
        AdminState::new(store.clone(), rx),
        stop.clone(),
    ));
    Server {
        addr,
        status,
        stop,
        task,
        store,
        _data: data,
    }
}

async fn start() -> Server {
    start_on(common::shared().fresh_db().await.0).await
}

async fn ticket(store: &TicketStore, call_id: &str, severity: &str, name: &str) -> TicketNumber {
    ticket_at(store, call_id, severity, name, TimeDelta::seconds(30)).await
}

async fn ticket_at(
    store: &TicketStore,
    call_id: &str,
    severity: &str,
    name: &str,
    ago: TimeDelta,
) -> TicketNumber {
    let received = Utc::now() - ago;
    let new = NewTicket {
        call_id: call_id.into(),
        caller_number: "+15551230000".into(),
        caller_name: Some(name.into()),
        caller_private: false,
        customer_ref: None,
        callback_number: None,
        category: Some("network".into()),
        severity: severity.into(),
        received_at: received,
        answered_at: Some(received),
        flow_version: Some("v7".into()),
    };
    let policy = SlaPolicy::from_config(&Config::default());
    store.create(new, &policy).await.unwrap().ticket.number
}

fn numbers(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn health_and_status_answer_and_shutdown_is_graceful() {
    let srv = start().await;
    let r = get(srv.addr, "/healthz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));

    srv.status.send_modify(|s| {
        s.calls_active = 3;
        s.rejected_busy = 2;
    });
    let st = get(srv.addr, "/api/status").await.json();
    assert_eq!(st["calls_active"], 3);
    assert_eq!(st["rejected_busy"], 2);
    assert_eq!(st["flow_version"], "v7");
    assert_eq!(st["journal_pending"], 0);

    let r = get(srv.addr, "/nope").await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (404, json!("HL-ADMIN-ROUTE"))
    );
    let r = request(srv.addr, "DELETE", "/api/status", None).await;
    assert_eq!(r.status, 405);

    srv.stop.cancel();
    let done = tokio::time::timeout(Duration::from_secs(3), srv.task).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "serve ends on stop: {done:?}"
    );
    assert!(
        TcpStream::connect(srv.addr).await.is_err(),
        "still accepting"
    );
}

#[tokio::test]
async fn health_is_503_within_a_second_when_the_database_hangs() {
    // A "database" that accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let opts = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("nobody");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(opts);
    let srv = start_on(pool).await;
    let began = Instant::now();
    let r = get(srv.addr, "/healthz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    let body = r.json();
    assert_eq!(body["code"], "HL-ADMIN-DB-DOWN");
    assert!(
        body["error"].as_str().unwrap().contains("SELECT 1"),
        "{body}"
    );
}

#[tokio::test]
async fn listing_filters_by_open_severity_since_and_limit() {
    let srv = start().await;
    let crit = ticket(&srv.store, "l-1", "critical", "Ada").await;
    let minor = ticket(&srv.store, "l-2", "minor", "Bob").await;
    let done = ticket(&srv.store, "l-3", "major", "Cy").await;
    let r = request(
        srv.addr,
        "POST",
        &format!("/api/tickets/{done}/status"),
        Some(json!({"status": "resolved", "actor": "alice"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let all = numbers(&get(srv.addr, "/api/tickets").await.json());
    assert_eq!(all, vec![done.0, minor.0, crit.0], "newest first");
    let open = numbers(&get(srv.addr, "/api/tickets?open=true").await.json());
    assert_eq!(open, vec![minor.0, crit.0]);
    let sev = numbers(&get(srv.addr, "/api/tickets?severity=critical").await.json());
    assert_eq!(sev, vec![crit.0]);
    let one = numbers(&get(srv.addr, "/api/tickets?limit=1").await.json());
    assert_eq!(one, vec![done.0]);
    let future = (Utc::now() + TimeDelta::hours(1)).to_rfc3339();
    let later = get(srv.addr, &format!("/api/tickets?since={future}")).await;
    assert_eq!((later.status, numbers(&later.json())), (200, vec![]));
    let past = get(srv.addr, "/api/tickets?since=2000-01-01T00:00:00Z&open=1").await;
    assert_eq!(numbers(&past.json()).len(), 2);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let srv = start().await;
    for (query, named) in [
        ("since=yesterday", "since"),
        ("limit=lots", "limit"),
        ("open=perhaps", "open"),
        ("severty=critical", "severty"),
    ] {
        let r = get(srv.addr, &format!("/api/tickets?{query}")).await;
        assert_eq!(r.status, 400, "{query}");
        let body = r.json();
        assert_eq!(body["code"], "HL-ADMIN-PARAM", "{query}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains(&format!("`{named}`")),
            "{query}: {body}"
        );
        assert!(r.head.to_ascii_lowercase().contains("application/json"));
    }
    let r = get(srv.addr, "/api/tickets/abc").await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("HL-ADMIN-PARAM"))
    );
    let r = get(srv.addr, "/api/calls?limit=0").await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn show_gives_history_and_a_status_change_is_recorded() {
    let srv = start().await;
    let n = ticket(&srv.store, "s-1", "major", "Ada").await;

    let missing = get(srv.addr, "/api/tickets/999999").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "HL-ADMIN-NOT-FOUND");

    let shown = get(srv.addr, &format!("/api/tickets/{n}")).await.json();
    assert_eq!(shown["ticket"]["number"], n.0);
    assert_eq!(shown["ticket"]["status"], "open");
    assert_eq!(shown["history"][0]["action"], "created");
    assert!(shown["ticket"]["first_response_at"].is_null());

    let path = format!("/api/tickets/{n}/status");
    let change = json!({"status": "in_progress", "actor": "alice", "note": "calling back"});
    let r = request(srv.addr, "POST", &path, Some(change)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = r.json();
    assert_eq!(after["ticket"]["status"], "in_progress");
    assert!(after["ticket"]["first_response_at"].is_string());
    assert!(after["ticket"]["resolved_at"].is_null());
    let last = after["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "alice");
    assert_eq!(last["action"], "status");
    assert_eq!(last["detail"]["note"], "calling back");
    assert_eq!(last["detail"]["status"], "in_progress");

    let resolved = json!({"status": "resolved", "actor": "bob"});
    let r = request(srv.addr, "POST", &path, Some(resolved)).await;
    let t = &r.json()["ticket"];
    assert_eq!(t["status"], "resolved");
    assert!(t["resolved_at"].is_string());
    assert_eq!(
        t["first_response_at"], after["ticket"]["first_response_at"],
        "the first response stays the first"
    );
    let shown = get(srv.addr, &format!("/api/tickets/{n}")).await.json();
    let actors: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["hotline", "alice", "bob"]);

    for (body, code, status) in [
        (
            json!({"status": "done", "actor": "al"}),
            "HL-ADMIN-PARAM",
            400,
        ),
        (
            json!({"status": "closed", "actor": " "}),
            "HL-ADMIN-PARAM",
            400,
        ),
        (json!({"status": "closed"}), "HL-ADMIN-BODY", 422),
    ] {
        let r = request(srv.addr, "POST", &path, Some(body.clone())).await;
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (status, json!(code)),
            "{body}"
        );
    }
    let r = request(
        srv.addr,
        "POST",
        "/api/tickets/999999/status",
        Some(json!({"status": "closed", "actor": "al"})),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn recent_calls_come_newest_first() {
    let srv = start().await;
    let now = Utc::now();
    for (id, ago) in [("c-old", 60), ("c-new", 5), ("c-mid", 30)] {
        let record = CallRecord {
            call_id: id.into(),
            caller_number: "+15550001111".into(),
            received_at: now - TimeDelta::seconds(ago),
            answered_at: None,
            ended_at: None,
            end_reason: None,
            last_step: None,
            digits: String::new(),
            language: None,
            ticket_number: None,
            flow_version: None,
        };
        calls::upsert(srv.store.pool(), &record).await.unwrap();
    }
    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["call_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(get(srv.addr, "/api/calls").await.json()),
        ["c-new", "c-mid", "c-old"]
    );
    assert_eq!(
        ids(get(srv.addr, "/api/calls?limit=2").await.json()),
        ["c-new", "c-mid"]
    );
}

#[tokio::test]
async fn the_page_lists_open_tickets_and_escapes_callers() {
    let srv = start().await;
    let open = ticket(&srv.store, "p-1", "critical", "<script>alert(1)</script>").await;
    let closed = ticket(&srv.store, "p-2", "minor", "Zed").await;
    // Critical: response due in 30 minutes, so this one is late.
    let late = ticket_at(&srv.store, "p-3", "critical", "Eve", TimeDelta::hours(2)).await;
    let r = request(
        srv.addr,
        "POST",
        &format!("/api/tickets/{closed}/status"),
        Some(json!({"status": "closed", "actor": "alice"})),
    )
    .await;
    assert_eq!(r.status, 200);

    let page = get(srv.addr, "/").await;
    assert_eq!(page.status, 200);
    assert!(page.head.to_ascii_lowercase().contains("text/html"));
    assert!(
        page.body.contains(&format!("#{open}<")),
        "open ticket shown"
    );
    assert!(
        !page.body.contains(&format!("#{closed}<")),
        "closed ticket hidden"
    );
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains("<script"), "no script tag at all");
    assert!(
        page.body.contains("left"),
        "time left to the response deadline"
    );
    assert!(
        page.body.contains("OVERDUE 1h 30m"),
        "the late ticket says so"
    );
    assert!(page.body.contains("1 overdue"));
    let (late_at, open_at) = (
        page.body.find(&format!("#{late}<")).unwrap(),
        page.body.find(&format!("#{open}<")).unwrap(),
    );
    assert!(late_at < open_at, "most urgent first");
    assert!(page.body.contains("v7"), "status line");
}
