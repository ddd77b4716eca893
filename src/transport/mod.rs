//! The one request path. Every RPC, typed or raw, goes through
//! [`Transport`]: endpoint choice, connection reuse, deadline, metadata,
//! retry policy and error mapping live here and nowhere else.

pub(crate) mod connection;
pub(crate) mod endpoint;
pub(crate) mod grpc;
mod raw;
pub(crate) mod rpc;
pub(crate) mod streaming;
mod unary;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{HeaderName, CONTENT_TYPE, TE, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use connection::{Connection, ConnectionSettings};
use endpoint::Endpoint;
pub use raw::{RawBody, RawChannel};

/// Shared by every clone of a [`crate::Client`].
#[derive(Clone)]
pub(crate) struct Transport {
    shared: Arc<Shared>,
}

struct Shared {
    slots: Vec<Slot>,
    next: AtomicUsize,
    settings: ConnectionSettings,
    dial_timeout: Duration,
    request_timeout: Duration,
    max_send: usize,
    max_recv: usize,
    /// Sent with every request: content type, user agent, require-leader.
    base_headers: HeaderMap,
}

/// One endpoint and its connection, if any.
struct Slot {
    endpoint: Endpoint,
    connection: Mutex<Option<Connection>>,
    /// Callers that find no connection wait here for one dial, not many.
    dialing: tokio::sync::Mutex<()>,
}

impl Transport {
    /// Dials every endpoint at once and returns as soon as one connection is
    /// up; the others keep dialing in the background.
    pub(crate) async fn connect(config: &Config) -> Result<Transport> {
        let endpoints = config.validate()?;
        let mut base_headers = HeaderMap::new();
        base_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        base_headers.insert(TE, HeaderValue::from_static("trailers"));
        base_headers.insert(USER_AGENT, HeaderValue::from_static(concat!("etcd-raw/", env!("CARGO_PKG_VERSION"))));
        if config.require_leader {
            // etcd's metadata key for "fail with NoLeader rather than wait".
            base_headers.insert(HeaderName::from_static("hasleader"), HeaderValue::from_static("true"));
        }
        let transport = Transport {
            shared: Arc::new(Shared {
                slots: endpoints
                    .into_iter()
                    .map(|endpoint| Slot {
                        endpoint,
                        connection: Mutex::new(None),
                        dialing: tokio::sync::Mutex::new(()),
                    })
                    .collect(),
                next: AtomicUsize::new(0),
                settings: ConnectionSettings {
                    dial_timeout: config.dial_timeout,
                    keepalive_interval: config.keepalive_interval,
                    keepalive_timeout: config.keepalive_timeout,
                },
                dial_timeout: config.dial_timeout,
                request_timeout: config.request_timeout,
                max_send: config.max_send_msg_size,
                max_recv: config.max_recv_msg_size,
                base_headers,
            }),
        };
        transport.first_connection().await?;
        Ok(transport)
    }

    async fn first_connection(&self) -> Result<()> {
        let mut dials = tokio::task::JoinSet::new();
        for index in 0..self.shared.slots.len() {
            let transport = self.clone();
            dials.spawn(async move { transport.connection(index).await.map(|_| index) });
        }
        let mut failures = Vec::new();
        let wait_for_one = async {
            while let Some(joined) = dials.join_next().await {
                match joined {
                    Ok(Ok(index)) => return Some(index),
                    Ok(Err(e)) => failures.push(e.message().to_string()),
                    Err(e) => failures.push(format!("dial task failed: {e}")),
                }
            }
            None
        };
        let outcome = tokio::time::timeout(self.shared.dial_timeout, wait_for_one).await;
        // Dials still running go on filling their slots.
        dials.detach_all();
        match outcome {
            Ok(Some(index)) => {
                self.shared.next.store(index, Ordering::Relaxed);
                Ok(())
            }
            Ok(None) | Err(_) => {
                let tried: Vec<&str> = self.shared.slots.iter().map(|s| s.endpoint.original.as_str()).collect();
                let mut message = format!(
                    "no etcd endpoint reachable within the dial timeout of {:?}; tried {}",
                    self.shared.dial_timeout,
                    tried.join(", ")
                );
                if !failures.is_empty() {
                    message.push_str(&format!(" ({})", failures.join("; ")));
                }
                Err(Error::new(ErrorKind::Unavailable, message))
            }
        }
    }

    /// The endpoints as the user gave them.
    pub(crate) fn endpoints(&self) -> Vec<String> {
        self.shared.slots.iter().map(|s| s.endpoint.original.clone()).collect()
    }

    /// Round robin over the endpoints; failover walks on from here.
    fn pick(&self) -> usize {
        self.shared.next.fetch_add(1, Ordering::Relaxed) % self.shared.slots.len()
    }

    /// The live connection to endpoint `index`, dialing one if needed
    /// (bounded by the dial timeout).
    async fn connection(&self, index: usize) -> Result<Connection> {
        let slot = &self.shared.slots[index];
        if let Some(live) = slot.live() {
            return Ok(live);
        }
        let _dialing = slot.dialing.lock().await;
        if let Some(live) = slot.live() {
            return Ok(live);
        }
        let dial = Connection::open(&slot.endpoint, self.shared.settings);
        let connection = match tokio::time::timeout(self.shared.dial_timeout, dial).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("dialing {} took longer than {:?}", slot.endpoint.original, self.shared.dial_timeout),
                )
                .with_endpoint(slot.endpoint.original.clone()))
            }
        };
        if let Ok(mut guard) = slot.connection.lock() {
            *guard = Some(connection.clone());
        }
        Ok(connection)
    }

    /// The request line and headers of one call.
    fn head(&self, index: usize, path: PathAndQuery, timeout: Option<Duration>) -> Result<Request<()>> {
        let endpoint = &self.shared.slots[index].endpoint;
        let uri = Uri::builder()
            .scheme(endpoint.scheme.clone())
            .authority(endpoint.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|e| Error::new(ErrorKind::Internal, format!("building request URI: {e}")))?;
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.version_mut() = http::Version::HTTP_2;
        let headers = request.headers_mut();
        headers.clone_from(&self.shared.base_headers);
        if let Some(timeout) = timeout {
            headers.insert("grpc-timeout", grpc::timeout_header(timeout));
        }
        Ok(request)
    }

    fn endpoint_name(&self, index: usize) -> &str {
        &self.shared.slots[index].endpoint.original
    }
}

impl Slot {
    fn live(&self) -> Option<Connection> {
        let mut guard = self.connection.lock().ok()?;
        match guard.as_ref() {
            Some(connection) if !connection.is_closed() => Some(connection.clone()),
            Some(_) => {
                *guard = None;
                None
            }
            None => None,
        }
    }
}
