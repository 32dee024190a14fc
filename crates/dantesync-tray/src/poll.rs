//! One bounded HTTP GET of the daemon's status over a plain `TcpStream`: the daemon serves
//! HTTP/1.1 on loopback, so a client library would add nothing but build time. Every step has a
//! timeout, so a hung daemon costs the tray at most [`TIMEOUT`] per poll and shows red.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_millis(1500);
/// A status document is a few kB; anything far larger is not one.
const MAX_BODY: usize = 1 << 20;

/// Where the daemon's HTTP server is: `http://HOST:PORT` (no path, no TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http://HOST:PORT is supported"))?
            .trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && !p.contains(']') => (
                h,
                p.parse()
                    .map_err(|_| format!("{url}: port {p:?} is not a number"))?,
            ),
            _ => (rest, 8898),
        };
        if host.is_empty() || host.contains('/') {
            return Err(format!("{url}: expected http://HOST:PORT"));
        }
        Ok(Endpoint {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        })
    }

    pub fn url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }

    fn addr(&self) -> Result<SocketAddr, String> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{}: no address", self.host))
    }

    /// The body of `GET path`, or why not.
    pub fn get(&self, path: &str) -> Result<String, String> {
        let addr = self.addr()?;
        let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n\r\n",
            self.host
        );
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.take(MAX_BODY as u64 + 16 * 1024)
            .read_to_end(&mut raw)
            .map_err(|e| format!("reading the answer: {e}"))?;
        parse_response(&raw)
    }
}

/// The body of a `200` response read to its end (`Connection: close`), de-chunked if need be.
pub fn parse_response(raw: &[u8]) -> Result<String, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(format!("HTTP answer {status:?}"));
    }
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| "bad Content-Length")?;
            if body.len() < n {
                return Err(format!("body cut short: {} of {n} bytes", body.len()));
            }
            body = &body[..n];
        }
    }
    let bytes = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    String::from_utf8(bytes).map_err(|_| "body is not UTF-8".to_owned())
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line cut short")?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 || out.len() + size > MAX_BODY {
            return Err("chunk cut short".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:8898").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8898));
        assert_eq!(Endpoint::parse("http://localhost/").unwrap().port, 8898);
        let v6 = Endpoint::parse("http://[::1]:9000").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9000));
        assert_eq!(v6.url(), "http://[::1]:9000");
        assert!(Endpoint::parse("https://x:1").is_err());
        assert!(Endpoint::parse("http://x:port").is_err());
        assert!(Endpoint::parse("http://x:1/api").is_err());
    }

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n{}  extra";
        assert_eq!(parse_response(ok).unwrap(), "{}  ");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "{\"a\":1}");
        let err = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap_err();
        assert!(err.contains("404"), "{err}");
        let short = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}");
        assert_eq!(short.unwrap_err(), "body cut short: 2 of 10 bytes");
    }

    #[test]
    fn a_server_that_accepts_and_never_answers_costs_one_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            std::thread::sleep(TIMEOUT * 2);
            drop(conn);
        });
        let e = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let t0 = std::time::Instant::now();
        let err = e.get("/api/status").unwrap_err();
        let took = t0.elapsed();
        assert!(err.starts_with("reading the answer"), "{err}");
        assert!(took >= TIMEOUT && took < TIMEOUT * 2, "{took:?}");
        hold.join().unwrap();
    }
}
