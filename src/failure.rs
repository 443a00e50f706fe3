//! Every failure type a caller can see, in one catalogue: its name (shown in the UI and in
//! `run --wait`, matchable in a retry policy's `non_retryable_error_types`), what it means, and
//! whether the activity is retried. `docs/failures.md` explains each; a unit test keeps the
//! two in step.
//!
//! Whether a particular failure is retried is decided where it is raised (the same type can
//! be both, e.g. an unreadable answer is safe to retry on `hooks-agent`, where the key
//! re-attaches to the run, but not on `chat-completions`); the catalogue records the rule, and
//! [`application`] asserts (in debug builds, so every test run) that the decision keeps it.

use std::time::Duration;
use temporalio_sdk::ApplicationFailure;

/// Whether Temporal tries an activity again after a failure of this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    Yes,
    No,
    /// Retried, but as a new OpenClaw run: the next attempt must not re-attach to the failed one.
    AsNewRun,
    /// Depends on the protocol; `docs/failures.md` says which.
    ByProtocol,
}

impl Retried {
    /// Whether raising a failure with this stance as `non_retryable` keeps the catalogue's rule.
    pub fn allows(self, non_retryable: bool) -> bool {
        match self {
            Retried::Yes | Retried::AsNewRun => !non_retryable,
            Retried::No => non_retryable,
            Retried::ByProtocol => true,
        }
    }
}

macro_rules! catalogue {
    ($($name:ident: $retried:ident, $meaning:literal;)*) => {
        /// A failure type name; see the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum FailureType {
            $(#[doc = $meaning] $name,)*
        }

        impl FailureType {
            /// Every type, in catalogue order.
            pub const ALL: &'static [FailureType] = &[$(FailureType::$name,)*];

            /// The type name, as the UI and retry policies see it.
            pub fn name(self) -> &'static str {
                match self {
                    $(FailureType::$name => stringify!($name),)*
                }
            }

            /// One line on what it means.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(FailureType::$name => $meaning,)*
                }
            }

            pub fn retried(self) -> Retried {
                match self {
                    $(FailureType::$name => Retried::$retried,)*
                }
            }
        }
    };
}

catalogue! {
    KillswitchActive: No, "The instance's killswitch file exists: agent turns are switched off.";
    UnknownInstance: No, "The workflow named an OpenClaw instance this worker has no [instances.<name>] for.";
    UnknownAgentTurn: No, "No [turns.<id>] and no OpenClaw cron job of that name.";
    AmbiguousAgentTurn: No, "More than one OpenClaw cron job has the turn's name.";
    GatewayUnauthorized: No, "The gateway refused the token (401/403).";
    GatewayEndpointNotFound: No, "The endpoint does not exist: the feature is disabled or the URL is wrong.";
    UnknownAgentJob: No, "cron-fire: the gateway does not know the job (404).";
    UnknownAgent: No, "OpenClaw does not know (or does not allow) the agent id.";
    GatewayRejected: No, "Any other 4xx, or an answer the worker cannot act on.";
    GatewayThrottled: Yes, "The gateway asked to slow down (429).";
    GatewayUnavailable: Yes, "5xx, 408/409, no connection, a body cut off, or no answer in time.";
    GatewayUnreadableAnswer: ByProtocol, "A success status with a body that is not the protocol's answer.";
    GatewayResponseTooLarge: No, "The answer's body is larger than the worker reads.";
    AgentRunFailed: AsNewRun, "The run happened and failed (provider error, run timeout, ...).";
    AgentRunSkipped: No, "OpenClaw skipped the run and gateway.on_skipped = \"fail\".";
    InvalidDefinition: No, "A CustomWorkflow definition that cannot run; found before the first step.";
    InvalidInput: No, "A workflow input that is not what the workflow takes.";
    InvalidHttpRequest: No, "An http_request activity's parameters are invalid.";
    HttpRejected: No, "An http step got a 4xx other than 408, 409 and 429.";
    HttpUnavailable: Yes, "An http step got 408, 409, 429, 5xx, or no (whole) answer.";
    HttpDestinationRefused: No, "An http step's URL, or a redirect's, leads to an address the [http] policy refuses.";
    SecretUnavailable: No, "An http step's header names a [secrets] entry this worker cannot read, or does not have.";
    WeatherRejected: No, "The weather service refused the request, or the report is too large.";
    WeatherUnavailable: Yes, "The weather service did not answer usefully in time.";
    WorkflowNotDeclared: No, "A run of a declared type on a worker whose config does not declare it.";
    ExpressionFailed: No, "A declared step's `when` or template could not be evaluated.";
    ApprovalRejected: No, "An approval step was rejected and its on_reject is \"fail\".";
    ApprovalTimedOut: No, "Nobody decided an approval in time and its on_timeout is \"fail\".";
    DeadlineExceeded: No, "A declared run passed its timeout: its steps were cancelled and on_failure ran.";
    TooManyItems: No, "A for_each step's list is longer than its max_items.";
}

