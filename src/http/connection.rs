//! The server's own accept loop (CONTRACT §11): what a slow, idle or hostile client can hold, and for how
//! long. `axum::serve` has no header, body or idle timeout and no connection cap, so a few thousand
//! sockets sending a byte now and then used to exhaust the file descriptors of the whole server.
//!
//! - at most `MAX_CONNECTIONS` connections are served at once; more wait in the kernel's listen backlog;
//! - request headers not complete within `HEADER_READ_TIMEOUT` → the connection is closed;
//! - a keep-alive connection with no request for `KEEP_ALIVE_TIMEOUT` → closed;
//! - a request body that sends nothing for `BODY_IDLE_TIMEOUT` → the reader gets an error and the
//!   JSON-errors layer answers 408 (see [`BodyTimedOut`]);
//! - what hyper refuses itself before any handler runs (headers over its buffer, a URI over 64 KiB, a
//!   malformed request line) leaves as the envelope on `/api`, instead of hyper's bare status line;
//! - shutdown stops accepting at once and gives the requests in flight `SHUTDOWN_TIMEOUT`.
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a keep-alive connection waits for its
//! next request, which would close idle connections after 10 s instead of 60 s.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::error::{ErrorBody, ErrorShape, TeamioErrorBody, default_message, error_shape, teamio_code};
use crate::config::ConnectionLimits;

/// CONTRACT §11: request line and headers together may take 64 KiB.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// hyper's read buffer: a little more than [`MAX_HEAD_BYTES`], so that a head just over the limit reaches
/// the router, which answers 431 itself ([`super::refuse_oversized_heads`]); beyond it hyper refuses.
const READ_BUFFER_BYTES: usize = MAX_HEAD_BYTES + 8 * 1024;
/// How much of each request's first bytes is kept to know its path if hyper refuses it.
const REQUEST_START_BYTES: usize = 64;
/// After the shutdown deadline, connections still open are cut; this is how long their tasks get to end.
const CUT_GRACE: Duration = Duration::from_secs(1);

/// Set when a request's body went idle for `BODY_IDLE_TIMEOUT`; read by the JSON-errors layer to answer 408
/// whatever the handler made of the cut-off body.
#[derive(Clone, Debug, Default)]
pub struct BodyTimedOut(Arc<AtomicBool>);

impl BodyTimedOut {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Accepts connections on `listener` and serves `router` on each, until `shutdown` resolves; then stops
/// accepting at once, lets the requests in flight finish for at most `shutdown_timeout`, and cuts the rest.
pub async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max_connections = effective_max_connections(limits.max_connections);
    tracing::info!(max_connections, ?limits, "accepting connections");
    let slots = Arc::new(Semaphore::new(max_connections));
    let finish = CancellationToken::new();
    let cut = CancellationToken::new();
    let connections = TaskTracker::new();
    let limits = Arc::new(limits);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    refused_accept(&error).await;
                    continue;
                }
            },
        };
        stream.set_nodelay(true).ok();
        let connection =
            Connection { router: router.clone(), limits: limits.clone(), finish: finish.clone(), cut: cut.clone() };
        connections.spawn(async move {
            connection.serve(stream, peer).await;
            drop(slot);
        });
    }
    // CONTRACT §11: stop accepting at once. Connections waiting for a request close now; those with a
    // request in flight close after its answer.
    drop(listener);
    finish.cancel();
    connections.close();
    let in_flight = connections.len();
    tracing::info!(connections = in_flight, timeout = ?shutdown_timeout, "stopped accepting; finishing requests in flight");
    if tokio::time::timeout(shutdown_timeout, connections.wait()).await.is_err() {
        tracing::warn!(connections = connections.len(), "SHUTDOWN_TIMEOUT reached: cutting the connections still open");
        cut.cancel();
        tokio::time::timeout(CUT_GRACE, connections.wait()).await.ok();
    }
    Ok(())
}

/// `MAX_CONNECTIONS`, lowered to what the file-descriptor limit allows (with room for the database pool,
/// spool files and extraction children), so that the server never reaches EMFILE.
fn effective_max_connections(configured: usize) -> usize {
    const RESERVED_DESCRIPTORS: u64 = 512;
    match rlimit::Resource::NOFILE.get() {
        Ok((soft, _hard)) => {
            let allowed = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(16)).unwrap_or(usize::MAX);
            if allowed < configured {
                tracing::warn!(
                    configured,
                    allowed,
                    descriptors = soft,
                    "MAX_CONNECTIONS lowered to fit the open-file limit (RLIMIT_NOFILE)"
                );
            }
            configured.min(allowed)
        }
        Err(_) => configured,
    }
}

/// Raises the soft open-file limit to the hard one, so that `MAX_CONNECTIONS` can be reached; returns the
/// limit now in force. Start-up calls this once.
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit (RLIMIT_NOFILE)");
            None
        }
    }
}

