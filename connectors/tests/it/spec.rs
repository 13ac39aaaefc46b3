//! Checkers of a built request against the providers' own descriptions in the fixtures: the
//! Bot API spec JSON, VK's `messages/methods.json`, WhatsApp's OpenAPI YAML. Each answers the
//! list of problems (a missing required parameter, an unknown one, a wrong type, a value over
//! a limit); empty means the request fits.

use crate::fixtures;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use switchboard_connectors::outbound::ProviderRequest;

// ---- Telegram: bot-api-spec.json ------------------------------------------------------------

pub fn telegram(request: &ProviderRequest) -> Vec<String> {
    static SPEC: OnceLock<Value> = OnceLock::new();
    let spec = SPEC.get_or_init(|| fixtures::json("telegram/bot-api-spec.json"));
    let Some(method) = spec["methods"].get(request.operation) else {
        return vec![format!("no method {}", request.operation)];
    };
    let mut problems = Vec::new();
    // A file uploaded with the call (multipart) is the InputFile of the parameter it is named
    // by, or the part an `attach://<name>` of the parameters refers to.
    let mut params = request.params.clone();
    let fields = method["fields"].as_array().cloned().unwrap_or_default();
    for part in &request.files {
        if fields.iter().any(|f| f["name"] == part.name.as_str()) {
            params.insert(part.name.clone(), Value::String("<file part>".to_owned()));
        } else if !Value::Object(request.params.clone())
            .to_string()
            .contains(&format!("\"attach://{}\"", part.name))
        {
            problems.push(format!(
                "{}: file part {} is not referred to",
                request.operation, part.name
            ));
        }
    }
    tg_fields(
        spec,
        &method["fields"],
        &params,
        request.operation,
        &mut problems,
    );
    problems
}

fn tg_fields(
    spec: &Value,
    fields: &Value,
    value: &Map<String, Value>,
    at: &str,
    out: &mut Vec<String>,
) {
    let fields = fields.as_array().cloned().unwrap_or_default();
    for field in &fields {
        let name = field["name"].as_str().unwrap_or_default();
        if field["required"] == Value::Bool(true) && !value.contains_key(name) {
            out.push(format!("{at}: missing required {name}"));
        }
    }
    for (key, v) in value {
        let Some(field) = fields.iter().find(|f| f["name"] == key.as_str()) else {
            out.push(format!("{at}: unknown {key}"));
            continue;
        };
        let types: Vec<&str> = field["types"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Err(why) = tg_any(spec, &types, v, &format!("{at}.{key}")) {
            out.push(why);
        }
        let description = field["description"].as_str().unwrap_or_default();
        // "must include 2-10 items": the size of an array in words.
        if let (Some(array), Some(range)) = (v.as_array(), items_range(description))
            && !range.contains(&array.len())
        {
            out.push(format!("{at}.{key}: {} items, not {range:?}", array.len()));
        }
        // "1-4096 characters after entities parsing": the length in words too.
        if let (Some(text), Some(range)) = (v.as_str(), length_range(description))
            && !range.contains(&text.chars().count())
        {
            out.push(format!(
                "{at}.{key}: {} characters, not {range:?}",
                text.chars().count()
            ));
        }
        // "Type of the result, must be photo": the spec says the value in words.
        if key == "type"
            && let Some(must) = description.split("must be ").nth(1)
        {
            let must = must.trim_end_matches('.').trim();
            if v.is_string() && v != must {
                out.push(format!("{at}.{key}: must be {must}, is {v}"));
            }
        }
    }
}

/// The `a-b` of "a-b characters" in a description.
fn length_range(description: &str) -> Option<std::ops::RangeInclusive<usize>> {
    let before = &description[..description.find(" characters")?];
    let (low, high) = before.rsplit(' ').next()?.split_once('-')?;
    Some(low.parse().ok()?..=high.parse().ok()?)
}

/// The `a-b` of "must include a-b items" in a description.
fn items_range(description: &str) -> Option<std::ops::RangeInclusive<usize>> {
    let after = description.split("must include ").nth(1)?;
    let (low, high) = after.split(' ').next()?.split_once('-')?;
    Some(low.parse().ok()?..=high.parse().ok()?)
}

fn tg_any(spec: &Value, types: &[&str], value: &Value, at: &str) -> Result<(), String> {
    // "Array of InputMediaAudio, InputMediaDocument, … and InputMediaVideo" comes as one
    // "Array of X" per X: the official page means an array whose items are any of them.
    let items: Option<Vec<&str>> = types.iter().map(|t| t.strip_prefix("Array of ")).collect();
    if let (Some(items), Some(array)) = (items.filter(|i| i.len() > 1), value.as_array()) {
        return array
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| tg_any(spec, &items, item, &format!("{at}[{i}]")));
    }
    let mut reasons = Vec::new();
    for ty in types {
        match tg_type(spec, ty, value, at) {
            Ok(()) => return Ok(()),
            Err(why) => reasons.push(why),
        }
    }
    Err(reasons.join(" / "))
}

