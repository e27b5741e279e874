//! What the flow may ask about the desk's hours: the `staffed` condition
//! and the `callback_time` say step. The IVR stays free of clocks and
//! schedules: the call gives its machine a [`Staffing`] (the desk's is
//! `crate::hours::DeskStaffing`), tests give a fixed one.

use std::fmt;
use std::time::Duration;

/// Whether a person could take a call of a severity now.
pub trait Staffing: Send + Sync + fmt::Debug {
    /// An engineer of a tier that could take a ticket of `severity` (its
    /// tier or an overflow tier; any tier when the severity is unknown)
    /// keeps hours now.
    fn staffed(&self, severity: Option<&str>) -> bool;
    /// How long until one does: zero while one does, `None` when none
    /// opens within the schedule's horizon.
    fn opens_in(&self, severity: Option<&str>) -> Option<Duration>;
}

/// A desk that never closes: what a call gets without `[hours]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysStaffed;

impl Staffing for AlwaysStaffed {
    fn staffed(&self, _: Option<&str>) -> bool {
        true
    }

    fn opens_in(&self, _: Option<&str>) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}
