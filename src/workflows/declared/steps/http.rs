//! `http`: one HTTP request through the `http_request` activity (which enforces where it may
//! go); 2xx is success. The body is templated; the URL and method are checked when the
//! declaration compiles, by the same validation the activity runs.

use crate::activities::HttpRequestParams;
use crate::config::StepRetry;
use crate::workflows::declared::expr::Template;
use crate::workflows::declared::plan::{Compiling, PlannedStep};
use crate::workflows::declared::run::{Flow, Run, StepError, activity_failure};
use crate::workflows::options;
use std::time::Duration;

pub(super) const KEYS: &[&str] = &["timeout", "retry", "url", "method", "body"];

/// An http step's timeout when it names none (the reference's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Http {
    pub method: String,
    pub url: String,
    pub body: Option<Template>,
    /// The request's; the activity gets 10 s more (`options::http`).
    pub timeout: Duration,
    pub retry: Option<StepRetry>,
}

pub(super) fn compile(step: &Compiling) -> Result<Http, String> {
    let decl = step.decl;
    let timeout = step.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let params = HttpRequestParams {
        method: decl.method.clone().unwrap_or_else(|| "GET".into()),
        url: step.required("url", &decl.url)?,
        timeout: timeout.as_secs_f64(),
        body: None,
    };
    params
        .validate()
        .map_err(|err| format!("{}.{err}", step.here))?;
    Ok(Http {
        method: params.method,
        url: params.url,
        body: step.template("body", &decl.body)?,
        timeout,
        retry: decl.retry.clone(),
    })
}

pub(super) async fn run(
    run: &Run<'_>,
    step: &PlannedStep,
    http: &Http,
) -> Result<(String, Flow), StepError> {
    let id = &step.id;
    let body = run.render(step, "body", http.body.as_ref())?;
    let params = HttpRequestParams {
        method: http.method.clone(),
        url: http.url.clone(),
        timeout: http.timeout.as_secs_f64(),
        body,
    };
    let summary = format!("{id}: {} {}", http.method.to_ascii_uppercase(), http.url);
    run.activate(id, summary.clone());
    let mut options = options::http(http.timeout, http.retry.as_ref());
    options.summary = Some(summary);
    let params = serde_json::to_string(&params).expect("params serialize");
    let result = run.engine().http(params, options).await;
    Ok((
        result.map_err(|err| activity_failure(id, err))?,
        Flow::Continue,
    ))
}