/// An error from `accept`: a connection that went away before it was accepted is nothing; running out of
/// descriptors or memory is waited out instead of spinning.
async fn refused_accept(error: &io::Error) {
    use io::ErrorKind::*;
    if matches!(error.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock) {
        return;
    }
    tracing::warn!(%error, "accepting a connection failed; pausing accept for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

struct Connection {
    router: Router,
    limits: Arc<ConnectionLimits>,
    /// Shutdown began: finish the request in flight, take no other.
    finish: CancellationToken,
    /// The shutdown deadline passed: close now.
    cut: CancellationToken,
}

impl Connection {
    async fn serve(self, stream: TcpStream, peer: SocketAddr) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(WatchedIo::new(stream, activity.clone()));
        let router = self.router.clone();
        let body_idle_timeout = self.limits.body_idle_timeout;
        let service_activity = activity.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = service_activity.request_started();
            let timed_out = BodyTimedOut::default();
            let mut request =
                request.map(|incoming| Body::new(IdleTimeoutBody::new(incoming, body_idle_timeout, timed_out.clone())));
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(timed_out);
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
                // The connection counts as busy until the answer's last byte is handed to the socket.
                Ok::<_, Infallible>(response.map(|body| Body::new(InFlightBody { inner: body, _in_flight: in_flight })))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(None).max_buf_size(READ_BUFFER_BYTES).keep_alive(true);
        let mut connection = pin!(builder.serve_connection(io, service));
        let mut watchdog =
            pin!(activity.clone().watchdog(self.limits.header_read_timeout, self.limits.keep_alive_timeout));
        let mut finishing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                reason = watchdog.as_mut() => {
                    tracing::debug!(%peer, reason, "closing the connection");
                    return;
                }
                () = self.finish.cancelled(), if !finishing => {
                    finishing = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = self.cut.cancelled() => return,
            }
        }
    }
}

const NOT_STARTED: u64 = u64::MAX;

