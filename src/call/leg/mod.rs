//! One leg of a call: the SIP signalling between hotline and one phone.
//!
//! The caller's leg is a UAS ([`uas::UasLeg`]); the agent's leg, when
//! routing rings an agent, is a UAC beside it. A leg knows its dialog, its
//! transactions' answers and timers (2xx retransmission, session timer);
//! it knows nothing of media, the IVR or tickets. What the session must act
//! on comes out as a [`LegEvent`]; offers are answered by the session
//! (which owns the media) through [`uas::UasLeg::answer_offer`].

pub mod uac;
pub mod uas;

use tokio::sync::mpsc;

use crate::media::dtmf::DtmfDigit;
use crate::sip::message::{Request, Response};
use crate::sip::transaction::TransactionKey;

use super::{EndReason, ToDispatch};

/// What a leg tells the call's session.
#[derive(Debug)]
pub enum LegEvent {
    /// The leg is over (BYE from the phone, CANCEL while ringing, no ACK,
    /// session timer expired, shutdown). The leg already sent what SIP
    /// asks for (200 to BYE, 487, our BYE).
    Ended(EndReason),
    /// The ACK for our 2xx arrived. `answer`: the SDP it carried (the
    /// answer to our offer, after a late offer), if any.
    Acked { answer: Option<Vec<u8>> },
    /// A key pressed on the phone, sent as SIP INFO (RFC 2976 / the
    /// `application/dtmf-relay` body).
    Digit(DtmfDigit),
    /// A re-INVITE or UPDATE: the session works out the answer and calls
    /// `answer_offer`. `offer`: the new SDP, or `None` (we must offer).
    Offer {
        key: TransactionKey,
        request: Box<Request>,
        offer: Option<Vec<u8>>,
    },
    /// A REFER (RFC 3515) on an agent's leg: the session decides whether
    /// to follow it and answers through the leg. The caller's leg refuses
    /// REFER itself (callers do not transfer the desk).
    Refer {
        key: TransactionKey,
        request: Box<Request>,
    },
}

/// Answer the request of server transaction `key` (either leg's).
pub(crate) async fn respond(
    dispatch: &mpsc::Sender<ToDispatch>,
    key: TransactionKey,
    resp: Response,
) {
    let _ = dispatch
        .send(ToDispatch::Respond {
            key,
            response: Box::new(resp),
        })
        .await;
}

/// The key an in-dialog INFO carries (`application/dtmf-relay` or
/// `application/dtmf`), if any; answered 200 either way.
pub(crate) async fn answer_info(
    dispatch: &mpsc::Sender<ToDispatch>,
    key: TransactionKey,
    req: &Request,
) -> Option<LegEvent> {
    let digit = crate::media::dtmf::info::parse_info(
        req.headers().get("Content-Type").unwrap_or(""),
        &String::from_utf8_lossy(req.body()),
    )
    .ok();
    respond(dispatch, key, Response::for_request(req, 200, "OK")).await;
    digit.map(LegEvent::Digit)
}
