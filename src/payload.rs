//! Temporal payloads as JSON, the way every Temporal SDK's default converter writes them.
//! Inputs arrive from many starters (the UI, the `temporal` CLI, schedules, Python
//! controllers): none at all, `null`, or one JSON value; workflows decode them here, so a
//! malformed input fails the workflow typed instead of wedging its first task.

use temporalio_common::data_converters::RawValue;
use temporalio_common::protos::temporal::api::common::v1::Payload;

/// `None` for no payload or JSON `null`; otherwise the one JSON value.
pub fn json_value(raw: &RawValue) -> Result<Option<serde_json::Value>, String> {
    let payload = match raw.payloads.as_slice() {
        [] => return Ok(None),
        [payload] => payload,
        many => return Err(format!("expected one input value, got {}", many.len())),
    };
    decode(payload)
}

fn decode(payload: &Payload) -> Result<Option<serde_json::Value>, String> {
    let encoding = payload
        .metadata
        .get("encoding")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    match encoding.as_str() {
        "binary/null" => Ok(None),
        "json/plain" => match serde_json::from_slice(&payload.data) {
            Ok(serde_json::Value::Null) => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(err) => Err(format!("input is not valid JSON: {err}")),
        },
        // A payload with no metadata is what an empty RawValue carries: treat as no input.
        "" if payload.data.is_empty() => Ok(None),
        other => Err(format!(
            "input encoding {other:?} is not supported (expected json/plain)"
        )),
    }
}

/// A JSON value as a payload, the way every Temporal SDK's default converter writes it.
pub fn json_payload(value: &serde_json::Value) -> Payload {
    Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())]
            .into_iter()
            .collect(),
        data: serde_json::to_vec(value).expect("a serde_json::Value always serializes"),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(payloads: Vec<Payload>) -> RawValue {
        RawValue { payloads }
    }

    #[test]
    fn no_payload_null_and_binary_null_are_none() {
        assert_eq!(json_value(&raw(vec![])), Ok(None));
        assert_eq!(
            json_value(&raw(vec![json_payload(&serde_json::Value::Null)])),
            Ok(None)
        );
        let null = Payload {
            metadata: [("encoding".to_owned(), b"binary/null".to_vec())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        assert_eq!(json_value(&raw(vec![null])), Ok(None));
        assert_eq!(json_value(&raw(vec![Payload::default()])), Ok(None));
    }

    #[test]
    fn json_round_trips_and_garbage_is_named() {
        let v = serde_json::json!({"settle": "90s"});
        assert_eq!(
            json_value(&raw(vec![json_payload(&v)])),
            Ok(Some(v.clone()))
        );
        let mut bad = json_payload(&v);
        bad.data = b"{nope".to_vec();
        assert!(
            json_value(&raw(vec![bad]))
                .unwrap_err()
                .contains("not valid JSON")
        );
        let two = raw(vec![json_payload(&v), json_payload(&v)]);
        assert!(json_value(&two).unwrap_err().contains("one input value"));
        let mut proto = json_payload(&v);
        proto
            .metadata
            .insert("encoding".into(), b"binary/protobuf".to_vec());
        assert!(
            json_value(&raw(vec![proto]))
                .unwrap_err()
                .contains("binary/protobuf")
        );
    }
}
