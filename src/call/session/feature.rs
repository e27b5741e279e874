//! An agent's feature-code call (`*50` .. `*53`): digest-checked with a
//! 407 challenge, the state change, and the confirmation prompt.

use super::{Call, FeatureCall};
use crate::agents::model::Actor;
use crate::agents::FeatureCode;
use crate::call::registrar::Verdict;
use crate::call::EndReason;
use crate::media::session::MediaCommand;

impl Call {
    /// An agent's feature code: the INVITE is digest-challenged (so nobody
    /// can pause someone else), then the agent's state changes. False if
    /// the call was refused (407, 403, or the state could not be stored).
    pub(super) async fn feature_code(&mut self, code: FeatureCode) -> bool {
        let services = &self.setup.services;
        let (Some(registrar), Some(store)) = (&services.registrar, &services.agents) else {
            return true;
        };
        let (id, user, language) = match registrar
            .authenticate(&self.setup.invite, self.setup.source)
            .await
        {
            Verdict::Agent { id, user, language } => (id, user, language),
            Verdict::Refuse {
                status,
                reason,
                headers,
            } => {
                tracing::info!(code = code.dialled(), status, "feature code refused");
                self.leg.refuse(status, reason, headers).await;
                self.end = Some(EndReason::Rejected);
                return false;
            }
        };
        let changed = match code {
            FeatureCode::LogIn | FeatureCode::Resume => store.resume(id, Actor::Phone).await,
            FeatureCode::LogOut => store.logout(id, Actor::Phone).await,
            FeatureCode::Pause => store.pause(id, Some(code.reason()), Actor::Phone).await,
        };
        match changed {
            Ok(t) => {
                tracing::info!(agent = %user, code = code.dialled(), from = %t.from, to = %t.to, "agent state changed by feature code");
            }
            Err(e) => {
                tracing::error!(agent = %user, error = %e, "feature code: state not stored");
                self.leg
                    .refuse(
                        503,
                        "Service Unavailable",
                        vec![("Retry-After", "30".into())],
                    )
                    .await;
                self.end = Some(EndReason::Rejected);
                return false;
            }
        }
        self.feature = Some(FeatureCall { code, language });
        true
    }

    /// Play the feature code's confirmation in the agent's language.
    pub(super) async fn confirm_feature(&mut self) {
        let Some(f) = &self.feature else { return };
        let prompts = &self.setup.settings.flow.prompts;
        let name = format!("{}/{}", f.language, f.code.prompt());
        let prompt = prompts
            .get(&name)
            .or_else(|| prompts.get(&format!("en/{}", f.code.prompt())));
        match prompt {
            Some(p) => {
                self.media
                    .send(MediaCommand::Play {
                        prompts: vec![p],
                        barge_in: false,
                    })
                    .await
            }
            None => {
                tracing::warn!(prompt = %name, "confirmation prompt missing");
                self.hang_up(EndReason::FlowEnded).await;
            }
        }
    }
}
