//! Where a run's time went, read from its history (server timestamps).

use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::HistoryEvent;

/// A run's whole history.
pub async fn events(client: &temporalio_client::Client, id: &str) -> Vec<HistoryEvent> {
    use futures::StreamExt;
    let handle = client.get_workflow_handle::<temporalio_common::UntypedWorkflow>(id);
    handle
        .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default())
        .filter_map(|e| async move { e.ok() })
        .collect()
        .await
}

/// An event's server timestamp, in milliseconds since the epoch.
pub fn at(event: &HistoryEvent) -> f64 {
    event
        .event_time
        .as_ref()
        .map(|t| t.seconds as f64 * 1000.0 + t.nanos as f64 / 1e6)
        .unwrap_or_default()
}

/// Where one run's time went, from its history (server timestamps), in milliseconds:
/// workflow tasks waiting in a queue (scheduled → started), workflow tasks being worked on
/// (started → completed: the worker's processing plus the completion round trip), activities
/// (scheduled → completed), how many workflow tasks there were, and the whole run (started →
/// completed, i.e. without the driver's own start and result round trips).
#[derive(Debug, Default, Clone, Copy)]
pub struct Phases {
    pub total: f64,
    pub wft_wait: f64,
    /// The first workflow task's wait (normal queue; later ones go to the sticky queue).
    pub first_wft_wait: f64,
    pub wft_work: f64,
    pub activity: f64,
    pub wfts: u32,
}

pub async fn phases(client: &temporalio_client::Client, id: &str) -> Phases {
    let events = events(client, id).await;
    let mut phases = Phases::default();
    let (mut wft_scheduled, mut wft_started, mut act_scheduled) = (0.0, 0.0, 0.0);
    let first = events.first().map(at).unwrap_or_default();
    for event in &events {
        match event.event_type() {
            EventType::WorkflowExecutionCompleted => phases.total = at(event) - first,
            EventType::WorkflowTaskScheduled => wft_scheduled = at(event),
            EventType::WorkflowTaskStarted => {
                wft_started = at(event);
                phases.wft_wait += wft_started - wft_scheduled;
                if phases.wfts == 0 {
                    phases.first_wft_wait = wft_started - wft_scheduled;
                }
                phases.wfts += 1;
            }
            EventType::WorkflowTaskCompleted => phases.wft_work += at(event) - wft_started,
            EventType::ActivityTaskScheduled => act_scheduled = at(event),
            EventType::ActivityTaskCompleted => phases.activity += at(event) - act_scheduled,
            _ => {}
        }
    }
    phases
}

/// The median of each phase over `all`.
pub fn median_phases(all: &[Phases]) -> Phases {
    let median = |f: fn(&Phases) -> f64| {
        let mut values: Vec<f64> = all.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or_default()
    };
    Phases {
        total: median(|p| p.total),
        wft_wait: median(|p| p.wft_wait),
        first_wft_wait: median(|p| p.first_wft_wait),
        wft_work: median(|p| p.wft_work),
        activity: median(|p| p.activity),
        wfts: all.first().map(|p| p.wfts).unwrap_or_default(),
    }
}
