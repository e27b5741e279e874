//! Feature codes an agent dials from the softphone to change their own
//! state, as on a PBX: `*50` log in, `*51` log out, `*52` pause, `*53`
//! resume.

use super::AgentState;

/// What a dialled feature code asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureCode {
    LogIn,
    LogOut,
    Pause,
    Resume,
}

impl FeatureCode {
    /// The code in a dialled string (the Request-URI user), if it is one.
    /// Phones send the star as is or percent-encoded; both arrive decoded.
    pub fn from_dialled(dialled: &str) -> Option<FeatureCode> {
        match dialled.trim() {
            "*50" => Some(FeatureCode::LogIn),
            "*51" => Some(FeatureCode::LogOut),
            "*52" => Some(FeatureCode::Pause),
            "*53" => Some(FeatureCode::Resume),
            _ => None,
        }
    }

    pub fn dialled(self) -> &'static str {
        match self {
            FeatureCode::LogIn => "*50",
            FeatureCode::LogOut => "*51",
            FeatureCode::Pause => "*52",
            FeatureCode::Resume => "*53",
        }
    }

    /// The state the agent is put in.
    pub fn target_state(self) -> AgentState {
        match self {
            FeatureCode::LogIn | FeatureCode::Resume => AgentState::Available,
            FeatureCode::LogOut => AgentState::Offline,
            FeatureCode::Pause => AgentState::Paused,
        }
    }

    /// The reason stored with the state change.
    pub fn reason(self) -> &'static str {
        match self {
            FeatureCode::LogIn => "logged in with *50",
            FeatureCode::LogOut => "logged out with *51",
            FeatureCode::Pause => "paused with *52",
            FeatureCode::Resume => "resumed with *53",
        }
    }

    /// The confirmation prompt the agent hears.
    pub fn prompt(self) -> &'static str {
        match self {
            FeatureCode::LogIn => "agent-logged-in",
            FeatureCode::LogOut => "agent-logged-out",
            FeatureCode::Pause => "agent-paused",
            FeatureCode::Resume => "agent-resumed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_recognised_and_nothing_else() {
        assert_eq!(FeatureCode::from_dialled("*50"), Some(FeatureCode::LogIn));
        assert_eq!(FeatureCode::from_dialled("*53"), Some(FeatureCode::Resume));
        assert_eq!(FeatureCode::from_dialled("*54"), None);
        assert_eq!(FeatureCode::from_dialled("50"), None);
        assert_eq!(FeatureCode::from_dialled("hotline"), None);
        for c in [
            FeatureCode::LogIn,
            FeatureCode::LogOut,
            FeatureCode::Pause,
            FeatureCode::Resume,
        ] {
            assert_eq!(FeatureCode::from_dialled(c.dialled()), Some(c));
        }
        assert_eq!(FeatureCode::Pause.target_state(), AgentState::Paused);
    }
}
