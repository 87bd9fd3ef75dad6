//! SPDY/3.1 as Kubernetes streams speak it (`moby/spdystream`, the framer kubelet and kubectl
//! share), the server's half. No maintained Rust crate speaks SPDY, so the framing is here:
//!
//! * control frames: `1 | version (15 bits) | type (16) | flags (8) | length (24)`, then the
//!   payload; data frames: `0 | stream id (31) | flags (8) | length (24)`, then the data;
//! * header blocks (SYN_STREAM, SYN_REPLY, HEADERS): `count`, then each name and value with a
//!   32-bit length (names lower case, several values joined by NUL), zlib-compressed as one
//!   stream per direction, primed with the SPDY/3 dictionary, each block ending in a sync flush;
//! * the peer's PINGs are echoed; SETTINGS and WINDOW_UPDATE are read and ignored, as spdystream
//!   does (it has no flow control).
//!
//! [`Conn`] runs over an upgraded connection (`Upgrade: SPDY/3.1`) or over a WebSocket whose
//! binary messages carry the SPDY bytes (`SPDY/3.1+portforward.k8s.io`, client-go's
//! TunnelingConnection: no channel byte, message boundaries mean nothing). It knows nothing of
//! pods: it yields [`Event`]s and writes frames through a [`Writer`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// The SPDY/3 header compression dictionary (1,423 bytes; its Adler-32, the dictionary id a
/// zlib stream primed with it names, is 0xe3c6a7c2).
pub const DICTIONARY: &[u8] = include_bytes!("spdy3-dictionary.bin");
pub const DICTIONARY_ID: u32 = 0xe3c6_a7c2;

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;
/// The FIN flag, on data frames and SYN_STREAM/SYN_REPLY.
const FLAG_FIN: u8 = 0x01;
/// RST_STREAM status CANCEL, which spdystream's `Stream.Reset` sends.
pub const RST_CANCEL: u32 = 5;
/// The largest frame this side accepts (the 24-bit length allows 16 MiB).
const MAX_FRAME: usize = 1 << 24;

/// A header block: lower-case names, in the order sent.
pub type Headers = Vec<(String, String)>;

/// The value of header `name` (case-insensitive), as `http.Header.Get` reads it.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A frame, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    SynStream {
        id: u32,
        fin: bool,
        headers: Headers,
    },
    SynReply {
        id: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        id: u32,
        status: u32,
    },
    Settings,
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        id: u32,
        headers: Headers,
    },
    WindowUpdate {
        id: u32,
        delta: u32,
    },
    Data {
        id: u32,
        fin: bool,
        data: Bytes,
    },
}

#[derive(Debug)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "spdy: {}", self.0)
    }
}

fn bad(msg: impl Into<String>) -> ProtocolError {
    ProtocolError(msg.into())
}

