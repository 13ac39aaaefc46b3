//! Every Callback API event type of VK's 5.199 schema, with an `object` built from the schema
//! itself (`callback/objects.json`, `messages/objects.json`, `base/objects.json`): once with only
//! the fields it marks required, once with every field it describes. Each is accepted and read
//! as what it is; `messages.send`'s answer built from `messages/responses.json` is read too.

use crate::fixtures;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use switchboard_connectors::inbound::{DeliveryState, Inbound};
use switchboard_connectors::vk::{self, Callback, VkConfig};
use switchboard_connectors::{Secret, vk::outbound};

/// Example values from VK's JSON schema files (the `$ref`s cross files; a file the fixtures do
/// not have gives `null`).
struct Examples {
    files: HashMap<String, Value>,
    /// Every described field, or only the required ones.
    full: bool,
}

impl Examples {
    fn file(&mut self, name: &str) -> Value {
        self.files
            .entry(name.to_owned())
            .or_insert_with(|| {
                let path = fixtures::dir().join("vk").join(name);
                std::fs::read(&path)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .unwrap_or(Value::Null)
            })
            .clone()
    }

    /// `../messages/objects.json#/definitions/x` seen from `file` (`callback/objects.json`).
    fn resolve(&mut self, file: &str, reference: &str) -> (String, Value) {
        let (path, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let target = if path.is_empty() {
            file.to_owned()
        } else {
            let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
            let joined = format!("{dir}/{path}");
            let mut parts: Vec<&str> = Vec::new();
            for part in joined.split('/') {
                match part {
                    ".." => {
                        parts.pop();
                    }
                    "" | "." => {}
                    other => parts.push(other),
                }
            }
            parts.join("/")
        };
        let document = self.file(&target);
        let schema = document.pointer(pointer).cloned().unwrap_or(Value::Null);
        (target, schema)
    }

    fn value(&mut self, file: &str, schema: &Value, depth: usize) -> Value {
        if let Some(reference) = schema["$ref"].as_str() {
            let (target, resolved) = self.resolve(file, reference);
            if resolved.is_null() {
                return Value::Null;
            }
            return self.value(&target, &resolved, depth);
        }
        if let Some(parts) = schema["allOf"].as_array() {
            let mut merged = Map::new();
            for part in parts {
                if let Value::Object(map) = self.value(file, part, depth) {
                    merged.extend(map);
                }
            }
            return Value::Object(merged);
        }
        if let Some(first) = schema["oneOf"].as_array().and_then(|b| b.first()) {
            return self.value(file, first, depth);
        }
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        match schema["type"].as_str().unwrap_or("object") {
            "integer" => json!(schema["minimum"].as_i64().unwrap_or(1).max(1)),
            "number" => json!(1.5),
            "boolean" => json!(false),
            "string" if schema["format"] == "uri" => json!("https://vk.example/file"),
            "string" => json!("x"),
            "array" if self.full && depth < 3 => {
                let item = self.value(file, &schema["items"], depth + 1);
                Value::Array(if item.is_null() { vec![] } else { vec![item] })
            }
            "array" => json!([]),
            _ => {
                let mut object = Map::new();
                let properties = schema["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (name, property) in properties {
                    let required = property["required"] == Value::Bool(true);
                    if required || (self.full && depth < 3) {
                        let value = self.value(file, &property, depth + 1);
                        if !value.is_null() {
                            object.insert(name, value);
                        }
                    }
                }
                Value::Object(object)
            }
        }
    }
}

const GROUP: i64 = 77;

fn config() -> VkConfig {
    VkConfig {
        group_id: GROUP,
        secret: Secret::new("vk-secret"),
        confirmation: "abc123".into(),
    }
}

/// The schema of an event type's `object`.
fn object_schema(callbacks: &Value, kind: &str) -> Value {
    match kind {
        // Sent as the message itself.
        "message_reply" | "message_edit" => json!({"$ref": "#/definitions/callback_message"}),
        // `callback_message_object` marks nothing required, yet a `message_new` without its
        // message is not one: the message is kept (with its own required fields) in both runs.
        "message_new" => json!({"properties": {
            "message": {"$ref": "#/definitions/callback_message", "required": true},
            "client_info": {"$ref": "#/definitions/callback_info_for_bots"}}}),
        _ => callbacks["definitions"]
            .get(format!("callback_{kind}"))
            .cloned()
            .unwrap_or_else(|| json!({})),
    }
}

#[test]
fn every_callback_type_of_the_schema_is_accepted() {
    let callbacks = fixtures::json("vk/callback/objects.json");
    let kinds: Vec<String> = callbacks["definitions"]["callback_type"]["enum"]
        .as_array()
        .expect("the callback types")
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    assert!(kinds.len() > 40, "{} types", kinds.len());
    for full in [false, true] {
        let mut examples = Examples {
            files: HashMap::new(),
            full,
        };
        for kind in &kinds {
            let object =
                examples.value("callback/objects.json", &object_schema(&callbacks, kind), 0);
            let body = json!({"type": kind, "group_id": GROUP, "event_id": format!("e-{kind}"),
                "v": "5.199", "secret": "vk-secret", "object": object});
            let answer = vk::handle(body.to_string().as_bytes(), &config());
            let what = format!("{kind} (every field: {full}): {answer:?}\n{body}");
            match (kind.as_str(), answer) {
                ("confirmation", Ok(Callback::Confirm(code))) => assert_eq!(code, "abc123"),
                (_, Ok(Callback::Events { items, .. })) => {
                    assert_eq!(items.len(), 1, "{what}");
                    let fits = match (kind.as_str(), &items[0]) {
                        ("message_new", Inbound::Message(m)) => m.sender.ids == ["1"],
                        ("message_edit", Inbound::Edit(_)) => true,
                        ("message_reply", Inbound::Status(s)) => s.state == DeliveryState::Sent,
                        ("message_read", Inbound::Status(s)) => s.state == DeliveryState::Read,
                        ("message_reaction_event", Inbound::Reaction(r)) => {
                            r.target_external_id == "1_1"
                        }
                        (kind, Inbound::Unsupported(u)) => u.kind == kind,
                        _ => false,
                    };
                    assert!(fits, "{what}");
                }
                _ => panic!("refused: {what}"),
            }
        }
    }
}

#[test]
fn the_send_answer_of_the_schema_is_read() {
    let mut examples = Examples {
        files: HashMap::new(),
        full: true,
    };
    let schema = json!({"$ref": "#/definitions/messages_send_user_ids_response"});
    let mut answer = examples.value("messages/responses.json", &schema, 0);
    assert!(answer["response"].is_array(), "{answer}");
    // Built from the schema, the item carries an `error` too; a success has none.
    answer["response"][0]
        .as_object_mut()
        .expect("an item")
        .remove("error");
    assert_eq!(
        outbound::sent(answer.to_string().as_bytes()),
        Ok("1_1".into())
    );
}
