//! SPDY/3.1, as far as port-forwarding needs it: frames, the
//! zlib-compressed header blocks (with the dictionary the SPDY/3
//! specification fixes), and a session serving kubectl's
//! `portforward.k8s.io` streams.
//!
//! kubectl opens two streams per forwarded connection, both with headers
//! `port` and `requestid`: `streamtype: error` (which it half-closes at
//! once and reads to the end) and `streamtype: data`. The session answers
//! each with SYN_REPLY, connects the data stream to the port's registered
//! address, copies bytes both ways, and closes both streams when the
//! target closes; a target that cannot be reached is reported on the
//! error stream, as the kubelet does.
//!
//! There is no flow control (kubectl's spdystream has none either), and
//! the server never opens streams of its own.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::BytesMut;
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use super::Transport;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const FLAG_FIN: u8 = 1;

/// The header compression dictionary of SPDY/3 (section 2.6.10.1): 65
/// length-prefixed words, then a run of common values.
fn dictionary() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &str = concat!(
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
        "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
        "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
        "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
        "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
        "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8",
        "charset=iso-8859-1,utf-,*,enq=0."
    );
    let mut d = Vec::with_capacity(1423);
    for w in WORDS {
        d.extend_from_slice(&u32::try_from(w.len()).unwrap_or(0).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(TAIL.as_bytes());
    d
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    b << 16 | a
}

/// Inflates the header blocks of one direction of a session: one zlib
/// stream across all frames, primed with the SPDY dictionary.
struct Inflater {
    state: Box<DecompressorOxide>,
    /// A 32 KiB ring: the window back-references read from.
    ring: Vec<u8>,
    pos: usize,
    header_seen: bool,
}

impl Inflater {
    fn new() -> Self {
        let dict = dictionary();
        let mut ring = vec![0; 32 * 1024];
        ring[..dict.len()].copy_from_slice(&dict);
        Inflater {
            state: Box::default(),
            ring,
            pos: dict.len(),
            header_seen: false,
        }
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, String> {
        if !self.header_seen {
            let [cmf, flg, rest @ ..] = input else {
                return Err("truncated zlib header".into());
            };
            if cmf & 0x0f != 8 || (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 != 0 {
                return Err("not a zlib stream".into());
            }
            input = rest;
            if flg & 0x20 != 0 {
                let Some((id, rest)) = input.split_first_chunk::<4>() else {
                    return Err("truncated zlib dictionary id".into());
                };
                if u32::from_be_bytes(*id) != adler32(&dictionary()) {
                    return Err("the header block was compressed with another dictionary".into());
                }
                input = rest;
            }
            self.header_seen = true;
        }
        let mut out = Vec::new();
        loop {
            let (status, used, written) = decompress(
                &mut self.state,
                input,
                &mut self.ring,
                self.pos,
                inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
            );
            for i in 0..written {
                out.push(self.ring[(self.pos + i) % self.ring.len()]);
            }
            self.pos = (self.pos + written) % self.ring.len();
            input = &input[used..];
            match status {
                TINFLStatus::NeedsMoreInput if input.is_empty() => return Ok(out),
                TINFLStatus::HasMoreOutput | TINFLStatus::NeedsMoreInput => {}
                TINFLStatus::Done => return Ok(out),
                other => return Err(format!("bad compressed header block: {other:?}")),
            }
        }
    }
}

/// Writes header blocks as stored (uncompressed) deflate blocks of one
/// zlib stream, each ending like a sync flush, which any inflater reads.
struct Deflater {
    started: bool,
}

impl Deflater {
    fn block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&u32::try_from(headers.len()).unwrap_or(0).to_be_bytes());
        for (k, v) in headers {
            for s in [k, v] {
                raw.extend_from_slice(&u32::try_from(s.len()).unwrap_or(0).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        let mut out = Vec::new();
        if !self.started {
            out.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        let len = u16::try_from(raw.len()).unwrap_or(u16::MAX);
        out.push(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(&raw[..usize::from(len)]);
        // An empty stored block, as a sync flush ends each frame: Go's
        // inflater hands over the block's bytes only once it has read the
        // next block's header.
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
        out
    }
}

fn parse_headers(block: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut b = block;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if b.len() < n {
            return Err("truncated header block".into());
        }
        let (x, rest) = b.split_at(n);
        b = rest;
        Ok(x)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| "count")?);
    let mut out = HashMap::new();
    for _ in 0..count {
        let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| "length")?) as usize;
        let k = String::from_utf8_lossy(take(n)?).into_owned();
        let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| "length")?) as usize;
        let v = String::from_utf8_lossy(take(n)?).into_owned();
        out.insert(k.to_ascii_lowercase(), v);
    }
    Ok(out)
}

fn control(ty: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(0x8003u16).to_be_bytes());
    f.extend_from_slice(&ty.to_be_bytes());
    let len = u32::try_from(payload.len()).unwrap_or(0);
    f.push(flags);
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