/// Reads frames from a byte stream cut anywhere; owns the inbound header decompressor.
pub struct Decoder {
    buf: BytesMut,
    inflate: Decompress,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            buf: BytesMut::new(),
            inflate: Decompress::new(true),
        }
    }
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if the bytes so far hold one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([0, self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if len > MAX_FRAME {
            return Err(bad(format!("frame of {len} bytes")));
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let mut head = self.buf.split_to(8);
        let mut body = self.buf.split_to(len).freeze();
        let first = head.get_u32();
        let flags = head.get_u8();
        if first & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                id: first & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: body,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        let kind = (first & 0xffff) as u16;
        if version != VERSION {
            return Err(bad(format!("version {version}, not {VERSION}")));
        }
        let need = |n: usize, body: &Bytes| {
            if body.len() < n {
                Err(bad(format!("control frame {kind} of {} bytes", body.len())))
            } else {
                Ok(())
            }
        };
        let fin = flags & FLAG_FIN != 0;
        Ok(Some(match kind {
            SYN_STREAM => {
                need(10, &body)?;
                let id = body.get_u32() & 0x7fff_ffff;
                body.advance(6); // associated-to stream id, priority, slot
                let headers = self.header_block(&body)?;
                Frame::SynStream { id, fin, headers }
            }
            SYN_REPLY => {
                need(4, &body)?;
                let id = body.get_u32() & 0x7fff_ffff;
                let headers = self.header_block(&body)?;
                Frame::SynReply { id, fin, headers }
            }
            HEADERS => {
                need(4, &body)?;
                let id = body.get_u32() & 0x7fff_ffff;
                let headers = self.header_block(&body)?;
                Frame::Headers { id, headers }
            }
            RST_STREAM => {
                need(8, &body)?;
                Frame::RstStream {
                    id: body.get_u32() & 0x7fff_ffff,
                    status: body.get_u32(),
                }
            }
            PING => {
                need(4, &body)?;
                Frame::Ping { id: body.get_u32() }
            }
            GOAWAY => {
                need(8, &body)?;
                Frame::GoAway {
                    last_good: body.get_u32() & 0x7fff_ffff,
                    status: body.get_u32(),
                }
            }
            WINDOW_UPDATE => {
                need(8, &body)?;
                Frame::WindowUpdate {
                    id: body.get_u32() & 0x7fff_ffff,
                    delta: body.get_u32() & 0x7fff_ffff,
                }
            }
            SETTINGS => Frame::Settings,
            other => return Err(bad(format!("unknown control frame type {other}"))),
        }))
    }

    /// Inflate one compressed header block (it must end at a flush) and parse it.
    fn header_block(&mut self, compressed: &[u8]) -> Result<Headers, ProtocolError> {
        let mut out = Vec::with_capacity(compressed.len() * 4 + 64);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let (in0, out0) = (self.inflate.total_in(), out.len());
            let r =
                self.inflate
                    .decompress_vec(&compressed[pos..], &mut out, FlushDecompress::Sync);
            pos += (self.inflate.total_in() - in0) as usize;
            match r {
                Ok(_) => {
                    if pos == compressed.len() && out.len() < out.capacity() {
                        break;
                    }
                    if self.inflate.total_in() == in0 && out.len() == out0 && pos < compressed.len()
                    {
                        return Err(bad("header block: inflate made no progress"));
                    }
                }
                Err(e) if e.needs_dictionary() == Some(DICTIONARY_ID) => {
                    self.inflate
                        .set_dictionary(DICTIONARY)
                        .map_err(|e| bad(format!("header dictionary: {e}")))?;
                }
                Err(e) => return Err(bad(format!("header block: {e}"))),
            }
        }
        parse_header_block(&out)
    }
}

fn parse_header_block(mut b: &[u8]) -> Result<Headers, ProtocolError> {
    let short = || bad("header block cut short");
    let take = |b: &mut &[u8]| -> Result<String, ProtocolError> {
        if b.len() < 4 {
            return Err(short());
        }
        let n = b.get_u32() as usize;
        if b.len() < n {
            return Err(short());
        }
        let s = String::from_utf8_lossy(&b[..n]).into_owned();
        b.advance(n);
        Ok(s)
    };
    if b.len() < 4 {
        return Err(short());
    }
    let count = b.get_u32();
    let mut headers = Vec::new();
    for _ in 0..count {
        let name = take(&mut b)?.to_ascii_lowercase();
        let value = take(&mut b)?;
        for v in value.split('\0') {
            headers.push((name.clone(), v.to_string()));
        }
    }
    Ok(headers)
}

/// Writes frames; owns the outbound header compressor (so header blocks must leave in the
/// order they were compressed: one `Encoder`, used under one lock, per connection).
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::best(), true);
        deflate
            .set_dictionary(DICTIONARY)
            .expect("a fresh zlib stream takes a dictionary");
        Encoder { deflate }
    }
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.put_u16(0x8000 | VERSION);
    f.put_u16(kind);
    f.put_u32(((flags as u32) << 24) | payload.len() as u32);
    f.extend_from_slice(payload);
    f
}

impl Encoder {
    fn header_block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut plain = Vec::new();
        plain.put_u32(headers.len() as u32);
        for (n, v) in headers {
            plain.put_u32(n.len() as u32);
            plain.extend_from_slice(n.to_ascii_lowercase().as_bytes());
            plain.put_u32(v.len() as u32);
            plain.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut pos = 0;
        loop {
            let in0 = self.deflate.total_in();
            self.deflate
                .compress_vec(&plain[pos..], &mut out, FlushCompress::Sync)
                .expect("deflate into memory");
            pos += (self.deflate.total_in() - in0) as usize;
            // A sync flush is complete once it returns with output space left.
            if pos == plain.len() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(out.capacity().max(64));
        }
    }

