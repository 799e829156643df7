//! The definitions file as RabbitMQ 3.10 writes it, parsed strictly: every key it
//! has is known, unknown keys and wrong types are refused with the serde reason.

use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::Value;
use warren_core::access::{parse_tags, HashingAlgorithm, PasswordHash, VHostSettings};
use warren_core::PasswordInput;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definitions {
    #[serde(default)]
    pub rabbit_version: Option<String>,
    #[serde(default)]
    pub rabbitmq_version: Option<String>,
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub product_version: Option<String>,
    #[serde(default)]
    pub users: Vec<UserDef>,
    #[serde(default)]
    pub vhosts: Vec<VHostDef>,
    #[serde(default)]
    pub permissions: Vec<PermissionDef>,
    #[serde(default)]
    pub topic_permissions: Vec<TopicPermissionDef>,
    #[serde(default)]
    pub parameters: Vec<ParameterDef>,
    #[serde(default)]
    pub global_parameters: Vec<GlobalParameterDef>,
    #[serde(default)]
    pub policies: Vec<PolicyDef>,
    #[serde(default)]
    pub queues: Vec<QueueDef>,
    #[serde(default)]
    pub exchanges: Vec<ExchangeDef>,
    #[serde(default)]
    pub bindings: Vec<BindingDef>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct UserDef {
    pub name: String,
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub hashing_algorithm: Option<String>,
    /// A list in 3.10; a comma-separated string in older files.
    #[serde(default)]
    pub tags: Value,
    #[serde(default)]
    pub limits: Value,
}

impl UserDef {
    /// The password as the core takes it: RabbitMQ's hash when there is one.
    pub fn password_input(&self) -> ApiResult<PasswordInput> {
        match (&self.password_hash, &self.password) {
            (Some(hash), _) if !hash.is_empty() => {
                let name = self
                    .hashing_algorithm
                    .as_deref()
                    .unwrap_or("rabbit_password_hashing_sha256");
                let algorithm = HashingAlgorithm::parse(name).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "user '{}': unknown hashing_algorithm '{name}'",
                        self.name
                    ))
                })?;
                PasswordHash::from_base64(algorithm, hash).map_err(|e| {
                    ApiError::bad_request(format!("user '{}': {}", self.name, e.message))
                })?;
                Ok(PasswordInput::Hash {
                    hash: hash.clone(),
                    algorithm,
                })
            }
            (_, Some(password)) => Ok(PasswordInput::Plain(password.clone())),
            _ => Ok(PasswordInput::None),
        }
    }

    pub fn tag_list(&self) -> Vec<String> {
        match &self.tags {
            Value::String(s) => parse_tags(s),
            Value::Array(a) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn check(&self) -> ApiResult<()> {
        if self.name.is_empty() {
            return Err(ApiError::bad_request("a user name must not be empty"));
        }
        match &self.tags {
            Value::Null | Value::String(_) => {}
            Value::Array(a) if a.iter().all(Value::is_string) => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "user '{}': tags must be a list of strings, not {other}",
                    self.name
                )))
            }
        }
        if let Some(algorithm) = &self.hashing_algorithm {
            const KNOWN: &[&str] = &[
                "rabbit_password_hashing_sha256",
                "rabbit_password_hashing_sha512",
                "rabbit_password_hashing_md5",
            ];
            if !KNOWN.contains(&algorithm.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "user '{}': unknown hashing_algorithm '{algorithm}'",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct VHostDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Value,
    #[serde(default)]
    pub metadata: Value,
    #[serde(default)]
    pub limits: Value,
    #[serde(default)]
    pub default_queue_type: Option<String>,
}

impl VHostDef {
    /// What the core keeps of a vhost: description and tags from the top level
    /// or from `metadata` (newer files), and the default queue type.
    pub fn settings(&self) -> ApiResult<VHostSettings> {
        let meta = |key: &str| self.metadata.get(key).cloned().unwrap_or(Value::Null);
        let description = match (&self.description, meta("description")) {
            (Some(d), _) => d.clone(),
            (None, Value::String(d)) => d,
            _ => String::new(),
        };
        let tags = match (&self.tags, &meta("tags")) {
            (Value::Array(a), _) | (_, Value::Array(a)) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            (Value::String(s), _) => parse_tags(s),
            _ => Vec::new(),
        };
        Ok(VHostSettings {
            description,
            tags,
            default_queue_type: self.default_queue_type.clone(),
        })
    }
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PermissionDef {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TopicPermissionDef {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ParameterDef {
    #[serde(default)]
    pub vhost: Option<String>,
    pub component: String,
    pub name: String,
    pub value: Value,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct GlobalParameterDef {
    pub name: String,
    pub value: Value,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    #[serde(default)]
    pub vhost: Option<String>,
    #[serde(default)]
    pub name: String,
    pub pattern: String,
    #[serde(rename = "apply-to", default = "all")]
    pub apply_to: String,
    pub definition: Value,
    #[serde(default)]
    pub priority: i64,
}

fn all() -> String {
    "all".to_string()
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct QueueDef {
    pub name: String,
    #[serde(default)]
    pub vhost: Option<String>,
    #[serde(default)]
    pub durable: bool,
    #[serde(default)]
    pub auto_delete: bool,
    #[serde(default)]
    pub arguments: Value,
    /// 3.10 files written by a cluster name the node; one node here.
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, rename = "type")]
    pub queue_type: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ExchangeDef {
    pub name: String,
    #[serde(default)]
    pub vhost: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub durable: bool,
    #[serde(default)]
    pub auto_delete: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct BindingDef {
    pub source: String,
    #[serde(default)]
    pub vhost: Option<String>,
    pub destination: String,
    pub destination_type: String,
    #[serde(default)]
    pub routing_key: String,
    #[serde(default)]
    pub arguments: Value,
}