/// A DATA frame.
fn data(stream: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.push(if fin { FLAG_FIN } else { 0 });
    let len = u32::try_from(payload.len()).unwrap_or(0);
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

/// Serves one SPDY port-forward session until either side closes it.
pub async fn serve(transport: Transport, resolve: impl Fn(u16) -> Result<SocketAddr, String>) {
    let (mut reader, mut writer) = transport.split();
    let (out, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let write_loop = async move {
        while let Some(frame) = out_rx.recv().await {
            if writer.send(frame).await.is_err() {
                return;
            }
        }
    };
    let read_loop = async {
        let mut buf = BytesMut::new();
        let mut inflater = Inflater::new();
        let mut deflater = Deflater { started: false };
        let mut to_target: HashMap<u32, mpsc::UnboundedSender<Option<Vec<u8>>>> = HashMap::new();
        let mut errors: HashMap<String, u32> = HashMap::new();
        let mut pumps = tokio::task::JoinSet::new();
        loop {
            while buf.len() < 8 || buf.len() < 8 + frame_len(&buf) {
                match reader.recv().await {
                    Some(chunk) => buf.extend_from_slice(&chunk),
                    None => return,
                }
            }
            let len = frame_len(&buf);
            let head = buf.split_to(8);
            let body = buf.split_to(len);
            let flags = head[4];
            if head[0] & 0x80 == 0 {
                let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                if let Some(tx) = to_target.get(&stream) {
                    if !body.is_empty() {
                        let _ = tx.send(Some(body.to_vec()));
                    }
                    if flags & FLAG_FIN != 0 {
                        let _ = tx.send(None);
                    }
                }
                continue;
            }
            let ty = u16::from_be_bytes([head[2], head[3]]);
            match ty {
                SYN_STREAM if body.len() >= 10 => {
                    let stream =
                        u32::from_be_bytes([body[0], body[1], body[2], body[3]]) & 0x7fff_ffff;
                    let headers = match inflater
                        .inflate(&body[10..])
                        .and_then(|b| parse_headers(&b))
                    {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::debug!(error = %e, "port-forward: bad SYN_STREAM");
                            let mut p = stream.to_be_bytes().to_vec();
                            p.extend_from_slice(&1u32.to_be_bytes());
                            let _ = out.send(control(RST_STREAM, 0, &p));
                            continue;
                        }
                    };
                    let mut reply = stream.to_be_bytes().to_vec();
                    reply.extend_from_slice(&deflater.block(&[]));
                    let _ = out.send(control(SYN_REPLY, 0, &reply));
                    let get = |k: &str| headers.get(k).map_or("", String::as_str);
                    let request = get("requestid").to_owned();
                    match get("streamtype") {
                        "error" => {
                            errors.insert(request, stream);
                        }
                        "data" => {
                            let error_stream = errors.remove(&request);
                            let (tx, rx) = mpsc::unbounded_channel();
                            to_target.insert(stream, tx);
                            let target = get("port")
                                .parse::<u16>()
                                .map_err(|_| format!("invalid port {:?}", get("port")))
                                .and_then(&resolve);
                            pumps.spawn(pump(stream, error_stream, target, rx, out.clone()));
                        }
                        _ => {}
                    }
                }
                PING => {
                    let _ = out.send(control(PING, 0, &body));
                }
                RST_STREAM if body.len() >= 4 => {
                    let stream =
                        u32::from_be_bytes([body[0], body[1], body[2], body[3]]) & 0x7fff_ffff;
                    if let Some(tx) = to_target.remove(&stream) {
                        let _ = tx.send(None);
                    }
                }
                GOAWAY => return,
                // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do.
                _ => {}
            }
            while pumps.try_join_next().is_some() {}
        }
    };
    tokio::select! {
        () = read_loop => {}
        () = write_loop => {}
    }
}

fn frame_len(buf: &[u8]) -> usize {
    if buf.len() < 8 {
        return 0;
    }
    (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7])
}

/// Copies one data stream to and from its target.
async fn pump(
    stream: u32,
    error_stream: Option<u32>,
    target: Result<SocketAddr, String>,
    mut from_client: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    out: mpsc::UnboundedSender<Vec<u8>>,
) {
    let finish = |message: Option<String>| {
        if let Some(e) = error_stream {
            let _ = out.send(data(e, true, message.unwrap_or_default().as_bytes()));
        }
        let _ = out.send(data(stream, true, &[]));
    };
    let conn = match target {
        Ok(addr) => tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("dial tcp {addr}: {e}")),
        Err(e) => Err(e),
    };
    let conn = match conn {
        Ok(c) => c,
        Err(e) => {
            finish(Some(e));
            return;
        }
    };
    let (mut rd, mut wr) = conn.into_split();
    let upload = async {
        while let Some(Some(chunk)) = from_client.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let download = async {
        let mut b = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut b).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.send(data(stream, false, &b[..n])).is_err() {
                        break;
                    }
                }
            }
        }
        // The target is done: kubectl finishes the connection when both
        // streams end.
        finish(None);
    };
    tokio::join!(upload, download);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_and_header_blocks_round_trip() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b"enq=0."));
        // What our deflater writes, our inflater reads, across frames.
        let mut def = Deflater { started: false };
        let mut inf = Inflater::new();
        for i in 0..3 {
            let port = format!("80{i}");
            let block = def.block(&[("streamtype", "data"), ("port", &port)]);
            let h = parse_headers(&inf.inflate(&block).unwrap()).unwrap();
            assert_eq!(h["streamtype"], "data");
            assert_eq!(h["port"], port);
        }
        let f = data(3, true, b"hi");
        assert_eq!(f, [0, 0, 0, 3, 1, 0, 0, 2, b'h', b'i']);
        assert_eq!(frame_len(&f), 2);
        assert!(Inflater::new().inflate(b"\x00").is_err());
    }
}
