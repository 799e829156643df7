//! JSON in and out: request bodies parsed strictly (malformed JSON, wrong types and
//! unknown fields are 400s with a reason, never a panic), responses serialised, and
//! AMQP field tables converted both ways as RabbitMQ shows them.

use crate::error::ApiError;
use amqp_codec::{FieldTable, FieldValue, ShortStr};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

/// A JSON response (axum's own `Json` is behind a feature this crate does not need).
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

/// Parses a request body. An empty body is `{}` (RabbitMQ accepts a bare PUT).
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    // serde would take an array for a struct: RabbitMQ's bodies are objects.
    if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<Value>(text) {
            Ok(other) => {
                ApiError::bad_request(format!("the body must be a JSON object, not {other}"))
            }
            Err(e) => ApiError::bad_request(format!("not_json: {e}")),
        });
    }
    serde_json::from_slice(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request(format!("not_json: {e}"))
        } else {
            ApiError::bad_request(e.to_string())
        }
    })
}

/// A field value as RabbitMQ's API shows it.
pub fn value_to_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::I8(i) => (*i).into(),
        FieldValue::U8(i) => (*i).into(),
        FieldValue::I16(i) => (*i).into(),
        FieldValue::U16(i) => (*i).into(),
        FieldValue::I32(i) => (*i).into(),
        FieldValue::U32(i) => (*i).into(),
        FieldValue::I64(i) => (*i).into(),
        FieldValue::F32(f) => Number::from_f64(*f as f64).map_or(Value::Null, Value::Number),
        FieldValue::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        FieldValue::Decimal(scale, unscaled) => {
            let f = *unscaled as f64 / 10f64.powi(*scale as i32);
            Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        FieldValue::LongStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        FieldValue::Timestamp(t) => (*t).into(),
        FieldValue::Table(t) => table_to_json(t),
        FieldValue::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        other => match other.as_i64() {
            Some(i) => i.into(),
            None => match other.as_str() {
                Some(s) => Value::String(s.to_string()),
                None => Value::Null,
            },
        },
    }
}

pub fn table_to_json(t: &FieldTable) -> Value {
    let mut map = Map::new();
    for (k, v) in t.iter() {
        map.insert(k.as_str().to_string(), value_to_json(v));
    }
    Value::Object(map)
}

/// A JSON value as a field value, as RabbitMQ converts arguments: integers are
/// signed 64-bit (`l`), other numbers doubles, strings long strings.
pub fn json_to_value(v: &Value) -> Result<FieldValue, String> {
    Ok(match v {
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => FieldValue::F64(n.as_f64().ok_or("number out of range")?),
        },
        Value::String(s) => FieldValue::long_string(s.clone()),
        Value::Array(a) => {
            FieldValue::Array(a.iter().map(json_to_value).collect::<Result<_, _>>()?)
        }
        Value::Object(_) => FieldValue::Table(json_to_table(v)?),
        Value::Null => FieldValue::Void,
    })
}

/// A JSON object as a field table; keys longer than 255 bytes are refused.
pub fn json_to_table(v: &Value) -> Result<FieldTable, String> {
    let Value::Object(map) = v else {
        return Err(format!("arguments must be an object, not {v}"));
    };
    let mut table = FieldTable::new();
    for (k, v) in map {
        let key = ShortStr::from_bytes(Bytes::copy_from_slice(k.as_bytes()))
            .ok_or_else(|| format!("argument name too long: {k}"))?;
        table.insert(key, json_to_value(v)?);
    }
    Ok(table)
}

/// `{"rate": r}`, the shape of every `*_details` field.
pub fn rate(r: f64) -> Value {
    serde_json::json!({ "rate": r })
}
