//! The server's own queue latency, with no SDK worker: where the burst benchmark's
//! 35–40 ms workflow-task queue waits come from.
//!
//! A minimal client plays the worker with raw gRPC calls, always polling BEFORE the task it
//! waits for can exist (each poll is sent and left hanging for `BENCH_FLOOR_POLL_LEAD_MS`,
//! 200, before the call that creates its task), so any time a task spends between
//! "scheduled" and "started" in the history is the server's: its transfer queue and matching,
//! not a poller that was late. The run has the shape of a one-turn `PoetryResearchWorkflow`:
//!
//! 1. a poll on the normal queue; `StartWorkflowExecution`; the poll returns workflow task 1;
//! 2. polls on the activity queue and on a sticky queue; workflow task 1 completes with a
//!    `ScheduleActivityTask` (not eager, so it goes through matching) and the sticky queue;
//! 3. the activity poll returns; the activity completes;
//! 4. the sticky poll returns workflow task 2, which completes the run.
//!
//! `BENCH_TRANSFER_RPS=20` gives the server its default transfer-queue rate back (see
//! `harness::start_server`), and `BENCH_FLOOR_POLL_FIELDS=sdk` sends the deployment options
//! the SDK's polls carry.
//!
//! Printed per step (medians and p95 over `BENCH_FLOOR_RUNS`, 50): the history's
//! scheduled → started of both workflow tasks and of the activity, and the client's view:
//! start call → task 1 in hand, activity completion call → task 2 in hand.

use crate::common::{self, TASK_QUEUE};
use crate::harness::{env_or, ms, percentile, start_server};
use crate::history::{at, events};
use std::time::{Duration, Instant};
use temporalio_client::{Client, NamespacedClient};
use temporalio_common::protos::temporal::api::command::v1::{
    Command, CompleteWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
    command::Attributes,
};
use temporalio_common::protos::temporal::api::common::v1::{ActivityType, WorkflowType};
use temporalio_common::protos::temporal::api::deployment::v1::WorkerDeploymentOptions;
use temporalio_common::protos::temporal::api::enums::v1::WorkerVersioningMode;
use temporalio_common::protos::temporal::api::enums::v1::{CommandType, EventType, TaskQueueKind};
use temporalio_common::protos::temporal::api::taskqueue::v1::{
    StickyExecutionAttributes, TaskQueue,
};
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    PollActivityTaskQueueRequest, PollActivityTaskQueueResponse, PollWorkflowTaskQueueRequest,
    PollWorkflowTaskQueueResponse, RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest, StartWorkflowExecutionRequest,
};
use tokio::task::JoinHandle;

const STICKY_QUEUE: &str = "queue-floor-sticky";
const IDENTITY: &str = "queue-floor";

fn queue(name: &str, kind: TaskQueueKind) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_owned(),
        kind: kind as i32,
        normal_name: if kind == TaskQueueKind::Sticky {
            TASK_QUEUE.to_owned()
        } else {
            String::new()
        },
    })
}

fn seconds(secs: u64) -> Option<prost_wkt_types::Duration> {
    Some(Duration::from_secs(secs).try_into().unwrap())
}

/// Whether polls carry the SDK's deployment options (`BENCH_FLOOR_POLL_FIELDS=sdk`).
fn sdk_fields() -> bool {
    std::env::var("BENCH_FLOOR_POLL_FIELDS").is_ok_and(|v| v == "sdk")
}

fn deployment_options() -> Option<WorkerDeploymentOptions> {
    sdk_fields().then(|| WorkerDeploymentOptions {
        deployment_name: String::new(),
        build_id: "floor-build".into(),
        worker_versioning_mode: WorkerVersioningMode::Unversioned as i32,
    })
}

/// A workflow-task poll, sent now and awaited later.
fn poll_workflow_task(
    client: &Client,
    task_queue: Option<TaskQueue>,
) -> JoinHandle<PollWorkflowTaskQueueResponse> {
    let mut service = client.connection().workflow_service();
    let request = PollWorkflowTaskQueueRequest {
        namespace: client.namespace(),
        task_queue,
        identity: IDENTITY.into(),
        deployment_options: deployment_options(),
        ..Default::default()
    };
    tokio::spawn(async move {
        let response = service
            .poll_workflow_task_queue(tonic::Request::new(request))
            .await
            .expect("poll workflow task queue")
            .into_inner();
        assert!(!response.task_token.is_empty(), "the poll returned no task");
        response
    })
}

fn poll_activity_task(client: &Client) -> JoinHandle<PollActivityTaskQueueResponse> {
    let mut service = client.connection().workflow_service();
    let request = PollActivityTaskQueueRequest {
        namespace: client.namespace(),
        task_queue: queue(TASK_QUEUE, TaskQueueKind::Normal),
        identity: IDENTITY.into(),
        deployment_options: deployment_options(),
        ..Default::default()
    };
    tokio::spawn(async move {
        let response = service
            .poll_activity_task_queue(tonic::Request::new(request))
            .await
            .expect("poll activity task queue")
            .into_inner();
        assert!(!response.task_token.is_empty(), "the poll returned no task");
        response
    })
}

