//! The registrar's answers: the 200 that lists every current binding with
//! the seconds it has left (RFC 3261 §10.3 step 8, with `Date`), the 423
//! with `Min-Expires`, and the other refusals.

use chrono::{DateTime, Utc};

use super::{Binding, Refusal};
use crate::sip::message::{Request, Response};

/// 200 OK for `req`: one `Contact: <uri>;expires=N` per binding and `Date`.
pub fn ok_response(req: &Request, bindings: &[Binding], now: DateTime<Utc>) -> Response {
    let mut resp = Response::for_request(req, 200, "OK");
    for b in bindings {
        let secs = b.remaining_secs(now).max(1);
        resp.headers
            .push("Contact", format!("<{}>;expires={secs}", b.contact_uri));
    }
    resp.headers.push("Date", http_date(now));
    resp
}

/// The answer to a refused REGISTER (423 carries `Min-Expires`).
pub fn refusal_response(req: &Request, refusal: &Refusal) -> Response {
    let reason = match refusal {
        Refusal::IntervalTooBrief { .. } => "Interval Too Brief",
        Refusal::TooManyBindings { .. } => "Forbidden (too many bindings)",
        Refusal::OutOfOrder => "Server Internal Error (CSeq out of order)",
        Refusal::BadRequest(_) => "Bad Request (Contact or Expires)",
        Refusal::UnsupportedScheme(_) => "Unsupported URI Scheme",
    };
    let mut resp = Response::for_request(req, refusal.status(), reason);
    if let Refusal::IntervalTooBrief { min_expires } = refusal {
        resp.headers.push("Min-Expires", min_expires.to_string());
    }
    resp
}

/// RFC 1123 date, as SIP's `Date` header wants (RFC 3261 §20.17).
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
