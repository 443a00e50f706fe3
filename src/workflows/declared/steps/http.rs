//! `http`: one HTTP request through the `http_request` activity (which enforces where it may
//! go); 2xx is success. The body and header values are templated; the URL, method and header
//! names are checked when the declaration compiles, by the same validation the activity runs.
//!
//! A header's `{{ secrets.<name> }}` is not rendered here: the activity input (written to the
//! history) carries `{"secret": "<name>"}` and the activity fills in the value.

use crate::activities::HttpRequestParams;
use crate::config::StepRetry;
use crate::workflows::declared::expr::Template;
use crate::workflows::declared::plan::{Compiling, PlannedStep};
use crate::workflows::declared::run::{Flow, Run, StepError, activity_failure};
use crate::workflows::options;
use std::collections::BTreeMap;
use std::time::Duration;

pub(super) const KEYS: &[&str] = &["timeout", "retry", "url", "method", "body", "headers"];

/// An http step's timeout when it names none (the reference's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Http {
    pub method: String,
    pub url: String,
    pub body: Option<Template>,
    /// By name, each value's template (secrets kept apart: `Template::render_parts`).
    pub headers: BTreeMap<String, Template>,
    /// The request's; the activity gets 10 s more (`options::http`).
    pub timeout: Duration,
    pub retry: Option<StepRetry>,
}

impl Http {
    /// The secrets its headers name, for the checks against `[secrets]`.
    pub fn secrets(&self) -> impl Iterator<Item = (&str, String)> {
        self.headers.iter().flat_map(|(name, template)| {
            template
                .exprs()
                .filter_map(move |expr| Some((name.as_str(), expr.secret()?)))
        })
    }
}

pub(super) fn compile(step: &Compiling) -> Result<Http, String> {
    let decl = step.decl;
    let timeout = step.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let params = HttpRequestParams {
        method: decl.method.clone().unwrap_or_else(|| "GET".into()),
        url: step.required("url", &decl.url)?,
        timeout: timeout.as_secs_f64(),
        body: None,
        headers: decl
            .headers
            .keys()
            .map(|name| (name.clone(), Vec::new()))
            .collect(),
    };
    params
        .validate()
        .map_err(|err| format!("{}.{err}", step.here))?;
    let headers = decl
        .headers
        .iter()
        .map(|(name, text)| Ok((name.clone(), step.header(name, text)?)))
        .collect::<Result<_, String>>()?;
    Ok(Http {
        method: params.method,
        url: params.url,
        body: step.template("body", &decl.body)?,
        headers,
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
    let mut headers = BTreeMap::new();
    for (name, template) in &http.headers {
        let key = format!("headers.{name}");
        headers.insert(name.clone(), run.render_parts(step, &key, template)?);
    }
    let params = HttpRequestParams {
        method: http.method.clone(),
        url: http.url.clone(),
        timeout: http.timeout.as_secs_f64(),
        body,
        headers,
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
