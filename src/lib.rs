//! hotline: SIP call intake for technical-support hotlines.
pub mod sip;
