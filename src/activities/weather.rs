//! `check_weather`: wttr.in's `?format=j1` current conditions, summarised as the reference does.

use super::activity_error::{non_retryable, retryable};
use crate::failure::FailureType;
use crate::http;
use crate::http::response::{BodyLimit, MAX_BODY_BYTES, ResponseClass, ResponseError};
use serde::Deserialize;
use temporalio_sdk::activities::ActivityError;

/// Less than the activity's 30 s start-to-close, so a silent server ends the attempt with our
/// typed `WeatherUnavailable` naming the URL rather than a bare server-side timeout.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Deserialize)]
struct Report {
    current_condition: Vec<Condition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Condition {
    #[serde(rename = "temp_F")]
    temp_f: String,
    weather_desc: Vec<Text>,
    humidity: String,
    windspeed_miles: String,
    #[serde(rename = "winddir16Point")]
    winddir_16_point: String,
}

#[derive(Deserialize)]
struct Text {
    value: String,
}

pub async fn check(
    http: &reqwest::Client,
    base_url: &str,
    location: &str,
) -> Result<String, ActivityError> {
    let url = report_url(base_url, location)
        .map_err(|msg| non_retryable(FailureType::WeatherRejected, msg))?;
    let what = format!("GET {url}");
    let unavailable = |msg: String| retryable(FailureType::WeatherUnavailable, msg, None);
    let request = http.get(url).timeout(REQUEST_TIMEOUT);
    let response = http::response::send(request, BodyLimit::Whole(MAX_BODY_BYTES))
        .await
        .map_err(|err| match err {
            // A report is a few KiB: a body this large will not shrink on a retry.
            ResponseError::TooLarge { .. } => non_retryable(
                FailureType::WeatherRejected,
                format!("{what}: {} (weather.base_url)", err.describe()),
            ),
            _ => unavailable(format!("{what}: {}", err.describe())),
        })?;
    match response.class() {
        ResponseClass::Success => {
            summarise(location, &response.body).map_err(|msg| unavailable(format!("{what}: {msg}")))
        }
        class if class.is_retryable() => Err(unavailable(response.describe(&what))),
        _ => Err(non_retryable(
            FailureType::WeatherRejected,
            response.describe(&what),
        )),
    }
}

fn report_url(base_url: &str, location: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base_url)
        .map_err(|err| format!("weather.base_url {base_url:?} is not a URL ({err})"))?;
    url.path_segments_mut()
        .map_err(|_| format!("weather.base_url {base_url:?} cannot take a path"))?
        .pop_if_empty()
        .push(location);
    url.set_query(Some("format=j1"));
    Ok(url)
}

/// `"{location}: {temp_F}°F, {desc}, humidity {humidity}%, wind {speed}mph {dir}"`.
fn summarise(location: &str, body: &str) -> Result<String, String> {
    let report: Report =
        serde_json::from_str(body).map_err(|err| format!("unexpected weather report: {err}"))?;
    let now = report
        .current_condition
        .first()
        .ok_or("unexpected weather report: current_condition is empty")?;
    let desc = now
        .weather_desc
        .first()
        .map(|t| t.value.as_str())
        .ok_or("unexpected weather report: weatherDesc is empty")?;
    Ok(format!(
        "{location}: {}°F, {desc}, humidity {}%, wind {}mph {}",
        now.temp_f, now.humidity, now.windspeed_miles, now.winddir_16_point
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_the_reference_format() {
        let body = r#"{"current_condition":[{"temp_F":"61","weatherDesc":[{"value":"Partly cloudy"}],
            "humidity":"72","windspeedMiles":"9","winddir16Point":"WSW"}]}"#;
        assert_eq!(
            summarise("Paris", body).unwrap(),
            "Paris: 61°F, Partly cloudy, humidity 72%, wind 9mph WSW"
        );
        assert!(
            summarise("Paris", "{}")
                .unwrap_err()
                .contains("current_condition")
        );
    }

    #[test]
    fn location_is_one_escaped_path_segment() {
        let url = report_url("http://127.0.0.1:9/", "New York/..").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/New%20York%2F..?format=j1");
        let url = report_url("http://127.0.0.1:9/wx", "Oslo").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/wx/Oslo?format=j1");
    }
}