    /// A client's SYN_STREAM (the tests play the client).
    #[cfg(test)]
    pub fn syn_stream(&mut self, id: u32, headers: &[(&str, &str)], fin: bool) -> Vec<u8> {
        let mut p = Vec::new();
        p.put_u32(id);
        p.put_u32(0);
        p.put_u16(0);
        p.extend(self.header_block(headers));
        control(SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &p)
    }

    pub fn syn_reply(&mut self, id: u32, headers: &[(&str, &str)], fin: bool) -> Vec<u8> {
        let mut p = Vec::new();
        p.put_u32(id);
        p.extend(self.header_block(headers));
        control(SYN_REPLY, if fin { FLAG_FIN } else { 0 }, &p)
    }
}

pub fn data_frame(id: u32, data: &[u8], fin: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.put_u32(id & 0x7fff_ffff);
    f.put_u32((u32::from(if fin { FLAG_FIN } else { 0 }) << 24) | data.len() as u32);
    f.extend_from_slice(data);
    f
}

pub fn rst_stream_frame(id: u32, status: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.put_u32(id);
    p.put_u32(status);
    control(RST_STREAM, 0, &p)
}

pub fn ping_frame(id: u32) -> Vec<u8> {
    control(PING, 0, &id.to_be_bytes())
}

pub fn go_away_frame(last_good: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.put_u32(last_good);
    p.put_u32(0); // OK
    control(GOAWAY, 0, &p)
}

/// What the peer did, as the session above sees it.
#[derive(Debug)]
pub enum Event {
    /// A new stream (the peer's ids are odd: the client opens them).
    Open {
        id: u32,
        headers: Headers,
    },
    /// Data on a stream; `fin`: the peer sends no more on it.
    Data {
        id: u32,
        data: Bytes,
        fin: bool,
    },
    Reset {
        id: u32,
    },
    GoAway,
}

/// The sending half: frames go out in the order they are written (header blocks compressed
/// under the same lock).
#[derive(Clone)]
pub struct Writer {
    inner: Arc<Mutex<(Encoder, mpsc::Sender<Vec<u8>>)>>,
}

impl Writer {
    async fn send(&self, frame: Vec<u8>) -> bool {
        let g = self.inner.lock().await;
        g.1.send(frame).await.is_ok()
    }

    /// Accept a stream the peer opened (SYN_REPLY without headers, as kubelet sends it).
    pub async fn reply(&self, id: u32) -> bool {
        let mut g = self.inner.lock().await;
        let f = g.0.syn_reply(id, &[], false);
        g.1.send(f).await.is_ok()
    }

    pub async fn data(&self, id: u32, data: &[u8]) -> bool {
        self.send(data_frame(id, data, false)).await
    }

    /// Half-close: this side sends no more on `id` (an empty data frame with FIN).
    pub async fn finish(&self, id: u32) -> bool {
        self.send(data_frame(id, &[], true)).await
    }

    pub async fn reset(&self, id: u32) -> bool {
        self.send(rst_stream_frame(id, RST_CANCEL)).await
    }

    /// GOAWAY (status OK), naming the last stream the peer opened.
    pub async fn go_away(&self, last_good: u32) -> bool {
        self.send(go_away_frame(last_good)).await
    }
}

type Incoming = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// A server-side SPDY connection.
pub struct Conn {
    incoming: Incoming,
    decoder: Decoder,
    writer: Writer,
    /// The transport's writer task: it ends when every `Writer` is dropped.
    flushed: tokio::task::JoinHandle<()>,
}

