//! The classifier of requests that reach the UAS core: which part of
//! hotline serves each one. Pure, so the dispatcher's `match` stays a
//! table and every branch can be tested without sockets.

use crate::agents::FeatureCode;
use crate::sip::dialog::DialogId;
use crate::sip::message::{Method, Request};

/// Who serves a validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestRoute {
    /// An INVITE without a To tag: a new caller for the IVR.
    NewCall,
    /// An INVITE without a To tag to `*50` .. `*53`: an agent changing
    /// their own state (digest-challenged like a PBX's feature codes).
    FeatureCode(FeatureCode),
    /// A request inside a dialog (re-INVITE, BYE, INFO, UPDATE, REFER).
    InDialog(Option<DialogId>),
    /// An agent's phone registering (RFC 3261 §10).
    Register,
    /// OPTIONS: capabilities and health check.
    Options,
    /// CANCEL of a pending INVITE.
    Cancel,
    /// Allowed by the policy but served nowhere: 405.
    NotAllowed,
}

/// Classify `req` (already validated by [`crate::sip::validate`]).
pub fn classify(req: &Request) -> RequestRoute {
    match req.method() {
        Method::Invite if req.to().tag().is_none() => {
            match req
                .uri()
                .user()
                .as_deref()
                .and_then(FeatureCode::from_dialled)
            {
                Some(code) => RequestRoute::FeatureCode(code),
                None => RequestRoute::NewCall,
            }
        }
        Method::Invite | Method::Bye | Method::Info | Method::Update | Method::Refer => {
            RequestRoute::InDialog(DialogId::for_incoming(req))
        }
        Method::Register => RequestRoute::Register,
        Method::Options => RequestRoute::Options,
        Method::Cancel => RequestRoute::Cancel,
        _ => RequestRoute::NotAllowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, Message};

    fn request(method: &str, uri: &str, to_tag: bool) -> Request {
        let tag = if to_tag { ";tag=abc" } else { "" };
        let text = format!(
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:agent1@127.0.0.1>;tag=f1\r\n\
             To: <sip:hotline@127.0.0.1>{tag}\r\n\
             Call-ID: c1\r\n\
             CSeq: 1 {method}\r\n\
             Contact: <sip:agent1@127.0.0.1:5070>\r\n\
             Content-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test request did not parse: {other:?}"),
        }
    }

    #[test]
    fn each_kind_of_request_goes_to_its_server() {
        assert_eq!(
            classify(&request("INVITE", "sip:hotline@127.0.0.1", false)),
            RequestRoute::NewCall
        );
        assert_eq!(
            classify(&request("INVITE", "sip:*52@127.0.0.1", false)),
            RequestRoute::FeatureCode(FeatureCode::Pause)
        );
        assert_eq!(
            classify(&request("INVITE", "sip:%2A50@127.0.0.1", false)),
            RequestRoute::FeatureCode(FeatureCode::LogIn)
        );
        assert!(matches!(
            classify(&request("INVITE", "sip:*52@127.0.0.1", true)),
            RequestRoute::InDialog(Some(_))
        ));
        assert!(matches!(
            classify(&request("BYE", "sip:hotline@127.0.0.1", true)),
            RequestRoute::InDialog(Some(_))
        ));
        assert!(matches!(
            classify(&request("REFER", "sip:hotline@127.0.0.1", true)),
            RequestRoute::InDialog(Some(_))
        ));
        assert_eq!(
            classify(&request("REGISTER", "sip:127.0.0.1", false)),
            RequestRoute::Register
        );
        assert_eq!(
            classify(&request("OPTIONS", "sip:127.0.0.1", false)),
            RequestRoute::Options
        );
        assert_eq!(
            classify(&request("CANCEL", "sip:hotline@127.0.0.1", false)),
            RequestRoute::Cancel
        );
        assert_eq!(
            classify(&request("MESSAGE", "sip:hotline@127.0.0.1", false)),
            RequestRoute::NotAllowed
        );
    }
}
