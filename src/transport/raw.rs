//! The raw gRPC stubs of [`crate::pb`] over the client's own connections.
//!
//! [`RawChannel`] is a `tower` service that tonic's generated clients accept.
//! Its requests take the same request path as the typed ones: endpoint
//! choice and failover before sending, the client's deadline and metadata,
//! and tracing; errors come back to the stub as gRPC statuses.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame};

use super::connection::ActiveStream;
use super::rpc::is_streaming;
use super::unary::h2_error;
use super::Transport;
use crate::error::{Error, ErrorKind, GrpcCode};

/// A channel for the raw stubs in [`crate::pb`], made by
/// [`Client::raw_channel`](crate::Client::raw_channel). Cheap to clone.
#[derive(Clone)]
pub struct RawChannel {
    pub(crate) transport: Transport,
}

impl std::fmt::Debug for RawChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawChannel").field("endpoints", &self.transport.endpoints()).finish()
    }
}

impl tower_service::Service<Request<tonic::body::Body>> for RawChannel {
    type Response = Response<RawBody>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RawBody>, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let transport = self.transport.clone();
        Box::pin(async move { Ok(transport.raw(request).await.unwrap_or_else(|e| status_response(&e))) })
    }
}

impl Transport {
    async fn raw(&self, request: Request<tonic::body::Body>) -> Result<Response<RawBody>, Error> {
        let (parts, mut body) = request.into_parts();
        let path = parts.uri.path().to_string();
        let streaming = is_streaming(&path);
        let timeout = (!streaming).then(|| self.shared.request_timeout);
        let started = Instant::now();
        let slots = self.shared.slots.len();
        let first = self.pick();
        let mut last = None;
        // Failover only before anything is sent: the body is consumed then.
        for step in 0..slots {
            let index = (first + step) % slots;
            let endpoint = self.endpoint_name(index).to_string();
            let connection = match self.connection(index).await {
                Ok(connection) => connection,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let active = connection.track();
            let send = match connection.send.clone().ready().await {
                Ok(send) => send,
                Err(e) => {
                    last = Some(h2_error(e, &endpoint));
                    continue;
                }
            };
            let mut send = send;
            let mut head = self.head_for_path(index, &parts.uri, timeout)?;
            for (name, value) in parts.headers.iter() {
                // Ours win for the gRPC basics; the stub's metadata is kept.
                if !head.headers().contains_key(name) {
                    head.headers_mut().append(name.clone(), value.clone());
                }
            }
            let (response, mut stream) = match send.send_request(head, false) {
                Ok(pair) => pair,
                Err(e) => {
                    last = Some(h2_error(e, &endpoint));
                    continue;
                }
            };
            let pump_endpoint = endpoint.clone();
            tokio::spawn(async move {
                if let Err(e) = pump(&mut body, &mut stream).await {
                    tracing::debug!(endpoint = %pump_endpoint, error = %e, "raw request body ended early");
                }
            });
            let response = match timeout {
                Some(timeout) => match tokio::time::timeout(timeout, response).await {
                    Ok(response) => response,
                    Err(_) => {
                        return Err(Error::new(
                            ErrorKind::DeadlineExceeded,
                            format!("{path} did not answer within its deadline of {timeout:?}"),
                        ))
                    }
                },
                None => response.await,
            };
            tracing::debug!(path = %path, endpoint = %endpoint, elapsed_us = started.elapsed().as_micros() as u64, "raw rpc answered");
            let response = response.map_err(|e| h2_error(e, &endpoint))?;
            let (head, recv) = response.into_parts();
            return Ok(Response::from_parts(
                head,
                RawBody { recv: Some(recv), data_done: false, _active: Some(active) },
            ));
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::Unavailable, "no endpoint available")))
    }

    fn head_for_path(
        &self,
        index: usize,
        uri: &http::Uri,
        timeout: Option<std::time::Duration>,
    ) -> Result<Request<()>, Error> {
        let path = uri.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        self.head(index, path, timeout)
    }
}

/// Copies the stub's request body into the HTTP/2 stream, waiting for flow
/// control capacity so a fast producer cannot buffer without bound.
async fn pump(body: &mut tonic::body::Body, stream: &mut h2::SendStream<Bytes>) -> Result<(), String> {
    loop {
        let frame = poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await;
        let Some(frame) = frame else {
            return stream.send_data(Bytes::new(), true).map_err(|e| e.to_string());
        };
        let frame = frame.map_err(|e| e.to_string())?;
        let Ok(mut data) = frame.into_data() else { continue };
        while !data.is_empty() {
            stream.reserve_capacity(data.len());
            let capacity = match poll_fn(|cx| stream.poll_capacity(cx)).await {
                Some(Ok(capacity)) => capacity,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("stream closed".into()),
            };
            if capacity == 0 {
                continue;
            }
            let chunk = data.split_to(capacity.min(data.len()));
            stream.send_data(chunk, false).map_err(|e| e.to_string())?;
        }
    }
}

/// A failure before the server answered, as a trailers-only gRPC response,
/// so the stub reports it with the right status code.
fn status_response(error: &Error) -> Response<RawBody> {
    let code = match error.kind() {
        ErrorKind::DeadlineExceeded => GrpcCode::DeadlineExceeded,
        ErrorKind::Canceled => GrpcCode::Cancelled,
        ErrorKind::InvalidArgument => GrpcCode::InvalidArgument,
        _ => error.grpc_code().unwrap_or(GrpcCode::Unavailable),
    };
    let mut response = Response::new(RawBody { recv: None, data_done: true, _active: None });
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(code as i32));
    let message: String =
        error
            .message()
            .bytes()
            .map(|b| {
                if b.is_ascii_graphic() && b != b'%' || b == b' ' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
    if let Ok(value) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", value);
    }
    response
}

/// The response body of a raw call: the server's messages, then trailers.
pub struct RawBody {
    recv: Option<h2::RecvStream>,
    data_done: bool,
    _active: Option<ActiveStream>,
}

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBody").field("data_done", &self.data_done).finish()
    }
}

impl Body for RawBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let Some(recv) = this.recv.as_mut() else { return Poll::Ready(None) };
        if !this.data_done {
            match recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(h2_error(e, "raw stream")))),
                Poll::Ready(None) => this.data_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
        match recv.poll_trailers(cx) {
            Poll::Ready(Ok(Some(trailers))) => {
                this.recv = None;
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Poll::Ready(Ok(None)) => {
                this.recv = None;
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(h2_error(e, "raw stream")))),
            Poll::Pending => Poll::Pending,
        }
    }
}
