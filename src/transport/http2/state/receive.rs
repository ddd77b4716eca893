//! What the server sends, applied to the connection's state: frames are
//! checked against the protocol, header blocks decoded, and each stream
//! given its head, data, trailers or reset.

use bytes::{Bytes, BytesMut};

use super::{wake, Partial, State, MAX_HEADER_LIST};
use crate::transport::http2::error::Error;
use crate::transport::http2::fields::{Fields, Head};
use crate::transport::http2::frame::{self, Frame, FrameError};
use crate::transport::http2::reason::Reason;

impl State {
    /// Applies everything the driver read: whole frames are taken off the
    /// front of `input`. Wakes go out when the lock is released, by the
    /// caller: `woken` collects them. Returns the connection's end when
    /// the server broke the protocol (a GOAWAY to it is queued).
    pub(crate) fn receive(&mut self, input: &mut BytesMut) -> Result<(), Error> {
        loop {
            let frame = match frame::decode(input, frame::DEFAULT_MAX_FRAME_SIZE) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(FrameError { code, stream: Some(id), what }) => {
                    self.reset(id, code, what);
                    continue;
                }
                Err(FrameError { code, stream: None, what }) => return Err(self.fail_with(code, what)),
            };
            if let Err((code, what)) = self.apply(frame) {
                return Err(self.fail_with(code, what));
            }
        }
    }

    fn apply(&mut self, frame: Frame) -> Result<(), (Reason, &'static str)> {
        if !self.got_settings {
            if !matches!(frame, Frame::Settings { ack: false, .. }) {
                return Err((Reason::PROTOCOL_ERROR, "the server did not begin with SETTINGS (is it HTTP/2?)"));
            }
            self.got_settings = true;
        }
        if self.partial.is_some() && !matches!(frame, Frame::Continuation { .. }) {
            return Err((Reason::PROTOCOL_ERROR, "a frame came between a header block's parts"));
        }
        match frame {
            Frame::Data { stream, end_stream, data, flow_len } => self.on_data(stream, end_stream, data, flow_len),
            Frame::Headers { stream, end_stream, end_headers, block } => {
                if end_headers {
                    self.on_block(stream, end_stream, block)
                } else {
                    self.partial = Some(Partial { stream, end_stream, block: BytesMut::from(&block[..]) });
                    Ok(())
                }
            }
            Frame::Continuation { stream, end_headers, block } => {
                let Some(partial) = &mut self.partial else {
                    return Err((Reason::PROTOCOL_ERROR, "CONTINUATION without a header block"));
                };
                if partial.stream != stream {
                    return Err((Reason::PROTOCOL_ERROR, "CONTINUATION on another stream"));
                }
                if partial.block.len() + block.len() > MAX_HEADER_LIST {
                    return Err((Reason::ENHANCE_YOUR_CALM, "header block too large"));
                }
                partial.block.extend_from_slice(&block);
                if !end_headers {
                    return Ok(());
                }
                let Some(partial) = self.partial.take() else { return Ok(()) };
                self.on_block(partial.stream, partial.end_stream, partial.block.freeze())
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream, code } => {
                self.check_known(stream)?;
                let complete = self.streams.get(&stream).is_some_and(|s| s.recv_closed && s.error.is_none());
                // A reset after a whole answer only stops our sending (RFC 9113, 8.1).
                self.end_stream(stream, (!complete).then(|| Error::reset(code, true)));
                Ok(())
            }
            Frame::Settings { ack: true, .. } => Ok(()),
            Frame::Settings { ack: false, values } => self.on_settings(&values),
            Frame::PushPromise { .. } => Err((Reason::PROTOCOL_ERROR, "PUSH_PROMISE, though push is disabled")),
            Frame::Ping { ack: false, payload } => {
                frame::put_ping(&mut self.out, true, payload);
                Ok(())
            }
            Frame::Ping { ack: true, payload } => {
                if let Some(ping) = self.ping.as_mut().filter(|p| p.payload == payload) {
                    ping.answered = true;
                    wake(&mut ping.waker);
                }
                Ok(())
            }
            Frame::GoAway { last_stream, code, debug } => {
                self.on_goaway(last_stream, code, debug);
                Ok(())
            }
            Frame::WindowUpdate { stream: 0, increment } => {
                self.send_window += i64::from(increment);
                if self.send_window > i64::from(frame::MAX_WINDOW) {
                    return Err((Reason::FLOW_CONTROL_ERROR, "connection window over 2^31-1"));
                }
                while self.send_window > 0 {
                    let Some(id) = self.conn_blocked.pop_front() else { break };
                    if let Some(stream) = self.streams.get_mut(&id) {
                        stream.blocked = false;
                        self.drain(id);
                    }
                }
                Ok(())
            }
            Frame::WindowUpdate { stream: id, increment } => {
                self.check_known(id)?;
                let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
                stream.send_window += i64::from(increment);
                if stream.send_window > i64::from(frame::MAX_WINDOW) {
                    self.reset(id, Reason::FLOW_CONTROL_ERROR, "stream window over 2^31-1");
                } else {
                    self.drain(id);
                }
                Ok(())
            }
        }
    }

    /// Frames on a stream we never opened break the protocol.
    fn check_known(&self, id: u32) -> Result<(), (Reason, &'static str)> {
        if id.is_multiple_of(2) || id >= self.next_id {
            return Err((Reason::PROTOCOL_ERROR, "a frame on a stream the client never opened"));
        }
        Ok(())
    }

    fn on_data(&mut self, id: u32, end: bool, data: Bytes, flow_len: u32) -> Result<(), (Reason, &'static str)> {
        self.check_known(id)?;
        self.recv_window -= i64::from(flow_len);
        if self.recv_window < 0 {
            return Err((Reason::FLOW_CONTROL_ERROR, "more data than the connection window"));
        }
        // What to do is decided first: the stream's borrow ends before the
        // connection's bookkeeping.
        let fault = match self.streams.get_mut(&id) {
            // A stream we let go: its bytes still count on the connection.
            None => Some(None),
            Some(stream) if stream.recv_closed => {
                Some(stream.error.is_none().then_some((Reason::STREAM_CLOSED, "data after the end of the stream")))
            }
            Some(stream) if !stream.got_head => {
                Some(Some((Reason::PROTOCOL_ERROR, "data before the response headers")))
            }
            Some(stream) => {
                stream.recv_window -= i64::from(flow_len);
                (stream.recv_window < 0)
                    .then_some(Some((Reason::FLOW_CONTROL_ERROR, "more data than the stream window")))
            }
        };
        if let Some(fault) = fault {
            self.release_connection(flow_len);
            if let Some((code, what)) = fault {
                self.reset(id, code, what);
            }
            return Ok(());
        }
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let padding = flow_len - data.len() as u32;
        stream.released += padding;
        if !data.is_empty() {
            stream.unreleased += data.len();
            stream.data.push_back(data);
        }
        if end {
            stream.recv_closed = true;
        }
        wake(&mut stream.recv_waker);
        // The connection's window is given back on receipt (as grpc-go
        // does): streams whose readers hold data back must not starve the
        // others. Each stream's own window still bounds what it buffers.
        self.release_connection(flow_len);
        if padding > 0 {
            self.release(id, 0);
        }
        if end {
            self.maybe_closed(id);
        }
        Ok(())
    }

    fn on_block(&mut self, id: u32, end: bool, block: Bytes) -> Result<(), (Reason, &'static str)> {
        // Decoded even for a stream that is gone: the server's table moved on.
        let mut fields = std::mem::take(&mut self.fields_scratch);
        fields.clear();
        if self.decoder.decode(&block, MAX_HEADER_LIST, &mut fields).is_err() {
            return Err((Reason::COMPRESSION_ERROR, "undecodable header block"));
        }
        self.check_known(id)?;
        let outcome = self.on_fields(id, end, &mut fields);
        fields.clear();
        self.fields_scratch = fields;
        if let Err(what) = outcome {
            self.reset(id, Reason::PROTOCOL_ERROR, what);
        }
        Ok(())
    }

    /// A header block for stream `id`: the response head, or its trailers.
    fn on_fields(&mut self, id: u32, end: bool, fields: &mut Vec<(Bytes, Bytes)>) -> Result<(), &'static str> {
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        if stream.recv_closed {
            return Ok(());
        }
        let mut status = None;
        let mut regular = Vec::with_capacity(fields.len());
        for (name, value) in fields.drain(..) {
            if name.first() == Some(&b':') {
                if name.as_ref() != b":status" || status.is_some() || !regular.is_empty() || stream.got_head {
                    return Err("a misplaced or unknown pseudo-header");
                }
                status = Some(parse_status(&value).ok_or("an unreadable :status")?);
            } else if name.iter().any(u8::is_ascii_uppercase) {
                return Err("an upper-case header name");
            } else {
                regular.push((name, value));
            }
        }
        if stream.got_head {
            if !end {
                return Err("trailers without END_STREAM");
            }
            stream.trailers = Some(Fields(regular));
        } else {
            let status = status.ok_or("a response without :status")?;
            if (100..200).contains(&status) {
                // Informational: the real head follows.
                return if end { Err("an informational response ended the stream") } else { Ok(()) };
            }
            stream.got_head = true;
            stream.head = Some(Head { status, fields: Fields(regular) });
        }
        if end {
            stream.recv_closed = true;
        }
        wake(&mut stream.recv_waker);
        if end {
            self.maybe_closed(id);
        }
        Ok(())
    }

    fn on_settings(&mut self, values: &[(u16, u32)]) -> Result<(), (Reason, &'static str)> {
        for &(id, value) in values {
            match id {
                frame::ENABLE_PUSH if value != 0 => {
                    return Err((Reason::PROTOCOL_ERROR, "a server may not enable push"));
                }
                frame::MAX_CONCURRENT_STREAMS => self.peer.max_concurrent = value as usize,
                frame::INITIAL_WINDOW_SIZE => {
                    let delta = i64::from(value) - self.peer.initial_window;
                    self.peer.initial_window = i64::from(value);
                    for stream in self.streams.values_mut() {
                        stream.send_window += delta;
                        if stream.send_window > i64::from(frame::MAX_WINDOW) {
                            return Err((Reason::FLOW_CONTROL_ERROR, "a stream window over 2^31-1"));
                        }
                    }
                }
                frame::MAX_FRAME_SIZE => self.peer.max_frame = value,
                _ => {}
            }
        }
        frame::put_settings_ack(&mut self.out);
        let ids: Vec<u32> = self.streams.iter().filter(|(_, s)| s.pending_len > 0).map(|(id, _)| *id).collect();
        for id in ids {
            self.drain(id);
        }
        self.promote();
        Ok(())
    }

    /// The server is going away: streams above `last` were never processed.
    fn on_goaway(&mut self, last: u32, code: Reason, debug: Bytes) {
        self.goaway = Some((last, code, debug.clone()));
        let above: Vec<u32> = self.streams.keys().copied().filter(|id| *id > last).collect();
        for id in above {
            self.end_stream(id, Some(Error::go_away(code, debug.clone(), true)));
        }
        if code != Reason::NO_ERROR {
            // An error: the streams it took will not be finished either.
            let error = Error::go_away(code, debug, false);
            let ids: Vec<u32> = self.streams.keys().copied().collect();
            for id in ids {
                let complete = self.streams.get(&id).is_some_and(|s| s.recv_closed && s.error.is_none());
                if !complete {
                    self.end_stream(id, Some(error.clone()));
                }
            }
        }
    }
}

/// A three-digit `:status`.
fn parse_status(value: &[u8]) -> Option<u16> {
    if value.len() != 3 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')))
}