/// What one connection is doing, shared by its socket, its service and its watchdog.
struct Activity {
    epoch: Instant,
    /// Requests whose answer is not yet fully handed to the socket.
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` when the connection last became idle.
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` of the first byte of a request head still being read, or [`NOT_STARTED`].
    head_started: AtomicU64,
    /// Answers completed; a new request begins after each.
    answered: AtomicU64,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            // A new connection owes its first request's headers within HEADER_READ_TIMEOUT.
            head_started: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn bytes_received(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_started.load(Ordering::Acquire) == NOT_STARTED {
            self.head_started.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NOT_STARTED, Ordering::Release);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Resolves when the connection has waited too long for a request's headers, or has been idle too long.
    async fn watchdog(self: Arc<Self>, header_read_timeout: Duration, keep_alive_timeout: Duration) -> &'static str {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        loop {
            let changed = self.changed.notified();
            let deadline = if !self.is_idle() {
                None
            } else {
                match self.head_started.load(Ordering::Acquire) {
                    NOT_STARTED => Some((
                        self.idle_since.load(Ordering::Acquire).saturating_add(millis(keep_alive_timeout)),
                        "idle keep-alive connection (KEEP_ALIVE_TIMEOUT)",
                    )),
                    started => Some((
                        started.saturating_add(millis(header_read_timeout)),
                        "request headers not complete in time (HEADER_READ_TIMEOUT)",
                    )),
                }
            };
            match deadline {
                None => changed.await,
                Some((at, reason)) => {
                    if self.now() >= at {
                        return reason;
                    }
                    let wake = self.epoch + Duration::from_millis(at);
                    tokio::select! {
                        () = tokio::time::sleep_until(wake) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// A request being answered; dropped when hyper has written (or dropped) the answer's body.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Release);
        activity.answered.fetch_add(1, Ordering::AcqRel);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        activity.changed.notify_one();
    }
}

struct InFlightBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for InFlightBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails once it has sent nothing for `timeout` while being read (CONTRACT §11).
struct IdleTimeoutBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
    timed_out: BodyTimedOut,
}

impl IdleTimeoutBody {
    fn new(inner: Incoming, timeout: Duration, timed_out: BodyTimedOut) -> Self {
        IdleTimeoutBody { inner, timeout, sleep: None, armed: false, timed_out }
    }
}

impl HttpBody for IdleTimeoutBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out.is_set() {
            return Poll::Ready(Some(Err(body_idle_error())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        // Nothing to read: the idle clock runs from the first time the reader finds nothing.
        let deadline = Instant::now() + this.timeout;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !this.armed {
            sleep.as_mut().reset(deadline);
            this.armed = true;
        }
        if sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.0.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(body_idle_error())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn body_idle_error() -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(io::Error::new(io::ErrorKind::TimedOut, "the request body sent nothing for BODY_IDLE_TIMEOUT"))
}

/// The socket, watched: received bytes start the header clock, and hyper's bare answer to a request it
/// could not parse is replaced by the error body the request's path speaks.
struct WatchedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    /// The first bytes of the request being read, and the answer count when they were read.
    request_start: Vec<u8>,
    request_start_answered: u64,
    /// A replacement answer still to be written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl WatchedIo {
    fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        WatchedIo { stream, activity, request_start: Vec::new(), request_start_answered: 0, pending: None }
    }

    fn remember_request_start(&mut self, received: &[u8]) {
        let answered = self.activity.answered.load(Ordering::Acquire);
        if answered != self.request_start_answered {
            self.request_start.clear();
            self.request_start_answered = answered;
        }
        let room = REQUEST_START_BYTES.saturating_sub(self.request_start.len());
        self.request_start.extend_from_slice(&received[..received.len().min(room)]);
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written >= bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        let received = &buf.filled()[before..];
        if !received.is_empty() {
            this.activity.bytes_received();
            this.remember_request_start(received);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        // With no request in flight, whatever hyper writes is its own answer to a request it refused.
        if this.activity.is_idle()
            && let Some(replacement) = replace_refusal(buf, &this.request_start)
        {
            this.pending = Some((replacement, 0));
            if let Poll::Ready(Err(error)) = this.poll_pending(cx) {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// hyper answers a request it cannot parse with a bare head (`HTTP/1.1 431 …` and `content-length: 0`).
/// Under `/api` that answer is replaced by the error body of the path's shape (CONTRACT §1, §11, §12).
fn replace_refusal(written: &[u8], request_start: &[u8]) -> Option<Vec<u8>> {
    let status = refusal_status(written)?;
    let path = request_path(request_start)?;
    let shape = error_shape(path);
    let message = default_message(status).to_owned();
    let body = match shape {
        ErrorShape::Outside => return None,
        ErrorShape::Teamio => {
            serde_json::to_string(&TeamioErrorBody { error: teamio_code(status).to_owned(), message })
        }
        ErrorShape::Envelope => serde_json::to_string(&ErrorBody { status: "error", data: None, message }),
    }
    .ok()?;
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    Some([head.into_bytes(), body.into_bytes()].concat())
}

fn refusal_status(written: &[u8]) -> Option<StatusCode> {
    let rest = written.strip_prefix(b"HTTP/1.1 ")?;
    let code: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    let refused = [StatusCode::BAD_REQUEST, StatusCode::URI_TOO_LONG, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE];
    if !refused.contains(&status) || !written.ends_with(b"\r\n\r\n") {
        return None;
    }
    let head = written.to_ascii_lowercase();
    head.windows(21).any(|w| w == b"\r\ncontent-length: 0\r\n").then_some(status)
}

/// The path of a request line's first bytes (`GET /api/job_offers?… HTTP/1.1`), possibly cut short.
fn request_path(request_start: &[u8]) -> Option<&str> {
    let start = request_start.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
    let mut parts = request_start[start..].split(|b| *b == b' ');
    let _method = parts.next()?;
    let target = parts.next()?;
    std::str::from_utf8(target).ok().or_else(|| {
        // Cut in the middle of a multi-byte character: the valid part is enough to know the shape.
        let valid = std::str::from_utf8(target).err()?.valid_up_to();
        std::str::from_utf8(&target[..valid]).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYPER_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 07:00:00 GMT\r\n\r\n";

    #[test]
    fn hypers_refusals_under_api_become_the_envelope() {
        let replaced =
            replace_refusal(HYPER_431, b"GET /api/job_offers?page=1&x=aaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
        let text = String::from_utf8(replaced).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{text}");
        assert!(text.contains("content-type: application/json\r\n"), "{text}");
        let body: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"status": "error", "data": null, "message": "Request headers too large"}));
    }

    #[test]
    fn under_api_v1_they_speak_teamio() {
        let uri_too_long = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let replaced = replace_refusal(uri_too_long, b"\r\nPOST /api/v1/recruitments/aaaaaaaa").unwrap();
        let text = String::from_utf8(replaced).unwrap();
        assert!(text.ends_with(r#"{"error":"URI_TOO_LONG","message":"Request URI too long"}"#), "{text}");
    }

    #[test]
    fn other_answers_and_paths_are_left_alone() {
        assert!(replace_refusal(HYPER_431, b"GET /jobs/acme HTTP/1.1").is_none(), "pages keep their own errors");
        assert!(replace_refusal(HYPER_431, b"").is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n";
        assert!(replace_refusal(with_body, b"GET /api/x").is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(replace_refusal(ok, b"GET /api/x").is_none());
    }

    #[test]
    fn request_paths_are_read_from_a_cut_request_line() {
        assert_eq!(request_path(b"GET /api/job_offers HTTP/1.1\r\n"), Some("/api/job_offers"));
        assert_eq!(request_path(b"GET /api/v1/x?a=\xc3"), Some("/api/v1/x?a="));
        assert_eq!(request_path(b"GET"), None);
    }
}