fn tg_type(spec: &Value, ty: &str, value: &Value, at: &str) -> Result<(), String> {
    let fits = match ty {
        "Integer" => value.is_i64() || value.is_u64(),
        "Float" => value.is_number(),
        "String" | "InputFile" => value.is_string(),
        "Boolean" => value.is_boolean(),
        "True" => *value == Value::Bool(true),
        _ => {
            if let Some(inner) = ty.strip_prefix("Array of ") {
                let items = value.as_array().ok_or(format!("{at}: not an array"))?;
                return items
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, item)| tg_type(spec, inner, item, &format!("{at}[{i}]")));
            }
            let Some(object_type) = spec["types"].get(ty) else {
                return Err(format!("{at}: unknown type {ty}"));
            };
            if let Some(subtypes) = object_type["subtypes"].as_array() {
                let names: Vec<&str> = subtypes.iter().filter_map(Value::as_str).collect();
                return tg_any(spec, &names, value, at);
            }
            let object = value
                .as_object()
                .ok_or(format!("{at}: not an object for {ty}"))?;
            let mut problems = Vec::new();
            tg_fields(
                spec,
                &object_type["fields"],
                object,
                &format!("{at}<{ty}>"),
                &mut problems,
            );
            return if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            };
        }
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{at}: {value} is not {ty}"))
    }
}

// ---- VK: messages/methods.json ----------------------------------------------------------------

pub fn vk(request: &ProviderRequest) -> Vec<String> {
    static SPEC: OnceLock<Value> = OnceLock::new();
    let spec = SPEC.get_or_init(|| fixtures::json("vk/messages/methods.json"));
    let Some(method) = spec["methods"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["name"] == request.operation))
    else {
        return vec![format!("no method {}", request.operation)];
    };
    let parameters = method["parameters"].as_array().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    for parameter in &parameters {
        let name = parameter["name"].as_str().unwrap_or_default();
        if parameter["required"] == Value::Bool(true) && !request.params.contains_key(name) {
            problems.push(format!("missing required {name}"));
        }
    }
    for (key, value) in &request.params {
        match parameters.iter().find(|p| p["name"] == key.as_str()) {
            None => problems.push(format!("unknown {key}")),
            Some(parameter) => {
                if let Err(why) = vk_value(parameter, value, key) {
                    problems.push(why);
                }
            }
        }
    }
    problems
}