impl std::fmt::Display for FailureType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A plain message as an error source (the SDK wants a `std::error::Error`).
#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// A typed Temporal application failure, built one way for workflows and activities alike.
///
/// `non_retryable` stays the caller's decision, because a `ByProtocol` type is retried on one
/// protocol and not on another and only the caller knows which; for every other type the
/// catalogue already holds the answer, so a caller that contradicts it is a bug, caught here.
pub fn application(
    failure_type: FailureType,
    message: impl Into<String>,
    non_retryable: bool,
    next_retry_delay: Option<Duration>,
) -> ApplicationFailure {
    debug_assert!(
        failure_type.retried().allows(non_retryable),
        "{failure_type} raised with non_retryable = {non_retryable}, but the catalogue says {:?}",
        failure_type.retried()
    );
    ApplicationFailure::builder(Message(message.into()))
        .type_name(failure_type.name().to_owned())
        .non_retryable(non_retryable)
        .maybe_next_retry_delay(next_retry_delay)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, retried cell)` of every row of docs/failures.md's tables.
    fn documented() -> Vec<(String, String)> {
        let doc = include_str!("../docs/failures.md");
        doc.lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((name.to_owned(), cells.get(3)?.to_string()))
            })
            .collect()
    }

    #[test]
    fn the_failures_doc_lists_every_type_and_no_other() {
        let documented = documented();
        let names: Vec<&str> = documented.iter().map(|(n, _)| n.as_str()).collect();
        for kind in FailureType::ALL {
            assert!(
                names.contains(&kind.name()),
                "docs/failures.md has no row for {kind}"
            );
        }
        for name in names {
            assert!(
                FailureType::ALL.iter().any(|k| k.name() == name),
                "docs/failures.md lists {name}, which is not in the catalogue"
            );
        }
    }

    #[test]
    fn the_failures_doc_agrees_on_what_is_retried() {
        for (name, cell) in documented() {
            let kind = FailureType::ALL.iter().find(|k| k.name() == name).unwrap();
            let agrees = match kind.retried() {
                Retried::Yes => cell == "yes",
                Retried::No => cell == "no",
                Retried::AsNewRun => cell == "yes, as a new run",
                Retried::ByProtocol => cell.contains("yes") && cell.contains("no"),
            };
            assert!(
                agrees,
                "{name}: the catalogue says {:?}, the doc {cell:?}",
                kind.retried()
            );
        }
    }

    #[test]
    fn a_decision_is_checked_against_the_catalogue() {
        assert!(FailureType::KillswitchActive.retried().allows(true));
        assert!(!FailureType::KillswitchActive.retried().allows(false));
        assert!(FailureType::GatewayThrottled.retried().allows(false));
        assert!(!FailureType::GatewayThrottled.retried().allows(true));
        assert!(!FailureType::AgentRunFailed.retried().allows(true));
        for non_retryable in [true, false] {
            assert!(
                FailureType::GatewayUnreadableAnswer
                    .retried()
                    .allows(non_retryable)
            );
        }
    }

    /// What `activity_error::retryable(KillswitchActive, ..)` would do: it compiles, and the
    /// first test run that reaches it panics. (Release builds skip the check, and this test.)
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "KillswitchActive raised with non_retryable = false")]
    fn a_failure_raised_against_its_stance_panics_in_debug_builds() {
        application(FailureType::KillswitchActive, "switched off", false, None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = FailureType::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FailureType::ALL.len());
    }
}
