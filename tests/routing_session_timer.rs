//! RFC 4028 session timers on the agent's leg, on the wire: a raw SIP
//! agent phone (digest-registered) sees hotline's INVITE ask for a session
//! interval, asks for a longer one with 422, gets the INVITE again with it,
//! answers as the refresher, refreshes once and is answered with the
//! interval, then hangs up. The refresh timing itself (half the interval,
//! the give-up margin) is unit-tested with driven time in
//! `call::leg::session_timer`: RFC 4028's floor of 90 s makes the first
//! refresh 45 s away at the least, too long for an end-to-end test.

mod common;

use std::path::Path;

use common::agent_phone::AgentPhone;
use common::agents::{start_with_tiers, state_when, T};
use common::sip_peer::SDP;
use hotline::agents::{AgentState, Tier};
use hotline::sip::message::{Method, Request, Response};

fn config() -> String {
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flows/route-quick.toml");
    format!(
        "[answer]\nafter_rings = 0\n[ivr]\nflow = \"{}\"\n[agents]\nmin_expires = \"1s\"\n[routing]\nring_timeout = \"8s\"\n[sip]\nsession_expires = \"1200s\"\nmin_se = \"120s\"\n",
        flow.display()
    )
}

/// The next INVITE hotline sends the phone (keep-alive OPTIONS answered).
async fn next_invite(phone: &AgentPhone) -> Request {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let req = phone
            .next_request(left)
            .await
            .expect("an INVITE from hotline");
        match req.method() {
            Method::Invite => return req,
            _ => phone.peer.answer(&req).await,
        }
    }
}

/// The next request of `method`, answering others 200.
async fn next_of(phone: &AgentPhone, method: Method) -> Request {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let req = phone
            .next_request(left)
            .await
            .unwrap_or_else(|| panic!("no {method} from hotline"));
        if *req.method() == method {
            return req;
        }
        if *req.method() != Method::Ack {
            phone.peer.answer(&req).await;
        }
    }
}

fn reply(
    req: &Request,
    status: u16,
    reason: &str,
    tag: &str,
    extra: &[(&str, String)],
) -> Response {
    let mut r = Response::for_request_with_tag(
        req,
        status,
        reason,
        &hotline::sip::message::Tag(tag.into()),
    );
    for (n, v) in extra {
        r.headers.push(*n, v.clone());
    }
    r
}

#[tokio::test]
async fn the_agent_leg_asks_for_a_session_timer_retries_after_422_and_answers_a_refresh() {
    let (d, store, _ids) = start_with_tiers(
        &config(),
        &[("rawagent", "pass-raw-agent", &[Tier::L1][..])],
    )
    .await;
    let mut phone = AgentPhone::new(d.sip, "rawagent", "pass-raw-agent").await;
    let contact = phone.contact("st");
    let r = phone
        .register(&format!("Contact: <{contact}>;expires=120\r\n"), None)
        .await;
    assert_eq!(r.last.status, 200);
    assert_eq!(
        state_when(&store, "rawagent", AgentState::Available).await,
        AgentState::Available
    );
    d.wait_line(
        |l| l.contains("agent state") && l.contains("to=available"),
        T,
    )
    .await;

    let who = hotline::callgen::CallerId {
        user: "5550144".into(),
        display: None,
        anonymous: false,
    };
    let mut caller = hotline::callgen::Caller::dial(d.sip, &who, T)
        .await
        .unwrap();
    assert!(caller.wait_for_prompt_start(T).await);
    caller.press("3").await.unwrap();

    // hotline's INVITE: it supports timers and asks for the configured
    // interval, with its own minimum.
    let invite = next_invite(&phone).await;
    let h = invite.headers();
    assert!(
        h.get("Supported").is_some_and(|s| s.contains("timer")),
        "Supported: timer ({:?})",
        h.get("Supported")
    );
    assert_eq!(h.get("Session-Expires"), Some("1200"));
    assert_eq!(h.get("Min-SE"), Some("120"));
    // Too short for this phone: 422 with its own minimum.
    let too_short = reply(
        &invite,
        422,
        "Session Interval Too Small",
        "ph1",
        &[("Min-SE", "3600".into())],
    );
    phone.peer.send_bytes(&too_short.to_bytes()).await;
    let again = next_invite(&phone).await;
    assert_eq!(again.call_id(), invite.call_id(), "the same call again");
    assert_eq!(again.cseq().seq, invite.cseq().seq + 1);
    assert_eq!(again.headers().get("Session-Expires"), Some("3600"));
    assert_eq!(again.headers().get("Min-SE"), Some("3600"));

    // Answer it as the refresher (refresher=uas: this phone).
    let ok = reply(
        &again,
        200,
        "OK",
        "ph2",
        &[
            ("Contact", format!("<{contact}>")),
            ("Session-Expires", "3600;refresher=uas".into()),
            ("Require", "timer".into()),
            ("Content-Type", "application/sdp".into()),
        ],
    );
    let mut ok = ok;
    ok.body = SDP.as_bytes().to_vec();
    phone.peer.send_bytes(&ok.to_bytes()).await;
    let ack = next_of(&phone, Method::Ack).await;
    assert_eq!(ack.cseq().seq, again.cseq().seq);
    d.wait_line(
        |l| {
            l.contains("agent leg: session timer")
                && l.contains("interval_s=3600")
                && l.contains("we_refresh=false")
        },
        T,
    )
    .await;
    d.wait_line(|l| l.contains("caller and agent bridged"), T)
        .await;

    // The phone refreshes (a re-INVITE in the dialog, as refresher).
    let hotline_uri = ack.from().uri.clone();
    let refresh = format!(
        "INVITE {target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{b:016x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:rawagent@{server}>;tag=ph2\r\n\
         To: {to}\r\n\
         Call-ID: {call}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <{contact}>\r\n\
         Supported: timer\r\n\
         Session-Expires: 3600;refresher=uac\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{SDP}",
        target = again
            .headers()
            .get("Contact")
            .map(|c| c.trim_matches(['<', '>']))
            .unwrap_or(hotline_uri.as_str()),
        local = phone.peer.local,
        b = rand::random::<u64>(),
        server = d.sip,
        to = again.headers().get("From").unwrap(),
        call = again.call_id(),
        len = SDP.len(),
    );
    phone.peer.send(&refresh).await;
    let answer = phone
        .peer
        .until_status(200, T)
        .await
        .expect("200 to the refresh");
    assert_eq!(
        answer.headers.get("Session-Expires"),
        Some("3600;refresher=uac"),
        "the 2xx echoes the interval and that the phone refreshes"
    );
    assert_eq!(answer.headers.get("Require"), Some("timer"));

    // The phone hangs up: both legs end.
    let bye = format!(
        "BYE {target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{b:016x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:rawagent@{server}>;tag=ph2\r\n\
         To: {to}\r\n\
         Call-ID: {call}\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        target = again
            .headers()
            .get("Contact")
            .map(|c| c.trim_matches(['<', '>']))
            .unwrap_or(hotline_uri.as_str()),
        local = phone.peer.local,
        b = rand::random::<u64>(),
        server = d.sip,
        to = again.headers().get("From").unwrap(),
        call = again.call_id(),
    );
    phone.peer.send(&bye).await;
    assert!(phone.peer.until_status(200, T).await.is_some());
    assert!(caller.wait_hangup(T).await, "the caller's leg ends too");
}