fn vk_value(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let fits = match schema["type"].as_str().unwrap_or_default() {
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => {
            let items = value.as_array().ok_or(format!("{at}: not an array"))?;
            if let Some(max) = schema["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                return Err(format!("{at}: more than {max} items"));
            }
            return items
                .iter()
                .try_for_each(|item| vk_value(&schema["items"], item, at));
        }
        other => return Err(format!("{at}: unknown schema type {other}")),
    };
    if !fits {
        return Err(format!("{at}: {value} is not {}", schema["type"]));
    }
    if let (Some(max), Some(text)) = (schema["maxLength"].as_u64(), value.as_str())
        && text.chars().count() as u64 > max
    {
        return Err(format!("{at}: longer than {max}"));
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_i64(), value.as_i64())
        && n < min
    {
        return Err(format!("{at}: below {min}"));
    }
    if let (Some(max), Some(n)) = (schema["maximum"].as_i64(), value.as_i64())
        && n > max
    {
        return Err(format!("{at}: above {max}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} not one of {allowed:?}"));
    }
    Ok(())
}

// ---- WhatsApp: the OpenAPI YAML ----------------------------------------------------------------

fn yaml_to_json(yaml: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match yaml {
        Yaml::Real(text) => text.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        Yaml::Integer(n) => Value::from(*n),
        Yaml::String(s) => Value::from(s.clone()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(n) => n.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

pub fn whatsapp_openapi() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = String::from_utf8(fixtures::read("whatsapp/business-messaging-api_v23.0.yaml"))
            .expect("utf-8");
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("the OpenAPI file is YAML");
        yaml_to_json(&docs[0])
    })
}

pub fn whatsapp(request: &ProviderRequest) -> Vec<String> {
    let spec = whatsapp_openapi();
    let schema = &spec["paths"][request.operation]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    if schema.is_null() {
        return vec![format!("no POST {} in the description", request.operation)];
    }
    match oa_value(spec, schema, &Value::Object(request.params.clone()), "body") {
        Ok(()) => vec![],
        Err(why) => vec![why],
    }
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => resolve(spec, spec.pointer(pointer).unwrap_or(&Value::Null)),
        None => schema,
    }
}

/// `allOf` merged into one object schema (properties and required joined; closed when any part
/// is), as OpenAPI tools read it.
fn merged(spec: &Value, schema: &Value) -> Value {
    let schema = resolve(spec, schema);
    let Some(parts) = schema["allOf"].as_array() else {
        return schema.clone();
    };
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut closed = false;
    for part in parts {
        let part = merged(spec, part);
        if let Some(p) = part["properties"].as_object() {
            for (k, v) in p {
                properties.insert(k.clone(), v.clone());
            }
        }
        required.extend(part["required"].as_array().cloned().unwrap_or_default());
        closed |= part["additionalProperties"] == Value::Bool(false);
    }
    serde_json::json!({"type": "object", "properties": properties, "required": required,
        "additionalProperties": !closed})
}

fn oa_value(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = merged(spec, schema);
    if let (Some(mapping), Some(property)) = (
        schema["discriminator"]["mapping"].as_object(),
        schema["discriminator"]["propertyName"].as_str(),
    ) {
        let kind = value[property].as_str().unwrap_or_default();
        let target = mapping
            .get(kind)
            .ok_or(format!("{at}: no schema for {property} {kind}"))?;
        return oa_value(spec, &serde_json::json!({"$ref": target}), value, at);
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let fitting = branches
            .iter()
            .filter(|b| oa_value(spec, b, value, at).is_ok())
            .count();
        if fitting != 1 {
            return Err(format!(
                "{at}: fits {fitting} of the oneOf branches, not one"
            ));
        }
    }
    let ty = schema["type"].as_str().unwrap_or_default();
    let fits = match ty {
        "" => true,
        "object" => value.is_object(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        _ => false,
    };
    if !fits {
        return Err(format!("{at}: {value} is not {ty}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} not one of {allowed:?}"));
    }
    if let (Some(max), Some(text)) = (schema["maxLength"].as_u64(), value.as_str())
        && text.chars().count() as u64 > max
    {
        return Err(format!("{at}: longer than {max}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                return Err(format!("{at}: missing required {name}"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(property) => oa_value(spec, property, v, &format!("{at}.{key}"))?,
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    return Err(format!("{at}: unknown {key}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            oa_value(spec, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}