impl Conn {
    /// Frames read from `incoming`; frames written go to `out`, in order, from one task that
    /// closes `out` once every `Writer` is gone.
    fn new<S>(incoming: Incoming, mut out: S) -> Conn
    where
        S: Sink<Bytes> + Unpin + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let flushed = tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                if out.send(f.into()).await.is_err() {
                    return;
                }
            }
            let _ = out.close().await;
        });
        Conn {
            incoming,
            decoder: Decoder::default(),
            writer: Writer {
                inner: Arc::new(Mutex::new((Encoder::default(), tx))),
            },
            flushed,
        }
    }

    /// Over an upgraded connection (`Upgrade: SPDY/3.1`).
    pub fn over_io<T>(io: T) -> Conn
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let incoming = tokio_util::io::ReaderStream::new(rd)
            .take_while(|r| std::future::ready(r.is_ok()))
            .filter_map(|r| std::future::ready(r.ok()));
        Conn::new(
            Box::pin(incoming),
            tokio_util::codec::FramedWrite::new(wr, tokio_util::codec::BytesCodec::new()),
        )
    }

    /// Over a WebSocket tunnel: each frame written is one binary message; what arrives is the
    /// concatenation of the binary messages' payloads.
    pub fn over_websocket<T>(ws: WebSocketStream<T>) -> Conn
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sink, stream) = ws.split();
        let incoming = stream
            .take_while(|m| {
                std::future::ready(matches!(
                    m,
                    Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))
                ))
            })
            .filter_map(|m| {
                std::future::ready(match m {
                    Ok(Message::Binary(b)) => Some(b),
                    _ => None,
                })
            });
        let binary = sink.with(|b: Bytes| {
            std::future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(
                Message::Binary(b),
            ))
        });
        Conn::new(Box::pin(incoming), binary)
    }

    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// The next thing the peer did; `None` when the transport ends. PINGs are answered here;
    /// SETTINGS, WINDOW_UPDATE, HEADERS and replies are read and dropped.
    pub async fn next_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        loop {
            while let Some(frame) = self.decoder.next_frame()? {
                match frame {
                    // A FIN on the SYN_STREAM itself (the peer sends nothing on it) changes
                    // nothing for the kubelet's streams.
                    Frame::SynStream { id, headers, .. } => {
                        return Ok(Some(Event::Open { id, headers }));
                    }
                    Frame::Data { id, fin, data } => {
                        return Ok(Some(Event::Data { id, data, fin }));
                    }
                    Frame::RstStream { id, .. } => return Ok(Some(Event::Reset { id })),
                    Frame::GoAway { .. } => return Ok(Some(Event::GoAway)),
                    // The peer's pings have odd ids (a client's); ours would be even.
                    Frame::Ping { id } if id % 2 == 1 => {
                        self.writer.send(ping_frame(id)).await;
                    }
                    Frame::Ping { .. }
                    | Frame::Settings
                    | Frame::WindowUpdate { .. }
                    | Frame::Headers { .. }
                    | Frame::SynReply { .. } => {}
                }
            }
            match self.incoming.next().await {
                Some(b) => self.decoder.push(&b),
                None => return Ok(None),
            }
        }
    }

    /// Drop the connection now, whatever is still queued or held by other writers (as a
    /// connection that dies does).
    pub fn abort(self) {
        self.flushed.abort();
    }

    /// Drop this side's writer and wait until every frame written has left (the transport is
    /// then shut down). Writers cloned into other tasks must be gone first.
    pub async fn close(self) {
        let Conn {
            writer, flushed, ..
        } = self;
        drop(writer);
        let _ = flushed.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_spdy3s() {
        assert_eq!(DICTIONARY.len(), 1423);
        let mut z = Compress::new(Compression::best(), true);
        assert_eq!(z.set_dictionary(DICTIONARY).unwrap(), DICTIONARY_ID);
        assert!(DICTIONARY.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
        assert!(DICTIONARY.ends_with(b"charset=iso-8859-1,utf-,*,enq=0."));
    }

    #[test]
    fn header_blocks_round_trip_through_one_zlib_stream_per_direction() {
        let mut enc = Encoder::default();
        let mut dec = Decoder::default();
        let a = enc.syn_stream(
            1,
            &[
                ("streamType", "error"),
                ("port", "8265"),
                ("requestID", "0"),
            ],
            false,
        );
        // The first block names the dictionary: FDICT set, then its id.
        assert_eq!(a[18] & 0x20, 0x20, "{a:02x?}");
        assert_eq!(&a[20..24], &DICTIONARY_ID.to_be_bytes());
        let b = enc.syn_reply(3, &[], true);
        let c = data_frame(3, b"GET /", false);
        // Cut anywhere: one byte at a time.
        for byte in a.iter().chain(&b).chain(&c) {
            dec.push(&[*byte]);
        }
        assert_eq!(
            dec.next_frame().unwrap(),
            Some(Frame::SynStream {
                id: 1,
                fin: false,
                headers: vec![
                    ("streamtype".into(), "error".into()),
                    ("port".into(), "8265".into()),
                    ("requestid".into(), "0".into())
                ]
            })
        );
        assert_eq!(
            dec.next_frame().unwrap(),
            Some(Frame::SynReply {
                id: 3,
                fin: true,
                headers: vec![]
            })
        );
        assert_eq!(
            dec.next_frame().unwrap(),
            Some(Frame::Data {
                id: 3,
                fin: false,
                data: Bytes::from_static(b"GET /")
            })
        );
        assert_eq!(dec.next_frame().unwrap(), None);
    }

    #[test]
    fn control_frames_decode() {
        let mut dec = Decoder::default();
        dec.push(&ping_frame(7));
        dec.push(&go_away_frame(5));
        dec.push(&rst_stream_frame(9, RST_CANCEL));
        dec.push(&data_frame(1, b"", true));
        assert_eq!(dec.next_frame().unwrap(), Some(Frame::Ping { id: 7 }));
        assert_eq!(
            dec.next_frame().unwrap(),
            Some(Frame::GoAway {
                last_good: 5,
                status: 0
            })
        );
        assert_eq!(
            dec.next_frame().unwrap(),
            Some(Frame::RstStream { id: 9, status: 5 })
        );
        assert_eq!(
            dec.next_frame().unwrap(),
            Some(Frame::Data {
                id: 1,
                fin: true,
                data: Bytes::new()
            })
        );
    }

    /// Every frame, header blocks sorted by name (Go writes a map's headers in random order).
    fn decode_all(bytes: &[u8]) -> Vec<Frame> {
        let mut dec = Decoder::default();
        dec.push(bytes);
        std::iter::from_fn(|| dec.next_frame().unwrap())
            .map(|mut f| {
                if let Frame::SynStream { headers, .. } = &mut f {
                    headers.sort();
                }
                f
            })
            .collect()
    }

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// What real kubectl v1.35.2 sent for `port-forward svc/…-head-svc 18265:8265` and one
    /// `curl /api/version` (captured from the world): the error stream, closed at once; the data
    /// stream with the request, then its FIN. Header blocks from Go's zlib, with the dictionary.
    #[test]
    fn real_kubectls_port_forward_streams_decode() {
        let bytes = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/spdy/kubectl-1.35.2-port-forward.client.bin"
        ));
        let frames = decode_all(bytes);
        let stream = |id, kind| Frame::SynStream {
            id,
            fin: false,
            headers: h(&[("port", "8265"), ("requestid", "0"), ("streamtype", kind)]),
        };
        assert_eq!(frames.len(), 5, "{frames:?}");
        assert_eq!(frames[0], stream(1, "error"));
        assert_eq!(
            frames[1],
            Frame::Data {
                id: 1,
                fin: true,
                data: Bytes::new()
            }
        );
        assert_eq!(frames[2], stream(3, "data"));
        let Frame::Data {
            id: 3,
            fin: false,
            data,
        } = &frames[3]
        else {
            panic!("{:?}", frames[3]);
        };
        assert!(
            data.starts_with(b"GET /api/version HTTP/1.1\r\n"),
            "{data:?}"
        );
        assert_eq!(
            frames[4],
            Frame::Data {
                id: 3,
                fin: true,
                data: Bytes::new()
            }
        );
    }

    /// Real kubectl v1.35.2's `exec … -- no-such-command` over SPDY (1.26 node image): error,
    /// stdout and stderr streams, in that order.
    #[test]
    fn real_kubectls_exec_streams_decode() {
        let bytes = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/spdy/kubectl-1.35.2-exec.client.bin"
        ));
        let kinds: Vec<(u32, Headers)> = decode_all(bytes)
            .into_iter()
            .map(|f| match f {
                Frame::SynStream { id, headers, .. } => (id, headers),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (1, h(&[("streamtype", "error")])),
                (3, h(&[("streamtype", "stdout")])),
                (5, h(&[("streamtype", "stderr")])),
            ]
        );
    }

    #[test]
    fn another_version_is_refused() {
        let mut dec = Decoder::default();
        let mut f = ping_frame(1);
        f[1] = 2; // SPDY/2
        dec.push(&f);
        assert!(dec.next_frame().unwrap_err().0.contains("version 2"));
    }
}
