//! The custom search attributes that make runs findable in the UI (`ClawTurns =
//! "poetry-research-execute"`): their one definition, which the dev server registers
//! (`crate::dev_server::supervisor`), the worker checks for at start (`crate::worker`), and the
//! workflows set.
//!
//! Which schedule started a run is not repeated here: Temporal sets its own
//! `TemporalScheduledById` on every scheduled run.

use anyhow::{Result, anyhow};
use std::collections::HashMap;
use temporalio_client::Client;
use temporalio_client::grpc::OperatorService;
use temporalio_common::protos::temporal::api::enums::v1::IndexedValueType;
use temporalio_common::protos::temporal::api::operatorservice::v1::{
    AddSearchAttributesRequest, ListSearchAttributesRequest,
};
use temporalio_common::search_attributes::{SearchAttributeKey, SearchAttributeUpdate};

/// Every OpenClaw instance the run's agent turns went to, each once. A list, not one keyword:
/// a `CustomWorkflow` or declared step may name its own instance.
pub const INSTANCE: SearchAttributeKey<Vec<String>> =
    SearchAttributeKey::keyword_list("ClawInstance");
/// Every agent turn the run has started, in first-start order, each once.
pub const TURNS: SearchAttributeKey<Vec<String>> = SearchAttributeKey::keyword_list("ClawTurns");
/// The declared workflow's name, a `CustomWorkflow` definition's `name`, or the built-in type.
pub const WORKFLOW: SearchAttributeKey<String> = SearchAttributeKey::keyword("ClawWorkflow");

/// Names and types (as `--search-attribute` and `temporal operator search-attribute create`
/// spell them).
pub const ALL: [(&str, &str); 3] = [
    ("ClawInstance", "KeywordList"),
    ("ClawTurns", "KeywordList"),
    ("ClawWorkflow", "Keyword"),
];

/// A type of [`ALL`] as the API takes it.
fn indexed_value_type(kind: &str) -> IndexedValueType {
    match kind {
        "Keyword" => IndexedValueType::Keyword,
        "KeywordList" => IndexedValueType::KeywordList,
        other => unreachable!("ALL uses only Keyword and KeywordList, not {other}"),
    }
}

/// The workflow code's patch id: runs recorded before the attributes existed have no marker
/// and replay without setting them (docs/versioning.md).
pub const PATCH: &str = "clawfactory-search-attributes";

/// `temporal server start-dev` flags that register every attribute at start.
pub fn server_flags() -> Vec<String> {
    ALL.iter()
        .flat_map(|(name, kind)| ["--search-attribute".to_owned(), format!("{name}={kind}")])
        .collect()
}

/// The attributes a namespace lacks, given its registered custom attributes.
pub fn missing<V>(registered: &HashMap<String, V>) -> Vec<&'static str> {
    ALL.iter()
        .map(|(name, _)| *name)
        .filter(|name| !registered.contains_key(*name))
        .collect()
}

/// The commands that register `missing` on a cluster (for the worker's warning): one per
/// type, as `create` takes several names but one `--type`.
pub fn create_command(missing: &[&str], namespace: &str) -> String {
    let mut by_type: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, kind) in ALL.iter().filter(|(name, _)| missing.contains(name)) {
        match by_type.iter_mut().find(|(k, _)| k == kind) {
            Some((_, names)) => names.push(name),
            None => by_type.push((kind, vec![name])),
        }
    }
    by_type
        .iter()
        .map(|(kind, names)| {
            let names: String = names.iter().map(|n| format!(" --name {n}")).collect();
            format!(
                "temporal operator search-attribute create --namespace {namespace}{names} --type {kind}"
            )
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

/// Registers those the namespace lacks (`server`, at every start: start-dev's
/// `--search-attribute` flags apply only when it creates the database, so a database from an
/// older version would never get them). Returns the names it added.
pub async fn register_missing(client: &Client, namespace: &str) -> Result<Vec<&'static str>> {
    let missing = missing_on(client, namespace).await?;
    if missing.is_empty() {
        return Ok(missing);
    }
    let search_attributes = ALL
        .iter()
        .filter(|(name, _)| missing.contains(name))
        .map(|(name, kind)| ((*name).to_owned(), indexed_value_type(kind) as i32))
        .collect();
    client
        .connection()
        .clone()
        .add_search_attributes(tonic::Request::new(AddSearchAttributesRequest {
            search_attributes,
            namespace: namespace.to_owned(),
        }))
        .await
        .map_err(|status| {
            anyhow!(
                "cannot register the search attributes {} in namespace {namespace:?}: {}",
                missing.join(", "),
                status.message()
            )
        })?;
    Ok(missing)
}

/// Asks the server which of the attributes its namespace lacks.
pub async fn missing_on(client: &Client, namespace: &str) -> Result<Vec<&'static str>> {
    let mut connection = client.connection().clone();
    let response = connection
        .list_search_attributes(tonic::Request::new(ListSearchAttributesRequest {
            namespace: namespace.to_owned(),
        }))
        .await
        .map_err(|status| {
            anyhow!(
                "cannot list the search attributes of namespace {namespace:?}: {}",
                status.message()
            )
        })?;
    Ok(missing(&response.into_inner().custom_attributes))
}

/// `list` with `value` added at the end unless it is there already.
pub fn with_value(mut list: Vec<String>, value: &str) -> Vec<String> {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
    list
}

/// What a run sets before its first command.
pub fn at_start(workflow: &str) -> SearchAttributeUpdate {
    WORKFLOW.value_set(workflow.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_and_the_registered_names_and_types_are_the_same_three() {
        let keys = [
            (INSTANCE.name(), INSTANCE.indexed_value_type()),
            (TURNS.name(), TURNS.indexed_value_type()),
            (WORKFLOW.name(), WORKFLOW.indexed_value_type()),
        ];
        for ((name, kind), (key, key_type)) in ALL.iter().zip(keys) {
            assert_eq!(*name, key);
            assert_eq!(*kind, format!("{key_type:?}"));
            assert_eq!(indexed_value_type(kind), key_type);
        }
    }

    #[test]
    fn the_server_registers_each_attribute_with_its_type() {
        assert_eq!(
            server_flags(),
            [
                "--search-attribute",
                "ClawInstance=KeywordList",
                "--search-attribute",
                "ClawTurns=KeywordList",
                "--search-attribute",
                "ClawWorkflow=Keyword",
            ]
        );
    }

    #[test]
    fn only_the_unregistered_attributes_are_missing_and_named_in_the_command() {
        let registered = HashMap::from([("ClawInstance".to_owned(), 2), ("Other".to_owned(), 2)]);
        let lacking = missing(&registered);
        assert_eq!(lacking, ["ClawTurns", "ClawWorkflow"]);
        assert_eq!(
            create_command(&lacking, "prod"),
            "temporal operator search-attribute create --namespace prod --name ClawTurns \
             --type KeywordList && temporal operator search-attribute create --namespace prod \
             --name ClawWorkflow --type Keyword"
        );
        assert_eq!(
            create_command(&["ClawInstance", "ClawTurns"], "default"),
            "temporal operator search-attribute create --namespace default \
             --name ClawInstance --name ClawTurns --type KeywordList"
        );
    }

    #[test]
    fn a_turn_or_instance_is_listed_once_in_the_order_it_first_ran() {
        let turns = with_value(with_value(Vec::new(), "b"), "a");
        assert_eq!(with_value(turns, "b"), ["b", "a"]);
    }
}
