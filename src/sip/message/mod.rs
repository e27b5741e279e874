//! SIP messages: our own types, the parse entry point and serialisation.
//!
//! The rest of the crate sees [`Request`], [`Response`] and the typed header
//! views here, never the wire syntax. Entry point: [`parse`].

mod frame;
mod header;
pub mod multipart;
mod parse;
mod response;
mod uri;

use std::fmt;

pub use frame::{
    canonical_name, stream_message_len, FrameError, StreamFramer, StreamItem, MAX_MESSAGE_SIZE,
};
pub use header::{param, parse_params, split_list, CSeq, HeaderError, NameAddr, Params, Via};
pub use parse::{parse, DropReason, ParseError, Rejection};
pub use uri::{percent_decode, SipUri, Uri, UriError};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub String);
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// The Call-ID of a message (RFC 3261 §8.1.1.4); compared byte-exact.
    CallId
);
string_id!(
    /// A Via `branch` parameter: the transaction id (RFC 3261 §8.1.1.7).
    Branch
);
string_id!(
    /// A From/To `tag`: one side's half of a dialog id.
    Tag
);

impl Branch {
    /// RFC 3261 magic cookie: branches that start with it are unique.
    pub const MAGIC: &'static str = "z9hG4bK";

    pub fn is_rfc3261(&self) -> bool {
        self.0.starts_with(Self::MAGIC)
    }
}

/// Request methods. Unknown ones are kept so we can answer them 501.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Update,
    Register,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Other(String),
}

impl Method {
    /// Methods are case-sensitive (RFC 3261 §7.1): `invite` is unknown.
    pub fn from_token(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header lines in order, names canonical for the headers we know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// First value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Comma-separated list headers (Require, Supported, Privacy, ...) as
    /// trimmed, non-empty items.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get_all(name)
            .flat_map(split_list)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((canonical_name(&name.into()), value.into()));
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn values_mut<'a>(&'a mut self, name: &'a str) -> impl Iterator<Item = &'a mut String> + 'a {
        self.0
            .iter_mut()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// A request whose mandatory headers were checked when it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: Method,
    uri: Uri,
    headers: Headers,
    body: Vec<u8>,
    vias: Vec<Via>,
    from: NameAddr,
    to: NameAddr,
    call_id: CallId,
    cseq: CSeq,
    max_forwards: Option<u32>,
}

/// A response; headers are parsed on demand because the responses we build
/// for broken requests may themselves lack From or To.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// Either kind of message, as [`parse`] returns it.
// Requests carry their parsed mandatory headers and are bigger; a message
// is moved a couple of times per datagram, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

#[cfg(test)]
mod tests;