async fn complete_workflow_task(client: &Client, task_token: Vec<u8>, command: Command) {
    let request = RespondWorkflowTaskCompletedRequest {
        namespace: client.namespace(),
        task_token,
        commands: vec![command],
        identity: IDENTITY.into(),
        sticky_attributes: Some(StickyExecutionAttributes {
            worker_task_queue: queue(STICKY_QUEUE, TaskQueueKind::Sticky),
            schedule_to_start_timeout: seconds(10),
        }),
        ..Default::default()
    };
    client
        .connection()
        .workflow_service()
        .respond_workflow_task_completed(tonic::Request::new(request))
        .await
        .expect("complete workflow task");
}

fn schedule_activity() -> Command {
    Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(Attributes::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: "1".into(),
                activity_type: Some(ActivityType {
                    name: "turn".into(),
                }),
                task_queue: queue(TASK_QUEUE, TaskQueueKind::Normal),
                start_to_close_timeout: seconds(10),
                request_eager_execution: false,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn complete_workflow() -> Command {
    Command {
        command_type: CommandType::CompleteWorkflowExecution as i32,
        attributes: Some(Attributes::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes::default(),
        )),
        ..Default::default()
    }
}

/// What one run measured, in milliseconds.
struct Floor {
    /// History: workflow task 1, scheduled → started.
    wft1_wait: f64,
    /// History: the activity, scheduled → started.
    activity_wait: f64,
    /// History: workflow task 2 (sticky), scheduled → started.
    wft2_wait: f64,
    /// Client: start call sent → workflow task 1 in hand.
    start_to_task: f64,
    /// Client: activity completion sent → workflow task 2 in hand.
    completion_to_task: f64,
}

async fn one_run(client: &Client, id: &str, lead: Duration) -> Floor {
    let first_poll = poll_workflow_task(client, queue(TASK_QUEUE, TaskQueueKind::Normal));
    tokio::time::sleep(lead).await;
    let sent = Instant::now();
    client
        .connection()
        .workflow_service()
        .start_workflow_execution(tonic::Request::new(StartWorkflowExecutionRequest {
            namespace: client.namespace(),
            workflow_id: id.into(),
            workflow_type: Some(WorkflowType {
                name: "QueueFloor".into(),
            }),
            task_queue: queue(TASK_QUEUE, TaskQueueKind::Normal),
            identity: IDENTITY.into(),
            request_id: id.into(),
            ..Default::default()
        }))
        .await
        .expect("start workflow");
    let task = first_poll.await.unwrap();
    let start_to_task = ms(sent.elapsed());

    let activity_poll = poll_activity_task(client);
    let sticky_poll = poll_workflow_task(client, queue(STICKY_QUEUE, TaskQueueKind::Sticky));
    tokio::time::sleep(lead).await;
    complete_workflow_task(client, task.task_token, schedule_activity()).await;
    let activity = activity_poll.await.unwrap();
    let sent = Instant::now();
    client
        .connection()
        .workflow_service()
        .respond_activity_task_completed(tonic::Request::new(RespondActivityTaskCompletedRequest {
            namespace: client.namespace(),
            task_token: activity.task_token,
            identity: IDENTITY.into(),
            ..Default::default()
        }))
        .await
        .expect("complete activity");
    let task = sticky_poll.await.unwrap();
    let completion_to_task = ms(sent.elapsed());
    complete_workflow_task(client, task.task_token, complete_workflow()).await;

    let (mut waits, mut activity_wait, mut scheduled) = (Vec::new(), 0.0, 0.0);
    for event in events(client, id).await {
        match event.event_type() {
            EventType::WorkflowTaskScheduled | EventType::ActivityTaskScheduled => {
                scheduled = at(&event)
            }
            EventType::WorkflowTaskStarted => waits.push(at(&event) - scheduled),
            EventType::ActivityTaskStarted => activity_wait = at(&event) - scheduled,
            _ => {}
        }
    }
    assert_eq!(waits.len(), 2, "{id}: expected two workflow tasks");
    Floor {
        wft1_wait: waits[0],
        activity_wait,
        wft2_wait: waits[1],
        start_to_task,
        completion_to_task,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --test bench -- --ignored --nocapture queue_floor::"]
async fn benchmark() {
    let runs: usize = env_or("BENCH_FLOOR_RUNS", 50);
    let lead = Duration::from_millis(env_or("BENCH_FLOOR_POLL_LEAD_MS", 200));
    let dir = common::tmpfs_dir();
    let server = start_server(dir.path()).await;
    let client = server.client().await;
    let mut floors = Vec::new();
    for i in 0..runs + 3 {
        let floor = one_run(&client, &format!("floor-{i}"), lead).await;
        if i >= 3 {
            floors.push(floor);
        }
    }
    println!();
    println!(
        "| {runs} runs, polls waiting {} ms ahead | median | p95 |",
        lead.as_millis()
    );
    println!("|---|---|---|");
    let row = |name: &str, f: fn(&Floor) -> f64| {
        let mut values: Vec<f64> = floors.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.1} ms | {:.1} ms |",
            percentile(&values, 0.5),
            percentile(&values, 0.95)
        );
    };
    row("history: workflow task 1 scheduled → started", |f| {
        f.wft1_wait
    });
    row("history: activity scheduled → started", |f| {
        f.activity_wait
    });
    row(
        "history: workflow task 2 (sticky) scheduled → started",
        |f| f.wft2_wait,
    );
    row("client: start sent → task 1 in hand", |f| f.start_to_task);
    row("client: activity completion sent → task 2 in hand", |f| {
        f.completion_to_task
    });
}
