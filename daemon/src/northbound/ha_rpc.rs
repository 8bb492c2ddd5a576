//! The failover RPCs of the netdhcp-server module (ha-maintenance-start,
//! ha-maintenance-cancel, ha-partner-down, ha-continue): each is a command for the running
//! relationship's state machine, answered with its refusal as an rpc-error. ha-continue answers
//! with Kea's text in its `message` output leaf.

use std::sync::Arc;

use netconf::backend::Reply;
use netconf::error::{ErrorTag, ErrorType, RpcError};
use netconf::rpc::Operation;

use super::error::error;
use crate::ha::port::HaPort;
use crate::ha::Event;

/// The state machine event an operation asks for, if it is one of the failover RPCs.
pub fn event_of(op: &Operation) -> Option<Event> {
    let Operation::Other {
        name, namespace, ..
    } = op
    else {
        return None;
    };
    if namespace != yang::paths::NAMESPACE {
        return None;
    }
    match name.as_str() {
        "ha-maintenance-start" => Some(Event::MaintenanceStart),
        "ha-maintenance-cancel" => Some(Event::MaintenanceCancel),
        "ha-partner-down" => Some(Event::PartnerDownCommand),
        "ha-continue" => Some(Event::Continue),
        _ => None,
    }
}

/// Carries out a failover RPC. Waits for the machine's verdict (and, for a maintenance start,
/// not for the partner's answer, which arrives later as a state change).
pub async fn run(port: Arc<HaPort>, event: Event) -> Result<Reply, Vec<RpcError>> {
    if port.shared.load().is_none() {
        return Err(vec![error(
            ErrorType::Application,
            ErrorTag::OperationFailed,
            "failover is not configured on this server (/server/ha)",
        )]);
    }
    port.command(event)
        .await
        .map(|text| match text {
            Some(text) => Reply::Output(message_output(text)),
            None => Reply::Ok,
        })
        .map_err(|reason| {
            vec![error(
                ErrorType::Application,
                ErrorTag::OperationFailed,
                reason,
            )]
        })
}

/// The `message` output leaf carrying the machine's answer.
fn message_output(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        r#"<message xmlns="{}">{escaped}</message>"#,
        yang::paths::NAMESPACE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other(name: &str, namespace: &str) -> Operation {
        Operation::Other {
            name: name.into(),
            namespace: namespace.into(),
            xml: String::new(),
        }
    }

    #[test]
    fn only_the_modules_own_rpcs_are_failover_commands() {
        assert_eq!(
            event_of(&other("ha-partner-down", yang::paths::NAMESPACE)),
            Some(Event::PartnerDownCommand)
        );
        assert_eq!(
            event_of(&other("ha-maintenance-start", yang::paths::NAMESPACE)),
            Some(Event::MaintenanceStart)
        );
        assert_eq!(
            event_of(&other("ha-continue", yang::paths::NAMESPACE)),
            Some(Event::Continue)
        );
        assert_eq!(event_of(&other("ha-partner-down", "urn:other")), None);
        assert_eq!(event_of(&other("reboot", yang::paths::NAMESPACE)), None);
    }

    #[test]
    fn the_answer_text_is_the_message_leaf() {
        assert_eq!(
            message_output(crate::ha::state::CONTINUE_RELEASED),
            format!(
                r#"<message xmlns="{}">HA state machine continues.</message>"#,
                yang::paths::NAMESPACE
            )
        );
    }

    #[tokio::test]
    async fn without_failover_the_rpcs_fail_with_a_reason() {
        let (port, _queues) = HaPort::new().unwrap();
        let errors = run(port, Event::PartnerDownCommand).await.unwrap_err();
        assert_eq!(errors[0].tag, ErrorTag::OperationFailed);
        assert!(errors[0]
            .message
            .as_deref()
            .unwrap()
            .contains("not configured"));
    }
}
