//! The checks on the HTTP upgrade request: the path, and which subprotocol to
//! answer with.

use crate::Endpoint;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

const SUBPROTOCOL_HEADER: &str = "sec-websocket-protocol";

/// The handshake callback for one connection.
pub(crate) struct Check {
    path: String,
    subprotocols: &'static [&'static str],
}

impl Check {
    pub(crate) fn new(endpoint: &Endpoint) -> Check {
        Check {
            path: endpoint.path.clone(),
            subprotocols: endpoint.subprotocols,
        }
    }
}

impl Callback for Check {
    fn on_request(
        self,
        request: &Request,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        if request.uri().path() != self.path {
            let mut refused = ErrorResponse::new(Some(format!(
                "no WebSocket endpoint at {}\n",
                request.uri().path()
            )));
            *refused.status_mut() = StatusCode::NOT_FOUND;
            return Err(refused);
        }
        let offered = request
            .headers()
            .get_all(SUBPROTOCOL_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim);
        // A client that offers none, or none of ours, is still served (as RabbitMQ
        // does); the response then names no subprotocol.
        if let Some(chosen) = pick_subprotocol(offered, self.subprotocols) {
            response
                .headers_mut()
                .insert(SUBPROTOCOL_HEADER, HeaderValue::from_static(chosen));
        }
        Ok(response)
    }
}

/// The first of `ours` (our preference order) that the client offered.
pub fn pick_subprotocol<'a>(
    offered: impl Iterator<Item = &'a str>,
    ours: &'static [&'static str],
) -> Option<&'static str> {
    let offered: Vec<&str> = offered.collect();
    ours.iter()
        .copied()
        .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)))
}

#[cfg(test)]
mod tests {
    use super::pick_subprotocol;

    const STOMP: &[&str] = &["v12.stomp", "v11.stomp", "v10.stomp"];

    #[test]
    fn picks_our_preferred_of_those_offered() {
        let offered = ["v10.stomp", "v12.stomp"];
        assert_eq!(
            pick_subprotocol(offered.into_iter(), STOMP),
            Some("v12.stomp")
        );
        assert_eq!(pick_subprotocol(["mqtt"].into_iter(), STOMP), None);
        assert_eq!(pick_subprotocol(std::iter::empty(), STOMP), None);
    }
}
