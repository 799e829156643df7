//! The HTTP API tests' harness: an in-process broker with its HTTP API on a free
//! port, a real HTTP/1.1 client (hyper) with basic auth, and lapin for the AMQP side.

#![allow(dead_code)]

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Fails the test instead of hanging when the broker stops answering.
pub async fn t<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("the broker answered in time")
}

pub struct TestApi {
    pub server: warren::Server,
    pub http: SocketAddr,
}

pub async fn start() -> TestApi {
    start_with(warren::Config::for_tests()).await
}

pub async fn start_with(config: warren::Config) -> TestApi {
    let server = t(warren::start(config)).await.expect("warren starts");
    let http = server.http_addr().expect("the HTTP API is on");
    TestApi { server, http }
}

/// One HTTP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "reply {} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_string())
    }

    /// Asserts a RabbitMQ-shaped error with this status and error name.
    pub fn assert_error(&self, status: u16, error: &str) -> String {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let json = self.json();
        assert_eq!(json["error"], error, "body: {json}");
        json["reason"].as_str().unwrap_or_default().to_string()
    }
}

impl TestApi {
    /// Adds a user with password `pw`, these tags, and every permission on `/`.
    pub async fn add_user(&self, name: &str, tags: &[&str]) {
        let broker = self.server.broker();
        t(broker.add_user(
            name,
            warren_core::PasswordInput::Plain("pw".into()),
            tags.iter().map(|t| t.to_string()).collect(),
        ))
        .await
        .expect("user added");
        t(broker.set_permissions(name, "/", ".*", ".*", ".*"))
            .await
            .expect("permissions set");
    }

    pub fn amqp_url(&self) -> String {
        format!(
            "amqp://guest:guest@127.0.0.1:{}/%2F",
            self.server.amqp_addr().port()
        )
    }

    pub async fn amqp(&self) -> lapin::Connection {
        t(lapin::Connection::connect(
            &self.amqp_url(),
            lapin::ConnectionProperties::default(),
        ))
        .await
        .expect("AMQP connect")
    }

    /// A request as `user`:`password` (no Authorization header when `user` is None).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Option<(&str, &str)>,
    ) -> Reply {
        t(async {
            let stream = tokio::net::TcpStream::connect(self.http)
                .await
                .expect("connect to the HTTP API");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("HTTP handshake");
            tokio::spawn(connection);
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header("host", self.http.to_string());
            if let Some((user, password)) = auth {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                request = request.header("authorization", format!("Basic {token}"));
            }
            if body.is_some() {
                request = request.header("content-type", "application/json");
            }
            let request = request
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .expect("a valid request");
            let response = sender.send_request(request).await.expect("HTTP response");
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("HTTP body")
                .to_bytes()
                .to_vec();
            Reply {
                status,
                headers,
                body,
            }
        })
        .await
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON"));
        self.raw(method, path, body, Some(("guest", "guest"))).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    /// GET that must succeed: its JSON.
    pub async fn get_ok(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(
            reply.status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// Waits until `GET path` satisfies `check` (queue counters refresh once per
    /// queue turn, so a count may lag a publish by a moment).
    pub async fn eventually(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let json = self.get_ok(path).await;
            if check(&json) {
                return json;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "GET {path} never satisfied the check; last: {json}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Percent-encodes a path segment.
pub fn enc(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                out.push(b as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
